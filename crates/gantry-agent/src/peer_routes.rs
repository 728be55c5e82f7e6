//! Routes to the other nodes' slices of the awsvpc task network, as the server lists them
//! ([`ServerFrame::PeerRoutes`](gantry_api::protocol::ServerFrame::PeerRoutes)): each one is
//! `ip route replace <slice> via <node address>` in this host's namespace, so task→task traffic
//! across nodes is plain kernel routing. Routes the server no longer lists are removed.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use gantry_api::protocol::PeerRoute;
use gantry_net::{Ipv4Subnet, KernelNetwork, NetworkManager};

/// The peer routes this agent installed.
pub struct PeerRoutes {
    network: Arc<KernelNetwork>,
    own: Option<String>,
    installed: HashSet<(Ipv4Subnet, Ipv4Addr)>,
}

impl PeerRoutes {
    pub fn new(network: Arc<KernelNetwork>, own: Option<String>) -> Self {
        Self {
            network,
            own,
            installed: HashSet::new(),
        }
    }

    /// Makes the installed routes match `want` (this node's own slice excluded).
    pub fn apply(&mut self, want: &[PeerRoute]) {
        let mut wanted = HashSet::new();
        for r in want {
            if self.own.as_deref() == Some(r.subnet.as_str()) {
                continue;
            }
            match (r.subnet.parse::<Ipv4Subnet>(), r.via.parse::<Ipv4Addr>()) {
                (Ok(s), Ok(v)) => {
                    wanted.insert((s, v));
                }
                _ => {
                    tracing::warn!(subnet = %r.subnet, via = %r.via, "ignoring a peer route that does not parse")
                }
            }
        }
        for (s, v) in self.installed.difference(&wanted) {
            if let Err(e) = self.network.remove_peer_route(*s, *v) {
                tracing::warn!(error = %e, "could not remove a peer route");
            }
        }
        let mut now = HashSet::new();
        for (s, v) in &wanted {
            match self.network.add_peer_route(*s, *v) {
                Ok(()) => {
                    now.insert((*s, *v));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not add a peer route; awsvpc tasks on that node are unreachable from here")
                }
            }
        }
        tracing::info!(routes = now.len(), "awsvpc peer routes in place");
        self.installed = now;
    }
}
