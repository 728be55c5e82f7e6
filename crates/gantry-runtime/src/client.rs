//! The agent's side of the supervisor protocol, in plain std: spawn it ([`Launcher`]), read
//! its durable events, find it, ask it to stop, salvage what a dead one left. Safe to call
//! from async code (short blocking calls).

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::event::SupervisorEvent;
use crate::logs::LogRecord;
use crate::prespawn::Prespawned;
use crate::secret_env::SecretEnv;
use crate::task_dir::TaskDir;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read supervisor events {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt supervisor event on line {line} of {path}: {source}")]
    Corrupt {
        path: std::path::PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("cannot read the logs of container {container} in {dir}: {source}")]
    Logs {
        dir: std::path::PathBuf,
        container: String,
        source: std::io::Error,
    },
    #[error("cannot signal supervisor pid {pid}: {source}")]
    Signal { pid: i32, source: nix::Error },
    #[error("cannot start the task supervisor {exe} for {dir}: {source}")]
    Spawn {
        exe: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// How supervisors are started: `<exe> <pre_args...> <task_dir>` (the agent: the sealed
/// `gantry` binary and `supervise`; tests: `gantry-runtime-supervise` and nothing).
#[derive(Debug, Clone)]
pub struct Launcher {
    exe: PathBuf,
    pre_args: Vec<OsString>,
    /// A supervisor already waiting for the next task, when [`Launcher::prespawned`].
    warm: Option<Prespawned>,
}

impl Launcher {
    pub fn new(exe: impl Into<PathBuf>, pre_args: Vec<OsString>) -> Self {
        Self {
            exe: exe.into(),
            pre_args,
            warm: None,
        }
    }

    /// Keeps one supervisor started ahead of its task ([`crate::prespawn`]), so that
    /// [`Launcher::spawn`] hands the task to it instead of forking and executing one on the
    /// start path. The first starts now, in the background.
    pub fn prespawned(mut self) -> Self {
        let plain = Self::new(self.exe.clone(), self.pre_args.clone());
        self.warm = Some(Prespawned::new(move |dir| plain.command(dir)));
        self
    }

    /// Starts the supervisor of `task`, whose plan must already be written
    /// ([`crate::plan::TaskPlan::write`]). Its stdout is the event doorbell (piped); its
    /// stderr goes to `supervisor.log`; it runs in its own process group, so a signal to
    /// the agent's group never reaches a task, and is never killed with the agent.
    /// `secrets` go to it through its stdin (a pipe), never through a file
    /// ([`crate::secret_env`]).
    pub fn spawn(&self, task: &TaskDir, secrets: &SecretEnv) -> Result<Child, ClientError> {
        let err = |source| ClientError::Spawn {
            exe: self.exe.clone(),
            dir: task.root().to_path_buf(),
            source,
        };
        let payload = secrets.encode();
        // The waiting supervisor opens supervisor.log itself once it has its task.
        if let Some(child) = self
            .warm
            .as_ref()
            .and_then(|w| w.hand_over(task.root(), &payload))
        {
            return Ok(child);
        }
        let stderr = std::fs::File::create(task.supervisor_log()).map_err(err)?;
        let mut cmd = self.command(task.root());
        cmd.stderr(stderr);
        if payload.is_empty() {
            return cmd.spawn().map_err(err);
        }
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().map_err(err)?;
        // The supervisor reads its stdin to EOF before anything else; dropping it closes it.
        let written = child
            .stdin
            .take()
            .map(|mut stdin| stdin.write_all(&payload));
        if let Some(Err(e)) = written {
            let _ = child.kill();
            let _ = child.wait();
            return Err(err(e));
        }
        Ok(child)
    }

    /// The command that salvages `task` after its supervisor died of `cause`
    /// (`<exe> <pre_args...> --salvage <cause> <task_dir>`); stderr is appended to
    /// `supervisor.log`.
    pub fn salvage_command(&self, task: &TaskDir, cause: &str) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.pre_args)
            .arg("--salvage")
            .arg(cause)
            .arg(task.root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(task.supervisor_log());
        cmd.stderr(match log {
            Ok(f) => Stdio::from(f),
            Err(_) => Stdio::null(),
        });
        cmd
    }

    /// The supervisor command for `task_dir`, all but its stderr: stdin closed, stdout piped
    /// (the doorbell), its own process group, and the open-files limit the agent was
    /// started with for its containers (not the agent's raised one).
    pub fn command(&self, task_dir: &Path) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.pre_args)
            .arg(task_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0);
        if let Some(soft) = crate::rlimit::original_soft_nofile() {
            cmd.env(crate::rlimit::INHERITED_NOFILE_ENV, soft.to_string());
        }
        cmd
    }
}

/// The supervisor recorded in a task directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisorProcess {
    pub pid: i32,
    /// Running, and still this task's supervisor (not a reused pid, not a zombie).
    pub alive: bool,
}

/// The command that runs a supervisor: `<exe> <pre_args...> <task_dir>`, stdin closed,
/// stdout piped (the event doorbell; events are read from the journal), in its own process
/// group so a terminal's ^C to the agent does not reach it. For tests and benches that
/// drive a supervisor by hand; the agent uses [`Launcher::spawn`].
pub fn supervisor_command(exe: &Path, pre_args: &[&str], task_dir: &Path) -> Command {
    Launcher::new(exe, pre_args.iter().map(OsString::from).collect()).command(task_dir)
}

/// Every event recorded so far. A torn last line (the supervisor died mid-write) is
/// skipped; a bad line anywhere else is an error.
pub fn read_events(task_dir: &Path) -> Result<Vec<SupervisorEvent>, ClientError> {
    let path = TaskDir::new(task_dir).events();
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ClientError::Read { path, source }),
    };
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.map_err(|source| ClientError::Read {
            path: path.clone(),
            source,
        })?;
        lines.push(line);
    }
    let mut events = Vec::with_capacity(lines.len());
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(e) => events.push(e),
            Err(_) if i == last => break,
            Err(source) => {
                return Err(ClientError::Corrupt {
                    path,
                    line: i + 1,
                    source,
                })
            }
        }
    }
    Ok(events)
}

/// `container`'s log records in `log_dir` (the task's `logs` directory), oldest first,
/// across rotated files: those at or after `since` (epoch seconds), then the last `tail`.
/// For `gantry logs`; no log file yet gives an empty list.
pub fn read_logs(
    log_dir: &Path,
    container: &str,
    since: Option<f64>,
    tail: Option<usize>,
) -> Result<Vec<LogRecord>, ClientError> {
    crate::logs::read_logs(log_dir, container, since, tail).map_err(|source| ClientError::Logs {
        dir: log_dir.to_path_buf(),
        container: container.to_string(),
        source,
    })
}

/// The supervisor's pid from `supervisor.pid`, and whether it is still running.
pub fn supervisor_pid(task_dir: &Path) -> Option<SupervisorProcess> {
    let pid: i32 = std::fs::read_to_string(TaskDir::new(task_dir).pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if pid <= 0 {
        return None;
    }
    Some(SupervisorProcess {
        pid,
        alive: is_our_supervisor(pid, task_dir),
    })
}

/// Alive and not a zombie, and its command line names this task directory (or, for one
/// started ahead of its task (`crate::prespawn`), its working directory is the task
/// directory), so a reused pid is not mistaken for the supervisor.
fn is_our_supervisor(pid: i32, task_dir: &Path) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    if matches!(state, Some('Z') | Some('X') | None) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let Some(name) = task_dir.file_name() else {
        return false;
    };
    let named = cmdline
        .split(|b| *b == 0)
        .any(|arg| Path::new(std::ffi::OsStr::from_bytes(arg)).file_name() == Some(name));
    named || works_in(pid, task_dir)
}

fn works_in(pid: i32, task_dir: &Path) -> bool {
    let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
        return false;
    };
    std::fs::canonicalize(task_dir).is_ok_and(|dir| dir == cwd)
}

/// Asks the supervisor to stop the task (SIGTERM; stop code `UserInitiated`). `Ok` when
/// it has already gone.
pub fn request_stop(task_dir: &Path) -> Result<(), ClientError> {
    let Some(sup) = supervisor_pid(task_dir) else {
        return Ok(());
    };
    if !sup.alive {
        return Ok(());
    }
    match kill(Pid::from_raw(sup.pid), Signal::SIGTERM) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(source) => Err(ClientError::Signal {
            pid: sup.pid,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{EVENTS_FILE, PID_FILE};

    #[test]
    fn torn_last_line_is_skipped_but_corruption_elsewhere_is_not() {
        let dir = std::env::temp_dir().join(format!("gantry-client-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let good = r#"{"event":"TaskExited","at":1.0}"#;
        std::fs::write(dir.join(EVENTS_FILE), format!("{good}\n{{\"event\":\"Exi")).expect("write");
        assert_eq!(read_events(&dir).expect("read").len(), 1);
        std::fs::write(dir.join(EVENTS_FILE), format!("garbage\n{good}\n")).expect("write");
        assert!(matches!(
            read_events(&dir),
            Err(ClientError::Corrupt { line: 1, .. })
        ));
        // No pid file, no supervisor: stopping is a no-op.
        assert_eq!(supervisor_pid(&dir), None);
        request_stop(&dir).expect("nothing to stop");
        std::fs::write(dir.join(PID_FILE), std::process::id().to_string()).expect("write");
        // Our own pid is alive but is not a supervisor for this directory.
        assert_eq!(supervisor_pid(&dir).map(|p| p.alive), Some(false));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
