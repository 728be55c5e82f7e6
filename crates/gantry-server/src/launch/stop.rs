//! Stopping a task: StopTask and the service controller ask for it ([`stop`]); reports,
//! liveness and [`stop`] itself end it ([`finish`]), giving its resources back.

use gantry_api::TaskStatus;
use gantry_store::Store;

use crate::error::Result;
use crate::persistence::db::{self, Versioned};
use crate::persistence::records::{
    instance_key, task_key, InstanceRecord, InstanceStatus, TaskRecord,
};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// Marks `t` STOPPED now and gives its resources back to `instance`.
pub fn finish(t: &mut TaskRecord, instance: Option<&mut InstanceRecord>, at: f64) {
    t.last_status = TaskStatus::Stopped;
    t.desired_status = TaskStatus::Stopped;
    t.stopping_at.get_or_insert(at);
    t.execution_stopped_at.get_or_insert(at);
    t.stopped_at = Some(at);
    for c in &mut t.containers {
        c.last_status = TaskStatus::Stopped;
    }
    if !t.released {
        if let Some(i) = instance {
            i.release_task(&t.allocation, &t.group);
        }
        t.released = true;
    }
}

/// Sets task `id` to desired STOPPED with `code` and `reason` (StopTask and the service
/// controller share this path). A task no agent will act on is stopped here and now.
/// Returns the task and its revision, or `None` if there is no such task. A task already
/// wanted STOPPED is returned unchanged.
pub async fn stop<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
    code: &str,
    reason: &str,
) -> Result<Option<(TaskRecord, u64)>> {
    let key = task_key(cluster, id);
    let key = &key;
    retry(
        || format!("task {id}"),
        || async move {
            let Some(t): Option<Versioned<TaskRecord>> = db::get(&st.store, key).await? else {
                return Ok(Attempt::Done(None));
            };
            if t.value.desired_status == TaskStatus::Stopped {
                return Ok(Attempt::Done(Some((t.value, t.revision))));
            }
            let mut task = t.value.clone();
            task.desired_status = TaskStatus::Stopped;
            task.stop_code = Some(code.to_string());
            task.stopped_reason = Some(reason.to_string());
            let at = st.clock.now();
            task.stopping_at = Some(at);
            let ikey = task.instance_id.as_ref().map(|i| instance_key(cluster, i));
            let instance = match &ikey {
                Some(k) => db::get::<S, InstanceRecord>(&st.store, k).await?,
                None => None,
            };
            // No agent will ever act on it: a task whose instance is gone, or one no agent has
            // acknowledged while its agent is away, is stopped here.
            let direct = match &instance {
                None => true,
                Some(i) => {
                    i.value.status == InstanceStatus::Inactive
                        || (task.last_status == TaskStatus::Provisioning
                            && !i.value.agent_connected)
                }
            };
            let mut compares = vec![db::unchanged(key, t.revision)];
            let mut ops = Vec::new();
            if direct {
                let mut inst = instance.clone();
                finish(&mut task, inst.as_mut().map(|i| &mut i.value), at);
                if let Some(i) = inst {
                    compares.push(db::unchanged(&i.key, i.revision));
                    ops.push(db::put(&i.key, &i.value)?);
                }
            }
            ops.push(db::put(key, &task)?);
            if db::commit(&st.store, compares, ops).await? {
                let rev = st.store.get(key).await?.map_or(0, |r| r.revision);
                return Ok(Attempt::Done(Some((task, rev))));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await
}
