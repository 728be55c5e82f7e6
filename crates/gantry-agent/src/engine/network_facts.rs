//! What the network gave a task, in the shape its report carries: the bindings of each
//! container and the task's own interface. Pure.

use gantry_api::model::NetworkBinding;
use gantry_api::protocol::NetworkReport;
use gantry_net::TaskNetwork;

/// What the network gave a task, as ECS reports it: bindings per container (in container
/// order) and the task's own interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkFacts {
    pub bindings: Vec<Vec<NetworkBinding>>,
    pub interface: Option<NetworkReport>,
}

impl NetworkFacts {
    /// What the task got, as its report carries it: bindings per container, and the interface.
    pub fn of(net: &TaskNetwork, per_container: &[usize]) -> Self {
        let mut bindings = net.bindings.iter();
        let per_container = per_container
            .iter()
            .map(|n| {
                bindings
                    .by_ref()
                    .take(*n)
                    .map(|b| NetworkBinding {
                        bind_ip: Some(b.bind_ip.to_string()),
                        container_port: b
                            .container_port_range
                            .is_none()
                            .then_some(i32::from(b.container_port)),
                        host_port: b
                            .host_port_range
                            .is_none()
                            .then_some(i32::from(b.host_port)),
                        protocol: Some(b.protocol.as_str().to_string()),
                        container_port_range: b
                            .container_port_range
                            .map(|(a, z)| format!("{a}-{z}")),
                        host_port_range: b.host_port_range.map(|(a, z)| format!("{a}-{z}")),
                    })
                    .collect()
            })
            .collect();
        let interface = match (net.ipv4, &net.mac) {
            (Some(ip), Some(mac)) => Some(NetworkReport {
                private_ipv4_address: ip.to_string(),
                mac_address: mac.clone(),
                subnet: net.subnet.clone().unwrap_or_default(),
            }),
            _ => None,
        };
        Self {
            bindings: per_container,
            interface,
        }
    }
}
