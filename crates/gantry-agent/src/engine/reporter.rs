//! Reports out: each task's known state, mapped to a `TaskReport` and sent up the session;
//! the latest report of every task is kept, to resend after a reconnect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use gantry_api::protocol::TaskReport;
use gantry_api::TaskStatus;
use tokio::sync::mpsc;

use gantry_api::Timestamp;
use gantry_runtime::event::SupervisorEvent;

use super::known::KnownTask;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends reports and remembers the latest of each task.
#[derive(Clone)]
pub struct Reporter {
    latest: Arc<Mutex<HashMap<String, TaskReport>>>,
    tx: mpsc::UnboundedSender<TaskReport>,
}

impl Reporter {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<TaskReport>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                latest: Arc::default(),
                tx,
            },
            rx,
        )
    }

    fn send(&self, report: TaskReport) {
        lock(&self.latest).insert(report.task_arn.clone(), report.clone());
        // The receiver lives as long as the session loop; if it is gone the agent is exiting.
        let _ = self.tx.send(report);
    }

    /// Forgets a task the server no longer lists.
    pub fn forget(&self, task_arn: &str) {
        lock(&self.latest).remove(task_arn);
    }

    pub fn latest(&self) -> Vec<TaskReport> {
        lock(&self.latest).values().cloned().collect()
    }

    /// Image digests of tasks that have not stopped.
    pub fn images_in_use(&self) -> std::collections::HashSet<String> {
        lock(&self.latest)
            .values()
            .filter(|r| r.last_status < Some(TaskStatus::Stopped))
            .flat_map(|r| r.containers.iter().filter_map(|c| c.image_digest.clone()))
            .collect()
    }

    /// A sender for one task, numbering its reports.
    pub fn for_task(&self) -> TaskReporter {
        TaskReporter {
            reporter: self.clone(),
            sent: 0,
        }
    }
}

/// Sends one task's reports, each with the next `report_id`.
pub struct TaskReporter {
    reporter: Reporter,
    sent: u64,
}

impl TaskReporter {
    pub fn send(&mut self, known: &KnownTask) {
        self.sent += 1;
        self.reporter.send(known.report(self.sent));
    }
}

/// A task's known state and its reports: every transition that the server should hear
/// about is sent.
pub struct Tracked {
    pub known: KnownTask,
    out: TaskReporter,
}

impl Tracked {
    pub fn new(known: KnownTask, out: TaskReporter) -> Self {
        Self { known, out }
    }

    /// Sends the current state.
    pub fn send(&mut self) {
        self.out.send(&self.known);
    }

    /// Applies supervisor events; true when the task has ended.
    pub fn apply(&mut self, events: &[SupervisorEvent]) -> bool {
        let mut ended = false;
        for ev in events {
            let step = self.known.apply(ev);
            if step.report {
                self.send();
            }
            ended |= step.ended;
        }
        ended
    }

    /// The task ended without its supervisor saying so.
    pub fn fail(&mut self, code: &str, reason: String, at: Timestamp) {
        if self.known.fail(code, reason, at).report {
            self.send();
        }
    }
}
