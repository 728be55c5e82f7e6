//! One task's life on this node: network, images, the plan (built and validated before
//! anything is mounted), rootfs and bundles, then the supervisor, followed until the task
//! ends. A task whose directory already holds a plan was started before (by this agent or
//! one before a restart) and is adopted, never started twice.

use std::sync::Arc;
use std::time::Duration;

use gantry_api::protocol::TaskSecrets;
use gantry_api::protocol::TaskSpec;
use gantry_api::status::stop_code;
use gantry_image::{Image, RegistryAuth};
use gantry_runtime::secret_env::SecretEnv;
use gantry_runtime::spec::{build_spec, NetworkMode};
use gantry_runtime::TaskDir;
use tokio::sync::watch;

use super::effects::{Supervised, TaskCtx};
use super::follow;
use super::known::{KnownTask, NetworkFacts, StopRequest};
use super::plan_build::{self, PlanInput, TaskLaunch};
use super::reporter::{TaskReporter, Tracked};
use crate::netspec;

type Failure = (&'static str, String);

/// How long a pull may take before the agent reports the task PENDING.
const PENDING_REPORT_AFTER_MS: u64 = 50;

fn start_fail(what: &str, e: &dyn std::fmt::Display) -> Failure {
    (
        stop_code::TASK_FAILED_TO_START,
        format!("CannotStartContainerError: {what}: {e}"),
    )
}

/// Runs (or adopts) one task until it has stopped and been reported.
pub(super) async fn run(
    ctx: Arc<TaskCtx>,
    spec: TaskSpec,
    mut stop: watch::Receiver<Option<StopRequest>>,
    out: TaskReporter,
) {
    let task = ctx.task_dir(&spec.task_id);
    let mut t = Tracked::new(KnownTask::new(&spec), out);
    let requested = stop.borrow().clone();
    t.known.requested(requested.clone());

    if task.has_plan() {
        follow::adopt(&ctx, &spec, &task, &mut t, &mut stop).await;
        finish(&ctx, &spec.task_id, task);
        return;
    }
    if let Some(req) = requested {
        // Stopped before it ever started on this node.
        t.fail(
            req.stop_code
                .as_deref()
                .unwrap_or(stop_code::USER_INITIATED),
            req.reason
                .unwrap_or_else(|| "Task stopped before it started.".to_string()),
            gantry_link::now(),
        );
        return;
    }

    let prepared = tokio::select! {
        p = prepare(&ctx, &spec, &task, &mut t) => p,
        Ok(()) = async { stop.wait_for(Option::is_some).await.map(|_| ()) } => Err((stop_code::USER_INITIATED, "Task stopped while it was being prepared.".to_string())),
    };
    match prepared {
        Ok(sup) => {
            follow::follow(&ctx, &task, sup, &mut t, &mut stop).await;
            finish(&ctx, &spec.task_id, task);
        }
        Err((code, reason)) => {
            t.known.requested(stop.borrow().clone());
            cleanup_unstarted(&ctx, &spec.task_id, &task);
            t.fail(code, reason, gantry_link::now());
            schedule_removal(&ctx, task);
        }
    }
}

/// Sets up the network, pulls the images, plans the task, mounts and bundles its
/// containers, writes the plan and spawns the supervisor.
async fn prepare(
    ctx: &TaskCtx,
    spec: &TaskSpec,
    task: &TaskDir,
    t: &mut Tracked,
) -> Result<Box<dyn Supervised>, Failure> {
    // The kernel's wait for the container's cgroup attach runs while we prepare.
    ctx.fx.supervisors.warm();
    let td = &spec.task_definition;
    std::fs::create_dir_all(task.logs())
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
    let defs = td.container_definitions.as_deref().unwrap_or_default();
    let (net_spec, per_container) =
        netspec::task_net_spec(&spec.task_id, mode, defs).map_err(|e| {
            (
                stop_code::TASK_FAILED_TO_START,
                format!("CannotStartContainerError: {e}"),
            )
        })?;
    let tasknet = ctx
        .fx
        .network
        .setup(&net_spec)
        .map_err(|e| start_fail("network setup failed", &e))?;
    t.known.network(NetworkFacts::of(&tasknet, &per_container));
    let network = match tasknet.attachment() {
        gantry_net::Attachment::Host => NetworkMode::Host,
        gantry_net::Attachment::Namespace(p) => NetworkMode::Path(p),
    };
    let etc = netspec::write_etc_files(task, &spec.task_id, mode, &tasknet)
        .map_err(|e| start_fail("could not write /etc/hosts and /etc/resolv.conf", &e))?;

    // Before any image is pulled (a private registry's credentials may be among them) and
    // any container starts; in memory only.
    let secrets = fetch_secrets(ctx, spec).await?;
    let images = pull(ctx, spec, &secrets, t).await?;

    let etc_mounts = if mode == gantry_net::Mode::Host {
        Vec::new()
    } else {
        etc.mounts()
    };
    let launch = plan_build::build(&PlanInput {
        spec,
        task,
        images: &images,
        network,
        etc_mounts: &etc_mounts,
        cfg: &ctx.cfg,
    })
    .map_err(|e| {
        (
            stop_code::TASK_FAILED_TO_START,
            format!("CannotStartContainerError: {e}"),
        )
    })?;
    materialize(ctx, task, &launch)?;
    launch
        .plan
        .write(task.root())
        .map_err(|e| start_fail("could not write plan.json", &e))?;
    let mut env = SecretEnv::default();
    for c in &secrets.containers {
        for (k, v) in &c.env {
            env.push(&c.name, k.clone(), v.clone());
        }
    }
    ctx.fx
        .supervisors
        .spawn(task, &env)
        .map_err(|e| start_fail("could not start the task supervisor", &e))
}

/// Does the task name secrets (`secrets[]`, `repositoryCredentials`)?
fn names_secrets(spec: &TaskSpec) -> bool {
    let defs = spec
        .task_definition
        .container_definitions
        .as_deref()
        .unwrap_or_default();
    defs.iter().any(|c| {
        !c.secrets.as_deref().unwrap_or_default().is_empty()
            || c.repository_credentials
                .as_ref()
                .is_some_and(|r| r.credentials_parameter.is_some())
    })
}

/// The task's secrets from the control plane, when it names any. A failure is the task's
/// `stoppedReason` (`ResourceInitializationError: …`, naming the secret).
async fn fetch_secrets(ctx: &TaskCtx, spec: &TaskSpec) -> Result<TaskSecrets, Failure> {
    if !names_secrets(spec) {
        return Ok(TaskSecrets::default());
    }
    ctx.fx
        .secrets
        .fetch(&spec.task_arn)
        .await
        .map_err(|reason| (stop_code::TASK_FAILED_TO_START, reason))
}

/// Makes every image of the task available, in container order.
/// A container's `repositoryCredentials` win over the agent's `--registry-auth`.
async fn pull(
    ctx: &TaskCtx,
    spec: &TaskSpec,
    secrets: &TaskSecrets,
    t: &mut Tracked,
) -> Result<Vec<Image>, Failure> {
    let defs = spec
        .task_definition
        .container_definitions
        .as_deref()
        .unwrap_or_default();
    t.known.pull_started(gantry_link::now());
    let pulls = async {
        let mut images = Vec::with_capacity(defs.len());
        for def in defs {
            let image = def.image.clone().unwrap_or_default();
            let own = secrets
                .of(def.name.as_deref().unwrap_or_default())
                .and_then(|c| c.registry.clone())
                .map(|(username, password)| RegistryAuth { username, password });
            let auth = own.as_ref().or_else(|| ctx.cfg.auth_for(&image));
            images.push(
                ctx.fx
                    .images
                    .ensure(&image, ctx.cfg.pull_policy, auth)
                    .await?,
            );
        }
        Ok::<_, gantry_image::ImageError>(images)
    };
    tokio::pin!(pulls);
    // A cached image is ready in well under a millisecond: report PENDING (with
    // pullStartedAt) only when a pull takes long enough for anyone to see it, which keeps a
    // store write off the fast path.
    let pulled = tokio::select! {
        r = &mut pulls => r,
        () = tokio::time::sleep(Duration::from_millis(PENDING_REPORT_AFTER_MS)) => {
            t.send();
            pulls.await
        }
    };
    match pulled {
        Ok(images) => {
            let digests: Vec<String> = images.iter().map(|i| i.digest.clone()).collect();
            t.known.pull_stopped(gantry_link::now(), &digests);
            Ok(images)
        }
        Err(e) => {
            t.known.pull_stopped(gantry_link::now(), &[]);
            Err((stop_code::TASK_FAILED_TO_START, e.cannot_pull_reason()))
        }
    }
}

/// Carries out a plan on disk: scratch volumes, rootfs mounts, bundles.
fn materialize(ctx: &TaskCtx, task: &TaskDir, launch: &TaskLaunch) -> Result<(), Failure> {
    for v in &launch.scratch_volumes {
        // A missing scratch directory fails the container's start with a clear error.
        let _ = std::fs::create_dir_all(v);
    }
    for c in &launch.containers {
        std::fs::create_dir_all(&c.dir)
            .map_err(|e| start_fail("could not create the container directory", &e))?;
        ctx.fx
            .rootfs
            .mount(&c.layers, &c.dir)
            .map_err(|e| start_fail("could not mount the container's root filesystem", &e))?;
        if let Some(h) = &c.handover {
            ctx.fx
                .rootfs
                .hand_over(h)
                .map_err(|e| start_fail("could not hand the rootfs to the user namespace", &e))?;
        }
        // After the mount: a user name resolves against the image's /etc/passwd.
        let oci = build_spec(&c.config).map_err(|e| start_fail(&c.name, &e))?;
        std::fs::create_dir_all(task.bundle(&c.name))
            .map_err(|e| start_fail("could not create the bundle directory", &e))?;
        // The seccomp profile is compiled once per profile, not in every container's init.
        gantry_runtime::seccomp_bpf::write_bundle(&task.bundle(&c.name), &oci)
            .map_err(|e| start_fail("could not write config.json", &e))?;
    }
    Ok(())
}

/// Undoes what `prepare` did when the supervisor never started.
fn cleanup_unstarted(ctx: &TaskCtx, task_id: &str, task: &TaskDir) {
    if let Ok(entries) = std::fs::read_dir(task.containers()) {
        for e in entries.flatten() {
            if let Err(err) = ctx.fx.rootfs.unmount(&e.path()) {
                tracing::warn!(error = %err, "could not unmount a container rootfs");
            }
        }
    }
    if let Err(e) = ctx.fx.network.teardown(task_id) {
        tracing::warn!(task = %task_id, error = %e, "network teardown failed");
    }
}

/// After the task ended: its network goes now, its directory (logs included) later.
fn finish(ctx: &TaskCtx, task_id: &str, task: TaskDir) {
    if let Err(e) = ctx.fx.network.teardown(task_id) {
        tracing::warn!(task = %task_id, error = %e, "network teardown failed");
    }
    schedule_removal(ctx, task);
}

/// Removes a stopped task's directory (its logs included) after the configured wait.
pub(super) fn schedule_removal(ctx: &TaskCtx, task: TaskDir) {
    let wait = ctx.cfg.task_cleanup_wait;
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        if let Err(e) = tokio::fs::remove_dir_all(task.root()).await {
            tracing::warn!(dir = %task.root().display(), error = %e, "could not remove a stopped task's directory");
        }
    });
}
