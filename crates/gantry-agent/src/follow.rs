//! Following a task's supervisor: its journal (`events.jsonl`) is the only source of
//! events. A supervisor this agent spawned rings a doorbell on its stdout after each event;
//! an adopted one (started before an agent restart) is polled. A supervisor that died
//! without recording the end of its task is salvaged (`gantry supervise --salvage`): what
//! is left of the task is found by its deterministic container ids, killed and cleaned up,
//! and the task is reported STOPPED with a reason saying so, never RUNNING.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use gantry_api::protocol::TaskSpec;
use gantry_api::status::stop_code;
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::engine::RunnerCtx;
use crate::runner::{finish, Known, StopRequest};

/// How often an adopted task's journal is read.
const ADOPT_POLL: Duration = Duration::from_millis(200);

/// Applies the journal's events past the first `seen`; true when the task has ended.
fn read_new(task_dir: &Path, known: &mut Known, seen: &mut usize) -> bool {
    let events = gantry_runtime::client::read_events(task_dir).unwrap_or_default();
    let mut ended = false;
    for ev in events.iter().skip(*seen).cloned() {
        ended = known.apply(ev) || ended;
    }
    *seen = (*seen).max(events.len());
    ended
}

fn request_stop(task_dir: &Path) {
    if let Err(e) = gantry_runtime::client::request_stop(task_dir) {
        tracing::warn!(dir = %task_dir.display(), error = %e, "could not ask the supervisor to stop");
    }
}

/// Follows a supervisor this agent spawned until the task has ended.
pub(crate) async fn follow_child(
    ctx: &RunnerCtx,
    spec: &TaskSpec,
    task_dir: &Path,
    mut child: std::process::Child,
    known: &mut Known,
    stop: &mut watch::Receiver<Option<StopRequest>>,
) {
    let mut bell = child
        .stdout
        .take()
        .and_then(|s| tokio::process::ChildStdout::from_std(s).ok());
    // Registered before the first `try_wait`, so no exit is missed; without it, polled.
    let mut exits = signal(SignalKind::child()).ok();
    let mut buf = vec![0u8; 4096];
    let mut seen = 0;
    let mut stop_sent = false;
    let mut status = None;
    let mut ended = false;
    while status.is_none() {
        if read_new(task_dir, known, &mut seen) {
            ended = true;
            break;
        }
        match child.try_wait() {
            Ok(Some(s)) => {
                status = Some(Ok(s));
                break;
            }
            Ok(None) => {}
            Err(e) => {
                status = Some(Err(e));
                break;
            }
        }
        let exited = async {
            match exits.as_mut() {
                Some(s) => drop(s.recv().await),
                None => tokio::time::sleep(ADOPT_POLL).await,
            }
        };
        tokio::select! {
            n = async { bell.as_mut()?.read(&mut buf).await.ok() }, if bell.is_some() => {
                if n.unwrap_or(0) == 0 {
                    bell = None;
                }
            }
            () = exited => {}
            req = stop.wait_for(Option::is_some), if !stop_sent => {
                stop_sent = true;
                known.requested = req.ok().and_then(|r| r.clone());
                request_stop(task_dir);
            }
        }
    }
    let status = match status {
        Some(s) => s,
        // The task ended: the supervisor exits right after its last event.
        None => loop {
            match child.try_wait() {
                Ok(Some(s)) => break Ok(s),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            match exits.as_mut() {
                Some(s) => drop(s.recv().await),
                None => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        },
    };
    if !ended && !read_new(task_dir, known, &mut seen) {
        let pid = format!(" (pid {})", child.id());
        let cause = match status {
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
        };
        salvage_and_report(ctx, task_dir, known, &mut seen, &cause).await;
    }
    finish(ctx, spec, task_dir.to_path_buf()).await;
}

/// Adopts a task started earlier: reads its journal and follows it until it ends.
pub(crate) async fn adopt(
    ctx: &RunnerCtx,
    spec: &TaskSpec,
    task_dir: &Path,
    known: &mut Known,
    stop: &mut watch::Receiver<Option<StopRequest>>,
) {
    // Re-report what the task got from the network (bindings, interface).
    let defs = spec
        .task_definition
        .container_definitions
        .clone()
        .unwrap_or_default();
    if let (Some(mode), Ok(Some(net))) = (
        gantry_net::Mode::from_ecs(spec.task_definition.network_mode.as_deref()),
        ctx.network.lookup(&spec.task_id),
    ) {
        if let Ok((_, counts)) = crate::netspec::task_net_spec(&spec.task_id, mode, &defs) {
            crate::netspec::report_network(&mut known.report, &net, &counts);
        }
    }
    let mut seen = 0;
    let mut stop_sent = false;
    loop {
        if read_new(task_dir, known, &mut seen) {
            break;
        }
        let sup = gantry_runtime::client::supervisor_pid(task_dir);
        if sup.is_none_or(|s| !s.alive) {
            // Read once more: the supervisor may have written its last event and exited.
            if read_new(task_dir, known, &mut seen) {
                break;
            }
            let pid = sup.map_or_else(String::new, |s| format!(" (pid {})", s.pid));
            let cause = format!("it{pid} was gone when the agent started");
            salvage_and_report(ctx, task_dir, known, &mut seen, &cause).await;
            break;
        }
        if !stop_sent && stop.borrow().is_some() {
            stop_sent = true;
            known.requested = stop.borrow().clone();
            request_stop(task_dir);
        }
        tokio::select! {
            _ = tokio::time::sleep(ADOPT_POLL) => {}
            _ = stop.changed() => {}
        }
    }
    finish(ctx, spec, task_dir.to_path_buf()).await;
}

/// Runs `gantry supervise --salvage` for a task whose supervisor died, then reports what it
/// recorded; if even that fails, the task is reported STOPPED with the cause.
async fn salvage_and_report(
    ctx: &RunnerCtx,
    task_dir: &Path,
    known: &mut Known,
    seen: &mut usize,
    cause: &str,
) {
    tracing::warn!(dir = %task_dir.display(), cause, "task supervisor died; salvaging the task");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(task_dir.join("supervisor.log"));
    let stderr = match log {
        Ok(f) => std::process::Stdio::from(f),
        Err(_) => std::process::Stdio::null(),
    };
    let done = tokio::process::Command::new(&ctx.cfg.supervisor_exe)
        .arg("supervise")
        .arg("--salvage")
        .arg(cause)
        .arg(task_dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .status()
        .await;
    if !done.as_ref().is_ok_and(|s| s.success()) {
        tracing::warn!(dir = %task_dir.display(), result = ?done, "salvaging the task left problems; see supervisor.log");
    }
    if !read_new(task_dir, known, seen) {
        known.fail(
            stop_code::ESSENTIAL_CONTAINER_EXITED,
            format!(
                "The task supervisor died ({cause}); see supervisor.log in the task directory."
            ),
        );
    }
}
