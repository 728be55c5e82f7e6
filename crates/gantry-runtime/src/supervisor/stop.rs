//! The stop sequence: one container at a time, dependents before their dependencies
//! (`crate::deps::next_to_stop`), otherwise in reverse start order; SIGTERM, then SIGKILL
//! once the container's stop timeout has passed.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};

use super::{RunState, Stopping, Supervisor};
use crate::deps;
use crate::event::{now, SupervisorEvent};
use crate::plan::ContainerPlan;

impl Supervisor {
    pub(super) fn begin_stop(&mut self, stop_code: &str, reason: String) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(Stopping { current: None });
        self.emit(SupervisorEvent::Stopping {
            stop_code: stop_code.to_string(),
            reason,
            at: now(),
        });
    }

    pub(super) fn drive_stop(&mut self) {
        let Some(stopping) = &mut self.stopping else {
            return;
        };
        loop {
            if let Some((i, deadline, killed)) = stopping.current {
                let RunState::Running(pid) = self.slots[i].state else {
                    stopping.current = None;
                    continue;
                };
                if !killed && Instant::now() >= deadline {
                    let _ = kill(pid, Signal::SIGKILL);
                    stopping.current = Some((i, deadline, true));
                }
                return;
            }
            let plans: Vec<&ContainerPlan> = self.slots.iter().map(|s| &s.plan).collect();
            let running: Vec<bool> = self
                .slots
                .iter()
                .map(|s| matches!(s.state, RunState::Running(_)))
                .collect();
            let Some(i) = deps::next_to_stop(&plans, &running) else {
                return;
            };
            let RunState::Running(pid) = self.slots[i].state else {
                return;
            };
            // The pid is still our unreaped child, so it cannot have been reused.
            let timeout = Duration::from_secs(self.slots[i].plan.stop_timeout_secs);
            let signal = if timeout.is_zero() {
                Signal::SIGKILL
            } else {
                Signal::SIGTERM
            };
            let _ = kill(pid, signal);
            let now = Instant::now();
            // A nonsensical timeout (u64::MAX s) must not overflow: treat it as "a year".
            let deadline = now
                .checked_add(timeout)
                .unwrap_or(now + Duration::from_secs(365 * 24 * 3600));
            stopping.current = Some((i, deadline, timeout.is_zero()));
        }
    }
}
