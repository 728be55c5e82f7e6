//! Where a task's start went: one `start-timing` line per started container on the
//! supervisor's stderr (`supervisor.log`), epoch seconds, so the start-latency breakdown
//! (`docs/benchmarks.md`) can be read off any task directory without a tracing setup.

use crate::event::now;

/// Epoch seconds at each step the supervisor takes before its first container starts.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StartTiming {
    /// The supervisor got its task (process start, or hand-over to a waiting one).
    pub main: f64,
    /// The plan was read and checked.
    pub plan: f64,
    /// The task cgroup exists with its limits.
    pub cgroup: f64,
}

impl StartTiming {
    pub fn begin() -> Self {
        Self {
            main: now(),
            ..Self::default()
        }
    }

    /// One line, written once per container: a single short write to a file.
    pub fn log_started(&self, container: &str, launch: f64, started: f64) {
        eprintln!(
            "start-timing container={container} main={:.6} plan={:.6} cgroup={:.6} launch={launch:.6} started={started:.6}",
            self.main, self.plan, self.cgroup
        );
    }
}
