//! From a task spec and its resolved images to the task plan: pure (no I/O, nothing
//! mounted or spawned), and validated here, so a plan the supervisor would refuse fails the
//! task before anything is started. What it returns is carried out by `task.rs`.

use std::path::PathBuf;

use gantry_api::model::{ContainerDefinition, HealthCheck as EcsHealthCheck};
use gantry_api::protocol::TaskSpec;
use gantry_image::Image;
use gantry_runtime::plan::{
    ContainerPlan, HealthCheck, PlanError, TaskPlan, DEFAULT_HEALTH_INTERVAL_SECS,
    DEFAULT_HEALTH_RETRIES, DEFAULT_HEALTH_TIMEOUT_SECS,
};
use gantry_runtime::spec::{BindMount, ContainerConfig, NetworkMode};
use gantry_runtime::TaskDir;

use super::effects::Handover;
use crate::config::AgentConfig;
use crate::container_config::{self, merge, ConfigError, MergeInput};

/// Why a task cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid dependsOn: {0}")]
    DependsOn(ConfigError),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// What the plan is built from.
pub struct PlanInput<'a> {
    pub spec: &'a TaskSpec,
    pub task: &'a TaskDir,
    /// One per container definition, in order.
    pub images: &'a [Image],
    /// How containers reach the task's network.
    pub network: NetworkMode,
    /// The task's `/etc` files (not in `host` mode).
    pub etc_mounts: &'a [BindMount],
    pub cfg: &'a AgentConfig,
}

/// One container, ready to be mounted and bundled.
#[derive(Debug)]
pub struct ContainerLaunch {
    pub name: String,
    /// Its overlay directory (`TaskDir::container`).
    pub dir: PathBuf,
    pub layers: Vec<PathBuf>,
    /// The runtime config its OCI spec is built from once the rootfs is mounted (user
    /// names resolve against the image's `/etc/passwd`).
    pub config: ContainerConfig,
    /// Set when the container runs in a user namespace.
    pub handover: Option<Handover>,
}

/// A task, planned.
#[derive(Debug)]
pub struct TaskLaunch {
    /// Validated.
    pub plan: TaskPlan,
    pub containers: Vec<ContainerLaunch>,
    /// Scratch volume directories to create.
    pub scratch_volumes: Vec<PathBuf>,
}

/// Builds and validates the plan of `input.spec`.
pub fn build(input: &PlanInput<'_>) -> Result<TaskLaunch, BuildError> {
    let PlanInput {
        spec, task, cfg, ..
    } = *input;
    let td = &spec.task_definition;
    let defs = td.container_definitions.as_deref().unwrap_or_default();
    let volumes = td.volumes.clone().unwrap_or_default();
    let scratch_volumes = volumes
        .iter()
        .filter(|v| {
            v.host
                .as_ref()
                .and_then(|h| h.source_path.as_ref())
                .is_none()
        })
        .filter_map(|v| v.name.as_deref().map(|n| task.volume(n)))
        .collect();
    let mut plans = Vec::with_capacity(defs.len());
    let mut containers = Vec::with_capacity(defs.len());
    let mut netns = None;
    for (def, img) in defs.iter().zip(input.images) {
        let name = def.name.clone().unwrap_or_default();
        let over = spec
            .overrides
            .as_ref()
            .and_then(|o| o.container_overrides.as_ref())
            .and_then(|os| os.iter().find(|o| o.name.as_deref() == Some(&name)));
        let mut config = merge(&MergeInput {
            task_id: &spec.task_id,
            task_dir: task,
            def,
            over,
            volumes: &volumes,
            image: &img.config,
            rootfs: task.rootfs(&name),
            network: input.network.clone(),
            pids_limit: cfg.pids_limit,
            cgroup_parent: &cfg.cgroup_parent,
            allow_privileged: cfg.allow_privileged,
        })?;
        config.mounts.extend(input.etc_mounts.iter().cloned());
        let mut handover = None;
        // Privileged containers stay in the host's user namespace (Docker's --userns=host).
        if let Some(range) = cfg.user_namespace.filter(|_| !config.privileged) {
            // libcontainer joins a named network namespace from inside the new user
            // namespace, which the kernel refuses; the supervisor joins it first instead and
            // the container shares the supervisor's (`TaskPlan::netns`).
            if let NetworkMode::Path(p) = &config.network {
                netns = Some(p.clone());
                config.network = NetworkMode::Host;
            }
            handover = Some(handover_of(range, &config, task));
            config.user_namespace = Some(range);
        }
        plans.push(container_plan(def, &name, spec, task, cfg)?);
        containers.push(ContainerLaunch {
            dir: task.container(&name),
            name,
            layers: img.layers.clone(),
            config,
            handover,
        });
    }
    let plan = TaskPlan {
        task_id: spec.task_id.clone(),
        cgroup_parent: format!("{}/{}", cfg.cgroup_parent, spec.task_id),
        task_cpu: task_cpu(spec),
        task_memory: task_memory(spec),
        containers: plans,
        log_max_bytes: cfg.log_max_bytes,
        log_max_files: cfg.log_max_files,
        netns,
    };
    plan.validate()?;
    Ok(TaskLaunch {
        plan,
        containers,
        scratch_volumes,
    })
}

fn container_plan(
    def: &ContainerDefinition,
    name: &str,
    spec: &TaskSpec,
    task: &TaskDir,
    cfg: &AgentConfig,
) -> Result<ContainerPlan, BuildError> {
    Ok(ContainerPlan {
        name: name.to_string(),
        container_id: TaskPlan::container_id(&spec.task_id, name),
        bundle: task.bundle(name),
        rootfs_dir: Some(task.container(name)),
        essential: def.essential.unwrap_or(true),
        stop_timeout_secs: def
            .stop_timeout
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(cfg.default_stop_timeout.as_secs()),
        log_path: task.log_file(name),
        depends_on: container_config::depends_on(def).map_err(BuildError::DependsOn)?,
        start_timeout_secs: def.start_timeout.and_then(|s| u64::try_from(s).ok()),
        health_check: def.health_check.as_ref().map(health_check),
    })
}

/// ECS's health check with ECS's defaults for what it leaves out (or sets to 0).
fn health_check(h: &EcsHealthCheck) -> HealthCheck {
    let positive = |v: Option<i32>| v.and_then(|v| u64::try_from(v).ok()).filter(|v| *v > 0);
    HealthCheck {
        command: h.command.clone().unwrap_or_default(),
        interval_secs: positive(h.interval).unwrap_or(DEFAULT_HEALTH_INTERVAL_SECS),
        timeout_secs: positive(h.timeout).unwrap_or(DEFAULT_HEALTH_TIMEOUT_SECS),
        retries: h
            .retries
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0)
            .unwrap_or(DEFAULT_HEALTH_RETRIES),
        start_period_secs: h
            .start_period
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0),
    }
}

/// Task-level cpu units, resolved as the server sized the placement (a size the server
/// would have refused counts as none).
fn task_cpu(spec: &TaskSpec) -> Option<u64> {
    gantry_api::units::task_cpu(&spec.task_definition, spec.overrides.as_ref())
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
}

/// Task-level memory in bytes (see [`task_cpu`]).
fn task_memory(spec: &TaskSpec) -> Option<i64> {
    gantry_api::units::task_memory(&spec.task_definition, spec.overrides.as_ref())
        .ok()
        .flatten()
        .map(|mib| mib * 1024 * 1024)
}

/// The rootfs's top directory, the mount points of the task's `/etc` files and its
/// scratch volumes go to the user namespace's root.
fn handover_of(
    range: gantry_runtime::spec::IdRange,
    config: &ContainerConfig,
    task: &TaskDir,
) -> Handover {
    let scratch = task.volumes();
    Handover {
        range,
        rootfs: config.rootfs.clone(),
        etc_files: config
            .mounts
            .iter()
            .filter_map(|m| m.destination.strip_prefix("/etc/"))
            .filter(|n| !n.contains('/'))
            .map(String::from)
            .collect(),
        scratch: config
            .mounts
            .iter()
            .filter(|m| m.source.starts_with(&scratch))
            .map(|m| m.source.clone())
            .collect(),
    }
}

#[cfg(test)]
#[path = "plan_build_tests.rs"]
mod tests;
