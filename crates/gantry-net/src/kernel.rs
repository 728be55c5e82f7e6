//! The real implementation: netns files, veths and bridges over rtnetlink, NAT in
//! nftables, allocations in a file.

use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard};

use crate::alloc::Allocations;
use crate::netlink::{mac_for, Netlink};
use crate::{
    host, nft, Ipv4Subnet, NetConfig, NetError, NetworkManager, ReconcileReport, TaskNetSpec,
    TaskNetwork,
};

/// The kernel implementation of [`NetworkManager`].
///
/// The host side (bridges, their addresses, sysctls, the nftables table) is made on the
/// first `bridge` or `awsvpc` setup, or by [`KernelNetwork::prepare_host`]; a node that
/// runs only `none` and `host` tasks never needs `nft`.
#[derive(Debug)]
pub struct KernelNetwork {
    pub(crate) cfg: NetConfig,
    pub(crate) allocs: Mutex<Allocations>,
    prepared: Mutex<bool>,
}

impl KernelNetwork {
    /// Validates the configuration and opens the allocation table; touches no kernel state.
    pub fn new(cfg: NetConfig) -> Result<Self, NetError> {
        cfg.validate()?;
        let allocs = Allocations::open(&cfg.state_dir)?;
        Ok(Self {
            cfg,
            allocs: Mutex::new(allocs),
            prepared: Mutex::new(false),
        })
    }

    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    pub(crate) fn allocs(&self) -> MutexGuard<'_, Allocations> {
        self.allocs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the bridges (with their addresses, up), enables forwarding and `route_localnet`
    /// on the bridge, and (re)writes the nftables chains, keeping live port mappings.
    /// Idempotent; done once per process unless it fails.
    pub fn prepare_host(&self) -> Result<(), NetError> {
        let mut done = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        if *done {
            return Ok(());
        }
        let mut nl = Netlink::open().map_err(nl_err("open a netlink socket"))?;
        ensure_bridge(&mut nl, &self.cfg.bridge.name, self.cfg.bridge.subnet)?;
        if let Some(a) = &self.cfg.awsvpc {
            ensure_bridge(&mut nl, &a.bridge, a.task_subnet)?;
        }
        host::enable_forwarding()?;
        host::route_localnet(&self.cfg.bridge.name)?;
        nft::apply("write the base ruleset", &nft::base_ruleset(&self.cfg))?;
        *done = true;
        Ok(())
    }

    /// Removes the bridges and the nftables table, after tearing down every task this node
    /// knows of. For tests and for a node leaving the cluster for good.
    pub fn remove_host(&self) -> Result<(), NetError> {
        self.reconcile(&[])?;
        let mut nl = Netlink::open().map_err(nl_err("open a netlink socket"))?;
        nl.del_link(&self.cfg.bridge.name).map_err(nl_err(format!(
            "delete the bridge {}",
            self.cfg.bridge.name
        )))?;
        if let Some(a) = &self.cfg.awsvpc {
            nl.del_link(&a.bridge)
                .map_err(nl_err(format!("delete the bridge {}", a.bridge)))?;
        }
        nft::delete_table(&self.cfg.nft_table)?;
        *self.prepared.lock().unwrap_or_else(|e| e.into_inner()) = false;
        Ok(())
    }
}

fn ensure_bridge(nl: &mut Netlink, name: &str, subnet: Ipv4Subnet) -> Result<(), NetError> {
    let gw = subnet
        .gateway()
        .ok_or_else(|| NetError::Config(format!("{subnet} has no room for a gateway")))?;
    nl.add_bridge(name, mac_for(gw))
        .map_err(nl_err(format!("create the bridge {name}")))?;
    let idx = nl
        .link_index(name)
        .map_err(nl_err(format!("find the bridge {name}")))?
        .ok_or_else(|| NetError::Netlink {
            op: format!("find the bridge {name}"),
            source: std::io::Error::from_raw_os_error(libc::ENODEV),
        })?;
    nl.add_address(idx, gw, subnet)
        .map_err(nl_err(format!("address the bridge {name}")))?;
    nl.set_up(idx, None)
        .map_err(nl_err(format!("bring up the bridge {name}")))
}

pub(crate) fn nl_err(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
    let op = op.into();
    move |source| NetError::Netlink { op, source }
}

impl NetworkManager for KernelNetwork {
    fn setup(&self, spec: &TaskNetSpec) -> Result<TaskNetwork, NetError> {
        crate::setup::setup(self, spec)
    }

    fn lookup(&self, task_id: &str) -> Result<Option<TaskNetwork>, NetError> {
        Ok(self.allocs().get(task_id).map(crate::setup::task_network))
    }

    fn teardown(&self, task_id: &str) -> Result<(), NetError> {
        crate::teardown::teardown(self, task_id)
    }

    fn reconcile(&self, live_task_ids: &[String]) -> Result<ReconcileReport, NetError> {
        crate::teardown::reconcile(self, live_task_ids)
    }

    fn add_peer_route(&self, subnet: Ipv4Subnet, via: Ipv4Addr) -> Result<(), NetError> {
        Netlink::open()
            .and_then(|mut nl| nl.replace_route(Some(subnet), via))
            .map_err(nl_err(format!("route {subnet} via {via}")))
    }

    fn remove_peer_route(&self, subnet: Ipv4Subnet, via: Ipv4Addr) -> Result<(), NetError> {
        Netlink::open()
            .and_then(|mut nl| nl.del_route(Some(subnet), via))
            .map_err(nl_err(format!("remove the route {subnet} via {via}")))
    }
}
