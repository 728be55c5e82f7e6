//! Every side effect the task engine drives, behind a trait: the image store, rootfs mounts,
//! the task network (`gantry_net::NetworkManager`) and the task supervisors. The real
//! implementations are in `real.rs`; recording fakes for the engine's unit tests in `fake.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use gantry_api::protocol::TaskSecrets;
use gantry_image::{Image, ImageError, MountError, PullPolicy, RegistryAuth};
use gantry_net::NetworkManager;
use gantry_runtime::client::ClientError;
use gantry_runtime::event::SupervisorEvent;
use gantry_runtime::secret_env::SecretEnv;
use gantry_runtime::spec::IdRange;
use gantry_runtime::TaskDir;

/// The node's image store.
pub trait Images: Send + Sync {
    /// Makes `reference` available locally (from a layout, the cache or a registry).
    fn ensure<'a>(
        &'a self,
        reference: &'a str,
        policy: PullPolicy,
        auth: Option<&'a RegistryAuth>,
    ) -> BoxFuture<'a, Result<Image, ImageError>>;
}

/// What a rootfs needs before a user namespace's root can use it (see
/// `AgentConfig::user_namespace`).
#[derive(Debug, Clone, PartialEq)]
pub struct Handover {
    pub range: IdRange,
    pub rootfs: PathBuf,
    /// `/etc/<name>` files bind-mounted into the container, whose mount points container
    /// root cannot create.
    pub etc_files: Vec<String>,
    /// Scratch volumes that container root must own.
    pub scratch: Vec<PathBuf>,
}

/// Container root filesystems.
pub trait Rootfs: Send + Sync {
    /// Mounts an overlay of `layers` at `dir/rootfs`; returns the rootfs path.
    fn mount(&self, layers: &[PathBuf], dir: &Path) -> Result<PathBuf, MountError>;
    /// Unmounts `dir/rootfs`; fine when not mounted.
    fn unmount(&self, dir: &Path) -> Result<(), MountError>;
    /// Hands a mounted rootfs and the task's scratch volumes to a user namespace's root.
    fn hand_over(&self, h: &Handover) -> std::io::Result<()>;
}

/// What woke a follower of a task's supervisor.
#[derive(Debug, Clone, PartialEq)]
pub enum Wake {
    /// The journal may have new events.
    Bell,
    /// The supervisor is gone; `cause` says how (for the salvage reason).
    Gone { cause: String },
}

/// One task's supervisor, as the agent follows it.
pub trait Supervised: Send {
    /// Waits until the journal may have changed, or the supervisor is gone.
    fn wait(&mut self) -> BoxFuture<'_, Wake>;
}

/// Task supervisors: spawn, journal, stop, salvage.
pub trait Supervisors: Send + Sync {
    /// Starts the supervisor of `task`, whose plan is written, handing it the containers'
    /// secret variables through memory.
    fn spawn(
        &self,
        task: &TaskDir,
        secrets: &SecretEnv,
    ) -> Result<Box<dyn Supervised>, ClientError>;
    /// Follows a supervisor started before (by an earlier agent).
    fn adopt(&self, task: &TaskDir) -> Box<dyn Supervised>;
    /// Every event recorded in the task's journal so far (none when unreadable).
    fn journal(&self, task: &TaskDir) -> Vec<SupervisorEvent>;
    /// Whether the task's recorded supervisor is running.
    fn alive(&self, task: &TaskDir) -> bool;
    /// Asks the supervisor to stop the task; fine when it is gone.
    fn stop(&self, task: &TaskDir) -> Result<(), ClientError>;
    /// Cleans up after a supervisor that died of `cause` and records the end of the task in
    /// its journal. False when that left problems (see `supervisor.log`).
    fn salvage<'a>(&'a self, task: &'a TaskDir, cause: &'a str) -> BoxFuture<'a, bool>;
    /// A task is about to be prepared: get ready for its start (see
    /// `gantry_runtime::attach_warm`). Nothing by default.
    fn warm(&self) {}
}

/// Where a starting task's secrets come from (the control plane, over the session).
pub trait Secrets: Send + Sync {
    /// The secrets of `task_arn`, or the reason its start fails
    /// (`ResourceInitializationError: …`).
    fn fetch<'a>(&'a self, task_arn: &'a str) -> BoxFuture<'a, Result<TaskSecrets, String>>;
}

/// The side effects the engine uses, shared by every task.
#[derive(Clone)]
pub struct Effects {
    pub secrets: Arc<dyn Secrets>,
    pub images: Arc<dyn Images>,
    pub rootfs: Arc<dyn Rootfs>,
    pub network: Arc<dyn NetworkManager>,
    pub supervisors: Arc<dyn Supervisors>,
}

/// What every task of the engine shares.
pub struct TaskCtx {
    pub cfg: Arc<crate::config::AgentConfig>,
    pub fx: Effects,
}

impl TaskCtx {
    pub fn task_dir(&self, task_id: &str) -> TaskDir {
        TaskDir::under(&self.cfg.tasks_dir(), task_id)
    }
}
