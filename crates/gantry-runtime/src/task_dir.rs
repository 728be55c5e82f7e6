//! The per-task directory (`<state>/tasks/<task_id>`): the one place that names every file
//! and folder of a task, so the agent, the client and the supervisor agree on the layout.
//!
//! ```text
//! plan.json            the task plan (TaskPlan::write / TaskPlan::load)
//! events.jsonl         the supervisor's event journal
//! supervisor.pid       the supervisor's pid (written by the supervisor)
//! supervisor.log       the supervisor's stderr
//! containers-state/    libcontainer's state root, one directory per container id
//! containers/<name>/   overlay dir: rootfs/ (mount point), upper/, work/, and bundle/
//! logs/<name>.log      container output records (rotated: .1, .2, ...)
//! etc/                 the task's hosts, resolv.conf and hostname
//! volumes/<name>/      scratch volumes (no host source path)
//! ```

use std::path::{Path, PathBuf};

use crate::plan::{CONTAINERS_STATE_DIR, EVENTS_FILE, PID_FILE, PLAN_FILE};

/// The supervisor's stderr.
pub const SUPERVISOR_LOG: &str = "supervisor.log";

/// One task's directory. Only names paths: nothing is created until asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskDir {
    root: PathBuf,
}

impl TaskDir {
    /// The task directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory of task `task_id` in the node's `tasks` directory.
    pub fn under(tasks_dir: &Path, task_id: &str) -> Self {
        Self::new(tasks_dir.join(task_id))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The task id, as the directory is named.
    pub fn task_id(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn plan(&self) -> PathBuf {
        self.root.join(PLAN_FILE)
    }

    /// Where `TaskPlan::write` stages the plan before renaming it.
    pub fn plan_tmp(&self) -> PathBuf {
        self.root.join(format!(".{PLAN_FILE}.tmp"))
    }

    pub fn events(&self) -> PathBuf {
        self.root.join(EVENTS_FILE)
    }

    pub fn pid_file(&self) -> PathBuf {
        self.root.join(PID_FILE)
    }

    /// Where the supervisor stages its pid file before renaming it.
    pub fn pid_tmp(&self) -> PathBuf {
        self.root.join(format!(".{PID_FILE}.tmp"))
    }

    pub fn supervisor_log(&self) -> PathBuf {
        self.root.join(SUPERVISOR_LOG)
    }

    /// libcontainer's state root.
    pub fn containers_state(&self) -> PathBuf {
        self.root.join(CONTAINERS_STATE_DIR)
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The current log file of container `name`.
    pub fn log_file(&self, name: &str) -> PathBuf {
        crate::logs::log_file(&self.logs(), name)
    }

    pub fn etc(&self) -> PathBuf {
        self.root.join("etc")
    }

    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// The scratch directory of volume `name`.
    pub fn volume(&self, name: &str) -> PathBuf {
        self.volumes().join(name)
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// Container `name`'s overlay directory (`rootfs/`, `upper/`, `work/`, `bundle/`).
    pub fn container(&self, name: &str) -> PathBuf {
        self.containers().join(name)
    }

    /// The directory holding container `name`'s `config.json`.
    pub fn bundle(&self, name: &str) -> PathBuf {
        self.container(name).join("bundle")
    }

    /// Container `name`'s OCI runtime spec.
    pub fn bundle_config(&self, name: &str) -> PathBuf {
        self.bundle(name).join("config.json")
    }

    /// Container `name`'s rootfs mount point.
    pub fn rootfs(&self, name: &str) -> PathBuf {
        self.container(name).join("rootfs")
    }

    pub fn upper(&self, name: &str) -> PathBuf {
        self.container(name).join("upper")
    }

    pub fn work(&self, name: &str) -> PathBuf {
        self.container(name).join("work")
    }

    /// Whether a plan was written: the task was started here before (adopt, never restart).
    pub fn has_plan(&self) -> bool {
        self.plan().exists()
    }
}

impl AsRef<Path> for TaskDir {
    fn as_ref(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_path_under_the_root() {
        let t = TaskDir::under(Path::new("/s/tasks"), "abc");
        assert_eq!(t.task_id(), "abc");
        assert_eq!(t.plan(), Path::new("/s/tasks/abc/plan.json"));
        assert_eq!(t.events(), Path::new("/s/tasks/abc/events.jsonl"));
        assert_eq!(t.pid_file(), Path::new("/s/tasks/abc/supervisor.pid"));
        assert_eq!(
            t.containers_state(),
            Path::new("/s/tasks/abc/containers-state")
        );
        assert_eq!(t.log_file("web"), Path::new("/s/tasks/abc/logs/web.log"));
        assert_eq!(
            t.bundle("web"),
            Path::new("/s/tasks/abc/containers/web/bundle")
        );
        assert_eq!(
            t.rootfs("web"),
            Path::new("/s/tasks/abc/containers/web/rootfs")
        );
        assert_eq!(t.volume("v"), Path::new("/s/tasks/abc/volumes/v"));
    }
}
