//! The leadership loop: campaign for [`LEADER_KEY`], and while this replica leads, run what
//! must run once per cluster (the liveness sweep, the service controller), fenced; when the
//! leadership is lost, abort them at once and campaign again.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use gantry_store::{Leadership, Store};
use tokio::task::JoinHandle;

use super::fence::{fenced, Fence};
use super::shared_store::SharedStore;
use super::LEADER_KEY;
use crate::controllers::expiry;
use crate::controllers::liveness;
use crate::controllers::service::controller;
use crate::state::AppState;

/// A failed campaign (the store unreachable) is tried again after this.
const CAMPAIGN_RETRY: Duration = Duration::from_millis(500);
/// How long a stopping replica may take to hand its leadership over.
const RESIGN_WITHIN: Duration = Duration::from_secs(2);

/// This replica's view of the leadership: the fence while it leads.
#[derive(Debug, Default)]
pub struct LeaderState {
    current: RwLock<Option<Fence>>,
}

impl LeaderState {
    /// The fence of the leadership this replica holds, if it leads.
    pub fn get(&self) -> Option<Fence> {
        let cur = match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        cur.filter(Fence::holds)
    }

    fn set(&self, fence: Option<Fence>) {
        match self.current.write() {
            Ok(mut c) => *c = fence,
            Err(poisoned) => *poisoned.into_inner() = fence,
        }
    }
}

/// Campaigns and leads until the server shuts down; then resigns, so another replica takes
/// over at once instead of after the lease's TTL.
pub async fn run<S: Store>(st: Arc<AppState<S>>) {
    let store = Arc::new(SharedStore(st.clone()));
    let mut shutdown = st.shutdown.subscribe();
    let ttl = st.config.leader_ttl;
    loop {
        let won = tokio::select! {
            r = gantry_store::campaign(store.clone(), LEADER_KEY, &st.replica, ttl) => r,
            _ = shutdown.wait_for(|v| *v) => return,
        };
        let mut lead = match won {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "campaign for leadership failed; trying again");
                tokio::select! {
                    () = tokio::time::sleep(CAMPAIGN_RETRY) => continue,
                    _ = shutdown.wait_for(|v| *v) => return,
                }
            }
        };
        tracing::info!(replica = %st.replica, revision = lead.revision, "this replica leads: running the controllers");
        let fence = Fence::of(&lead);
        st.leader.set(Some(fence.clone()));
        let tasks = start(&st, fence);
        let stopping = tokio::select! {
            () = lead.lost() => false,
            _ = shutdown.wait_for(|v| *v) => true,
        };
        st.leader.set(None);
        stop(tasks).await;
        if stopping {
            resign(lead, &store).await;
            return;
        }
        tracing::warn!(replica = %st.replica, "leadership lost: controllers stopped; campaigning again");
    }
}

/// The controllers of one leadership. Dropped (the loop itself aborted), they are aborted
/// too: a task a dropped handle leaves behind would go on as if it led.
struct Running(Vec<JoinHandle<()>>);

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// What runs once per cluster, each inside the fence.
fn start<S: Store>(st: &Arc<AppState<S>>, fence: Fence) -> Running {
    st.presence.lead_from(st.clock.now());
    Running(vec![
        tokio::spawn(fenced(fence.clone(), liveness::run(st.clone()))),
        tokio::spawn(fenced(fence.clone(), controller::run(st.clone()))),
        tokio::spawn(fenced(fence, expiry::run(st.clone()))),
    ])
}

/// Aborts the controllers and waits until they are gone.
async fn stop(mut tasks: Running) {
    let tasks = std::mem::take(&mut tasks.0);
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn resign<S: Store>(lead: Leadership, store: &SharedStore<S>) {
    match tokio::time::timeout(RESIGN_WITHIN, lead.resign(store)).await {
        Ok(Ok(())) => tracing::info!("resigned the leadership"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not resign the leadership; it ends with its lease");
        }
        Err(_) => tracing::warn!("resigning the leadership timed out; it ends with its lease"),
    }
}

#[cfg(test)]
#[path = "leader_tests.rs"]
mod tests;
