//! The cluster task network for `awsvpc`: each registering node gets a slice of it (a /24 by
//! default), recorded in the store under `taskslices/<index>` and on the instance record, so
//! the same node gets the same slice back when it registers again and two nodes never share
//! one. Every agent is told the other nodes' slices and node addresses
//! ([`gantry_api::protocol::ServerFrame::PeerRoutes`]) and routes them in its kernel.

use axum::extract::ws::Message;
use futures_util::SinkExt;
use gantry_api::protocol::{PeerRoute, ServerFrame};
use gantry_store::Event;
use gantry_store::{Compare, Op, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::task_network::TaskNetwork;
use crate::error::{Error, Result};
use crate::persistence::db;
use crate::persistence::records::{instance_key, instances_of, InstanceRecord, InstanceStatus};
use crate::state::AppState;

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
    match rec.task_slice.as_deref() {
        Some(s) if net.holds(s) => return Ok(None),
        // A slice of an earlier task network: take one of this network instead.
        Some(_) => rec.task_slice = None,
        None => {}
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
                let mine = h.value.cluster == rec.cluster && h.value.instance == rec.id;
                if !mine && owner.is_some_and(|o| o.value.status != InstanceStatus::Inactive) {
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
        let frame = crate::gateway::desired::text(&ServerFrame::PeerRoutes {
            routes: now.clone(),
        })?;
        if tx.send(frame).await.is_err() {
            return Ok(false);
        }
        self.0 = Some(now);
        Ok(true)
    }
}
