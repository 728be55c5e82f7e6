//! Health-check bookkeeping for one container: when the next check is due, the check in
//! flight, and the ECS status machine (UNKNOWN -> HEALTHY / UNHEALTHY).

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::event::{HEALTH_HEALTHY, HEALTH_UNHEALTHY};
use crate::plan::HealthCheck;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Unknown,
    Healthy,
    Unhealthy,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "UNKNOWN",
            Status::Healthy => HEALTH_HEALTHY,
            Status::Unhealthy => HEALTH_UNHEALTHY,
        }
    }
}

#[derive(Debug)]
pub struct Health {
    pub argv: Vec<String>,
    interval: Duration,
    timeout: Duration,
    retries: u32,
    start_period_end: Instant,
    pub status: Status,
    failures: u32,
    next_run: Instant,
    /// The check in flight and when it must be killed.
    pub running: Option<(Pid, Instant)>,
}

/// A duration added to now that cannot overflow (absurd plan values become "a year").
fn after(from: Instant, d: Duration) -> Instant {
    from.checked_add(d)
        .unwrap_or(from + Duration::from_secs(365 * 24 * 3600))
}

impl Health {
    /// For a container that started at `started`; `None` if the command is unusable
    /// (plan validation rejects those).
    pub fn new(check: &HealthCheck, started: Instant) -> Option<Self> {
        let interval = Duration::from_secs(check.interval_secs.max(1));
        Some(Self {
            argv: check.argv().ok()?,
            interval,
            timeout: Duration::from_secs(check.timeout_secs.max(1)),
            retries: check.retries.max(1),
            start_period_end: after(started, Duration::from_secs(check.start_period_secs)),
            status: Status::Unknown,
            failures: 0,
            next_run: after(started, interval),
            running: None,
        })
    }

    pub fn due(&self, now: Instant) -> bool {
        self.running.is_none() && now >= self.next_run
    }

    pub fn launched(&mut self, pid: Pid, now: Instant) {
        self.running = Some((pid, after(now, self.timeout)));
    }

    /// The in-flight check whose timeout has passed, if any.
    pub fn overdue(&self, now: Instant) -> Option<Pid> {
        self.running
            .filter(|(_, deadline)| now >= *deadline)
            .map(|(pid, _)| pid)
    }

    /// When the loop must wake for this container next.
    pub fn next_wakeup(&self) -> Instant {
        match self.running {
            Some((_, deadline)) => deadline,
            None => self.next_run,
        }
    }

    /// Records a check result (the in-flight one ended, timed out, or could not start);
    /// returns the new status if it changed.
    pub fn record(&mut self, ok: bool, now: Instant) -> Option<Status> {
        self.running = None;
        self.next_run = after(now, self.interval);
        let before = self.status;
        if ok {
            // A success ends the start period: later failures count.
            self.start_period_end = self.start_period_end.min(now);
            self.failures = 0;
            self.status = Status::Healthy;
        } else if now >= self.start_period_end {
            self.failures = self.failures.saturating_add(1);
            if self.failures >= self.retries {
                self.status = Status::Unhealthy;
            }
        }
        (self.status != before).then_some(self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(retries: u32, start_period_secs: u64) -> HealthCheck {
        HealthCheck {
            command: vec!["CMD".into(), "true".into()],
            interval_secs: 1,
            timeout_secs: 1,
            retries,
            start_period_secs,
        }
    }

    #[test]
    fn status_machine() {
        let t0 = Instant::now();
        let mut h = Health::new(&check(2, 0), t0).expect("health");
        assert!(!h.due(t0));
        let t1 = t0 + Duration::from_secs(1);
        assert!(h.due(t1));
        h.launched(Pid::from_raw(42), t1);
        assert!(!h.due(t1 + Duration::from_secs(5)));
        assert_eq!(h.overdue(t1), None);
        assert_eq!(
            h.overdue(t1 + Duration::from_secs(1)),
            Some(Pid::from_raw(42))
        );
        assert_eq!(h.record(false, t1), None);
        assert_eq!(h.record(false, t1), Some(Status::Unhealthy));
        assert_eq!(h.record(false, t1), None);
        assert_eq!(h.record(true, t1), Some(Status::Healthy));
        assert_eq!(h.record(true, t1), None);
        assert_eq!(h.record(false, t1), None);
        assert_eq!(h.record(false, t1), Some(Status::Unhealthy));
    }

    #[test]
    fn start_period_failures_do_not_count() {
        let t0 = Instant::now();
        let mut h = Health::new(&check(1, 10), t0).expect("health");
        assert_eq!(h.record(false, t0 + Duration::from_secs(5)), None);
        assert_eq!(h.status, Status::Unknown);
        assert_eq!(
            h.record(true, t0 + Duration::from_secs(6)),
            Some(Status::Healthy)
        );
        assert_eq!(
            h.record(false, t0 + Duration::from_secs(7)),
            Some(Status::Unhealthy)
        );
    }
}
