//! Stopped tasks expire. ECS keeps a STOPPED task describable (DescribeTasks, ListTasks
//! with `desiredStatus STOPPED`) for about an hour after it stops, then forgets it; so does
//! Gantry, after `ServerConfig::stopped_task_retention`. Without it the store grows with
//! every task ever run, and every scan of a cluster's tasks (the service controller's,
//! placement's) with it.
//!
//! A task is forgotten only once it is STOPPED, its resources went back to its instance
//! (`released`), and it stopped longer ago than the retention. Its tags go with it. The
//! delete compares the revision the sweep read, so a task that changed meanwhile stays until
//! the next sweep. The circuit breaker does not depend on the stopped tasks it counted (see
//! [`super::service::breaker::count_failures`]).

use std::sync::Arc;
use std::time::Duration;

use gantry_api::{TaskStatus, Timestamp};
use gantry_store::{Op, Store};
use serde::Deserialize;

use crate::error::Result;
use crate::persistence::db;
use crate::persistence::records::tags_key;
use crate::state::AppState;

/// The fields of a task record a sweep looks at.
#[derive(Debug, Deserialize)]
struct Stopped {
    id: String,
    cluster: String,
    last_status: TaskStatus,
    #[serde(default)]
    stopped_at: Option<Timestamp>,
    #[serde(default)]
    released: bool,
}

/// Is a task with these fields forgotten at `now`?
fn expired(
    last_status: TaskStatus,
    released: bool,
    stopped_at: Option<Timestamp>,
    now: Timestamp,
    retention: Duration,
) -> bool {
    last_status == TaskStatus::Stopped
        && released
        && stopped_at.is_some_and(|at| now - at >= retention.as_secs_f64())
}

/// Tasks deleted per transaction (two deletes and one compare each; etcd refuses a
/// transaction of more than 128 operations by default).
const BATCH: usize = 32;

/// One pass: deletes the expired tasks and their tags. Returns how many went.
pub async fn sweep<S: Store>(st: &AppState<S>) -> Result<usize> {
    let now = st.clock.now();
    let retention = st.config.stopped_task_retention;
    let found = db::list_where::<S, Stopped, Stopped>(&st.store, "tasks/", |t| {
        expired(t.last_status, t.released, t.stopped_at, now, retention)
    })
    .await?;
    let mut gone = 0;
    for batch in found.chunks(BATCH) {
        let compares = batch
            .iter()
            .map(|t| db::unchanged(&t.key, t.revision))
            .collect();
        let mut ops = Vec::with_capacity(batch.len() * 2);
        for t in batch {
            ops.push(Op::Delete { key: t.key.clone() });
            let arn = st.arns.task(&t.value.cluster, &t.value.id);
            ops.push(Op::Delete {
                key: tags_key(&arn),
            });
        }
        if db::commit(&st.store, compares, ops).await? {
            gone += batch.len();
        }
    }
    Ok(gone)
}

/// Sweeps every quarter of the retention (at most every minute, at least every second)
/// until aborted.
pub async fn run<S: Store>(st: Arc<AppState<S>>) {
    let period = (st.config.stopped_task_retention / 4)
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        match sweep(&st).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(tasks = n, "stopped tasks expired"),
            Err(e) => tracing::warn!(error = %e, "expiring stopped tasks failed; trying again"),
        }
        // Deleted task definition revisions go once nothing uses them (their last task
        // may just have been forgotten above).
        match crate::ecs::task_definitions::delete::purge(&st).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(revisions = n, "deleted task definitions removed"),
            Err(e) => {
                tracing::warn!(error = %e, "removing deleted task definitions failed; trying again")
            }
        }
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn only_released_tasks_stopped_longer_ago_than_the_retention_expire() {
        let stopped = TaskStatus::Stopped;
        assert!(expired(stopped, true, Some(0.0), 3600.0, HOUR));
        assert!(
            !expired(stopped, true, Some(0.0), 3599.0, HOUR),
            "too young"
        );
        assert!(
            !expired(stopped, false, Some(0.0), 9999.0, HOUR),
            "resources held"
        );
        assert!(!expired(stopped, true, None, 9999.0, HOUR), "no stop time");
        assert!(
            !expired(TaskStatus::Running, true, Some(0.0), 9999.0, HOUR),
            "not stopped"
        );
    }
}
