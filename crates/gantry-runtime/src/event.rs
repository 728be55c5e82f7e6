//! What the supervisor reports: one JSON object per line in `<task_dir>/events.jsonl`, the
//! journal the agent reads (and re-reads after a restart). The same line also goes to
//! stdout, but only as a doorbell: stdout is non-blocking and a line the pipe cannot take
//! is dropped, so an agent that is down or stuck never blocks the supervisor.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
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
    /// Written by `salvage` for a container whose supervisor died before recording its
    /// exit: its exit code is unknown; `reason` says what was found and done.
    Lost {
        container: String,
        reason: String,
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

/// Writes events to the journal, then rings the doorbell on stdout.
#[derive(Debug)]
pub struct EventSink {
    file: File,
}

impl EventSink {
    /// Opens the journal and makes stdout non-blocking (only ours: the agent's read end is
    /// another open file description).
    pub fn open(task_dir: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(crate::task_dir::TaskDir::new(task_dir).events())?;
        set_nonblocking(std::io::stdout().as_fd());
        Ok(Self { file })
    }

    pub fn emit(&mut self, event: &SupervisorEvent) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        // One write per line: O_APPEND keeps lines whole even if another writer appears.
        let written = self.file.write_all(&line).and_then(|()| {
            if event.is_terminal() {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        // The doorbell, after the journal has the event. A full pipe (agent stuck) or a
        // closed one (agent gone; SIGPIPE is ignored) loses nothing: the journal has it.
        let _ = nix::unistd::write(std::io::stdout(), &line);
        written
    }
}

/// Only for a pipe: a terminal's file description is shared with the shell.
fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use nix::sys::stat::{fstat, SFlag};
    use std::os::fd::AsRawFd;
    let fd = fd.as_raw_fd();
    let is_pipe = fstat(fd)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO);
    if !is_pipe {
        return;
    }
    if let Ok(bits) = fcntl(fd, FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(bits) | OFlag::O_NONBLOCK;
        let _ = fcntl(fd, FcntlArg::F_SETFL(flags));
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
