//! A network namespace of one replica's own, joined to the host by a veth pair on a private
//! /30 of 10.216.0.0/16, and the nftables table that cuts it off from the etcd members'
//! ports (and nothing else) while a test wants it cut.
//!
//! The table lives inside the namespace, so deleting the namespace deletes it too; the
//! host end of the veth goes with its peer.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// The table the partition adds in the namespace.
const TABLE: &str = "gantry_ha_cut";

pub struct Isolation {
    /// The namespace, also the prefix of the veth names.
    pub name: String,
    pub host_if: String,
    /// The host end's address (the etcd members listen on it).
    pub host_ip: Ipv4Addr,
    /// The namespace end's address (the isolated replica listens on it).
    pub ns_ip: Ipv4Addr,
    removed: bool,
}

impl Isolation {
    /// Makes the namespace and the veth pair on the first /30 no host interface uses.
    pub fn create() -> Self {
        let taken = ip(&["-o", "-4", "addr", "show"]);
        let seed = (std::process::id() + super::next_id() * 7919) % 16384;
        let k = (0..16384)
            .map(|d| (seed + d) % 16384)
            .find(|k| {
                let net = k * 4;
                let (c, d) = (net / 256, net % 256);
                let ns = format!("gha{k:04x}");
                (0..4).all(|o| !taken.contains(&format!(" 10.216.{c}.{}/", d + o)))
                    && !ip(&["netns", "list"]).contains(&ns)
            })
            .expect("a free /30 in 10.216.0.0/16");
        let net = k * 4;
        let (c, d) = (net / 256, net % 256);
        let octet = |o: u32| u8::try_from(o).unwrap_or(0);
        let name = format!("gha{k:04x}");
        let iso = Self {
            host_if: format!("{name}h"),
            host_ip: Ipv4Addr::new(10, 216, octet(c), octet(d + 1)),
            ns_ip: Ipv4Addr::new(10, 216, octet(c), octet(d + 2)),
            name,
            removed: false,
        };
        let ns_if = format!("{}n", iso.name);
        let host = format!("{}/30", iso.host_ip);
        let inner = format!("{}/30", iso.ns_ip);
        for args in [
            vec!["netns", "add", &iso.name],
            vec![
                "link",
                "add",
                &iso.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &ns_if,
                "netns",
                &iso.name,
            ],
            vec!["addr", "add", &host, "dev", &iso.host_if],
            vec!["link", "set", &iso.host_if, "up"],
            vec!["-n", &iso.name, "addr", "add", &inner, "dev", &ns_if],
            vec!["-n", &iso.name, "link", "set", &ns_if, "up"],
            vec!["-n", &iso.name, "link", "set", "lo", "up"],
        ] {
            ip_ok(&args);
        }
        iso
    }

    /// The port the isolated replica listens on: nothing else runs in a fresh namespace.
    pub fn free_port(&self) -> u16 {
        8443
    }

    /// Drops every packet between the namespace and `ports` on the host end, both ways.
    pub fn cut(&self, ports: &[u16]) {
        let set = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let host = self.host_ip;
        let rules = format!(
            "table inet {TABLE} {{\n\
             chain out {{ type filter hook output priority 0; policy accept; ip daddr {host} tcp dport {{ {set} }} drop; }}\n\
             chain in {{ type filter hook input priority 0; policy accept; ip saddr {host} tcp sport {{ {set} }} drop; }}\n\
             }}\n"
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("run nft");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(rules.as_bytes()).expect("write nft rules");
        }
        let st = child.wait().expect("wait nft");
        assert!(st.success(), "nft refused the partition rules:\n{rules}");
    }

    /// Removes the partition's table.
    pub fn heal(&self) {
        let st = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "nft", "delete", "table", "inet", TABLE,
            ])
            .status()
            .expect("run nft");
        assert!(st.success(), "could not delete the nftables table {TABLE}");
    }

    /// Whether the partition's table is in place.
    pub fn is_cut(&self) -> bool {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "list", "tables"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.contains(TABLE)
    }

    /// Deletes the namespace (with its table and the veth pair); returns what is still there.
    pub fn remove(&mut self) -> Vec<String> {
        if self.removed {
            return Vec::new();
        }
        self.removed = true;
        let quiet = |args: &[&str]| {
            let _ = Command::new("ip").args(args).stderr(Stdio::null()).status();
        };
        quiet(&["netns", "del", &self.name]);
        quiet(&["link", "del", &self.host_if]);
        let mut leaks = Vec::new();
        if ip(&["netns", "list"])
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&self.name))
        {
            leaks.push(format!("netns {} still exists", self.name));
        }
        if ip(&["-o", "link", "show"]).contains(&format!(" {}", self.host_if)) {
            leaks.push(format!("link {} still exists", self.host_if));
        }
        leaks
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

fn ip(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn ip_ok(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
