//! On the first desired set after a start: tasks an earlier agent left that the server no
//! longer assigns here are stopped, their network freed and their directories removed
//! (DESIGN.md §4: the server has given them up, so they must not keep running).

use std::collections::HashSet;
use std::sync::Arc;

use gantry_runtime::TaskDir;

use super::effects::{TaskCtx, Wake};

/// Sweeps the tasks directory against `wanted_ids`, the task ids the server assigns here.
pub(super) fn sweep_orphans(ctx: &Arc<TaskCtx>, wanted_ids: &HashSet<String>) {
    let tasks_dir = ctx.cfg.tasks_dir();
    let Ok(entries) = std::fs::read_dir(&tasks_dir) else {
        return;
    };
    let tasks: Vec<TaskDir> = entries.flatten().map(|e| TaskDir::new(e.path())).collect();
    // Free the network of every task that is neither wanted nor still running.
    let mut live: Vec<String> = wanted_ids.iter().cloned().collect();
    for t in &tasks {
        if ctx.fx.supervisors.alive(t) {
            live.push(t.task_id());
        }
    }
    match ctx.fx.network.reconcile(&live) {
        Ok(r) if !r.released_tasks.is_empty() || !r.removed_leftovers.is_empty() => {
            tracing::info!(released = ?r.released_tasks, removed = ?r.removed_leftovers, "freed the network of tasks that are gone");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "network reconcile failed"),
    }
    for task in tasks {
        let id = task.task_id();
        if wanted_ids.contains(&id) {
            continue;
        }
        let ctx = ctx.clone();
        tokio::spawn(async move {
            if ctx.fx.supervisors.alive(&task) {
                tracing::warn!(task = %id, "stopping a task the control plane no longer assigns to this instance");
                if let Err(e) = ctx.fx.supervisors.stop(&task) {
                    tracing::warn!(task = %id, error = %e, "could not stop an orphaned task");
                }
                let mut sup = ctx.fx.supervisors.adopt(&task);
                while sup.wait().await == Wake::Bell {}
            }
            if let Err(e) = ctx.fx.network.teardown(&id) {
                tracing::warn!(task = %id, error = %e, "network teardown failed");
            }
            // Its logs stay for the usual wait, counted from now.
            super::task::schedule_removal(&ctx, task);
        });
    }
}
