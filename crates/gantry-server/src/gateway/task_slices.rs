//! The cluster task network for `awsvpc`: each registering node gets a slice of it (a /24 by
//! default), recorded in the store under `taskslices/<index>` and on the instance record, so
//! the same node gets the same slice back when it registers again and two nodes never share
//! one. Every agent is told the other nodes' slices and node addresses
//! ([`gantry_api::protocol::ServerFrame::PeerRoutes`]) and routes them in its kernel.

use std::net::Ipv4Addr;

use axum::extract::ws::Message;
use futures_util::SinkExt;
use gantry_api::protocol::{PeerRoute, ServerFrame};
use gantry_store::Event;
use gantry_store::{Compare, Op, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::{Error, Result};
use crate::persistence::db;
use crate::persistence::records::{instance_key, instances_of, InstanceRecord, InstanceStatus};
use crate::state::AppState;

/// The task network slices are cut from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskNetwork {
    base: u32,
    prefix: u8,
    slice_prefix: u8,
}

impl TaskNetwork {
    /// `cidr` such as `10.214.0.0/16`, cut into slices of `/slice_prefix` (e.g. 24).
    pub fn new(cidr: &str, slice_prefix: u8) -> std::result::Result<Self, String> {
        let (addr, len) = cidr
            .split_once('/')
            .ok_or_else(|| format!("{cidr:?} is not a CIDR such as 10.214.0.0/16"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{cidr:?}: {addr:?} is not an IPv4 address"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| *p <= 30)
            .ok_or_else(|| format!("{cidr:?}: the prefix length must be 0 to 30"))?;
        if slice_prefix <= prefix || slice_prefix > 30 || slice_prefix - prefix > 16 {
            return Err(format!(
                "slices of /{slice_prefix} do not fit {cidr}: they must be longer than /{prefix}, at most /30 and at most 65536 of them"
            ));
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Ok(Self {
            base: u32::from(addr) & mask,
            prefix,
            slice_prefix,
        })
    }

    /// How many slices there are.
    pub fn slices(&self) -> u32 {
        1 << (self.slice_prefix - self.prefix)
    }

    /// Slice `index` as a CIDR.
    pub fn slice(&self, index: u32) -> String {
        let start = self.base + (index << (32 - u32::from(self.slice_prefix)));
        format!("{}/{}", Ipv4Addr::from(start), self.slice_prefix)
    }

    /// The whole network as a CIDR.
    pub fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// Who holds a slice.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SliceRecord {
    cluster: String,
    instance: String,
}

fn slice_key(index: u32) -> String {
    format!("taskslices/{index:05}")
}

/// Gives `rec` a slice if it has none: the lowest one that is free or whose holder is gone
/// (deregistered). Returns the compare and the write to commit with the instance record;
/// the compare fails if another registration took the slice meanwhile.
pub async fn claim<S: Store>(
    st: &AppState<S>,
    net: &TaskNetwork,
    rec: &mut InstanceRecord,
) -> Result<Option<(Compare, Op)>> {
    if rec.task_slice.is_some() {
        return Ok(None);
    }
    let held = db::list::<S, SliceRecord>(&st.store, "taskslices/").await?;
    for index in 0..net.slices() {
        let key = slice_key(index);
        let revision = match held.iter().find(|h| h.key == key) {
            None => 0,
            Some(h) => {
                let owner = db::get::<S, InstanceRecord>(
                    &st.store,
                    &instance_key(&h.value.cluster, &h.value.instance),
                )
                .await?;
                if owner.is_some_and(|o| o.value.status != InstanceStatus::Inactive) {
                    continue;
                }
                h.revision
            }
        };
        let holder = SliceRecord {
            cluster: rec.cluster.clone(),
            instance: rec.id.clone(),
        };
        rec.task_slice = Some(net.slice(index));
        return Ok(Some((
            db::unchanged(&key, revision),
            db::put(&key, &holder)?,
        )));
    }
    Err(Error::Api(gantry_api::ApiError::new(
        gantry_api::ErrorKind::Server,
        format!(
            "Every one of the {} slices of the task network {} is taken; deregister unused container instances or configure a larger --task-network.",
            net.slices(),
            net.cidr()
        ),
    )))
}

/// The slices and node addresses of the cluster's other active nodes.
pub async fn peer_routes<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
) -> Result<Vec<PeerRoute>> {
    let mut routes: Vec<PeerRoute> =
        db::list::<S, InstanceRecord>(&st.store, &instances_of(cluster))
            .await?
            .into_iter()
            .map(|i| i.value)
            .filter(|i| i.id != id && i.status != InstanceStatus::Inactive)
            .filter_map(|i| {
                Some(PeerRoute {
                    subnet: i.task_slice?,
                    via: i.node_address?,
                })
            })
            .collect();
    routes.sort();
    Ok(routes)
}

/// The next change of a watch (a burst counts as one), or never without a watch.
pub async fn next_change(
    w: &mut Option<broadcast::Receiver<Event>>,
) -> std::result::Result<(), broadcast::error::RecvError> {
    let Some(rx) = w else {
        return std::future::pending().await;
    };
    let first = rx.recv().await;
    while rx.try_recv().is_ok() {}
    first.map(|_| ())
}

/// The peer routes last sent down a session: sent again only when they change.
#[derive(Default)]
pub struct PeerRoutes(Option<Vec<gantry_api::protocol::PeerRoute>>);

impl PeerRoutes {
    /// Sends the cluster's peer routes if the server hands out slices and they changed;
    /// `Ok(false)` when the agent went away.
    pub async fn push<S: Store, T>(
        &mut self,
        st: &AppState<S>,
        cluster: &str,
        id: &str,
        tx: &mut T,
    ) -> Result<bool>
    where
        T: SinkExt<Message> + Unpin,
    {
        if st.task_network.is_none() {
            return Ok(true);
        }
        let now = peer_routes(st, cluster, id).await?;
        if self.0.as_ref() == Some(&now) {
            return Ok(true);
        }
        let frame = crate::gateway::session::text(&ServerFrame::PeerRoutes {
            routes: now.clone(),
        })?;
        if tx.send(frame).await.is_err() {
            return Ok(false);
        }
        self.0 = Some(now);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_cut_from_the_network() {
        let n = TaskNetwork::new("10.214.7.9/16", 24).unwrap();
        assert_eq!(n.cidr(), "10.214.0.0/16");
        assert_eq!(n.slices(), 256);
        assert_eq!(n.slice(0), "10.214.0.0/24");
        assert_eq!(n.slice(3), "10.214.3.0/24");
        assert_eq!(n.slice(255), "10.214.255.0/24");
        assert!(TaskNetwork::new("10.214.0.0/24", 24).is_err());
        assert!(TaskNetwork::new("10.214.0.0", 24).is_err());
        assert!(TaskNetwork::new("10.0.0.0/8", 28).is_err());
    }
}
