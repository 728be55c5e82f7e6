//! `agentConnected` on the instance record: set by the sessions and by liveness.

use gantry_store::Store;

use crate::error::{Error, Result};
use crate::persistence::db;
use crate::persistence::records::{instance_key, InstanceRecord, InstanceStatus};
use crate::state::AppState;

/// Sets `agentConnected` on the instance record.
pub async fn set_connected<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
    connected: bool,
) -> Result<()> {
    let key = instance_key(cluster, id);
    for _ in 0..db::RETRIES {
        let Some(mut i) = db::get::<S, InstanceRecord>(&st.store, &key).await? else {
            return Ok(());
        };
        if i.value.agent_connected == connected || i.value.status == InstanceStatus::Inactive {
            return Ok(());
        }
        i.value.agent_connected = connected;
        if db::commit(
            &st.store,
            vec![db::unchanged(&key, i.revision)],
            vec![db::put(&key, &i.value)?],
        )
        .await?
        {
            tracing::info!(instance = id, connected, "agent connection changed");
            return Ok(());
        }
    }
    Err(Error::Contention {
        what: format!("container instance {id}"),
    })
}
