//! The task plan: what the agent hands the supervisor, as `<task_dir>/plan.json`.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::task_dir::TaskDir;

pub const PLAN_FILE: &str = "plan.json";
/// libcontainer's state root, one directory per container.
pub const CONTAINERS_STATE_DIR: &str = "containers-state";
pub const EVENTS_FILE: &str = "events.jsonl";
pub const PID_FILE: &str = "supervisor.pid";

/// CFS period used for the task-level cpu quota.
pub const CPU_PERIOD_US: u64 = 100_000;
/// The kernel refuses quotas below 1 ms.
const MIN_CPU_QUOTA_US: i64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskPlan {
    pub task_id: String,
    /// "/gantry/<task_id>": the task-level cgroup.
    pub cgroup_parent: String,
    /// ECS cpu units (1024 = one core).
    pub task_cpu: Option<u64>,
    /// Bytes; hard limit for the whole task.
    pub task_memory: Option<i64>,
    /// In start order.
    pub containers: Vec<ContainerPlan>,
    /// A container's log file is rotated once it would pass this size.
    #[serde(default = "default_log_max_bytes")]
    pub log_max_bytes: u64,
    /// Log files kept per container, the current one included (Docker's `max-file`).
    #[serde(default = "default_log_max_files")]
    pub log_max_files: u32,
    /// A network namespace (an nsfs bind mount) the supervisor joins before it starts any
    /// container, for containers whose spec shares the supervisor's network namespace
    /// instead of naming one: with a user namespace, libcontainer would join a named one
    /// from inside the new user namespace, which the kernel refuses.
    #[serde(default)]
    pub netns: Option<PathBuf>,
}

fn default_log_max_bytes() -> u64 {
    crate::logs::DEFAULT_LOG_MAX_BYTES
}

fn default_log_max_files() -> u32 {
    crate::logs::DEFAULT_LOG_MAX_FILES
}

/// Smallest accepted `log_max_bytes`: a few records must fit in a file.
const MIN_LOG_MAX_BYTES: u64 = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerPlan {
    pub name: String,
    /// "<task_id>-<name>".
    pub container_id: String,
    /// Directory holding config.json.
    pub bundle: PathBuf,
    /// Overlay dir whose `rootfs` mount point is detached at the end.
    pub rootfs_dir: Option<PathBuf>,
    pub essential: bool,
    /// SIGTERM, then SIGKILL after this many seconds.
    pub stop_timeout_secs: u64,
    /// stdout and stderr are written here as JSON records (`crate::logs`); rotated files
    /// are `<log_path>.1`, `.2`, ... The agent uses `<log dir>/<name>.log`, which is what
    /// `client::read_logs` reads.
    pub log_path: PathBuf,
    /// ECS container health check, run inside the running container.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// ECS `dependsOn`: this container starts once each of these holds; the task stops
    /// dependents before their dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// ECS `startTimeout`: containers that wait for this one to COMPLETE, SUCCEED or be
    /// HEALTHY give up (and the task stops) this many seconds after it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timeout_secs: Option<u64>,
}

/// One ECS `ContainerDependency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// The name (not the id) of another container of the task.
    pub container: String,
    pub condition: Condition,
}

/// ECS's dependency conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Condition {
    /// The dependency has started.
    Start,
    /// The dependency has exited, whatever its exit code.
    Complete,
    /// The dependency has exited with code 0.
    Success,
    /// The dependency's health check reports HEALTHY.
    Healthy,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Start => "START",
            Condition::Complete => "COMPLETE",
            Condition::Success => "SUCCESS",
            Condition::Healthy => "HEALTHY",
        }
    }

    /// ECS's spelling, as in a task definition.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Condition::Start,
            Condition::Complete,
            Condition::Success,
            Condition::Healthy,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// An ECS `healthCheck`: `command` is `["CMD", exe, args...]` or `["CMD-SHELL", "script"]`
/// (run as `/bin/sh -c script`). Exit 0 is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    pub command: Vec<String>,
    /// Seconds between the end of one check and the start of the next (and from the
    /// container's start to the first check).
    #[serde(default = "default_health_interval")]
    pub interval_secs: u64,
    /// A check still running after this long is killed and counts as a failure.
    #[serde(default = "default_health_timeout")]
    pub timeout_secs: u64,
    /// Consecutive failures that make the container UNHEALTHY.
    #[serde(default = "default_health_retries")]
    pub retries: u32,
    /// Failures within this many seconds of the start do not count (a success does).
    #[serde(default)]
    pub start_period_secs: u64,
}

/// ECS's health-check defaults, for members a task definition leaves out.
pub const DEFAULT_HEALTH_INTERVAL_SECS: u64 = 30;
pub const DEFAULT_HEALTH_TIMEOUT_SECS: u64 = 5;
pub const DEFAULT_HEALTH_RETRIES: u32 = 3;

fn default_health_interval() -> u64 {
    DEFAULT_HEALTH_INTERVAL_SECS
}

fn default_health_timeout() -> u64 {
    DEFAULT_HEALTH_TIMEOUT_SECS
}

fn default_health_retries() -> u32 {
    DEFAULT_HEALTH_RETRIES
}

impl HealthCheck {
    /// The argv to run inside the container, or why the command is unusable.
    pub fn argv(&self) -> Result<Vec<String>, String> {
        match self.command.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() && !rest[0].is_empty() => {
                Ok(rest.to_vec())
            }
            Some((kind, [script])) if kind == "CMD-SHELL" && !script.is_empty() => Ok(vec![
                "/bin/sh".into(),
                "-c".into(),
                script.clone(),
            ]),
            _ => Err(format!(
                "health check command {:?} must be [\"CMD\", exe, args...] or [\"CMD-SHELL\", script]",
                self.command
            )),
        }
    }

    fn validate(&self) -> Result<(), String> {
        self.argv()?;
        if self.interval_secs == 0 || self.timeout_secs == 0 || self.retries == 0 {
            return Err(
                "health check interval_secs, timeout_secs and retries must be at least 1".into(),
            );
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read task plan {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("task plan {path} is not valid JSON for a TaskPlan: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write task plan {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid task plan: {0}")]
    Invalid(String),
}

impl TaskPlan {
    /// Deterministic container id used by libcontainer.
    pub fn container_id(task_id: &str, name: &str) -> String {
        format!("{task_id}-{name}")
    }

    pub fn load(task_dir: &Path) -> Result<Self, PlanError> {
        let path = TaskDir::new(task_dir).plan();
        let bytes = std::fs::read(&path).map_err(|source| PlanError::Read {
            path: path.clone(),
            source,
        })?;
        let plan: TaskPlan =
            serde_json::from_slice(&bytes).map_err(|source| PlanError::Parse { path, source })?;
        plan.validate()?;
        Ok(plan)
    }

    /// Validates the plan, then writes it atomically (temp file + rename) so a supervisor
    /// never reads half of it. No fsync: the plan guards no acknowledged state (after a
    /// power loss no supervisor is left to adopt, and a task with no plan was never
    /// started), and the agent writes one on every task start.
    pub fn write(&self, task_dir: &Path) -> Result<(), PlanError> {
        self.validate()?;
        let dir = TaskDir::new(task_dir);
        let path = dir.plan();
        let tmp = dir.plan_tmp();
        let err = |source| PlanError::Write {
            path: path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(&json).map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(err)
    }

    pub fn validate(&self) -> Result<(), PlanError> {
        let bad = |m: String| Err(PlanError::Invalid(m));
        if !is_safe_id(&self.task_id) {
            return bad(format!(
                "task_id {:?} must be [A-Za-z0-9_.-]+",
                self.task_id
            ));
        }
        let parent = Path::new(&self.cgroup_parent);
        if !parent.is_absolute()
            || parent.components().any(|c| c == Component::ParentDir)
            || parent.parent().is_none()
        {
            return bad(format!(
                "cgroup_parent {:?} must be an absolute path below the root, without '..'",
                self.cgroup_parent
            ));
        }
        if self.containers.is_empty() {
            return bad("a task needs at least one container".into());
        }
        if self.task_cpu == Some(0) {
            return bad("task_cpu must be at least 1 unit when set".into());
        }
        if self.task_memory.is_some_and(|m| m <= 0) {
            return bad("task_memory must be positive when set".into());
        }
        if self.log_max_bytes < MIN_LOG_MAX_BYTES {
            return bad(format!(
                "log_max_bytes {} is below the minimum of {MIN_LOG_MAX_BYTES}",
                self.log_max_bytes
            ));
        }
        if self.log_max_files == 0 {
            return bad("log_max_files must be at least 1".into());
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.containers {
            if !is_safe_id(&c.container_id) {
                return bad(format!(
                    "container_id {:?} must be [A-Za-z0-9_.-]+",
                    c.container_id
                ));
            }
            if !seen.insert(&c.container_id) {
                return bad(format!("duplicate container_id {:?}", c.container_id));
            }
            if let Some(Err(e)) = c.health_check.as_ref().map(HealthCheck::validate) {
                return bad(format!("container {:?}: {e}", c.name));
            }
        }
        crate::deps::check(&self.containers).map_err(PlanError::Invalid)
    }

    /// CFS quota for the task's cpu units: units * period / 1024, at least 1 ms.
    pub fn cpu_quota_us(&self) -> Option<i64> {
        self.task_cpu.map(|units| {
            let q = units.saturating_mul(CPU_PERIOD_US) / 1024;
            i64::try_from(q).unwrap_or(i64::MAX).max(MIN_CPU_QUOTA_US)
        })
    }
}

fn is_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> TaskPlan {
        TaskPlan {
            task_id: "t1".into(),
            cgroup_parent: "/gantry/t1".into(),
            task_cpu: Some(512),
            task_memory: Some(256 << 20),
            containers: vec![ContainerPlan {
                name: "web".into(),
                container_id: TaskPlan::container_id("t1", "web"),
                bundle: "/b".into(),
                rootfs_dir: None,
                essential: true,
                stop_timeout_secs: 30,
                log_path: "/l".into(),
                health_check: None,
                depends_on: Vec::new(),
                start_timeout_secs: None,
            }],
            log_max_bytes: 1 << 20,
            log_max_files: 3,
            netns: None,
        }
    }

    #[test]
    fn cpu_units_become_a_cfs_quota() {
        assert_eq!(plan().cpu_quota_us(), Some(50_000));
        let mut p = plan();
        p.task_cpu = Some(2048);
        assert_eq!(p.cpu_quota_us(), Some(200_000));
        p.task_cpu = Some(1);
        assert_eq!(p.cpu_quota_us(), Some(1_000));
        p.task_cpu = None;
        assert_eq!(p.cpu_quota_us(), None);
    }

    #[test]
    fn validation() {
        plan().validate().expect("valid");
        let mut p = plan();
        p.cgroup_parent = "/gantry/../etc".into();
        assert!(p.validate().is_err());
        let mut p = plan();
        p.containers[0].container_id = "../x".into();
        assert!(p.validate().is_err());
        let mut p = plan();
        p.containers.push(p.containers[0].clone());
        assert!(p.validate().is_err());
        let mut p = plan();
        p.containers.clear();
        assert!(p.validate().is_err());
        let mut p = plan();
        p.log_max_files = 0;
        assert!(p.validate().is_err());
        let mut p = plan();
        p.log_max_bytes = 10;
        assert!(p.validate().is_err());
    }

    #[test]
    fn health_check_commands_and_defaults() {
        let hc: HealthCheck =
            serde_json::from_str(r#"{"command":["CMD-SHELL","test -f /x"]}"#).expect("parse");
        assert_eq!(
            (
                hc.interval_secs,
                hc.timeout_secs,
                hc.retries,
                hc.start_period_secs
            ),
            (30, 5, 3, 0)
        );
        assert_eq!(hc.argv().expect("argv"), ["/bin/sh", "-c", "test -f /x"]);
        let cmd = HealthCheck {
            command: vec!["CMD".into(), "false".into(), "x".into()],
            ..hc.clone()
        };
        assert_eq!(cmd.argv().expect("argv"), ["false", "x"]);
        for bad in [
            vec![],
            vec!["CMD".to_string()],
            vec!["CMD-SHELL".into(), "a".into(), "b".into()],
            vec!["NONE".into()],
            vec!["true".into()],
        ] {
            let h = HealthCheck {
                command: bad,
                ..hc.clone()
            };
            assert!(h.argv().is_err(), "{h:?}");
        }
        let mut p = plan();
        p.containers[0].health_check = Some(hc.clone());
        p.validate().expect("valid");
        p.containers[0].health_check = Some(HealthCheck {
            interval_secs: 0,
            ..hc
        });
        assert!(p.validate().is_err());
        // Plans written before health checks existed still load.
        let mut json = serde_json::to_value(plan()).expect("json");
        json["containers"][0]
            .as_object_mut()
            .expect("object")
            .remove("health_check");
        let back: TaskPlan = serde_json::from_value(json).expect("parse");
        assert_eq!(back, plan());
    }

    #[test]
    fn round_trips_and_rejects_unknown_fields() {
        let dir = std::env::temp_dir().join(format!("gantry-plan-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        plan().write(&dir).expect("write");
        assert_eq!(TaskPlan::load(&dir).expect("load"), plan());
        std::fs::write(dir.join(PLAN_FILE), r#"{"task_id":"t","surprise":1}"#).expect("w");
        assert!(matches!(TaskPlan::load(&dir), Err(PlanError::Parse { .. })));
        // A plan written before the log settings existed gets the defaults.
        let mut json = serde_json::to_value(plan()).expect("json");
        let obj = json.as_object_mut().expect("object");
        obj.remove("log_max_bytes");
        obj.remove("log_max_files");
        std::fs::write(dir.join(PLAN_FILE), json.to_string()).expect("w");
        let loaded = TaskPlan::load(&dir).expect("load");
        assert_eq!(loaded.log_max_bytes, crate::logs::DEFAULT_LOG_MAX_BYTES);
        assert_eq!(loaded.log_max_files, crate::logs::DEFAULT_LOG_MAX_FILES);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
