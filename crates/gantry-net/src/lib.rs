//! Task networking on a node. A task's containers share one network namespace, which this
//! crate creates, pins to a file, wires up and removes. Modes: `host` (the node's namespace),
//! `none` (loopback only), `bridge` (a veth into the node bridge, an address from the bridge
//! subnet, port mappings as nftables DNAT in the kernel) and `awsvpc` (a veth into the
//! node's task-network bridge, an address from this node's slice of the cluster's task
//! network; other nodes' slices are reached through routes the agent installs with
//! [`NetworkManager::add_peer_route`]).
//!
//! Every side effect sits behind the [`NetworkManager`] trait, with the kernel
//! implementation ([`KernelNetwork`]) and a recording fake ([`fake::FakeNetwork`]).
//! Addresses and host ports are recorded in a file under the state directory *before* the
//! kernel is touched, so a crash or an agent restart never hands out one still in use, and
//! [`NetworkManager::reconcile`] can find and remove what a dead task left.
//!
//! Data paths, all in the kernel (no userland proxy):
//! - task ↔ task on one bridge: plain L2 through the bridge, no NAT;
//! - host or other hosts → `hostPort`: DNAT in `prerouting` (from outside and from tasks)
//!   and `output` (from this host) for any local destination address, through the `ports`
//!   map (see `nft.rs`); `127.0.0.1:hostPort` works because the bridge has
//!   `route_localnet=1` and loopback sources leaving through it are masqueraded;
//! - hairpin (a task to a host port, its own included): DNATed traffic from the bridge
//!   subnet back into the bridge is masqueraded so replies come back through the host;
//!   bridge ports have hairpin mode on;
//! - egress: the bridge subnet is masqueraded when leaving by any other interface; awsvpc
//!   slices likewise, except towards the cluster task network, so that the task's address
//!   stays its identity across nodes;
//! - awsvpc across nodes: plain routing. Each node owns a slice (`task_subnet`) and routes
//!   the other nodes' slices to their node addresses ([`NetworkManager::add_peer_route`]);
//!   the nodes must share an L2 segment (or already route to each other). A VXLAN overlay
//!   for nodes without that is future work.
//!
//! This crate must never leave a namespace, a veth, an nftables element or an allocation
//! behind a stopped task: `teardown` is idempotent and is called on every path out of a
//! task. It never proxies traffic in userland and never touches nftables outside its own
//! table.

mod alloc;
mod config;
mod conntrack;
mod error;
pub mod fake;
mod host;
mod kernel;
mod netlink;
mod netns;
mod nft;
mod ports;
mod reserve;
mod setup;
mod spec;
mod subnet;
mod teardown;

pub use alloc::{Allocations, PortRecord, TaskRecord};
pub use config::{AwsvpcConfig, BridgeConfig, NetConfig, DEFAULT_RESERVED_PORTS};
pub use error::NetError;
pub use kernel::KernelNetwork;
pub use netns::netns_path;
pub use spec::{Attachment, Binding, Mode, PortMapping, Protocol, TaskNetSpec, TaskNetwork};
pub use subnet::Ipv4Subnet;

use std::net::Ipv4Addr;

/// What [`NetworkManager::reconcile`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Tasks whose allocations (and kernel leftovers) were removed.
    pub released_tasks: Vec<String>,
    /// Kernel objects found without a live owner and removed: netns files, veths, nftables
    /// elements, each as a short description.
    pub removed_leftovers: Vec<String>,
}

/// Creates and removes task networks.
pub trait NetworkManager: Send + Sync {
    /// Builds the task's network. On error nothing is left behind (allocations included).
    /// Calling it again for a task that already has a network replaces that network.
    fn setup(&self, spec: &TaskNetSpec) -> Result<TaskNetwork, NetError>;

    /// The network a previous `setup` built for this task, as recorded (for an agent that
    /// re-adopts running tasks after a restart).
    fn lookup(&self, task_id: &str) -> Result<Option<TaskNetwork>, NetError>;

    /// Removes whatever `setup` made for the task and releases its address and host ports;
    /// fine to call when nothing exists.
    fn teardown(&self, task_id: &str) -> Result<(), NetError>;

    /// Tears down every task not in `live_task_ids` that has an allocation, a pinned
    /// namespace, a veth on this node's bridges or an nftables element. Call it on agent
    /// start, once the running tasks are known, and from time to time.
    fn reconcile(&self, live_task_ids: &[String]) -> Result<ReconcileReport, NetError>;

    /// Routes another node's slice of the task network through that node's address
    /// (`ip route replace <subnet> via <via>`). Idempotent.
    fn add_peer_route(&self, subnet: Ipv4Subnet, via: Ipv4Addr) -> Result<(), NetError>;

    /// Removes a route added by [`NetworkManager::add_peer_route`]; fine if it is gone.
    fn remove_peer_route(&self, subnet: Ipv4Subnet, via: Ipv4Addr) -> Result<(), NetError>;
}
