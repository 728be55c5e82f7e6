//! A supervisor started ahead of its task. Starting one per task costs a fork of the agent,
//! an exec and loading the `gantry` binary, on the start path of every task; instead one
//! waits (`<exe> <pre_args...> -`, see `supervisor::WAIT_FOR_TASK`), blocked on its stdin,
//! and the next task's directory is written to it. A new one is started in the background
//! right after, off the start path.
//!
//! A waiting supervisor holds no task: if the agent exits, its stdin reaches EOF and it
//! exits too. If it died meanwhile, or the hand-over fails, the caller starts one the
//! ordinary way, so this only ever saves time.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::supervisor::WAIT_FOR_TASK;

/// Makes the command of a supervisor (the launcher's, with `-` as the task directory).
type MakeCommand = dyn Fn(&Path) -> Command + Send + Sync;

/// Set to `0` in the agent's environment to start every supervisor afresh (to measure
/// what the waiting one saves, or to rule it out).
pub const PRESPAWN_ENV: &str = "GANTRY_SUPERVISOR_PRESPAWN";

/// The one waiting supervisor (at most), shared by clones.
#[derive(Clone)]
pub struct Prespawned {
    slot: Arc<Mutex<Option<Child>>>,
    make: Arc<MakeCommand>,
    enabled: bool,
}

impl std::fmt::Debug for Prespawned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting = self
            .slot
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(Child::id));
        f.debug_struct("Prespawned")
            .field("waiting", &waiting)
            .finish()
    }
}

impl Prespawned {
    /// `make(task_dir)` is the launcher's supervisor command for `task_dir` (stdout piped,
    /// own process group, environment); the first waiting supervisor starts now, in the
    /// background.
    pub fn new(make: impl Fn(&Path) -> Command + Send + Sync + 'static) -> Self {
        let p = Self {
            slot: Arc::new(Mutex::new(None)),
            make: Arc::new(make),
            enabled: std::env::var_os(PRESPAWN_ENV).is_none_or(|v| v != "0"),
        };
        p.refill();
        p
    }

    /// Hands `task_dir` to the waiting supervisor and returns it, now that task's
    /// supervisor; `None` (the caller spawns one) when none is waiting or it is unusable.
    /// Another starts waiting in the background either way. `secrets` (the encoded
    /// [`crate::secret_env::SecretEnv`], maybe empty) follow the line on the same pipe.
    pub fn hand_over(&self, task_dir: &Path, secrets: &[u8]) -> Option<Child> {
        let taken = self.slot.lock().ok().and_then(|mut s| s.take());
        self.refill();
        let mut child = taken?;
        let handed = task_dir.is_absolute()
            && matches!(child.try_wait(), Ok(None))
            && child.stdin.take().is_some_and(|mut stdin| {
                let mut line = task_dir.as_os_str().as_bytes().to_vec();
                line.push(b'\n');
                // Dropping stdin closes it: the supervisor reads one line, its secrets,
                // then EOF.
                stdin.write_all(&line).is_ok() && stdin.write_all(secrets).is_ok()
            });
        if handed {
            return Some(child);
        }
        // Without its line it exits on EOF (stdin is closed now); reap it.
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Starts a waiting supervisor on a short-lived thread, unless one is already there.
    fn refill(&self) {
        if !self.enabled {
            return;
        }
        let slot = Arc::clone(&self.slot);
        let make = Arc::clone(&self.make);
        let spawned = std::thread::Builder::new()
            .name("supervisor-prespawn".into())
            .spawn(move || {
                let mut cmd = make(Path::new(WAIT_FOR_TASK));
                cmd.stdin(Stdio::piped());
                match cmd.spawn() {
                    Ok(child) => {
                        let Ok(mut s) = slot.lock() else { return };
                        match s.as_mut() {
                            None => *s = Some(child),
                            // Raced with another refill: keep one.
                            Some(_) => drop_waiting(child),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not start a waiting task supervisor")
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the thread that starts a waiting supervisor");
        }
    }
}

/// Closes a waiting supervisor's stdin (it exits on EOF) and reaps it.
fn drop_waiting(mut child: Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

impl Drop for Prespawned {
    fn drop(&mut self) {
        // The last handle ends the waiting supervisor.
        if Arc::strong_count(&self.slot) == 1 {
            if let Some(child) = self.slot.lock().ok().and_then(|mut s| s.take()) {
                drop_waiting(child);
            }
        }
    }
}
