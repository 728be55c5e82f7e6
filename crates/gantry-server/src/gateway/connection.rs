//! `agentConnected` on the instance record: set by the sessions and by liveness.

use gantry_store::Store;

use crate::error::Result;
use crate::persistence::records::{instance_key, InstanceRecord, InstanceStatus};
use crate::persistence::update::{update, Edit};
use crate::state::AppState;

/// Sets `agentConnected` on the instance record.
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
                Some(mut i)
                    if i.agent_connected != connected && i.status != InstanceStatus::Inactive =>
                {
                    i.agent_connected = connected;
                    Edit::put(i, true)
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
