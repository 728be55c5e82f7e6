//! Resource needs: what one task of a task definition, with its overrides, holds on its
//! instance (cpu, memory, host ports).

use gantry_api::model::{ContainerOverride, TaskOverride};
use gantry_api::units::{self, BadSize};

use crate::error::{invalid, Result};
use crate::persistence::records::{Allocation, TaskDefRecord};

fn container_override<'a>(
    o: Option<&'a TaskOverride>,
    name: &str,
) -> Option<&'a ContainerOverride> {
    o?.container_overrides
        .as_deref()?
        .iter()
        .find(|c| c.name.as_deref() == Some(name))
}

/// What one task of `def` with `overrides` holds on its instance.
pub fn needs(def: &TaskDefRecord, overrides: Option<&TaskOverride>) -> Result<Allocation> {
    let d = &def.definition;
    let containers = d.container_definitions.as_deref().unwrap_or_default();
    for o in overrides
        .and_then(|o| o.container_overrides.as_deref())
        .unwrap_or_default()
    {
        let name = o.name.as_deref().unwrap_or_default();
        if !containers.iter().any(|c| c.name.as_deref() == Some(name)) {
            return Err(invalid(format!(
                "Override for container named {name} is not a container in the TaskDefinition."
            )));
        }
    }
    let task_cpu = units::task_cpu(d, overrides)
        .map_err(|BadSize(s)| invalid(format!("Task cpu override {s:?} is invalid.")))?;
    let task_memory = units::task_memory(d, overrides)
        .map_err(|BadSize(s)| invalid(format!("Task memory override {s:?} is invalid.")))?;
    let mut cpu = 0i64;
    let mut memory = 0i64;
    let mut a = Allocation::default();
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        let o = container_override(overrides, name);
        cpu += i64::from(o.and_then(|o| o.cpu).or(c.cpu).unwrap_or(0));
        let hard = o.and_then(|o| o.memory).or(c.memory);
        let soft = o
            .and_then(|o| o.memory_reservation)
            .or(c.memory_reservation);
        memory += i64::from(hard.or(soft).unwrap_or(0));
        // Host ports a task holds on its instance: in host mode its container ports, in
        // bridge mode its static host ports (hostPort 0 is picked by the agent from the
        // dynamic range); awsvpc tasks have addresses of their own and hold none.
        let mode = d.network_mode.as_deref().unwrap_or("bridge");
        if mode == "host" || mode == "bridge" {
            for m in c.port_mappings.as_deref().unwrap_or_default() {
                let port = if mode == "host" {
                    m.host_port.or(m.container_port)
                } else {
                    m.host_port.filter(|p| *p > 0)
                }
                .and_then(|p| u16::try_from(p).ok());
                if let Some(p) = port {
                    if m.protocol.as_deref() == Some("udp") {
                        a.udp_ports.insert(p);
                    } else {
                        a.tcp_ports.insert(p);
                    }
                }
            }
        }
    }
    a.cpu = task_cpu.unwrap_or(cpu);
    a.memory = task_memory.unwrap_or(memory);
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::records::TaskDefStatus;
    use gantry_api::model::{ContainerDefinition, PortMapping, TaskDefinition};

    fn def(task_memory: Option<&str>) -> TaskDefRecord {
        TaskDefRecord {
            family: "web".into(),
            revision: 1,
            status: TaskDefStatus::Active,
            definition: TaskDefinition {
                network_mode: Some("host".into()),
                memory: task_memory.map(str::to_string),
                container_definitions: Some(vec![
                    ContainerDefinition {
                        name: Some("a".into()),
                        cpu: Some(256),
                        memory: Some(128),
                        port_mappings: Some(vec![PortMapping {
                            container_port: Some(80),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    },
                    ContainerDefinition {
                        name: Some("b".into()),
                        memory_reservation: Some(64),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            },
        }
    }

    #[test]
    fn needs_sum_containers_and_honour_overrides() {
        let a = needs(&def(None), None).unwrap();
        assert_eq!((a.cpu, a.memory), (256, 192));
        assert!(a.tcp_ports.contains(&80));
        let o = TaskOverride {
            container_overrides: Some(vec![ContainerOverride {
                name: Some("a".into()),
                memory: Some(512),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(needs(&def(None), Some(&o)).unwrap().memory, 576);
        assert_eq!(needs(&def(Some("1 GB")), None).unwrap().memory, 1024);
        let bad = TaskOverride {
            container_overrides: Some(vec![ContainerOverride {
                name: Some("nope".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert!(needs(&def(None), Some(&bad)).is_err());
    }
}
