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
