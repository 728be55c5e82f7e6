//! Port mapping rules of RegisterTaskDefinition, per network mode, as ECS applies them:
//! - `bridge`: `hostPort` 0 (or absent) is dynamic, otherwise a static host port; a
//!   `containerPortRange` takes no `hostPort`;
//! - `host` and `awsvpc`: `hostPort` must equal `containerPort` or be left out (no dynamic
//!   ports); ranges only with `awsvpc`;
//! - `none`: no mappings at all (checked by the caller).
//!
//! A task's containers share one network namespace, so a container port (or range) may be
//! used once per protocol in the whole task, and so may a static host port.

use std::collections::BTreeSet;

use gantry_api::model::PortMapping;

use crate::error::{client, Result};

/// What the task's mappings use so far.
#[derive(Debug, Default)]
pub struct TaskPorts {
    container: BTreeSet<(String, u16)>,
    host: BTreeSet<(String, u16)>,
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a > 0 && a <= b).then_some((a, b))
}

/// Checks one mapping of container `name`.
pub fn check_mapping(name: &str, m: &PortMapping, mode: &str, used: &mut TaskPorts) -> Result<()> {
    let proto = m.protocol.clone().unwrap_or_else(|| "tcp".to_string());
    let ports: Vec<u16> = match (&m.container_port_range, m.container_port) {
        (Some(_), Some(_)) => {
            return Err(client(format!(
            "Container {name}: a port mapping takes containerPort or containerPortRange, not both."
        )))
        }
        (Some(r), None) => {
            if mode != "bridge" && mode != "awsvpc" {
                return Err(client(format!(
                    "Container {name}: containerPortRange is supported with networkMode bridge and awsvpc only, not {mode}."
                )));
            }
            if m.host_port.is_some_and(|h| h != 0) {
                return Err(client(format!(
                    "Container {name}: a containerPortRange mapping takes no hostPort; host ports for a range are picked by the agent."
                )));
            }
            let (a, b) = parse_range(r).ok_or_else(|| {
                client(format!(
                    "Container {name}: containerPortRange {r:?} must look like 8000-8010 with ports between 1 and 65535."
                ))
            })?;
            (a..=b).collect()
        }
        (None, Some(p)) => {
            let p = u16::try_from(p).ok().filter(|p| *p > 0).ok_or_else(|| {
                client(format!(
                    "Container {name}: containerPort {p} must be between 1 and 65535."
                ))
            })?;
            vec![p]
        }
        (None, None) => {
            return Err(client(format!(
                "Container {name} has a port mapping without containerPort or containerPortRange."
            )))
        }
    };
    if let Some(hp) = m.host_port {
        if !(0..=65535).contains(&hp) {
            return Err(client(format!(
                "Container {name}: hostPort {hp} must be between 0 and 65535."
            )));
        }
        if (mode == "host" || mode == "awsvpc") && m.container_port.is_some_and(|cp| cp != hp) {
            // ECS's words for awsvpc; host by the same pattern.
            return Err(client(format!(
                "When networkMode={mode}, the host ports and container ports in port mappings must match."
            )));
        }
        if mode == "bridge" && hp > 0 {
            let hp = u16::try_from(hp).unwrap_or_default();
            if !used.host.insert((proto.clone(), hp)) {
                return Err(client(format!(
                    "Host port {hp}/{proto} is mapped more than once in this task definition."
                )));
            }
        }
    }
    for p in ports {
        if !used.container.insert((proto.clone(), p)) {
            return Err(client(format!(
                "Container port {p}/{proto} is mapped more than once in this task definition; the containers of a task share one network namespace."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(cp: Option<i32>, hp: Option<i32>) -> PortMapping {
        PortMapping {
            container_port: cp,
            host_port: hp,
            ..Default::default()
        }
    }

    #[test]
    fn rules_per_mode() {
        let mut u = TaskPorts::default();
        check_mapping("a", &pm(Some(80), Some(0)), "bridge", &mut u).unwrap();
        check_mapping("a", &pm(Some(81), Some(8080)), "bridge", &mut u).unwrap();
        assert!(check_mapping("b", &pm(Some(82), Some(8080)), "bridge", &mut u).is_err());
        assert!(check_mapping("b", &pm(Some(80), None), "bridge", &mut u).is_err());
        let mut u = TaskPorts::default();
        let e = check_mapping("a", &pm(Some(80), Some(0)), "host", &mut u).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ClientException: When networkMode=host, the host ports and container ports in port mappings must match."
        );
        assert!(check_mapping("a", &pm(Some(80), Some(81)), "awsvpc", &mut u).is_err());
        assert!(check_mapping("a", &pm(Some(80), Some(70000)), "bridge", &mut u).is_err());
        let range = PortMapping {
            container_port_range: Some("9000-9005".into()),
            ..Default::default()
        };
        check_mapping("a", &range, "bridge", &mut TaskPorts::default()).unwrap();
        assert!(check_mapping("a", &range, "host", &mut TaskPorts::default()).is_err());
    }
}
