//! The desired-state frame of one node: its tasks not yet STOPPED, as task specs.

use axum::extract::ws::Message;
use gantry_api::protocol::{ServerFrame, TaskSpec};
use gantry_store::Store;

use crate::ecs::task_definitions;
use crate::error::{Error, Result};
use crate::state::AppState;

/// The frame with the whole desired set of instance `id`.
pub async fn desired_state<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
) -> Result<ServerFrame> {
    // Read the revision first: whatever the list shows is at least that new.
    let seq = st.store.revision().await?;
    // Wanted running, or wanted stopped and not yet reported stopped.
    let tasks = super::task_index::records_of(&st.store, &st.task_index, id).await?;
    let specs = tasks
        .into_iter()
        .filter(|t| t.cluster == cluster)
        .map(|t| {
            let def_rec = crate::persistence::records::TaskDefRecord {
                family: t.family().to_string(),
                revision: t.definition.revision.unwrap_or(0),
                status: crate::persistence::records::TaskDefStatus::Active,
                definition: t.definition.clone(),
            };
            let mut task_definition = task_definitions::render(st, &def_rec);
            task_definition.status = t.definition.status.clone();
            TaskSpec {
                task_arn: st.arns.task(&t.cluster, &t.id),
                task_id: t.id.clone(),
                cluster: t.cluster.clone(),
                desired_status: t.desired_status,
                task_definition,
                overrides: t.overrides.clone(),
                stop_code: t.stop_code.clone(),
                stopped_reason: t.stopped_reason.clone(),
            }
        })
        .collect();
    Ok(ServerFrame::DesiredState { seq, tasks: specs })
}

pub(crate) fn text(frame: &ServerFrame) -> Result<Message> {
    serde_json::to_string(frame)
        .map(|s| Message::Text(s.into()))
        .map_err(|source| Error::Encode {
            what: "a server frame",
            source,
        })
}
