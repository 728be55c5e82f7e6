//! Turning a [`TaskNetSpec`] into a [`TaskRecord`]: the address, the veth name and the host
//! ports a task will hold. Pure apart from the two probes it is given, so the rules (never
//! a reserved port, never a held one, static ports refused when held) are unit-tested.

use std::net::Ipv4Addr;

use crate::alloc::{Allocations, PortRecord, TaskRecord};
use crate::{netns_path, Binding, Mode, NetConfig, NetError, Protocol, TaskNetSpec};

/// What the caller knows about the host.
pub(crate) struct Probes<'a> {
    /// Whether a host port is free (nothing listens on it).
    pub port_free: &'a dyn Fn(Protocol, u16) -> bool,
    /// Whether a link of this name exists in the host namespace.
    pub link_exists: &'a dyn Fn(&str) -> bool,
}

pub(crate) fn reserve(
    allocs: &mut Allocations,
    cfg: &NetConfig,
    spec: &TaskNetSpec,
    probes: &Probes<'_>,
) -> Result<TaskRecord, NetError> {
    let mut rec = TaskRecord {
        mode: spec.mode,
        netns: None,
        bridge: None,
        subnet: None,
        ipv4: None,
        mac: None,
        veth: None,
        ports: Vec::new(),
        bindings: Vec::new(),
    };
    match spec.mode {
        Mode::Host => {
            for m in &spec.port_mappings {
                let p = m.static_host_port().unwrap_or(m.container_port);
                hold_static(allocs, cfg, &rec, m.protocol, p)?;
                rec.ports.push(PortRecord {
                    protocol: m.protocol,
                    host_port: p,
                    container_port: m.container_port,
                });
                rec.bindings
                    .push(binding(Ipv4Addr::UNSPECIFIED, m.protocol, p, p, None));
            }
            return Ok(rec);
        }
        Mode::None => {
            rec.netns = Some(netns_path(&cfg.run_dir, &spec.task_id));
            return Ok(rec);
        }
        Mode::Bridge => {
            rec.bridge = Some(cfg.bridge.name.clone());
            rec.subnet = Some(cfg.bridge.subnet);
        }
        Mode::Awsvpc => {
            let a = cfg.awsvpc.as_ref().ok_or(NetError::ModeNotConfigured {
                mode: "awsvpc",
                why: "this node has no task subnet (agent configuration)".into(),
            })?;
            rec.bridge = Some(a.bridge.clone());
            rec.subnet = Some(a.task_subnet);
        }
    }
    rec.netns = Some(netns_path(&cfg.run_dir, &spec.task_id));
    let subnet = rec
        .subnet
        .ok_or_else(|| NetError::Config("no subnet".into()))?;
    let ip = allocs.next_address(subnet)?;
    rec.ipv4 = Some(ip);
    rec.mac = Some(crate::netlink::mac_string(crate::netlink::mac_for(ip)));
    rec.veth = Some(veth_name(allocs, &spec.task_id, probes.link_exists));

    if spec.mode == Mode::Awsvpc {
        // The address is the task's identity: ports are reached on it as they are.
        for m in &spec.port_mappings {
            let (lo, hi) = m
                .container_port_range
                .unwrap_or((m.container_port, m.container_port));
            let range = m.container_port_range;
            rec.bindings
                .push(binding(ip, m.protocol, lo, lo, range.map(|_| (lo, hi))));
        }
        return Ok(rec);
    }

    for m in &spec.port_mappings {
        let (lo, hi) = m
            .container_port_range
            .unwrap_or((m.container_port, m.container_port));
        let count = u32::from(hi - lo) + 1;
        let host_lo = match m.static_host_port() {
            Some(p) => {
                hold_static(allocs, cfg, &rec, m.protocol, p)?;
                p
            }
            None => {
                let taken: Vec<(Protocol, u16)> = rec
                    .ports
                    .iter()
                    .map(|p| (p.protocol, p.host_port))
                    .collect();
                allocs.next_ports(
                    cfg.dynamic_ports,
                    count,
                    m.protocol,
                    &cfg.reserved_ports,
                    &taken,
                    probes.port_free,
                )?
            }
        };
        for i in 0..=(hi - lo) {
            rec.ports.push(PortRecord {
                protocol: m.protocol,
                host_port: host_lo + i,
                container_port: lo + i,
            });
        }
        let ranges = m
            .container_port_range
            .map(|_| ((lo, hi), (host_lo, host_lo + (hi - lo))));
        rec.bindings.push(Binding {
            bind_ip: Ipv4Addr::UNSPECIFIED,
            container_port: lo,
            host_port: host_lo,
            protocol: m.protocol,
            container_port_range: ranges.map(|r| r.0),
            host_port_range: ranges.map(|r| r.1),
        });
    }
    Ok(rec)
}

fn binding(
    ip: Ipv4Addr,
    protocol: Protocol,
    container_port: u16,
    host_port: u16,
    range: Option<(u16, u16)>,
) -> Binding {
    Binding {
        bind_ip: ip,
        container_port,
        host_port,
        protocol,
        container_port_range: range,
        host_port_range: range,
    }
}

fn hold_static(
    allocs: &Allocations,
    cfg: &NetConfig,
    rec: &TaskRecord,
    protocol: Protocol,
    port: u16,
) -> Result<(), NetError> {
    if cfg.reserved_ports.contains(&port) {
        return Err(NetError::PortReserved { port });
    }
    let mine = rec
        .ports
        .iter()
        .any(|p| p.protocol == protocol && p.host_port == port);
    if let Some(owner) = allocs
        .port_owner(protocol, port)
        .map(str::to_string)
        .or(mine.then(|| "this task".to_string()))
    {
        return Err(NetError::PortInUse {
            port,
            protocol,
            owner,
        });
    }
    Ok(())
}

/// `gt` and 8 hex digits: the task id's first 8 when they are hex (ECS task ids are), else
/// a hash of it; re-hashed when another task or another link already has the name.
fn veth_name(allocs: &Allocations, task_id: &str, link_exists: &dyn Fn(&str) -> bool) -> String {
    let taken =
        |n: &str| allocs.tasks().any(|(_, r)| r.veth.as_deref() == Some(n)) || link_exists(n);
    let head = task_id
        .get(..8)
        .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if let Some(h) = head {
        let n = format!("gt{}", h.to_ascii_lowercase());
        if !taken(&n) {
            return n;
        }
    }
    let mut salt = 0u32;
    loop {
        let n = format!("gt{:08x}", fnv1a(task_id, salt));
        if !taken(&n) {
            return n;
        }
        salt += 1;
    }
}

fn fnv1a(s: &str, salt: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes().chain(salt.to_le_bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::tests::{scratch, Scratch};
    use crate::{PortMapping, Protocol};

    fn setup(name: &str) -> (Allocations, NetConfig, Scratch) {
        let d = scratch(&format!("reserve-{name}"));
        let cfg = NetConfig::new(d.0.join("run"), d.0.join("state"))
            .with_dynamic_ports(40000, 40009)
            .with_reserved_ports(vec![40001, 40003]);
        (Allocations::open(&d.0.join("state")).expect("open"), cfg, d)
    }

    const FREE: Probes<'static> = Probes {
        port_free: &|_, _| true,
        link_exists: &|_| false,
    };

    fn spec(id: &str, pm: Vec<PortMapping>) -> TaskNetSpec {
        TaskNetSpec::new(id, Mode::Bridge).with_port_mappings(pm)
    }

    #[test]
    fn dynamic_ports_skip_reserved_and_held_ones_and_static_ones_are_exclusive() {
        let (mut a, cfg, _d) = setup("ports");
        let mut held = Vec::new();
        for i in 0..8 {
            let s = spec(&format!("t{i}"), vec![PortMapping::tcp(80, None)]);
            let r = reserve(&mut a, &cfg, &s, &FREE).expect("reserve");
            let p = r.ports[0].host_port;
            assert!(
                !cfg.reserved_ports.contains(&p) && !held.contains(&p),
                "{p}"
            );
            held.push(p);
            a.insert(&s.task_id, r).expect("insert");
        }
        let s = spec("t9", vec![PortMapping::tcp(80, None)]);
        assert!(matches!(
            reserve(&mut a, &cfg, &s, &FREE),
            Err(NetError::PortsExhausted { .. })
        ));
        // Static: a held one, a reserved one, and twice in one task are refused.
        let s = spec("s", vec![PortMapping::tcp(80, Some(held[0]))]);
        assert!(matches!(
            reserve(&mut a, &cfg, &s, &FREE),
            Err(NetError::PortInUse { .. })
        ));
        let s = spec("s", vec![PortMapping::tcp(80, Some(40001))]);
        assert!(matches!(
            reserve(&mut a, &cfg, &s, &FREE),
            Err(NetError::PortReserved { port: 40001 })
        ));
        let s = spec(
            "s",
            vec![
                PortMapping::tcp(80, Some(8080)),
                PortMapping::tcp(81, Some(8080)),
            ],
        );
        assert!(matches!(
            reserve(&mut a, &cfg, &s, &FREE),
            Err(NetError::PortInUse { .. })
        ));
        // UDP is a different port space.
        let mut m = PortMapping::tcp(53, Some(held[0]));
        m.protocol = Protocol::Udp;
        assert!(reserve(&mut a, &cfg, &spec("u", vec![m]), &FREE).is_ok());
    }

    #[test]
    fn ranges_get_a_contiguous_block() {
        let (mut a, cfg, _d) = setup("range");
        let mut m = PortMapping::tcp(0, None);
        m.container_port_range = Some((7000, 7002));
        let r = reserve(&mut a, &cfg, &spec("r", vec![m]), &FREE).expect("reserve");
        let hp: Vec<u16> = r.ports.iter().map(|p| p.host_port).collect();
        assert_eq!(hp, vec![40004, 40005, 40006]);
        assert_eq!(r.bindings[0].host_port_range, Some((40004, 40006)));
        assert_eq!(r.bindings[0].container_port_range, Some((7000, 7002)));
    }

    #[test]
    fn veth_names_are_unique_and_short() {
        let (mut a, cfg, _d) = setup("veth");
        let s = spec("0123abcdef", vec![]);
        let r = reserve(&mut a, &cfg, &s, &FREE).expect("reserve");
        assert_eq!(r.veth.as_deref(), Some("gt0123abcd"));
        a.insert("0123abcdef", r).expect("insert");
        let r2 = reserve(&mut a, &cfg, &spec("0123abcd99", vec![]), &FREE).expect("reserve");
        let n = r2.veth.expect("veth");
        assert!(
            n != "gt0123abcd" && n.len() == 10 && n.starts_with("gt"),
            "{n}"
        );
    }
}
