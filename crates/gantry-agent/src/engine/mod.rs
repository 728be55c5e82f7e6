//! The task engine: a level-triggered reconciler from the server's desired task set to the
//! tasks this node runs. Desired state arrives whole with a sequence number; anything older
//! than what was applied is ignored. Each task's known state ([`known`]) flows back as
//! reports.
//!
//! Files, each depending only on those below it:
//! - `mod.rs` (this): the desired set, one runner per task, stop requests.
//! - `sweep.rs`: tasks an earlier agent left that the server gave up.
//! - `task.rs`: one task's life: prepare (network, pull, plan, mounts, bundles, spawn), adopt.
//! - `follow.rs`: following a supervisor's journal until the task ends; salvage.
//! - `plan_build.rs`: task spec + images -> validated `TaskPlan` (pure).
//! - `reporter.rs`: reports out; `known.rs`: the task state machine (pure), fed with
//!   `network_facts.rs` (what the network gave a task, pure).
//! - `effects.rs`: the side-effect traits; `real.rs` and `fake.rs` (tests) implement them.

mod effects;
#[cfg(test)]
mod fake;
mod follow;
mod known;
mod network_facts;
mod plan_build;
mod real;
mod reporter;
mod sweep;
mod task;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use gantry_api::protocol::{TaskReport, TaskSpec};
use gantry_api::TaskStatus;
use tokio::sync::{mpsc, watch};

pub use effects::{Effects, Secrets};
pub use real::{KernelRootfs, ProcessSupervisors};

use effects::TaskCtx;
use known::StopRequest;
use reporter::{lock, Reporter};

use crate::config::AgentConfig;

struct Entry {
    stop: watch::Sender<Option<StopRequest>>,
    done: watch::Receiver<bool>,
}

/// The engine handle the session drives.
#[derive(Clone)]
pub struct Engine {
    ctx: Arc<TaskCtx>,
    reporter: Reporter,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    applied_seq: u64,
    tasks: HashMap<String, Entry>,
    /// Whether task directories left by an earlier agent were checked against the first set.
    swept: bool,
}

/// Asks a task's runner to stop, unless it was asked already.
fn request_stop(entry: &Entry, req: StopRequest) {
    entry.stop.send_if_modified(|cur| {
        if cur.is_none() {
            *cur = Some(req);
            true
        } else {
            false
        }
    });
}

impl Engine {
    pub fn new(cfg: Arc<AgentConfig>, fx: Effects) -> (Self, mpsc::UnboundedReceiver<TaskReport>) {
        let (reporter, rx) = Reporter::new();
        let engine = Self {
            ctx: Arc::new(TaskCtx { cfg, fx }),
            reporter,
            state: Arc::default(),
        };
        (engine, rx)
    }

    /// A new session starts: its first desired set is applied whatever its number. Numbers
    /// order the sets of one session only: another replica, or the same cluster after
    /// `gantry store migrate` (whose new store counts revisions from the start again), may
    /// number its first full set below the last one applied, and that set is the truth.
    pub fn new_session(&self) {
        lock(&self.state).applied_seq = 0;
    }

    /// Applies a whole desired set. Returns false when it was older than the applied one
    /// (of this session: see [`Engine::new_session`]).
    pub fn apply(&self, seq: u64, specs: Vec<TaskSpec>) -> bool {
        let mut st = lock(&self.state);
        if seq < st.applied_seq {
            tracing::debug!(
                seq,
                applied = st.applied_seq,
                "ignoring a stale desired set"
            );
            return false;
        }
        st.applied_seq = seq;
        let wanted: HashSet<String> = specs.iter().map(|s| s.task_arn.clone()).collect();
        if !st.swept {
            st.swept = true;
            let ids: HashSet<String> = specs.iter().map(|s| s.task_id.clone()).collect();
            sweep::sweep_orphans(&self.ctx, &ids);
        }
        for spec in specs {
            let stop = (spec.desired_status == TaskStatus::Stopped).then(|| StopRequest {
                stop_code: spec.stop_code.clone(),
                reason: spec.stopped_reason.clone(),
            });
            match st.tasks.get(&spec.task_arn) {
                Some(entry) => {
                    if let Some(req) = stop {
                        request_stop(entry, req);
                    }
                }
                None => {
                    let (stop_tx, stop_rx) = watch::channel(stop);
                    let (done_tx, done_rx) = watch::channel(false);
                    let arn = spec.task_arn.clone();
                    let ctx = self.ctx.clone();
                    let out = self.reporter.for_task();
                    tokio::spawn(async move {
                        task::run(ctx, spec, stop_rx, out).await;
                        let _ = done_tx.send(true);
                    });
                    st.tasks.insert(
                        arn,
                        Entry {
                            stop: stop_tx,
                            done: done_rx,
                        },
                    );
                }
            }
        }
        // Tasks the server no longer lists: stop what still runs, forget what has ended.
        st.tasks.retain(|arn, entry| {
            if wanted.contains(arn) {
                return true;
            }
            if *entry.done.borrow() {
                self.reporter.forget(arn);
                return false;
            }
            request_stop(
                entry,
                StopRequest {
                    stop_code: Some("TaskFailedToStart".to_string()),
                    reason: Some(
                        "The control plane no longer assigns this task to this instance."
                            .to_string(),
                    ),
                },
            );
            true
        });
        true
    }

    /// Image digests of tasks that have not stopped: image GC keeps them.
    pub fn images_in_use(&self) -> HashSet<String> {
        self.reporter.images_in_use()
    }

    /// Where task directories live.
    pub fn tasks_dir(&self) -> std::path::PathBuf {
        self.ctx.cfg.tasks_dir()
    }

    /// The latest report of every task, for a fresh session.
    pub fn latest_reports(&self) -> Vec<TaskReport> {
        self.reporter.latest()
    }
}
