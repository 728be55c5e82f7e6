//! The desired-state frame of one node: its tasks not yet STOPPED, as task specs.

use axum::extract::ws::Message;
use gantry_api::protocol::{ServerFrame, TaskSpec};
use gantry_store::Store;

use crate::ecs::task_definitions;
use crate::error::{Error, Result};
use crate::state::AppState;

/// The most a session's first set waits for this replica's task index (see
/// [`first_desired_state`]). Never reached while etcd answers: it is there for a watch that
/// cannot reconnect, where the set then goes out as the index has it, with a warning.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(10);

/// The first frame of a session: [`desired_state`] once this replica's task index holds
/// every task change up to the store's revision now (a linearizable read). An agent that
/// failed over from another replica runs tasks this replica may have been told of a moment
/// ago; the agent stops what its set leaves out, so a set built from an index behind the
/// store would stop a task that should run. The index knows it is caught up when its watch
/// delivers a task change or etcd's progress answer at or past that revision
/// ([`super::task_index::catch_up`]): one round trip when the index is current, no fixed
/// wait. One server on SQLite never waits: its index is built before it accepts a session
/// and every later change is in its watch at commit.
pub async fn first_desired_state<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
) -> Result<ServerFrame> {
    if st.store.kind() != "sqlite" {
        st.task_index.ready().await;
        let revision = st.store.revision().await?;
        let started = std::time::Instant::now();
        if super::task_index::catch_up(&st.store, &st.task_index, revision, CATCH_UP).await {
            let waited_ms = started.elapsed().as_millis();
            tracing::info!(
                instance = id,
                revision,
                waited_ms,
                "task index caught up for the first set"
            );
        } else {
            tracing::warn!(
                instance = id,
                revision,
                "task index not caught up with the store; sending the set as it is"
            );
        }
    }
    desired_state(st, cluster, id).await
}

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
