//! Starting containers: each once its `dependsOn` conditions hold (`crate::deps`), in plan
//! order among those ready; a condition that can never hold stops the task.

use std::time::{Duration, Instant};

use super::health::{Health, Status};
use super::output::Output;
use super::{failpoint, launch, LaunchError, RunState, Supervisor};
use crate::deps::{self, Progress, Verdict};
use crate::event::{now, SupervisorEvent, STOP_FAILED_TO_START};
use crate::plan::Condition;

/// When a running container's `startTimeout` ends, if it has one.
fn start_deadline(slot: &super::Slot) -> Option<Instant> {
    let secs = slot.plan.start_timeout_secs?;
    let started = slot.started_at?;
    started.checked_add(Duration::from_secs(secs))
}

impl Supervisor {
    /// Starts every container whose dependencies are met, until none more can start now.
    /// Called from the main loop after every event, so a dependency that exits or turns
    /// HEALTHY releases its dependents at once.
    pub(super) fn start_ready(&mut self) {
        loop {
            let mut started_any = false;
            for i in 0..self.slots.len() {
                if self.slots[i].state != RunState::NotStarted {
                    continue;
                }
                // A stop request or an essential exit during start-up ends the start phase.
                if let Ok(sigs) = self.signals.drain() {
                    self.on_signals(&sigs);
                }
                self.drain_output();
                self.reap();
                if self.stopping.is_some() {
                    return;
                }
                let plan = &self.slots[i].plan;
                match deps::verdict(&plan.name, &plan.depends_on, |n| self.progress(n)) {
                    Verdict::Wait => {}
                    Verdict::Start => {
                        if !self.start_one(i) {
                            return;
                        }
                        started_any = true;
                    }
                    Verdict::Never(reason) => {
                        self.slots[i].state = RunState::Never;
                        self.begin_stop(STOP_FAILED_TO_START, reason);
                        return;
                    }
                }
            }
            if !started_any {
                return;
            }
        }
    }

    /// How long until a running container that others wait for (to complete, succeed or be
    /// healthy) reaches its `startTimeout`, so the main loop wakes to give up on it.
    pub(super) fn next_dependency_timeout(&self, now: Instant) -> Option<Duration> {
        if self.stopping.is_some() {
            return None;
        }
        self.slots
            .iter()
            .filter(|s| s.state == RunState::NotStarted)
            .flat_map(|s| &s.plan.depends_on)
            .filter(|d| d.condition != Condition::Start)
            .filter_map(|d| self.slots.iter().find(|s| s.plan.name == d.container))
            .filter(|s| matches!(s.state, RunState::Running(_)))
            .filter_map(start_deadline)
            .map(|d| d.saturating_duration_since(now))
            .min()
    }

    /// Where the container called `name` is, for its dependents.
    fn progress(&self, name: &str) -> Progress {
        let Some(slot) = self.slots.iter().find(|s| s.plan.name == name) else {
            // Plan validation refuses unknown names.
            return Progress::Never;
        };
        match slot.state {
            RunState::NotStarted => Progress::Waiting,
            RunState::Running(_) => Progress::Running {
                healthy: slot
                    .health
                    .as_ref()
                    .is_some_and(|h| h.status == Status::Healthy),
                timed_out: start_deadline(slot).is_some_and(|d| Instant::now() >= d),
            },
            RunState::Exited(code) => Progress::Exited {
                code,
                was_healthy: slot.was_healthy,
            },
            RunState::Never => Progress::Never,
        }
    }

    /// Starts container `i`; false (and the task stopping) if it could not be started.
    fn start_one(&mut self, i: usize) -> bool {
        let plan = self.slots[i].plan.clone();
        self.slots[i].cgroups_path = launch::cgroups_path(&plan.bundle);
        let launch_at = now();
        let started = Output::open(&plan.log_path, self.log_max_bytes, self.log_max_files)
            .map_err(|source| LaunchError::Log {
                path: plan.log_path.clone(),
                source,
            })
            .and_then(|(output, ends)| {
                self.slots[i].output = Some(output);
                launch::start(&plan, &self.state_root, ends, self.secrets.of(&plan.name))
            });
        match started {
            Ok(pid) => {
                failpoint("after-create");
                self.slots[i].state = RunState::Running(pid);
                self.slots[i].created = true;
                self.slots[i].started_at = Some(Instant::now());
                self.slots[i].health = plan
                    .health_check
                    .as_ref()
                    .and_then(|c| Health::new(c, Instant::now()));
                let at = now();
                self.emit(SupervisorEvent::Started {
                    container: plan.name.clone(),
                    pid: pid.as_raw(),
                    at,
                });
                self.timing.log_started(&plan.name, launch_at, at);
                true
            }
            Err(e) => {
                // libcontainer removes what a failed create made; a failed start
                // was force-deleted in `launch::start`.
                self.slots[i].state = RunState::Never;
                let reason = e.to_string();
                self.emit(SupervisorEvent::Failed {
                    container: plan.name.clone(),
                    reason: reason.clone(),
                    at: now(),
                });
                self.begin_stop(
                    STOP_FAILED_TO_START,
                    format!("container {} failed to start: {reason}", plan.name),
                );
                false
            }
        }
    }
}
