//! What one reconcile decides: tasks to start and stop, the service's new status, events,
//! and when to look again.

use gantry_api::Timestamp;

use crate::persistence::service_records::{DeploymentRecord, ServiceRecord, ServiceStatus};

/// Start `count` tasks of deployment `deployment_id`; on `instance` if set (DAEMON), else
/// wherever placement puts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub deployment_id: String,
    pub task_definition: String,
    pub count: usize,
    pub instance: Option<String>,
}

/// The part of a service record the controller owns, as it should be after this round.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub status: ServiceStatus,
    pub desired_count: i32,
    pub task_definition: String,
    pub deployments: Vec<DeploymentRecord>,
    pub last_completed: Option<String>,
    pub last_completed_revision: Option<String>,
    pub rollback_requested: Option<String>,
    pub steady: bool,
}

impl Status {
    /// The part of `s` the controller owns.
    pub fn of(s: &ServiceRecord) -> Self {
        Self {
            status: s.status,
            desired_count: s.desired_count,
            task_definition: s.task_definition.clone(),
            deployments: s.deployments.clone(),
            last_completed: s.last_completed.clone(),
            last_completed_revision: s.last_completed_revision.clone(),
            rollback_requested: s.rollback_requested.clone(),
            steady: s.steady,
        }
    }

    /// Is this different from what `s` holds?
    pub fn differs(&self, s: &ServiceRecord) -> bool {
        *self != Self::of(s)
    }

    pub fn apply_to(&self, s: &mut ServiceRecord) {
        s.status = self.status;
        s.desired_count = self.desired_count;
        s.task_definition.clone_from(&self.task_definition);
        s.deployments.clone_from(&self.deployments);
        s.last_completed.clone_from(&self.last_completed);
        s.last_completed_revision
            .clone_from(&self.last_completed_revision);
        s.rollback_requested.clone_from(&self.rollback_requested);
        s.steady = self.steady;
    }
}

/// What the controller should do now.
#[derive(Debug, Clone, PartialEq)]
pub struct Actions {
    pub start: Vec<Start>,
    /// `(task id, stoppedReason)`; the stop code is always `ServiceSchedulerInitiated`.
    pub stop: Vec<(String, String)>,
    pub status: Status,
    /// Event messages, oldest first.
    pub events: Vec<String>,
    /// Reconcile again at this time even if nothing changes (a grace period ends).
    pub requeue_at: Option<Timestamp>,
}
