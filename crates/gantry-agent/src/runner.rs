//! One task's life on this node: network, images, rootfs, bundles, then the supervisor, whose
//! events become the task's known state. A task whose directory already holds a plan was
//! started before (by this agent or one before a restart) and is adopted, never started twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gantry_api::protocol::{ContainerReport, TaskReport, TaskSpec};
use gantry_api::status::stop_code;
use gantry_api::TaskStatus;
use gantry_runtime::event::SupervisorEvent;
use gantry_runtime::plan::{ContainerPlan, TaskPlan};
use gantry_runtime::spec::{build_spec, NetworkMode};
use tokio::sync::watch;

use crate::container_config::{merge, MergeInput};
use crate::engine::{Reporter, RunnerCtx};

/// Why the server wants a task stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct StopRequest {
    pub stop_code: Option<String>,
    pub reason: Option<String>,
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The known state of one task, turned into reports.
pub(crate) struct Known {
    pub(crate) report: TaskReport,
    /// Essential containers that have a health check: they decide the task's health.
    checked_essential: Vec<String>,
    pub(crate) requested: Option<StopRequest>,
    reporter: Reporter,
}

impl Known {
    fn send(&mut self) {
        self.report.report_id += 1;
        if let Some(req) = &self.requested {
            // The server's reason for a stop it asked for wins over the supervisor's.
            if self.report.last_status == Some(TaskStatus::Stopped) {
                if let Some(code) = &req.stop_code {
                    self.report.stop_code = Some(code.clone());
                }
                if let Some(reason) = &req.reason {
                    self.report.stopped_reason = Some(reason.clone());
                }
            }
        }
        self.reporter.send(self.report.clone());
    }

    fn container(&mut self, name: &str) -> Option<&mut ContainerReport> {
        self.report.containers.iter_mut().find(|c| c.name == name)
    }

    pub(crate) fn fail(&mut self, code: &str, reason: String) {
        for c in &mut self.report.containers {
            if c.last_status != Some(TaskStatus::Stopped) {
                c.last_status = Some(TaskStatus::Stopped);
            }
        }
        self.report.last_status = Some(TaskStatus::Stopped);
        self.report.stop_code = Some(code.to_string());
        self.report.stopped_reason = Some(reason);
        self.report.execution_stopped_at = Some(now());
        self.send();
    }

    /// Applies one supervisor event; true when the task has ended.
    pub(crate) fn apply(&mut self, ev: SupervisorEvent) -> bool {
        match ev {
            SupervisorEvent::Health {
                container, status, ..
            } => {
                if let Some(c) = self.container(&container) {
                    c.health_status = Some(status);
                }
                let task = task_health(&self.report.containers, &self.checked_essential);
                self.report.health_status = Some(task.to_string());
                self.send();
                false
            }
            SupervisorEvent::Started { container, at, .. } => {
                if let Some(c) = self.container(&container) {
                    c.last_status = Some(TaskStatus::Running);
                }
                let all = self
                    .report
                    .containers
                    .iter()
                    .all(|c| c.last_status >= Some(TaskStatus::Running));
                if all && self.report.last_status < Some(TaskStatus::Running) {
                    self.report.last_status = Some(TaskStatus::Running);
                    self.report.started_at = Some(at);
                    self.send();
                }
                false
            }
            SupervisorEvent::Exited {
                container,
                exit_code,
                oom_killed,
                ..
            } => {
                if let Some(c) = self.container(&container) {
                    c.last_status = Some(TaskStatus::Stopped);
                    c.exit_code = Some(exit_code);
                    if oom_killed {
                        c.reason = Some(gantry_runtime::event::OOM_KILLED_REASON.to_string());
                        // ECS names the OOM kill as the task's reason when it ends the task.
                        if self.report.stopped_reason.is_none() {
                            self.report.stopped_reason =
                                Some(gantry_runtime::event::OOM_KILLED_REASON.to_string());
                        }
                    }
                }
                self.send();
                false
            }
            SupervisorEvent::Failed {
                container, reason, ..
            } => {
                if let Some(c) = self.container(&container) {
                    c.last_status = Some(TaskStatus::Stopped);
                    c.reason = Some(reason.clone());
                }
                if self.report.stop_code.is_none() {
                    self.report.stop_code = Some(stop_code::TASK_FAILED_TO_START.to_string());
                    self.report.stopped_reason =
                        Some(format!("CannotStartContainerError: {reason}"));
                }
                false
            }
            SupervisorEvent::Stopping {
                stop_code: code,
                reason,
                ..
            } => {
                if self.report.stop_code.is_none() {
                    self.report.stop_code = Some(code);
                }
                if self.report.stopped_reason.is_none() {
                    self.report.stopped_reason = Some(reason);
                }
                if self.report.last_status < Some(TaskStatus::Stopping) {
                    self.report.last_status = Some(TaskStatus::Stopping);
                    self.send();
                }
                false
            }
            SupervisorEvent::Lost {
                container, reason, ..
            } => {
                if let Some(c) = self.container(&container) {
                    c.last_status = Some(TaskStatus::Stopped);
                    c.reason = Some(reason);
                }
                false
            }
            SupervisorEvent::TaskExited { at } => {
                for c in &mut self.report.containers {
                    c.last_status = Some(TaskStatus::Stopped);
                }
                self.report.last_status = Some(TaskStatus::Stopped);
                self.report.execution_stopped_at = Some(at);
                self.send();
                true
            }
        }
    }
}

/// ECS's task health: UNHEALTHY if any essential container with a check is, HEALTHY once
/// all of them are, UNKNOWN before that (or when no essential container has a check).
fn task_health(containers: &[ContainerReport], checked_essential: &[String]) -> &'static str {
    let of = |n: &String| {
        containers
            .iter()
            .find(|c| &c.name == n)
            .and_then(|c| c.health_status.as_deref())
    };
    if checked_essential.iter().any(|n| of(n) == Some("UNHEALTHY")) {
        "UNHEALTHY"
    } else if !checked_essential.is_empty()
        && checked_essential.iter().all(|n| of(n) == Some("HEALTHY"))
    {
        "HEALTHY"
    } else {
        "UNKNOWN"
    }
}

/// Runs (or adopts) one task until it has stopped and been reported.
pub async fn run(
    ctx: Arc<RunnerCtx>,
    spec: TaskSpec,
    mut stop: watch::Receiver<Option<StopRequest>>,
    reporter: Reporter,
) {
    let task_dir = ctx.cfg.state_dir.join("tasks").join(&spec.task_id);
    let containers = spec
        .task_definition
        .container_definitions
        .clone()
        .unwrap_or_default();
    let mut known = Known {
        report: TaskReport {
            report_id: 0,
            task_arn: spec.task_arn.clone(),
            last_status: Some(TaskStatus::Pending),
            containers: containers
                .iter()
                .map(|c| ContainerReport {
                    name: c.name.clone().unwrap_or_default(),
                    last_status: Some(TaskStatus::Pending),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
        requested: stop.borrow().clone(),
        reporter,
        checked_essential: containers
            .iter()
            .filter(|c| c.essential.unwrap_or(true) && c.health_check.is_some())
            .filter_map(|c| c.name.clone())
            .collect(),
    };

    if task_dir.join("plan.json").exists() {
        crate::follow::adopt(&ctx, &spec, &task_dir, &mut known, &mut stop).await;
        return;
    }
    if let Some(req) = stop.borrow().clone() {
        // Stopped before it ever started on this node.
        known.requested = Some(req.clone());
        known.fail(
            req.stop_code
                .as_deref()
                .unwrap_or(stop_code::USER_INITIATED),
            req.reason
                .unwrap_or_else(|| "Task stopped before it started.".to_string()),
        );
        return;
    }

    let prepared = tokio::select! {
        p = prepare(&ctx, &spec, &task_dir, &mut known) => p,
        _ = stop.wait_for(Option::is_some) => Err((stop_code::USER_INITIATED, "Task stopped while it was being prepared.".to_string())),
    };
    let child = match prepared {
        Ok(child) => child,
        Err((code, reason)) => {
            known.requested = stop.borrow().clone();
            cleanup_unstarted(&ctx, &spec, &task_dir);
            known.fail(code, reason);
            schedule_removal(&ctx, task_dir);
            return;
        }
    };
    crate::follow::follow_child(&ctx, &spec, &task_dir, child, &mut known, &mut stop).await;
}

type Failure = (&'static str, String);

/// How long a pull may take before the agent reports the task PENDING.
const PENDING_REPORT_AFTER_MS: u64 = 50;

/// Pulls images, mounts rootfs, writes bundles and the plan, and spawns the supervisor.
async fn prepare(
    ctx: &RunnerCtx,
    spec: &TaskSpec,
    task_dir: &Path,
    known: &mut Known,
) -> Result<std::process::Child, Failure> {
    let td = &spec.task_definition;
    let start_fail = |what: &str, e: &dyn std::fmt::Display| {
        (
            stop_code::TASK_FAILED_TO_START,
            format!("CannotStartContainerError: {what}: {e}"),
        )
    };
    std::fs::create_dir_all(task_dir.join("logs"))
        .map_err(|e| start_fail("could not create the task directory", &e))?;

    let Some(mode) = gantry_net::Mode::from_ecs(td.network_mode.as_deref()) else {
        return Err((
            stop_code::TASK_FAILED_TO_START,
            format!(
                "CannotStartContainerError: networkMode {} is not supported by this agent",
                td.network_mode.as_deref().unwrap_or_default()
            ),
        ));
    };
    let defs = td.container_definitions.clone().unwrap_or_default();
    let (net_spec, per_container) = crate::netspec::task_net_spec(&spec.task_id, mode, &defs)
        .map_err(|e| {
            (
                stop_code::TASK_FAILED_TO_START,
                format!("CannotStartContainerError: {e}"),
            )
        })?;
    let tasknet = ctx
        .network
        .setup(&net_spec)
        .map_err(|e| start_fail("network setup failed", &e))?;
    crate::netspec::report_network(&mut known.report, &tasknet, &per_container);
    let network = match tasknet.attachment() {
        gantry_net::Attachment::Host => NetworkMode::Host,
        gantry_net::Attachment::Namespace(p) => NetworkMode::Path(p),
    };
    let etc = crate::netspec::write_etc_files(task_dir, &spec.task_id, mode, &tasknet)
        .map_err(|e| start_fail("could not write /etc/hosts and /etc/resolv.conf", &e))?;

    // Images.
    known.report.pull_started_at = Some(now());
    let pulls = async {
        let mut images = Vec::with_capacity(defs.len());
        for def in &defs {
            let image = def.image.clone().unwrap_or_default();
            let auth = ctx.cfg.auth_for(&image);
            images.push(ctx.images.ensure(&image, ctx.cfg.pull_policy, auth).await?);
        }
        Ok::<_, gantry_image::ImageError>(images)
    };
    tokio::pin!(pulls);
    // A cached image is ready in well under a millisecond: report PENDING (with
    // pullStartedAt) only when a pull takes long enough for anyone to see it, which keeps a
    // store write off the fast path.
    let pulled = tokio::select! {
        r = &mut pulls => r,
        _ = tokio::time::sleep(Duration::from_millis(PENDING_REPORT_AFTER_MS)) => {
            known.send();
            pulls.await
        }
    };
    let images = match pulled {
        Ok(images) => images,
        Err(e) => {
            known.report.pull_stopped_at = Some(now());
            return Err((stop_code::TASK_FAILED_TO_START, e.cannot_pull_reason()));
        }
    };
    known.report.pull_stopped_at = Some(now());
    for (c, img) in known.report.containers.iter_mut().zip(&images) {
        c.image_digest = Some(img.digest.clone());
    }

    // Bundles.
    let volumes = td.volumes.clone().unwrap_or_default();
    let mut plans = Vec::with_capacity(defs.len());
    let mut task_netns: Option<std::path::PathBuf> = None;
    for (def, img) in defs.iter().zip(&images) {
        let name = def.name.clone().unwrap_or_default();
        let cdir = task_dir.join("containers").join(&name);
        std::fs::create_dir_all(&cdir)
            .map_err(|e| start_fail("could not create the container directory", &e))?;
        for v in &volumes {
            if v.host
                .as_ref()
                .and_then(|h| h.source_path.as_ref())
                .is_none()
            {
                if let Some(n) = &v.name {
                    let _ = std::fs::create_dir_all(task_dir.join("volumes").join(n));
                }
            }
        }
        let rootfs = gantry_image::mount_rootfs(&img.layers, &cdir)
            .map_err(|e| start_fail("could not mount the container's root filesystem", &e))?;
        let over = spec
            .overrides
            .as_ref()
            .and_then(|o| o.container_overrides.as_ref())
            .and_then(|os| os.iter().find(|o| o.name.as_deref() == Some(&name)));
        let mut cfg = merge(&MergeInput {
            task_id: &spec.task_id,
            task_dir,
            def,
            over,
            volumes: &volumes,
            image: &img.config,
            rootfs,
            network: network.clone(),
            pids_limit: ctx.cfg.pids_limit,
            cgroup_parent: &ctx.cfg.cgroup_parent,
            allow_privileged: ctx.cfg.allow_privileged,
        })
        .map_err(|e| {
            (
                stop_code::TASK_FAILED_TO_START,
                format!("CannotStartContainerError: {e}"),
            )
        })?;
        if mode != gantry_net::Mode::Host {
            cfg.mounts.extend(etc.mounts());
        }
        // Privileged containers stay in the host's user namespace (Docker's --userns=host).
        if let Some(range) = ctx.cfg.user_namespace.filter(|_| !cfg.privileged) {
            // libcontainer joins a named network namespace from inside the new user
            // namespace, which the kernel refuses; the supervisor joins it first instead and
            // the container shares the supervisor's (`TaskPlan::netns`).
            if let NetworkMode::Path(p) = &cfg.network {
                task_netns = Some(p.clone());
                cfg.network = NetworkMode::Host;
            }
            own_for_user_namespace(range, &cfg, task_dir)
                .map_err(|e| start_fail("could not hand the rootfs to the user namespace", &e))?;
            cfg.user_namespace = Some(range);
        }
        let oci = build_spec(&cfg).map_err(|e| start_fail(&name, &e))?;
        let bundle = cdir.join("bundle");
        std::fs::create_dir_all(&bundle)
            .map_err(|e| start_fail("could not create the bundle directory", &e))?;
        let json = serde_json::to_vec_pretty(&oci).map_err(|e| start_fail(&name, &e))?;
        std::fs::write(bundle.join("config.json"), json)
            .map_err(|e| start_fail("could not write config.json", &e))?;
        plans.push(ContainerPlan {
            name: name.clone(),
            container_id: TaskPlan::container_id(&spec.task_id, &name),
            bundle,
            rootfs_dir: Some(cdir),
            essential: def.essential.unwrap_or(true),
            stop_timeout_secs: def
                .stop_timeout
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(ctx.cfg.default_stop_timeout.as_secs()),
            log_path: task_dir.join("logs").join(format!("{name}.log")),
            depends_on: crate::container_config::depends_on(def)
                .map_err(|e| start_fail("invalid dependsOn", &e))?,
            start_timeout_secs: def.start_timeout.and_then(|s| u64::try_from(s).ok()),
            health_check: def.health_check.as_ref().map(|h| {
                let secs = |v: Option<i32>, d: u64| {
                    v.and_then(|v| u64::try_from(v).ok())
                        .filter(|v| *v > 0)
                        .unwrap_or(d)
                };
                gantry_runtime::plan::HealthCheck {
                    command: h.command.clone().unwrap_or_default(),
                    interval_secs: secs(h.interval, 30),
                    timeout_secs: secs(h.timeout, 5),
                    retries: h
                        .retries
                        .and_then(|v| u32::try_from(v).ok())
                        .filter(|v| *v > 0)
                        .unwrap_or(3),
                    start_period_secs: h
                        .start_period
                        .and_then(|v| u64::try_from(v).ok())
                        .unwrap_or(0),
                }
            }),
        });
    }
    let task_cpu = spec
        .overrides
        .as_ref()
        .and_then(|o| o.cpu.clone())
        .or_else(|| td.cpu.clone())
        .and_then(|s| gantry_api::units::parse_cpu(&s))
        .and_then(|v| u64::try_from(v).ok());
    let task_memory = spec
        .overrides
        .as_ref()
        .and_then(|o| o.memory.clone())
        .or_else(|| td.memory.clone())
        .and_then(|s| gantry_api::units::parse_memory(&s))
        .map(|mib| mib * 1024 * 1024);
    let plan = TaskPlan {
        task_id: spec.task_id.clone(),
        cgroup_parent: format!("{}/{}", ctx.cfg.cgroup_parent, spec.task_id),
        task_cpu,
        task_memory,
        containers: plans,
        log_max_bytes: ctx.cfg.log_max_bytes,
        log_max_files: ctx.cfg.log_max_files,
        netns: task_netns,
    };
    let json = serde_json::to_vec_pretty(&plan).map_err(|e| start_fail("plan", &e))?;
    // No fsync: after a power loss there is no task left to adopt anyway; the rename only
    // keeps a reader from ever seeing half a plan.
    crate::identity::write_renamed(&task_dir.join("plan.json"), &json)
        .map_err(|e| start_fail("could not write plan.json", &e))?;

    // A supervisor already waiting takes the task (gantry_runtime::prespawn).
    let exe = ctx.cfg.supervisor_exe.clone();
    let prespawned = PRESPAWNED.get_or_init(|| {
        gantry_runtime::prespawn::Prespawned::new(move |dir| supervisor_command(&exe, dir))
    });
    if let Some(child) = prespawned.hand_over(task_dir) {
        return Ok(child);
    }
    let stderr = std::fs::File::create(task_dir.join("supervisor.log"))
        .map_err(|e| start_fail("could not create supervisor.log", &e))?;
    supervisor_command(&ctx.cfg.supervisor_exe, task_dir)
        .stderr(stderr)
        .spawn()
        .map_err(|e| start_fail("could not start the task supervisor", &e))
}

static PRESPAWNED: std::sync::OnceLock<gantry_runtime::prespawn::Prespawned> =
    std::sync::OnceLock::new();

fn supervisor_command(exe: &Path, task_dir: &Path) -> std::process::Command {
    let mut cmd = gantry_runtime::client::supervisor_command(exe, &["supervise"], task_dir);
    if let Some(soft) = gantry_runtime::rlimit::original_soft_nofile() {
        cmd.env(
            gantry_runtime::rlimit::INHERITED_NOFILE_ENV,
            soft.to_string(),
        );
    }
    cmd
}

/// Undoes what `prepare` did when the supervisor never started.
fn cleanup_unstarted(ctx: &RunnerCtx, spec: &TaskSpec, task_dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(task_dir.join("containers")) {
        for e in entries.flatten() {
            if let Err(err) = gantry_image::unmount_rootfs(&e.path()) {
                tracing::warn!(error = %err, "could not unmount a container rootfs");
            }
        }
    }
    if let Err(e) = ctx.network.teardown(&spec.task_id) {
        tracing::warn!(task = %spec.task_id, error = %e, "network teardown failed");
    }
}

pub(crate) async fn finish(ctx: &RunnerCtx, spec: &TaskSpec, task_dir: PathBuf) {
    // Unmounts and fsyncs: on the blocking pool, so the next task's start (and the server,
    // in `gantry dev`) keeps both async workers meanwhile.
    let network = ctx.network.clone();
    let task_id = spec.task_id.clone();
    let done = tokio::task::spawn_blocking(move || network.teardown(&task_id)).await;
    if let Ok(Err(e)) = done {
        tracing::warn!(task = %spec.task_id, error = %e, "network teardown failed");
    }
    schedule_removal(ctx, task_dir);
}

/// Removes a stopped task's directory (its logs included) after the configured wait.
fn schedule_removal(ctx: &RunnerCtx, task_dir: PathBuf) {
    let wait = ctx.cfg.task_cleanup_wait;
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        if let Err(e) = tokio::fs::remove_dir_all(&task_dir).await {
            tracing::warn!(dir = %task_dir.display(), error = %e, "could not remove a stopped task's directory");
        }
    });
}

/// The rootfs's top directory and the task's scratch volumes belong to the container's
/// root; host paths mounted as volumes keep their owners.
fn own_for_user_namespace(
    range: gantry_runtime::spec::IdRange,
    cfg: &gantry_runtime::spec::ContainerConfig,
    task_dir: &std::path::Path,
) -> std::io::Result<()> {
    range.own_rootfs(&cfg.rootfs)?;
    // Mount points for the task's /etc files, which container root cannot create there.
    for m in cfg.mounts.iter() {
        if let Some(name) = m
            .destination
            .strip_prefix("/etc/")
            .filter(|n| !n.contains('/'))
        {
            gantry_runtime::spec::ensure_mount_file(&cfg.rootfs, "etc", name)?;
        }
    }
    let scratch = task_dir.join("volumes");
    for m in cfg.mounts.iter().filter(|m| m.source.starts_with(&scratch)) {
        std::os::unix::fs::chown(&m.source, Some(range.first), Some(range.first))?;
    }
    Ok(())
}
