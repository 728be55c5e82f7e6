//! The real side effects: the image store, overlay mounts, and supervisor processes started
//! through `gantry_runtime::client`.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use futures_util::future::BoxFuture;
use gantry_image::{Image, ImageError, ImageStore, MountError, PullPolicy, RegistryAuth};
use gantry_runtime::client::{self, ClientError, Launcher};
use gantry_runtime::event::SupervisorEvent;
use gantry_runtime::secret_env::SecretEnv;
use gantry_runtime::TaskDir;
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::effects::{Handover, Images, Rootfs, Supervised, Supervisors, Wake};

impl Images for ImageStore {
    fn ensure<'a>(
        &'a self,
        reference: &'a str,
        policy: PullPolicy,
        auth: Option<&'a RegistryAuth>,
    ) -> BoxFuture<'a, Result<Image, ImageError>> {
        Box::pin(ImageStore::ensure(self, reference, policy, auth))
    }
}

/// Overlay mounts in the host's mount namespace.
#[derive(Debug, Default)]
pub struct KernelRootfs;

impl Rootfs for KernelRootfs {
    fn mount(&self, layers: &[PathBuf], dir: &Path) -> Result<PathBuf, MountError> {
        gantry_image::mount_rootfs(layers, dir)
    }

    fn unmount(&self, dir: &Path) -> Result<(), MountError> {
        gantry_image::unmount_rootfs(dir)
    }

    /// The rootfs's top directory and the task's scratch volumes belong to the container's
    /// root; host paths mounted as volumes keep their owners.
    fn hand_over(&self, h: &Handover) -> std::io::Result<()> {
        h.range.own_rootfs(&h.rootfs)?;
        for name in &h.etc_files {
            gantry_runtime::spec::ensure_mount_file(&h.rootfs, "etc", name)?;
        }
        for s in &h.scratch {
            std::os::unix::fs::chown(s, Some(h.range.first), Some(h.range.first))?;
        }
        Ok(())
    }
}

/// How often an adopted supervisor (not our child: no exit notification) is checked.
const ADOPT_POLL: Duration = Duration::from_millis(200);

/// Supervisor processes, started by [`Launcher::spawn`].
#[derive(Debug)]
pub struct ProcessSupervisors {
    launcher: Launcher,
}

impl ProcessSupervisors {
    pub fn new(launcher: Launcher) -> Self {
        Self { launcher }
    }
}

impl Supervisors for ProcessSupervisors {
    fn warm(&self) {
        gantry_runtime::attach_warm::warm();
    }

    fn spawn(
        &self,
        task: &TaskDir,
        secrets: &SecretEnv,
    ) -> Result<Box<dyn Supervised>, ClientError> {
        let mut child = self.launcher.spawn(task, secrets)?;
        let bell = child
            .stdout
            .take()
            .and_then(|s| tokio::process::ChildStdout::from_std(s).ok());
        Ok(Box::new(SpawnedSupervisor {
            child,
            bell,
            // Registered before the first `try_wait`, so no exit is missed; without it the
            // child is polled.
            exits: signal(SignalKind::child()).ok(),
            buf: vec![0; 4096],
        }))
    }

    fn adopt(&self, task: &TaskDir) -> Box<dyn Supervised> {
        Box::new(AdoptedSupervisor {
            task: task.clone(),
            checked: false,
        })
    }

    fn journal(&self, task: &TaskDir) -> Vec<SupervisorEvent> {
        client::read_events(task.root()).unwrap_or_default()
    }

    fn alive(&self, task: &TaskDir) -> bool {
        client::supervisor_pid(task.root()).is_some_and(|s| s.alive)
    }

    fn stop(&self, task: &TaskDir) -> Result<(), ClientError> {
        client::request_stop(task.root())
    }

    fn salvage<'a>(&'a self, task: &'a TaskDir, cause: &'a str) -> BoxFuture<'a, bool> {
        let cmd = self.launcher.salvage_command(task, cause);
        Box::pin(async move {
            let done = tokio::process::Command::from(cmd).status().await;
            if !done.as_ref().is_ok_and(|s| s.success()) {
                tracing::warn!(dir = %task.root().display(), result = ?done, "salvaging the task left problems; see supervisor.log");
                return false;
            }
            true
        })
    }
}

/// A supervisor this agent spawned: it rings a doorbell on its stdout after each event, and
/// its exit is seen through SIGCHLD.
struct SpawnedSupervisor {
    child: Child,
    bell: Option<tokio::process::ChildStdout>,
    exits: Option<Signal>,
    buf: Vec<u8>,
}

impl SpawnedSupervisor {
    fn cause(&self, status: std::io::Result<std::process::ExitStatus>) -> String {
        let pid = format!(" (pid {})", self.child.id());
        match status {
            Ok(s) => match s.signal() {
                Some(sig) => format!(
                    "it{pid} was killed by signal {sig}{}",
                    nix::sys::signal::Signal::try_from(sig)
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                ),
                None => format!(
                    "it{pid} exited with status {} without recording the end of the task",
                    s.code().unwrap_or(-1)
                ),
            },
            Err(e) => format!("the agent could not wait for it: {e}"),
        }
    }
}

impl Supervised for SpawnedSupervisor {
    fn wait(&mut self) -> BoxFuture<'_, Wake> {
        Box::pin(async move {
            loop {
                match self.child.try_wait() {
                    Ok(Some(status)) => {
                        return Wake::Gone {
                            cause: self.cause(Ok(status)),
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        return Wake::Gone {
                            cause: self.cause(Err(e)),
                        }
                    }
                }
                let Self {
                    bell, exits, buf, ..
                } = &mut *self;
                let exited = async {
                    match exits {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => tokio::time::sleep(ADOPT_POLL).await,
                    }
                };
                let rung = async {
                    match bell.as_mut() {
                        Some(b) => Some(b.read(buf).await.unwrap_or(0)),
                        None => std::future::pending().await,
                    }
                };
                let rang = tokio::select! {
                    n = rung => n,
                    () = exited => None,
                };
                match rang {
                    // Closed: only the exit is left to wait for.
                    Some(0) => self.bell = None,
                    Some(_) => return Wake::Bell,
                    None => {}
                }
            }
        })
    }
}

/// A supervisor an earlier agent started: polled.
struct AdoptedSupervisor {
    task: TaskDir,
    checked: bool,
}

impl Supervised for AdoptedSupervisor {
    fn wait(&mut self) -> BoxFuture<'_, Wake> {
        Box::pin(async move {
            if self.checked {
                tokio::time::sleep(ADOPT_POLL).await;
            }
            self.checked = true;
            match client::supervisor_pid(self.task.root()) {
                Some(s) if s.alive => Wake::Bell,
                sup => Wake::Gone {
                    cause: format!(
                        "it{} was gone when the agent started",
                        sup.map_or_else(String::new, |s| format!(" (pid {})", s.pid))
                    ),
                },
            }
        })
    }
}
