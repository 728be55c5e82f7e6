//! Following a task's supervisor: its journal (`events.jsonl`) is the only source of
//! events; the supervisor handle only says when to read it again. A supervisor that died
//! without recording the end of its task is salvaged: what is left of the task is found by
//! its deterministic container ids, killed and cleaned up, and the task is reported STOPPED
//! with a reason saying so, never RUNNING.

use gantry_api::protocol::TaskSpec;
use gantry_api::status::stop_code;
use gantry_runtime::TaskDir;
use tokio::sync::watch;

use super::effects::{Supervised, TaskCtx, Wake};
use super::known::{NetworkFacts, StopRequest};
use super::reporter::Tracked;
use crate::netspec;

/// Applies the journal's events past the first `seen`; true when the task has ended.
fn read_new(ctx: &TaskCtx, task: &TaskDir, t: &mut Tracked, seen: &mut usize) -> bool {
    let events = ctx.fx.supervisors.journal(task);
    let ended = t.apply(events.get(*seen..).unwrap_or_default());
    *seen = (*seen).max(events.len());
    ended
}

/// Follows `sup` until the task has ended, passing on the server's stop request.
pub(super) async fn follow(
    ctx: &TaskCtx,
    task: &TaskDir,
    mut sup: Box<dyn Supervised>,
    t: &mut Tracked,
    stop: &mut watch::Receiver<Option<StopRequest>>,
) {
    let mut seen = 0;
    let mut listening = true;
    loop {
        if read_new(ctx, task, t, &mut seen) {
            return;
        }
        tokio::select! {
            wake = sup.wait() => {
                if let Wake::Gone { cause } = wake {
                    // Read once more: the supervisor may have written its last event and exited.
                    if !read_new(ctx, task, t, &mut seen) {
                        salvage_and_report(ctx, task, t, &mut seen, &cause).await;
                    }
                    return;
                }
            }
            req = async { stop.wait_for(Option::is_some).await.map(|r| (*r).clone()) }, if listening => {
                listening = false;
                // Err: the engine is gone (the agent is exiting); the task keeps running.
                if let Ok(req) = req {
                    t.known.requested(req);
                    if let Err(e) = ctx.fx.supervisors.stop(task) {
                        tracing::warn!(dir = %task.root().display(), error = %e, "could not ask the supervisor to stop");
                    }
                }
            }
        }
    }
}

/// Adopts a task started earlier (its plan exists): re-reports what it got from the
/// network and follows its supervisor until the task ends.
pub(super) async fn adopt(
    ctx: &TaskCtx,
    spec: &TaskSpec,
    task: &TaskDir,
    t: &mut Tracked,
    stop: &mut watch::Receiver<Option<StopRequest>>,
) {
    let defs = spec
        .task_definition
        .container_definitions
        .as_deref()
        .unwrap_or_default();
    if let (Some(mode), Ok(Some(net))) = (
        gantry_net::Mode::from_ecs(spec.task_definition.network_mode.as_deref()),
        ctx.fx.network.lookup(&spec.task_id),
    ) {
        if let Ok((_, counts)) = netspec::task_net_spec(&spec.task_id, mode, defs) {
            t.known.network(NetworkFacts::of(&net, &counts));
        }
    }
    let sup = ctx.fx.supervisors.adopt(task);
    follow(ctx, task, sup, t, stop).await;
}

/// Salvages a task whose supervisor died, then reports what the salvage recorded; if even
/// that fails, the task is reported STOPPED with the cause.
async fn salvage_and_report(
    ctx: &TaskCtx,
    task: &TaskDir,
    t: &mut Tracked,
    seen: &mut usize,
    cause: &str,
) {
    tracing::warn!(dir = %task.root().display(), cause, "task supervisor died; salvaging the task");
    ctx.fx.supervisors.salvage(task, cause).await;
    if !read_new(ctx, task, t, seen) {
        t.fail(
            stop_code::ESSENTIAL_CONTAINER_EXITED,
            format!(
                "The task supervisor died ({cause}); see supervisor.log in the task directory."
            ),
            gantry_link::now(),
        );
    }
}
