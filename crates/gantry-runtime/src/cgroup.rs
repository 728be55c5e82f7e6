//! The task-level cgroup: created and limited through libcgroups before any container starts,
//! removed (in every v1 hierarchy) after the last container is deleted.
//!
//! libcgroups' managers only create directories when a process is added, and we never put
//! a process in the task cgroup itself (on v2 that would forbid enabling controllers for the
//! children), so this module creates the directories and leaves the limits to `apply`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use libcgroups::common::{
    create_cgroup_manager, get_cgroup_setup, AnyCgroupManager, CgroupConfig, CgroupManager,
    CgroupSetup, ControllerOpt,
};
use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};

use crate::plan::CPU_PERIOD_US;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot tell which cgroup version this host runs: {0}")]
    Setup(String),
    #[error("cannot create cgroup directory {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cgroup manager for {path}: {reason}")]
    Manager { path: String, reason: String },
    #[error("cannot apply task limits to cgroup {path}: {reason}")]
    Apply { path: String, reason: String },
    #[error("cannot remove cgroup {path}: {reason}")]
    Remove { path: String, reason: String },
    #[error("building cgroup resources: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
}

/// Which layout libcgroups drives here: v1 (legacy or hybrid) or unified v2. Read once per
/// process: each look re-parses /proc/self/mountinfo, and the layout does not change under
/// a running node.
pub fn is_v2() -> Result<bool, CgroupError> {
    static SETUP: OnceLock<Result<bool, String>> = OnceLock::new();
    SETUP
        .get_or_init(|| match get_cgroup_setup() {
            Ok(CgroupSetup::Unified) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) => Err(e.to_string()),
        })
        .clone()
        .map_err(CgroupError::Setup)
}

/// The v1 hierarchies' mount points, read once per process (see `is_v2`).
fn v1_mounts() -> Result<Vec<PathBuf>, CgroupError> {
    static MOUNTS: OnceLock<Result<Vec<PathBuf>, String>> = OnceLock::new();
    MOUNTS
        .get_or_init(|| {
            libcgroups::v1::util::list_supported_mount_points()
                .map(|m| m.into_values().collect())
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(CgroupError::Setup)
}

/// Every directory that backs cgroup `path` (e.g. "/gantry/t1"): one per v1 hierarchy, or
/// the single v2 one. Includes directories that do not exist.
pub fn cgroup_dirs(path: &str) -> Result<Vec<PathBuf>, CgroupError> {
    let rel = path.trim_start_matches('/');
    if is_v2()? {
        return Ok(vec![Path::new(CGROUP_ROOT).join(rel)]);
    }
    let mut dirs: Vec<PathBuf> = v1_mounts()?.iter().map(|m| m.join(rel)).collect();
    dirs.sort();
    dirs.dedup(); // co-mounted controllers (cpu,cpuacct) share a directory
    Ok(dirs)
}

/// The kernel's count of OOM kills in cgroup `path`, if it can be read.
pub fn oom_kill_count(path: &str) -> Option<u64> {
    let rel = path.trim_start_matches('/');
    let (file, text) = if is_v2().ok()? {
        let f = Path::new(CGROUP_ROOT).join(rel).join("memory.events");
        (f.clone(), std::fs::read_to_string(f).ok()?)
    } else {
        let mount = libcgroups::v1::util::get_subsystem_mount_point(
            &libcgroups::v1::ControllerType::Memory,
        )
        .ok()?;
        let f = mount.join(rel).join("memory.oom_control");
        (f.clone(), std::fs::read_to_string(f).ok()?)
    };
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok());
    if count.is_none() {
        tracing::debug!(?file, "no oom_kill counter");
    }
    count
}

#[derive(Debug)]
pub struct TaskCgroup {
    path: String,
}

impl TaskCgroup {
    /// Creates the task cgroup at `path` and applies the task cpu quota and memory limit.
    pub fn create(
        path: &str,
        cpu_quota_us: Option<i64>,
        memory_limit: Option<i64>,
    ) -> Result<Self, CgroupError> {
        let cg = TaskCgroup::open(path);
        if let Err(e) = cg.make(cpu_quota_us, memory_limit) {
            // Leave nothing behind for a task that never started.
            let _ = cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    fn make(
        &self,
        cpu_quota_us: Option<i64>,
        memory_limit: Option<i64>,
    ) -> Result<(), CgroupError> {
        if is_v2()? {
            create_v2_dirs(&self.path)?;
        } else {
            for dir in cgroup_dirs(&self.path)? {
                std::fs::create_dir_all(&dir).map_err(|source| CgroupError::Create {
                    path: dir.clone(),
                    source,
                })?;
            }
        }
        let mut res = LinuxResourcesBuilder::default();
        if let Some(q) = cpu_quota_us {
            res = res.cpu(
                LinuxCpuBuilder::default()
                    .quota(q)
                    .period(CPU_PERIOD_US)
                    .build()?,
            );
        }
        if let Some(m) = memory_limit {
            res = res.memory(LinuxMemoryBuilder::default().limit(m).build()?);
        }
        let resources = res.build()?;
        let opt = ControllerOpt {
            resources: &resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        };
        self.manager()?.apply(&opt).map_err(|e| CgroupError::Apply {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// A handle on an existing task cgroup, e.g. to clean up after a supervisor that died.
    pub fn open(path: &str) -> Self {
        TaskCgroup {
            path: path.to_string(),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn manager(&self) -> Result<AnyCgroupManager, CgroupError> {
        create_cgroup_manager(CgroupConfig {
            cgroup_path: PathBuf::from(&self.path),
            systemd_cgroup: false,
            container_name: String::new(),
        })
        .map_err(|e| CgroupError::Manager {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// Kills whatever is left and removes the task cgroup, its leftover children first.
    pub fn remove(&self) -> Result<(), CgroupError> {
        let err = |reason: String| CgroupError::Remove {
            path: self.path.clone(),
            reason,
        };
        for dir in cgroup_dirs(&self.path)? {
            remove_children(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        }
        self.manager()?.remove().map_err(|e| err(e.to_string()))?;
        // libcgroups' v1 manager only knows controllers listed in /proc/self/cgroup; sweep
        // any directory it missed so no hierarchy keeps the task's cgroup.
        for dir in cgroup_dirs(&self.path)? {
            if dir.exists() {
                rmdir_retry(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
            }
        }
        Ok(())
    }
}

fn create_v2_dirs(path: &str) -> Result<(), CgroupError> {
    let root = Path::new(CGROUP_ROOT);
    let controllers: Vec<String> = std::fs::read_to_string(root.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect();
    let mut current = root.to_path_buf();
    for component in Path::new(path.trim_start_matches('/')).components() {
        enable_controllers(&current, &controllers);
        current.push(component);
        if let Err(source) = std::fs::create_dir(&current) {
            if source.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(CgroupError::Create {
                    path: current,
                    source,
                });
            }
        }
    }
    // The task cgroup holds no process, so its children may use every controller.
    enable_controllers(&current, &controllers);
    Ok(())
}

/// Best effort, one at a time: a controller the parent lacks must not block the others.
fn enable_controllers(dir: &Path, controllers: &[String]) {
    for c in controllers {
        if let Err(e) = std::fs::write(dir.join("cgroup.subtree_control"), c) {
            tracing::debug!(?dir, controller = c, "cannot enable controller: {e}");
        }
    }
}

fn remove_children(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            let child = entry.path();
            remove_children(&child)?;
            rmdir_retry(&child)?;
        }
    }
    Ok(())
}

fn kill_members(dir: &Path) {
    if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn rmdir_retry(dir: &Path) -> std::io::Result<()> {
    let mut last = None;
    for attempt in 0..10 {
        kill_members(dir);
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(10 << attempt.min(4)));
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("rmdir failed")))
}
