//! Where the control plane gets `now` from: every timestamp it writes and every timeout it
//! judges (agent silence, grace periods, requeues) reads the one [`Clock`] in
//! [`crate::AppState`]. The server runs on [`SystemClock`]; tests drive a [`ManualClock`]
//! forward by hand, so timing rules are tested without sleeps.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

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
        wall_clock()
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
        Self::new(wall_clock())
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

/// Seconds since the epoch, as ECS timestamps are.
fn wall_clock() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
