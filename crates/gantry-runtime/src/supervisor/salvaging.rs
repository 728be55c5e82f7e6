//! After a supervisor died without recording `TaskExited`: find what is left of the task by
//! its deterministic container ids (`<task_id>-<name>` under `containers-state/`), kill and
//! delete it, remove the task cgroup and the rootfs mounts, and record in the journal what
//! was found, so the task is reported STOPPED with a reason and never started again.
//! Run as `gantry supervise --salvage CAUSE <task_dir>` (a single-threaded process, like the
//! supervisor, since it calls libcontainer).

use std::collections::HashSet;
use std::path::Path;

use libcontainer::container::{Container, ContainerStatus};

use super::{launch, unmount_rootfs, SupervisorError};
use crate::cgroup::TaskCgroup;
use crate::event::{now, EventSink, SupervisorEvent, STOP_ESSENTIAL_EXITED, STOP_FAILED_TO_START};
use crate::plan::TaskPlan;
use crate::task_dir::TaskDir;

/// The environment variable that arms a failure point (tests only; inert unless set).
pub const FAILPOINT_ENV: &str = "GANTRY_FAILPOINT";

/// Kills this process with SIGKILL, as a crash would, when `GANTRY_FAILPOINT` names `point`.
/// Points: `after-create` (a container was created and started, its `Started` event not yet
/// recorded).
pub fn failpoint(point: &str) {
    if std::env::var(FAILPOINT_ENV).is_ok_and(|v| v == point) {
        eprintln!("gantry supervisor: failure point {point} reached: killing myself");
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
    }
}

/// What was found of one container.
enum Found {
    /// libcontainer state and a live init process: killed.
    Running(i32),
    /// libcontainer state, no live process.
    Exited,
    /// No libcontainer state: never created, or already deleted.
    Absent,
}

/// Cleans up the task in `task_dir` after its supervisor died of `cause`, and records
/// `Stopping`, a `Lost` event per container whose exit was never recorded, and `TaskExited`.
/// A task whose journal already ends with `TaskExited` is left alone.
pub fn salvage(task_dir: &Path, cause: &str) -> Result<(), SupervisorError> {
    let plan = TaskPlan::load(task_dir)?;
    let recorded = crate::client::read_events(task_dir).unwrap_or_default();
    if recorded
        .iter()
        .any(|e| matches!(e, SupervisorEvent::TaskExited { .. }))
    {
        return Ok(());
    }
    let finished: HashSet<&str> = recorded
        .iter()
        .filter_map(|e| match e {
            SupervisorEvent::Exited { container, .. }
            | SupervisorEvent::Failed { container, .. } => Some(container.as_str()),
            _ => None,
        })
        .collect();
    let started = recorded
        .iter()
        .any(|e| matches!(e, SupervisorEvent::Started { .. }));
    let mut events = EventSink::open(task_dir).map_err(|source| SupervisorError::Io {
        what: "open events file of",
        path: task_dir.into(),
        source,
    })?;
    let state_root = TaskDir::new(task_dir).containers_state();
    let mut problems = Vec::new();
    let mut lost = Vec::new();
    for c in plan.containers.iter().rev() {
        let found = match Container::load(state_root.join(&c.container_id)) {
            Err(_) => Found::Absent,
            Ok(ct) => match (ct.status(), ct.pid()) {
                (ContainerStatus::Stopped, _) | (_, None) => Found::Exited,
                (_, Some(pid)) => Found::Running(pid.as_raw()),
            },
        };
        if !matches!(found, Found::Absent) {
            if let Err(e) = launch::delete(&c.container_id, &state_root) {
                problems.push(format!("delete container {}: {e}", c.name));
            }
        }
        if finished.contains(c.name.as_str()) {
            continue;
        }
        let what = match found {
            Found::Running(pid) => format!(
                "container {} (id {}) was found still running as pid {pid} and was killed",
                c.name, c.container_id
            ),
            Found::Exited => format!(
                "container {} (id {}) was found already exited; its exit code is unknown",
                c.name, c.container_id
            ),
            Found::Absent => format!("container {} was never created", c.name),
        };
        lost.push((c.name.clone(), what, matches!(found, Found::Absent)));
    }
    if let Err(e) = TaskCgroup::open(&plan.cgroup_parent).remove() {
        problems.push(e.to_string());
    }
    for c in &plan.containers {
        if let Some(dir) = &c.rootfs_dir {
            if let Err(e) = unmount_rootfs(dir) {
                problems.push(e);
            }
        }
    }
    let ever_ran = started || lost.iter().any(|(_, _, absent)| !absent);
    let summary: Vec<&str> = lost.iter().map(|(_, what, _)| what.as_str()).collect();
    let mut reason = format!("The task supervisor died ({cause})");
    if !summary.is_empty() {
        reason.push_str("; ");
        reason.push_str(&summary.join("; "));
    }
    let stop_code = if ever_ran {
        STOP_ESSENTIAL_EXITED
    } else {
        STOP_FAILED_TO_START
    };
    let mut emit = |e: SupervisorEvent| {
        if let Err(err) = events.emit(&e) {
            eprintln!("gantry salvage: cannot record event {e:?}: {err}");
        }
    };
    emit(SupervisorEvent::Stopping {
        stop_code: stop_code.to_string(),
        reason,
        at: now(),
    });
    for (container, reason, _) in lost {
        emit(SupervisorEvent::Lost {
            container,
            reason,
            at: now(),
        });
    }
    emit(SupervisorEvent::TaskExited { at: now() });
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SupervisorError::Cleanup(problems))
    }
}
