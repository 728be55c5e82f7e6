//! The durable record of what each task holds on this node: its address, veth name and
//! host ports. One JSON file, rewritten whole and atomically (write, fsync, rename, fsync
//! the directory) on every change, so after a crash it holds either the old or the new
//! state. A record is written before the kernel is touched and removed after the kernel is
//! cleaned, so whatever exists in the kernel has a record, and `reconcile` can find it.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ports::pick_block;
use crate::{Binding, Ipv4Subnet, Mode, NetError, Protocol};

const FILE: &str = "allocations.json";
const VERSION: u32 = 1;

/// One host port held by a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortRecord {
    pub protocol: Protocol,
    pub host_port: u16,
    pub container_port: u16,
}

/// Everything one task holds, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRecord {
    pub mode: Mode,
    pub netns: Option<PathBuf>,
    pub bridge: Option<String>,
    pub subnet: Option<Ipv4Subnet>,
    pub ipv4: Option<Ipv4Addr>,
    pub mac: Option<String>,
    pub veth: Option<String>,
    pub ports: Vec<PortRecord>,
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    tasks: BTreeMap<String, TaskRecord>,
    /// Round-robin cursors: per subnet, the next address index to try.
    next_ip: BTreeMap<String, u32>,
    next_port: u16,
}

/// The file-backed allocation table. Not locked across processes: one agent per state dir.
#[derive(Debug)]
pub struct Allocations {
    path: PathBuf,
    state: StateFile,
}

impl Allocations {
    /// Opens (or starts) the table in `dir`.
    pub fn open(dir: &Path) -> Result<Self, NetError> {
        let path = dir.join(FILE);
        let err = |op, source| NetError::State {
            op,
            path: path.clone(),
            source,
        };
        fs::create_dir_all(dir).map_err(|e| err("create the directory of", e))?;
        let state = match fs::read(&path) {
            Ok(bytes) => {
                let s: StateFile = serde_json::from_slice(&bytes)
                    .map_err(|e| err("parse", io::Error::new(io::ErrorKind::InvalidData, e)))?;
                if s.version != VERSION {
                    return Err(err(
                        "read",
                        io::Error::other(format!("unknown version {}", s.version)),
                    ));
                }
                s
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => StateFile {
                version: VERSION,
                ..StateFile::default()
            },
            Err(e) => return Err(err("read", e)),
        };
        Ok(Self { path, state })
    }

    pub fn get(&self, task_id: &str) -> Option<&TaskRecord> {
        self.state.tasks.get(task_id)
    }

    pub fn tasks(&self) -> impl Iterator<Item = (&String, &TaskRecord)> {
        self.state.tasks.iter()
    }

    /// Records `rec` for the task and persists the table.
    pub fn insert(&mut self, task_id: &str, rec: TaskRecord) -> Result<(), NetError> {
        self.state.tasks.insert(task_id.to_string(), rec);
        self.save()
    }

    /// Forgets the task and persists the table; a no-op when it has no record.
    pub fn remove(&mut self, task_id: &str) -> Result<Option<TaskRecord>, NetError> {
        let rec = self.state.tasks.remove(task_id);
        if rec.is_some() {
            self.save()?;
        }
        Ok(rec)
    }

    /// The owner of a host port, if any task holds it.
    pub fn port_owner(&self, protocol: Protocol, port: u16) -> Option<&str> {
        self.state.tasks.iter().find_map(|(id, r)| {
            r.ports
                .iter()
                .any(|p| p.protocol == protocol && p.host_port == port)
                .then_some(id.as_str())
        })
    }

    /// A free address of `subnet` (never the network, the gateway or the broadcast
    /// address), round-robin. Not recorded until [`Allocations::insert`].
    pub fn next_address(&mut self, subnet: Ipv4Subnet) -> Result<Ipv4Addr, NetError> {
        let used: HashSet<Ipv4Addr> = self.state.tasks.values().filter_map(|r| r.ipv4).collect();
        let hi = u32::try_from(subnet.size().saturating_sub(2)).unwrap_or(u32::MAX - 1);
        let key = subnet.to_string();
        let cursor = self.state.next_ip.get(&key).copied().unwrap_or(2);
        let idx = pick_block(2, hi, 1, cursor, |i| {
            subnet.nth(i).is_some_and(|ip| !used.contains(&ip))
        })
        .ok_or_else(|| NetError::AddressesExhausted {
            subnet: key.clone(),
        })?;
        self.state.next_ip.insert(key, idx + 1);
        subnet.nth(idx).ok_or_else(|| NetError::AddressesExhausted {
            subnet: subnet.to_string(),
        })
    }

    /// A block of `count` free host ports in `lo..=hi` that are not in `reserved`, not in
    /// `taken` (ports this task is about to hold) and pass `probe` (free on the host).
    pub fn next_ports(
        &mut self,
        (lo, hi): (u16, u16),
        count: u32,
        protocol: Protocol,
        reserved: &[u16],
        taken: &[(Protocol, u16)],
        probe: &dyn Fn(Protocol, u16) -> bool,
    ) -> Result<u16, NetError> {
        let used: HashSet<u16> = self
            .state
            .tasks
            .values()
            .flat_map(|r| r.ports.iter())
            .filter(|p| p.protocol == protocol)
            .map(|p| p.host_port)
            .chain(taken.iter().filter(|t| t.0 == protocol).map(|t| t.1))
            .chain(reserved.iter().copied())
            .collect();
        let start = pick_block(
            u32::from(lo),
            u32::from(hi),
            count,
            u32::from(self.state.next_port),
            |p| u16::try_from(p).is_ok_and(|p| !used.contains(&p) && probe(protocol, p)),
        )
        .and_then(|s| u16::try_from(s).ok())
        .ok_or(NetError::PortsExhausted { lo, hi, count })?;
        let end = u32::from(start) + count;
        self.state.next_port = u16::try_from(end).unwrap_or(lo);
        Ok(start)
    }

    fn save(&self) -> Result<(), NetError> {
        let err = |op, source| NetError::State {
            op,
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| err("serialise", io::Error::other(e)))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = fs::File::create(&tmp).map_err(|e| err("write", e))?;
        f.write_all(&bytes).map_err(|e| err("write", e))?;
        f.sync_all().map_err(|e| err("sync", e))?;
        fs::rename(&tmp, &self.path).map_err(|e| err("replace", e))?;
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| err("sync the directory of", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A scratch directory, removed on drop (also when the test fails).
    pub(crate) struct Scratch(pub PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    pub(crate) fn scratch(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("gantry-net-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        Scratch(d)
    }

    fn rec(ip: Ipv4Addr, ports: &[u16]) -> TaskRecord {
        TaskRecord {
            mode: Mode::Bridge,
            netns: None,
            bridge: Some("br".into()),
            subnet: None,
            ipv4: Some(ip),
            mac: None,
            veth: None,
            ports: ports
                .iter()
                .map(|p| PortRecord {
                    protocol: Protocol::Tcp,
                    host_port: *p,
                    container_port: 80,
                })
                .collect(),
            bindings: vec![],
        }
    }

    #[test]
    fn survives_reopen_and_never_repeats_a_held_number() {
        let scratch = scratch("reopen");
        let d = scratch.0.clone();
        let subnet: Ipv4Subnet = "10.9.0.0/29".parse().expect("subnet");
        let free = |_: Protocol, _: u16| true;
        let mut a = Allocations::open(&d).expect("open");
        let ip1 = a.next_address(subnet).expect("ip");
        let p1 = a
            .next_ports((100, 104), 1, Protocol::Tcp, &[101], &[], &free)
            .expect("port");
        a.insert("t1", rec(ip1, &[p1])).expect("insert");
        drop(a);

        let mut a = Allocations::open(&d).expect("reopen");
        assert_eq!(a.get("t1"), Some(&rec(ip1, &[p1])));
        assert_eq!(a.port_owner(Protocol::Tcp, p1), Some("t1"));
        assert_eq!(a.port_owner(Protocol::Udp, p1), None);
        let mut ips = vec![ip1];
        let mut ports = vec![p1];
        for i in 2..6 {
            let ip = a.next_address(subnet).expect("ip");
            // 101 is reserved; 5 ports minus 1 reserved: 4 in all.
            let p = a.next_ports((100, 104), 1, Protocol::Tcp, &[101], &[], &free);
            if i < 5 {
                ports.push(p.expect("port"));
            } else {
                assert!(matches!(p, Err(NetError::PortsExhausted { .. })));
            }
            assert!(!ips.contains(&ip), "{ip} handed out twice");
            ips.push(ip);
            let held: &[u16] = if i < 5 {
                &ports[ports.len() - 1..]
            } else {
                &[]
            };
            a.insert(&format!("t{i}"), rec(ip, held)).expect("insert");
        }
        assert!(!ports.contains(&101));
        // /29: .2 to .6 usable; all five are now held.
        assert!(a.next_address(subnet).is_err());
        a.remove("t1").expect("remove");
        assert_eq!(a.next_address(subnet).expect("freed"), ip1);
        drop(a);
        let a = Allocations::open(&d).expect("reopen");
        assert!(a.get("t1").is_none());
    }

    #[test]
    fn dynamic_ports_skip_what_the_host_uses() {
        let scratch = scratch("probe");
        let d = scratch.0.clone();
        let mut a = Allocations::open(&d).expect("open");
        let probe = |_: Protocol, p: u16| p != 200;
        let p = a
            .next_ports(
                (200, 210),
                3,
                Protocol::Udp,
                &[],
                &[(Protocol::Udp, 203)],
                &probe,
            )
            .expect("ports");
        assert_eq!(p, 204);
    }
}
