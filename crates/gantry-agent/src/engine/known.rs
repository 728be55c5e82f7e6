//! The known state of one task: what its supervisor's events (and the agent's own failures)
//! say happened, as an explicit lifecycle with guarded transitions. Pure: no I/O, no clock
//! (times come in with the events). [`KnownTask::report`] maps it to the wire `TaskReport`.

use gantry_api::model::NetworkBinding;
use gantry_api::protocol::{ContainerReport, NetworkReport, TaskReport, TaskSpec};
use gantry_api::status::stop_code;
use gantry_api::{TaskStatus, Timestamp};
use gantry_runtime::event::{SupervisorEvent, OOM_KILLED_REASON};

pub use super::network_facts::NetworkFacts;

/// The lifecycle the agent reports for a task. Ordered: a transition only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskState {
    Pending,
    Running,
    Stopping,
    Stopped,
}

impl TaskState {
    fn status(self) -> TaskStatus {
        match self {
            Self::Pending => TaskStatus::Pending,
            Self::Running => TaskStatus::Running,
            Self::Stopping => TaskStatus::Stopping,
            Self::Stopped => TaskStatus::Stopped,
        }
    }
}

/// A container's lifecycle. Ordered like [`TaskState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContainerState {
    Pending,
    Running,
    Stopped,
}

impl ContainerState {
    fn status(self) -> TaskStatus {
        match self {
            Self::Pending => TaskStatus::Pending,
            Self::Running => TaskStatus::Running,
            Self::Stopped => TaskStatus::Stopped,
        }
    }
}

/// Why the server wants a task stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct StopRequest {
    pub stop_code: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct KnownContainer {
    name: String,
    state: ContainerState,
    exit_code: Option<i32>,
    reason: Option<String>,
    image_digest: Option<String>,
    bindings: Vec<NetworkBinding>,
    health: Option<String>,
    /// Essential with a health check: it decides the task's health.
    decides_health: bool,
}

impl KnownContainer {
    fn advance(&mut self, to: ContainerState) {
        if to > self.state {
            self.state = to;
        }
    }
}

/// What applying one input did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Something the server should hear about changed: send a report.
    pub report: bool,
    /// The task has ended (STOPPED); nothing changes it any more.
    pub ended: bool,
}

/// The known state of one task.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownTask {
    task_arn: String,
    state: TaskState,
    containers: Vec<KnownContainer>,
    pull_started_at: Option<Timestamp>,
    pull_stopped_at: Option<Timestamp>,
    started_at: Option<Timestamp>,
    execution_stopped_at: Option<Timestamp>,
    stop_code: Option<String>,
    stopped_reason: Option<String>,
    health: Option<String>,
    interface: Option<NetworkReport>,
    /// The server's stop request, once one came: its code and reason win at STOPPED.
    requested: Option<StopRequest>,
}

impl KnownTask {
    /// A task the agent has just been given: PENDING, every container PENDING.
    pub fn new(spec: &TaskSpec) -> Self {
        let defs = spec
            .task_definition
            .container_definitions
            .as_deref()
            .unwrap_or_default();
        Self {
            task_arn: spec.task_arn.clone(),
            state: TaskState::Pending,
            containers: defs
                .iter()
                .map(|c| KnownContainer {
                    name: c.name.clone().unwrap_or_default(),
                    state: ContainerState::Pending,
                    exit_code: None,
                    reason: None,
                    image_digest: None,
                    bindings: Vec::new(),
                    health: None,
                    decides_health: c.essential.unwrap_or(true) && c.health_check.is_some(),
                })
                .collect(),
            pull_started_at: None,
            pull_stopped_at: None,
            started_at: None,
            execution_stopped_at: None,
            stop_code: None,
            stopped_reason: None,
            health: None,
            interface: None,
            requested: None,
        }
    }

    #[cfg(test)]
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Records the server's stop request (the latest one wins).
    pub fn requested(&mut self, req: Option<StopRequest>) {
        if req.is_some() {
            self.requested = req;
        }
    }

    pub fn pull_started(&mut self, at: Timestamp) {
        self.pull_started_at.get_or_insert(at);
    }

    /// The pull ended; `digests` are the images' digests in container order (empty when it
    /// failed).
    pub fn pull_stopped(&mut self, at: Timestamp, digests: &[String]) {
        self.pull_stopped_at = Some(at);
        for (c, d) in self.containers.iter_mut().zip(digests) {
            c.image_digest = Some(d.clone());
        }
    }

    pub fn network(&mut self, facts: NetworkFacts) {
        for (c, b) in self.containers.iter_mut().zip(facts.bindings) {
            c.bindings = b;
        }
        if facts.interface.is_some() {
            self.interface = facts.interface;
        }
    }

    fn container(&mut self, name: &str) -> Option<&mut KnownContainer> {
        self.containers.iter_mut().find(|c| c.name == name)
    }

    fn advance(&mut self, to: TaskState) -> bool {
        if to > self.state {
            self.state = to;
            true
        } else {
            false
        }
    }

    /// The task ended without the supervisor saying so (it never started, or the agent gave
    /// up on it): STOPPED with `code` and `reason`.
    pub fn fail(&mut self, code: &str, reason: String, at: Timestamp) -> Step {
        if self.state == TaskState::Stopped {
            return Step {
                report: false,
                ended: true,
            };
        }
        for c in &mut self.containers {
            c.advance(ContainerState::Stopped);
        }
        self.advance(TaskState::Stopped);
        self.stop_code = Some(code.to_string());
        self.stopped_reason = Some(reason);
        self.execution_stopped_at = Some(at);
        Step {
            report: true,
            ended: true,
        }
    }

    /// Applies one supervisor event.
    pub fn apply(&mut self, ev: &SupervisorEvent) -> Step {
        let quiet = Step {
            report: false,
            ended: false,
        };
        let loud = Step {
            report: true,
            ended: false,
        };
        if self.state == TaskState::Stopped {
            // Terminal: a late or replayed event changes nothing.
            return Step {
                report: false,
                ended: true,
            };
        }
        match ev {
            SupervisorEvent::Health {
                container, status, ..
            } => {
                if let Some(c) = self.container(container) {
                    c.health = Some(status.clone());
                }
                self.health = Some(task_health(&self.containers).to_string());
                loud
            }
            SupervisorEvent::Started { container, at, .. } => {
                if let Some(c) = self.container(container) {
                    c.advance(ContainerState::Running);
                }
                let all = self
                    .containers
                    .iter()
                    .all(|c| c.state >= ContainerState::Running);
                if all && self.advance(TaskState::Running) {
                    self.started_at = Some(*at);
                    return loud;
                }
                quiet
            }
            SupervisorEvent::Exited {
                container,
                exit_code,
                oom_killed,
                ..
            } => {
                let mut oom = false;
                if let Some(c) = self.container(container) {
                    c.advance(ContainerState::Stopped);
                    c.exit_code = Some(*exit_code);
                    if *oom_killed {
                        c.reason = Some(OOM_KILLED_REASON.to_string());
                        oom = true;
                    }
                }
                // ECS names the OOM kill as the task's reason when it ends the task.
                if oom && self.stopped_reason.is_none() {
                    self.stopped_reason = Some(OOM_KILLED_REASON.to_string());
                }
                loud
            }
            SupervisorEvent::Failed {
                container, reason, ..
            } => {
                if let Some(c) = self.container(container) {
                    c.advance(ContainerState::Stopped);
                    c.reason = Some(reason.clone());
                }
                if self.stop_code.is_none() {
                    self.stop_code = Some(stop_code::TASK_FAILED_TO_START.to_string());
                    self.stopped_reason = Some(format!("CannotStartContainerError: {reason}"));
                }
                quiet
            }
            SupervisorEvent::Stopping {
                stop_code: code,
                reason,
                ..
            } => {
                self.stop_code.get_or_insert_with(|| code.clone());
                self.stopped_reason.get_or_insert_with(|| reason.clone());
                if self.advance(TaskState::Stopping) {
                    return loud;
                }
                quiet
            }
            SupervisorEvent::Lost {
                container, reason, ..
            } => {
                if let Some(c) = self.container(container) {
                    c.advance(ContainerState::Stopped);
                    c.reason = Some(reason.clone());
                }
                quiet
            }
            SupervisorEvent::TaskExited { at } => {
                for c in &mut self.containers {
                    c.advance(ContainerState::Stopped);
                }
                self.advance(TaskState::Stopped);
                self.execution_stopped_at = Some(*at);
                Step {
                    report: true,
                    ended: true,
                }
            }
        }
    }

    /// The wire report of this state. At STOPPED, the server's own stop code and reason win
    /// over the supervisor's for a stop it asked for.
    pub fn report(&self, report_id: u64) -> TaskReport {
        let (mut code, mut reason) = (self.stop_code.clone(), self.stopped_reason.clone());
        if let (TaskState::Stopped, Some(req)) = (self.state, &self.requested) {
            if req.stop_code.is_some() {
                code.clone_from(&req.stop_code);
            }
            if req.reason.is_some() {
                reason.clone_from(&req.reason);
            }
        }
        TaskReport {
            report_id,
            task_arn: self.task_arn.clone(),
            last_status: Some(self.state.status()),
            containers: self
                .containers
                .iter()
                .map(|c| ContainerReport {
                    name: c.name.clone(),
                    last_status: Some(c.state.status()),
                    exit_code: c.exit_code,
                    reason: c.reason.clone(),
                    runtime_id: None,
                    image_digest: c.image_digest.clone(),
                    network_bindings: c.bindings.clone(),
                    health_status: c.health.clone(),
                })
                .collect(),
            pull_started_at: self.pull_started_at,
            pull_stopped_at: self.pull_stopped_at,
            started_at: self.started_at,
            execution_stopped_at: self.execution_stopped_at,
            stop_code: code,
            stopped_reason: reason,
            health_status: self.health.clone(),
            network: self.interface.clone(),
        }
    }
}

/// ECS's task health: UNHEALTHY if any essential container with a check is, HEALTHY once
/// all of them are, UNKNOWN before that (or when no essential container has a check).
fn task_health(containers: &[KnownContainer]) -> &'static str {
    let mut deciders = containers.iter().filter(|c| c.decides_health).peekable();
    if deciders.peek().is_none() {
        return "UNKNOWN";
    }
    let healths: Vec<Option<&str>> = deciders.map(|c| c.health.as_deref()).collect();
    if healths.contains(&Some("UNHEALTHY")) {
        "UNHEALTHY"
    } else if healths.iter().all(|h| *h == Some("HEALTHY")) {
        "HEALTHY"
    } else {
        "UNKNOWN"
    }
}

#[cfg(test)]
#[path = "known_tests.rs"]
mod tests;
