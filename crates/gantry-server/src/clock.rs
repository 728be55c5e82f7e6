//! Where controllers get `now` from. The server runs on [`SystemClock`]; tests drive a
//! [`ManualClock`] forward by hand, so timing rules (grace periods) are tested without sleeps.

use std::sync::Mutex;

use gantry_api::Timestamp;

/// Seconds since the epoch, as ECS timestamps are.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        crate::state::now()
    }
}

/// A clock that moves only when told to. It starts at the wall clock's time, so timestamps
/// written by code that reads the wall clock (agent reports) stay comparable.
#[derive(Debug)]
pub struct ManualClock {
    at: Mutex<Timestamp>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(crate::state::now())
    }
}

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self { at: Mutex::new(at) }
    }

    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: f64) {
        *self.at.lock().unwrap_or_else(|e| e.into_inner()) += secs;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.at.lock().unwrap_or_else(|e| e.into_inner())
    }
}
