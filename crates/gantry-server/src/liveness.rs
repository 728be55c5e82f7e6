//! Node liveness: an instance whose agent has been silent for `agent_lost_after` is marked
//! `agentConnected=false`, and its session (if any) is closed. Silence is measured from the
//! last frame of its session here, or from this server's start when it has none (after a
//! restart nobody's session survives).
//
// TODO(lost-tasks): after a further grace period, stop the tasks of a lost instance with
// stopCode InfrastructureHealth so services can replace them (DESIGN.md §4).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_store::Store;

use crate::db;
use crate::error::Result;
use crate::gateway::set_connected;
use crate::records::{InstanceRecord, InstanceStatus};
use crate::state::AppState;

/// Is an agent last heard from at `last_seen` (or never, since `started`) lost at `now`?
pub fn is_lost(
    last_seen: Option<Instant>,
    started: Instant,
    now: Instant,
    after: Duration,
) -> bool {
    now.saturating_duration_since(last_seen.unwrap_or(started)) > after
}

/// One pass: marks the silent instances. Returns how many it marked.
pub async fn sweep<S: Store>(st: &AppState<S>, now: Instant) -> Result<usize> {
    let mut marked = 0;
    for i in db::list::<S, InstanceRecord>(&st.store, "instances/").await? {
        let r = &i.value;
        if !r.agent_connected || r.status == InstanceStatus::Inactive {
            continue;
        }
        if is_lost(
            st.sessions.last_seen(&r.id),
            st.started,
            now,
            st.config.agent_lost_after,
        ) {
            tracing::warn!(instance = %r.id, cluster = %r.cluster, "agent silent too long; marking it disconnected");
            st.sessions.drop_session(&r.id);
            set_connected(st, &r.cluster, &r.id, false).await?;
            marked += 1;
        }
    }
    Ok(marked)
}

/// Sweeps every quarter of `agent_lost_after` until the task is aborted.
pub async fn run<S: Store>(st: Arc<AppState<S>>) {
    let period = (st.config.agent_lost_after / 4).max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&st, Instant::now()).await {
            tracing::warn!(error = %e, "liveness sweep failed; retrying next period");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_longer_than_the_limit_is_lost() {
        let t0 = Instant::now();
        let after = Duration::from_secs(30);
        assert!(!is_lost(Some(t0), t0, t0 + Duration::from_secs(10), after));
        assert!(is_lost(Some(t0), t0, t0 + Duration::from_secs(31), after));
        assert!(is_lost(None, t0, t0 + Duration::from_secs(31), after));
        assert!(!is_lost(None, t0, t0 + Duration::from_secs(1), after));
    }
}
