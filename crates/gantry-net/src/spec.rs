//! What the agent asks for ([`TaskNetSpec`]) and what it gets back ([`TaskNetwork`]).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::NetError;

/// How a task is networked (the task definition's `networkMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Host,
    None,
    Bridge,
    Awsvpc,
}

impl Mode {
    /// Parses ECS's `networkMode`; an absent mode is `bridge`, ECS's default on Linux.
    /// Returns `None` for modes this node cannot provide.
    pub fn from_ecs(s: Option<&str>) -> Option<Self> {
        match s {
            Some("host") => Some(Self::Host),
            Some("none") => Some(Self::None),
            Some("bridge") | None => Some(Self::Bridge),
            Some("awsvpc") => Some(Self::Awsvpc),
            _ => None,
        }
    }

    /// The ECS spelling.
    pub fn as_ecs(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::None => "none",
            Self::Bridge => "bridge",
            Self::Awsvpc => "awsvpc",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The ECS (and nftables) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }

    pub fn from_ecs(s: Option<&str>) -> Option<Self> {
        match s {
            Some("tcp") | None => Some(Self::Tcp),
            Some("udp") => Some(Self::Udp),
            _ => None,
        }
    }
}

/// One entry of a container's `portMappings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Ignored when `container_port_range` is set.
    pub container_port: u16,
    /// `None` or `Some(0)`: a dynamic port from the node's range.
    pub host_port: Option<u16>,
    pub protocol: Protocol,
    /// Inclusive; the host ports are then a dynamic block of the same length.
    pub container_port_range: Option<(u16, u16)>,
}

impl PortMapping {
    pub fn tcp(container_port: u16, host_port: Option<u16>) -> Self {
        Self {
            container_port,
            host_port,
            protocol: Protocol::Tcp,
            container_port_range: None,
        }
    }

    /// The static host port, if one was asked for.
    pub fn static_host_port(&self) -> Option<u16> {
        self.host_port.filter(|p| *p != 0)
    }
}

/// Everything the node needs to build one task's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNetSpec {
    pub task_id: String,
    pub mode: Mode,
    /// All containers' port mappings, flattened (they share the namespace).
    pub port_mappings: Vec<PortMapping>,
}

impl TaskNetSpec {
    pub fn new(task_id: impl Into<String>, mode: Mode) -> Self {
        Self {
            task_id: task_id.into(),
            mode,
            port_mappings: Vec::new(),
        }
    }

    pub fn with_port_mappings(mut self, port_mappings: Vec<PortMapping>) -> Self {
        self.port_mappings = port_mappings;
        self
    }

    /// Rejects what no mode could build; the server rejects the same at
    /// RegisterTaskDefinition, this is the node's own guard.
    pub fn validate(&self) -> Result<(), NetError> {
        let bad = |why: String| NetError::InvalidSpec {
            task: self.task_id.clone(),
            why,
        };
        // 64: the id goes into an nftables comment (128 bytes at most) and a file name.
        if self.task_id.is_empty()
            || self.task_id.len() > 64
            || !self
                .task_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("the task id must be 1-64 of [A-Za-z0-9_-]".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.port_mappings {
            let (lo, hi) = m
                .container_port_range
                .unwrap_or((m.container_port, m.container_port));
            if lo == 0 || hi < lo {
                return Err(bad(format!("container port range {lo}-{hi} is invalid")));
            }
            if m.container_port_range.is_some() && m.static_host_port().is_some() {
                return Err(bad(
                    "a containerPortRange takes dynamic host ports only".into()
                ));
            }
            for p in lo..=hi {
                if !seen.insert((m.protocol, p)) {
                    return Err(bad(format!(
                        "container port {p}/{} is mapped twice",
                        m.protocol.as_str()
                    )));
                }
            }
            match self.mode {
                Mode::None if !self.port_mappings.is_empty() => {
                    return Err(bad("networkMode none takes no port mappings".into()))
                }
                Mode::Host | Mode::Awsvpc => {
                    if m.host_port.is_none() && m.container_port_range.is_none() {
                        continue;
                    }
                    if let Some(h) = m.static_host_port().filter(|h| *h != m.container_port) {
                        return Err(bad(format!(
                            "in networkMode {} hostPort ({h}) must equal containerPort ({})",
                            self.mode.as_ecs(),
                            m.container_port
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What the runtime needs to place a task's containers in its network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// Share the host's network namespace.
    Host,
    /// Join the namespace pinned at this path.
    Namespace(PathBuf),
}

/// One entry of ECS's `networkBindings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub bind_ip: Ipv4Addr,
    /// The first port when the binding is a range.
    pub container_port: u16,
    pub host_port: u16,
    pub protocol: Protocol,
    /// Set (inclusive) for a `containerPortRange` mapping.
    pub container_port_range: Option<(u16, u16)>,
    pub host_port_range: Option<(u16, u16)>,
}

/// The network `setup` built for a task: what the agent reports and the runtime joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskNetwork {
    pub mode: Mode,
    /// The pinned namespace; `None` in host mode.
    pub netns: Option<PathBuf>,
    /// The task's address (bridge and awsvpc).
    pub ipv4: Option<Ipv4Addr>,
    /// The MAC of the task's `eth0` (bridge and awsvpc).
    pub mac: Option<String>,
    /// The subnet the address is in, as `a.b.c.d/n` (awsvpc: the ENI's `subnetId`).
    pub subnet: Option<String>,
    /// The task's gateway (the bridge's address).
    pub gateway: Option<Ipv4Addr>,
    pub bindings: Vec<Binding>,
}

impl TaskNetwork {
    pub fn attachment(&self) -> Attachment {
        match &self.netns {
            Some(p) => Attachment::Namespace(p.clone()),
            None => Attachment::Host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_ecs() {
        assert_eq!(Mode::from_ecs(None), Some(Mode::Bridge));
        assert_eq!(Mode::from_ecs(Some("awsvpc")), Some(Mode::Awsvpc));
        assert_eq!(Mode::from_ecs(Some("nat")), None);
    }

    #[test]
    fn bad_specs_are_refused() {
        let s = |mode, pm: Vec<PortMapping>| {
            TaskNetSpec::new("t1", mode)
                .with_port_mappings(pm)
                .validate()
                .is_err()
        };
        assert!(s(Mode::None, vec![PortMapping::tcp(80, None)]));
        assert!(s(Mode::Awsvpc, vec![PortMapping::tcp(80, Some(81))]));
        assert!(s(Mode::Host, vec![PortMapping::tcp(80, Some(81))]));
        assert!(s(
            Mode::Bridge,
            vec![PortMapping::tcp(80, None), PortMapping::tcp(80, Some(8080))]
        ));
        assert!(s(Mode::Bridge, vec![PortMapping::tcp(0, None)]));
        assert!(!s(Mode::Bridge, vec![PortMapping::tcp(80, Some(8080))]));
        assert!(!s(Mode::Awsvpc, vec![PortMapping::tcp(80, Some(80))]));
        assert!(TaskNetSpec::new("../x", Mode::None).validate().is_err());
    }
}
