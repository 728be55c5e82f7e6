//! A supervisor started before its task: `run(WAIT_FOR_TASK)` blocks on stdin until the
//! agent's launcher writes the task directory (one line) and closes the pipe, then becomes
//! that task's supervisor exactly as if it had been started with the directory. The agent
//! keeps one waiting, so a task start does not pay for fork, exec and loading the binary.
//!
//! EOF before a line (the agent exited or dropped its launcher) ends the process: it never
//! had a task, so there is nothing to clean up.

use std::ffi::OsString;
use std::io::BufRead;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::SupervisorError;
use crate::secret_env::SecretEnv;

/// The task-directory argument that makes a supervisor wait for its task on stdin.
pub const WAIT_FOR_TASK: &str = "-";

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SupervisorError {
    let path = path.to_path_buf();
    move |source| SupervisorError::Io { what, path, source }
}

/// Blocks until the task directory arrives; `None` on EOF. The task's secret variables
/// follow the line, up to EOF ([`SecretEnv::read_from`]). Then points stderr at the task's
/// `supervisor.log`, stdin at /dev/null, and the working directory at the task directory
/// (which is how `client::supervisor_pid` recognises a supervisor whose command line does
/// not name its task).
pub(super) fn wait_for_task() -> Result<Option<(PathBuf, SecretEnv)>, SupervisorError> {
    // While there is time: read the host's cgroup layout now (it is kept for the process),
    // not on the task's start path.
    let _ = crate::cgroup::cgroup_dirs("/");
    let mut line = Vec::new();
    let mut stdin = std::io::stdin().lock();
    stdin
        .read_until(b'\n', &mut line)
        .map_err(io("read the task directory from", Path::new("stdin")))?;
    if line.last() != Some(&b'\n') {
        return Ok(None);
    }
    let secrets = SecretEnv::read_from(&mut stdin)?;
    drop(stdin);
    line.pop();
    let dir = PathBuf::from(OsString::from_vec(line));
    if !dir.is_absolute() {
        return Err(SupervisorError::Io {
            what: "use a task directory that is not absolute:",
            path: dir,
            source: std::io::ErrorKind::InvalidInput.into(),
        });
    }
    let log_path = crate::task_dir::TaskDir::new(&dir).supervisor_log();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io("open", &log_path))?;
    let null = std::fs::File::open("/dev/null").map_err(io("open", Path::new("/dev/null")))?;
    for (from, to) in [(log.as_raw_fd(), 2), (null.as_raw_fd(), 0)] {
        nix::unistd::dup2(from, to).map_err(|e| SupervisorError::Io {
            what: "redirect a standard stream to",
            path: log_path.clone(),
            source: e.into(),
        })?;
    }
    std::env::set_current_dir(&dir).map_err(io("enter", &dir))?;
    Ok(Some((dir, secrets)))
}
