//! The node's network configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Ipv4Subnet, NetError};

/// ECS_RESERVED_PORTS' default: ssh, the Docker daemon, the ECS agent's introspection.
/// The agent adds its own listening ports.
pub const DEFAULT_RESERVED_PORTS: [u16; 5] = [22, 2375, 2376, 51678, 51679];

/// The node bridge for `bridge` mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// At most 15 bytes (IFNAMSIZ); default `gantry0`.
    pub name: String,
    /// The bridge takes the first host address; tasks get the others. Default
    /// `10.213.0.0/16`: inside 10/8, away from Docker's 172.17/16, the 172.31/16 of AWS's
    /// default VPC and the 192.168/16 of home routers.
    pub subnet: Ipv4Subnet,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            name: "gantry0".into(),
            subnet: Ipv4Subnet::new(std::net::Ipv4Addr::new(10, 213, 0, 0), 16)
                .unwrap_or_else(|_| unreachable!("a constant")),
        }
    }
}

/// The `awsvpc` task network: this node's slice of the cluster's task network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsvpcConfig {
    /// Default `gantry1`.
    pub bridge: String,
    /// This node's slice, e.g. `10.214.<node>.0/24`; the bridge takes the first address.
    pub task_subnet: Ipv4Subnet,
    /// The whole task network (e.g. `10.214.0.0/16`): traffic from a task to it is not
    /// masqueraded, so tasks on other nodes see the task's own address.
    pub cluster_cidr: Ipv4Subnet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Namespaces are pinned under `run_dir/netns/`.
    pub run_dir: PathBuf,
    /// Allocations are recorded in `state_dir/allocations.json`.
    pub state_dir: PathBuf,
    /// The nftables table (family `ip`) holding all of this node's rules; default `gantry`.
    pub nft_table: String,
    pub bridge: BridgeConfig,
    /// `None`: awsvpc tasks are refused.
    pub awsvpc: Option<AwsvpcConfig>,
    /// Inclusive; default 49153-65535 like ECS_DYNAMIC_HOST_PORT_RANGE.
    pub dynamic_ports: (u16, u16),
    /// Never handed out as dynamic ports, and refused as static ones.
    pub reserved_ports: Vec<u16>,
}

impl NetConfig {
    pub fn new(run_dir: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            run_dir: run_dir.into(),
            state_dir: state_dir.into(),
            nft_table: "gantry".into(),
            bridge: BridgeConfig::default(),
            awsvpc: None,
            dynamic_ports: (49153, 65535),
            reserved_ports: DEFAULT_RESERVED_PORTS.to_vec(),
        }
    }

    pub fn with_bridge(mut self, name: impl Into<String>, subnet: Ipv4Subnet) -> Self {
        self.bridge = BridgeConfig {
            name: name.into(),
            subnet,
        };
        self
    }

    pub fn with_awsvpc(mut self, awsvpc: AwsvpcConfig) -> Self {
        self.awsvpc = Some(awsvpc);
        self
    }

    pub fn with_nft_table(mut self, table: impl Into<String>) -> Self {
        self.nft_table = table.into();
        self
    }

    pub fn with_dynamic_ports(mut self, lo: u16, hi: u16) -> Self {
        self.dynamic_ports = (lo, hi);
        self
    }

    pub fn with_reserved_ports(mut self, ports: Vec<u16>) -> Self {
        self.reserved_ports = ports;
        self
    }

    pub fn validate(&self) -> Result<(), NetError> {
        let bad = |s: String| Err(NetError::Config(s));
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 15
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        };
        if !name_ok(&self.bridge.name) {
            return bad(format!(
                "bridge name {:?}: 1-15 of [A-Za-z0-9._-]",
                self.bridge.name
            ));
        }
        if !name_ok(&self.nft_table) {
            return bad(format!(
                "nftables table {:?}: 1-15 of [A-Za-z0-9._-]",
                self.nft_table
            ));
        }
        if self.bridge.subnet.prefix() > 30 {
            return bad(format!(
                "bridge subnet {} is smaller than /30",
                self.bridge.subnet
            ));
        }
        let (lo, hi) = self.dynamic_ports;
        if lo == 0 || hi < lo {
            return bad(format!(
                "dynamic port range {lo}-{hi} is empty or starts at 0"
            ));
        }
        if let Some(a) = &self.awsvpc {
            if !name_ok(&a.bridge) || a.bridge == self.bridge.name {
                return bad(format!(
                    "awsvpc bridge {:?} must be a name of its own",
                    a.bridge
                ));
            }
            if a.task_subnet.prefix() > 30 || !a.cluster_cidr.contains(a.task_subnet.network()) {
                return bad(format!(
                    "task subnet {} must be a /30 or larger inside {}",
                    a.task_subnet, a.cluster_cidr
                ));
            }
            if a.cluster_cidr.overlaps(&self.bridge.subnet) {
                return bad(format!(
                    "task network {} overlaps the bridge subnet {}",
                    a.cluster_cidr, self.bridge.subnet
                ));
            }
        }
        Ok(())
    }
}
