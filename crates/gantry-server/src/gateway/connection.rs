//! `agentConnected` on the instance record: set by the sessions and by liveness.

use gantry_store::Store;

use crate::error::Result;
use crate::persistence::records::{instance_key, InstanceRecord, InstanceStatus};
use crate::persistence::update::{update, Edit};
use crate::state::AppState;

/// Sets `agentConnected` on the instance record.
///
/// A session that ended writes `false` only while no newer session of the instance is open,
/// checked on every attempt; a new session always writes `true`, even over a `true`, so that
/// an ended session's `false` read before it conflicts, is read again and then sees the new
/// session. Without both, an agent that reconnects quickly could be left marked
/// disconnected with its session open.
pub async fn set_connected<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
    connected: bool,
) -> Result<()> {
    let changed = update(
        &st.store,
        &instance_key(cluster, id),
        |i: Option<InstanceRecord>| {
            Ok(match i {
                Some(mut i) if i.status != InstanceStatus::Inactive => {
                    let changed = i.agent_connected != connected;
                    if connected || (changed && !st.sessions.is_open(id)) {
                        i.agent_connected = connected;
                        Edit::put(i, changed)
                    } else {
                        Edit::Keep(false)
                    }
                }
                _ => Edit::Keep(false),
            })
        },
    )
    .await?;
    if changed {
        tracing::info!(instance = id, connected, "agent connection changed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gantry_store::SqliteStore;

    use super::*;
    use crate::clock::ManualClock;
    use crate::persistence::db;
    use crate::state::ServerConfig;

    async fn connected(st: &AppState<SqliteStore>) -> bool {
        db::get::<_, InstanceRecord>(&st.store, &instance_key("c", "i"))
            .await
            .unwrap()
            .unwrap()
            .value
            .agent_connected
    }

    /// An agent that reconnects while its old session is closing stays connected: the old
    /// session's `false` is dropped while the new session is open.
    #[tokio::test]
    async fn an_ended_session_leaves_a_reconnected_agent_connected() {
        let clock = Arc::new(ManualClock::new(1.0));
        let st = AppState::with_clock(
            ServerConfig::default(),
            SqliteStore::open_in_memory().unwrap(),
            clock,
        );
        let key = instance_key("c", "i");
        let rec = crate::persistence::testing::instance("i");
        db::commit(&st.store, vec![], vec![db::put(&key, &rec).unwrap()])
            .await
            .unwrap();
        let (old, _, _) = st.sessions.connect("i", 1.0);
        let (_new, _, _new_outbox) = st.sessions.connect("i", 2.0);
        // The old session is no longer the current one, but a newer one is open.
        assert!(!st.sessions.disconnect("i", old));
        set_connected(&st, "c", "i", true).await.unwrap();
        set_connected(&st, "c", "i", false).await.unwrap();
        assert!(connected(&st).await, "a false from an ended session won");
        // With no session open, the agent is marked disconnected.
        st.sessions.drop_session("i");
        set_connected(&st, "c", "i", false).await.unwrap();
        assert!(!connected(&st).await);
    }
}
