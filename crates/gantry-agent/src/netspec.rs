//! From task definition to network request and back: the port mappings a task asks for, the
//! bindings and interface it got (as ECS reports them), and the `/etc` files its containers see.

use std::path::PathBuf;

use gantry_api::model::ContainerDefinition;
use gantry_net::{Mode, PortMapping, Protocol, TaskNetSpec, TaskNetwork};
use gantry_runtime::spec::BindMount;
use gantry_runtime::TaskDir;

/// Why a task's port mappings cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("container {container}: containerPortRange {range:?} must look like 8000-8010")]
    Range { container: String, range: String },
    #[error("container {container}: portMappings needs a containerPort between 1 and 65535")]
    Port { container: String },
    #[error("container {container}: protocol {protocol:?} must be tcp or udp")]
    Protocol { container: String, protocol: String },
}

fn port(v: Option<i32>) -> Option<u16> {
    v.and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0)
}

fn range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b && a > 0).then_some((a, b))
}

/// The network request of a task, and how many mappings each container contributed (in
/// container order), to give the bindings back to the right containers.
pub fn task_net_spec(
    task_id: &str,
    mode: Mode,
    defs: &[ContainerDefinition],
) -> Result<(TaskNetSpec, Vec<usize>), PortError> {
    let mut mappings = Vec::new();
    let mut counts = Vec::with_capacity(defs.len());
    for d in defs {
        let name = d.name.clone().unwrap_or_default();
        let pms = d.port_mappings.as_deref().unwrap_or_default();
        for pm in pms {
            let protocol =
                Protocol::from_ecs(pm.protocol.as_deref()).ok_or_else(|| PortError::Protocol {
                    container: name.clone(),
                    protocol: pm.protocol.clone().unwrap_or_default(),
                })?;
            let container_port_range = match &pm.container_port_range {
                Some(r) => Some(range(r).ok_or_else(|| PortError::Range {
                    container: name.clone(),
                    range: r.clone(),
                })?),
                None => None,
            };
            let container_port = match container_port_range {
                Some((lo, _)) => lo,
                None => port(pm.container_port).ok_or_else(|| PortError::Port {
                    container: name.clone(),
                })?,
            };
            mappings.push(PortMapping {
                container_port,
                host_port: port(pm.host_port),
                protocol,
                container_port_range,
            });
        }
        counts.push(pms.len());
    }
    Ok((
        TaskNetSpec::new(task_id, mode).with_port_mappings(mappings),
        counts,
    ))
}

/// The generated `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` of a task.
pub struct EtcFiles {
    dir: PathBuf,
}

impl EtcFiles {
    /// Bind mounts that put them in a container.
    pub fn mounts(&self) -> Vec<BindMount> {
        ["hosts", "resolv.conf", "hostname"]
            .iter()
            .map(|f| BindMount {
                source: self.dir.join(f),
                destination: format!("/etc/{f}"),
                readonly: false,
            })
            .collect()
    }
}

/// Writes the task's `/etc` files under `<task_dir>/etc`.
pub fn write_etc_files(
    task: &TaskDir,
    task_id: &str,
    mode: Mode,
    net: &TaskNetwork,
) -> std::io::Result<EtcFiles> {
    let dir = task.etc();
    std::fs::create_dir_all(&dir)?;
    let hostname: String = task_id.chars().take(12).collect();
    let own = net
        .ipv4
        .map_or_else(|| "127.0.1.1".to_string(), |ip| ip.to_string());
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}\t{hostname}\n"
    );
    std::fs::write(dir.join("hosts"), hosts)?;
    // A task namespace cannot reach the host's loopback resolvers (127.0.0.53 and the like).
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut resolv: String = host_resolv
        .lines()
        .filter(|l| {
            !(mode != Mode::Host && l.trim_start().starts_with("nameserver") && l.contains(" 127."))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if !resolv.contains("nameserver") && mode == Mode::None {
        resolv.push_str("# networkMode none: no name servers are reachable\n");
    }
    std::fs::write(dir.join("resolv.conf"), resolv)?;
    std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    Ok(EtcFiles { dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_are_flattened_in_container_order() {
        let defs = vec![
            ContainerDefinition {
                name: Some("a".into()),
                port_mappings: Some(vec![gantry_api::model::PortMapping {
                    container_port: Some(80),
                    host_port: Some(8080),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            ContainerDefinition {
                name: Some("b".into()),
                port_mappings: Some(vec![gantry_api::model::PortMapping {
                    container_port_range: Some("9000-9002".into()),
                    protocol: Some("udp".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
        ];
        let (spec, counts) = task_net_spec("t", Mode::Bridge, &defs).unwrap();
        assert_eq!(counts, vec![1, 1]);
        assert_eq!(spec.port_mappings[0].host_port, Some(8080));
        assert_eq!(
            spec.port_mappings[1].container_port_range,
            Some((9000, 9002))
        );
        assert_eq!(spec.port_mappings[1].protocol, Protocol::Udp);
    }

    #[test]
    fn a_bad_range_names_the_container() {
        let defs = vec![ContainerDefinition {
            name: Some("web".into()),
            port_mappings: Some(vec![gantry_api::model::PortMapping {
                container_port_range: Some("9-x".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }];
        let err = task_net_spec("t", Mode::Bridge, &defs).unwrap_err();
        assert!(err.to_string().contains("web"));
    }
}
