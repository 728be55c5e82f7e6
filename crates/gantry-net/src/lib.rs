//! Task networking. A task's containers share one network namespace, which this crate
//! creates, pins to a file and removes. Modes here: `host` (no namespace of its own) and
//! `none` (a fresh namespace with only loopback, up). Every side effect sits behind the
//! [`TaskNetwork`] trait, with the kernel implementation and a recording fake.
//!
//! This crate must never leave a namespace behind a stopped task: `teardown` is idempotent
//! and is called on every path out of a task.

pub mod fake;
mod netns;

use std::path::{Path, PathBuf};

pub use netns::KernelNetwork;

/// How a task is networked (the task definition's `networkMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Host,
    None,
}

impl Mode {
    /// Parses ECS's `networkMode`. Returns `None` for modes this node cannot provide.
    pub fn from_ecs(s: Option<&str>) -> Option<Self> {
        match s {
            Some("host") => Some(Self::Host),
            Some("none") => Some(Self::None),
            _ => None,
        }
    }
}

/// What the runtime needs to place a task's containers in its network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// Share the host's network namespace.
    Host,
    /// Join the namespace pinned at this path.
    Namespace(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("could not create the network namespace for task {task}: {source}; check that the agent runs as root with CAP_SYS_ADMIN")]
    CreateNamespace {
        task: String,
        source: std::io::Error,
    },
    #[error("could not bring up loopback in the namespace of task {task}: {source}")]
    Loopback {
        task: String,
        source: std::io::Error,
    },
    #[error("could not remove the network namespace {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Creates and removes task networks.
pub trait TaskNetwork: Send + Sync {
    fn setup(&self, task_id: &str, mode: Mode) -> Result<Attachment, NetError>;
    /// Removes whatever `setup` made for the task; fine to call when nothing exists.
    fn teardown(&self, task_id: &str) -> Result<(), NetError>;
}

/// Where the namespace of a task is pinned under `run_dir`.
pub fn netns_path(run_dir: &Path, task_id: &str) -> PathBuf {
    run_dir.join("netns").join(task_id)
}
