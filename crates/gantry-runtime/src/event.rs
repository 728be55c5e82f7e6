//! What the supervisor reports: one JSON object per line on stdout and in
//! `<task_dir>/events.jsonl` (the durable record the agent re-reads after a restart).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub const STOP_ESSENTIAL_EXITED: &str = "EssentialContainerExited";
pub const STOP_USER_INITIATED: &str = "UserInitiated";
pub const STOP_FAILED_TO_START: &str = "TaskFailedToStart";
/// ECS's `reason` for a container whose `Exited` event says `oom_killed`.
pub const OOM_KILLED_REASON: &str = "OutOfMemoryError: Container killed due to memory usage";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum SupervisorEvent {
    Started {
        container: String,
        pid: i32,
        at: f64,
    },
    Exited {
        container: String,
        exit_code: i32,
        at: f64,
        oom_killed: bool,
    },
    Failed {
        container: String,
        reason: String,
        at: f64,
    },
    Stopping {
        stop_code: String,
        reason: String,
        at: f64,
    },
    TaskExited {
        at: f64,
    },
    /// A container's health changed: `status` is `HEALTH_HEALTHY` or `HEALTH_UNHEALTHY`
    /// (UNKNOWN, before the first result, is never reported).
    Health {
        container: String,
        status: String,
        at: f64,
    },
}

pub const HEALTH_HEALTHY: &str = "HEALTHY";
pub const HEALTH_UNHEALTHY: &str = "UNHEALTHY";

impl SupervisorEvent {
    /// Events that must survive a host crash once written.
    fn is_terminal(&self) -> bool {
        !matches!(self, SupervisorEvent::Started { .. })
    }
}

/// Seconds since the epoch, as a float (what the events carry).
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Writes events to stdout (best effort: the agent may be gone) and to the durable file.
#[derive(Debug)]
pub struct EventSink {
    file: File,
}

impl EventSink {
    pub fn open(task_dir: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(task_dir.join(crate::plan::EVENTS_FILE))?;
        Ok(Self { file })
    }

    pub fn emit(&mut self, event: &SupervisorEvent) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&line).and_then(|_| out.flush());
        // One write per line: O_APPEND keeps lines whole even if another writer appears.
        self.file.write_all(&line)?;
        if event.is_terminal() {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let e = SupervisorEvent::Exited {
            container: "web".into(),
            exit_code: 137,
            at: 1.5,
            oom_killed: false,
        };
        let json = serde_json::to_string(&e).expect("json");
        assert_eq!(
            json,
            r#"{"event":"Exited","container":"web","exit_code":137,"at":1.5,"oom_killed":false}"#
        );
        assert_eq!(
            serde_json::from_str::<SupervisorEvent>(&json).expect("parse"),
            e
        );
    }
}
