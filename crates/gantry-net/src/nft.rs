//! nftables: the node's NAT rules live in one table of family `ip` (default `gantry`) and
//! are written by piping a script to `nft -f -`, which applies a whole script as one atomic
//! transaction (the way firewalld, Docker's nftables backend and many CNI plugins drive
//! it). The chains are fixed; what changes per task is the `ports` map, whose elements
//! (`proto . hostPort : taskIP . containerPort`) carry the comment `gantry-task=<id>`, so
//! teardown and reconcile remove exactly one task's mappings and nothing else.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::{NetConfig, NetError, Protocol};

const TAG: &str = "gantry-task=";

/// One port mapping in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub protocol: Protocol,
    pub host_port: u16,
    pub task_ip: Ipv4Addr,
    pub container_port: u16,
    pub task: Option<String>,
}

/// The table's chains and map. Re-applying it resets the chains but keeps the map's
/// elements, so an agent restart does not cut live tasks' mappings.
pub(crate) fn base_ruleset(cfg: &NetConfig) -> String {
    let t = &cfg.nft_table;
    let br = &cfg.bridge.name;
    let net = cfg.bridge.subnet;
    let mut s = format!(
        "add table ip {t}\n\
         add map ip {t} ports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}\n\
         add chain ip {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n\
         add chain ip {t} output {{ type nat hook output priority -100; policy accept; }}\n\
         add chain ip {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
         flush chain ip {t} prerouting\n\
         flush chain ip {t} output\n\
         flush chain ip {t} postrouting\n\
         add rule ip {t} prerouting fib daddr type local dnat ip to meta l4proto . th dport map @ports comment \"port mappings, from other hosts and from tasks\"\n\
         add rule ip {t} output fib daddr type local dnat ip to meta l4proto . th dport map @ports comment \"port mappings, from this host\"\n\
         add rule ip {t} postrouting oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade comment \"127.0.0.1:hostPort\"\n\
         add rule ip {t} postrouting oifname \"{br}\" ip saddr {net} ct status dnat masquerade comment \"hairpin\"\n\
         add rule ip {t} postrouting oifname != \"{br}\" ip saddr {net} masquerade comment \"egress\"\n"
    );
    if let Some(a) = &cfg.awsvpc {
        s.push_str(&format!(
            "add rule ip {t} postrouting oifname != \"{}\" ip saddr {} ip daddr != {} masquerade comment \"awsvpc egress\"\n",
            a.bridge, a.task_subnet, a.cluster_cidr
        ));
    }
    s
}

pub(crate) fn add_elements_script(table: &str, task: &str, elems: &[Element]) -> String {
    let items: Vec<String> = elems
        .iter()
        .map(|e| {
            format!(
                "{} . {} comment \"{TAG}{task}\" : {} . {}",
                e.protocol.as_str(),
                e.host_port,
                e.task_ip,
                e.container_port
            )
        })
        .collect();
    format!("add element ip {table} ports {{ {} }}\n", items.join(", "))
}

pub(crate) fn delete_elements_script(table: &str, elems: &[Element]) -> String {
    let keys: Vec<String> = elems
        .iter()
        .map(|e| format!("{} . {}", e.protocol.as_str(), e.host_port))
        .collect();
    format!(
        "delete element ip {table} ports {{ {} }}\n",
        keys.join(", ")
    )
}

/// Applies a script atomically.
pub(crate) fn apply(op: &'static str, script: &str) -> Result<(), NetError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::Nft {
            op,
            detail: format!("could not run nft: {e}"),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| NetError::Nft {
                op,
                detail: format!("could not write to nft: {e}"),
            })?;
    }
    let out = child.wait_with_output().map_err(|e| NetError::Nft {
        op,
        detail: e.to_string(),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Nft {
            op,
            detail: format!(
                "{}; script:\n{script}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// The `ports` map's elements; empty when the table does not exist.
pub(crate) fn elements(table: &str) -> Result<Vec<Element>, NetError> {
    let out = Command::new("nft")
        .args(["-j", "list", "map", "ip", table, "ports"])
        .output()
        .map_err(|e| NetError::Nft {
            op: "list the port mappings",
            detail: format!("could not run nft: {e}"),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No such file or directory") {
            return Ok(Vec::new());
        }
        return Err(NetError::Nft {
            op: "list the port mappings",
            detail: err.trim().to_string(),
        });
    }
    parse_elements(&out.stdout).map_err(|detail| NetError::Nft {
        op: "parse the port mappings",
        detail,
    })
}

fn parse_elements(json: &[u8]) -> Result<Vec<Element>, String> {
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let items = v["nftables"].as_array().ok_or("no nftables array")?;
    for item in items {
        let Some(elems) = item["map"]["elem"].as_array() else {
            continue;
        };
        for pair in elems {
            let (key, val) = (&pair[0], &pair[1]);
            // With a comment the key is wrapped: {"elem": {"val": …, "comment": …}}.
            let (key, comment) = match key.get("elem") {
                Some(e) => (&e["val"], e["comment"].as_str()),
                None => (key, None),
            };
            let parse = || -> Option<Element> {
                let k = key["concat"].as_array()?;
                let v = val["concat"].as_array()?;
                let protocol = match k.first()?.as_str()? {
                    "tcp" => Protocol::Tcp,
                    "udp" => Protocol::Udp,
                    _ => return None,
                };
                Some(Element {
                    protocol,
                    host_port: u16::try_from(k.get(1)?.as_u64()?).ok()?,
                    task_ip: v.first()?.as_str()?.parse().ok()?,
                    container_port: u16::try_from(v.get(1)?.as_u64()?).ok()?,
                    task: comment
                        .and_then(|c| c.strip_prefix(TAG))
                        .map(str::to_string),
                })
            };
            out.push(parse().ok_or_else(|| format!("unexpected element {pair}"))?);
        }
    }
    Ok(out)
}

/// Removes the whole table (tests, and a node leaving for good).
pub(crate) fn delete_table(table: &str) -> Result<(), NetError> {
    apply(
        "delete the table",
        &format!("add table ip {table}\ndelete table ip {table}\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nft_json() {
        let json = br#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"map": {"family": "ip", "name": "ports", "table": "g", "type": ["inet_proto", "inet_service"], "handle": 1, "map": "ipv4_addr . inet_service", "elem": [[{"elem": {"val": {"concat": ["tcp", 8080]}, "comment": "gantry-task=abc"}}, {"concat": ["10.213.0.5", 80]}], [{"concat": ["udp", 53]}, {"concat": ["10.213.0.6", 5353]}]]}}]}"#;
        let e = parse_elements(json).expect("parse");
        assert_eq!(
            e,
            vec![
                Element {
                    protocol: Protocol::Tcp,
                    host_port: 8080,
                    task_ip: Ipv4Addr::new(10, 213, 0, 5),
                    container_port: 80,
                    task: Some("abc".into()),
                },
                Element {
                    protocol: Protocol::Udp,
                    host_port: 53,
                    task_ip: Ipv4Addr::new(10, 213, 0, 6),
                    container_port: 5353,
                    task: None,
                }
            ]
        );
        let empty = br#"{"nftables": [{"metainfo": {}}, {"map": {"name": "ports"}}]}"#;
        assert!(parse_elements(empty).expect("parse").is_empty());
    }

    #[test]
    fn scripts_name_the_task() {
        let e = Element {
            protocol: Protocol::Udp,
            host_port: 49153,
            task_ip: Ipv4Addr::new(10, 213, 0, 2),
            container_port: 53,
            task: None,
        };
        assert_eq!(
            add_elements_script("gantry", "t1", std::slice::from_ref(&e)),
            "add element ip gantry ports { udp . 49153 comment \"gantry-task=t1\" : 10.213.0.2 . 53 }\n"
        );
        assert_eq!(
            delete_elements_script("gantry", &[e]),
            "delete element ip gantry ports { udp . 49153 }\n"
        );
        let rules = base_ruleset(&NetConfig::new("/r", "/s"));
        assert!(
            rules.contains("oifname \"gantry0\" ip saddr 10.213.0.0/16 ct status dnat masquerade")
        );
    }
}
