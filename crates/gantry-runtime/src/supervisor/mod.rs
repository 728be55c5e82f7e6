//! The per-task supervisor: a single-threaded, blocking process (`gantry supervise
//! <task_dir>`) that is the parent of the task's containers. It starts them through
//! libcontainer, reaps them, runs the stop sequence and cleans up, reporting events.

mod health;
mod launch;
mod output;
mod salvaging;
mod signals;
mod start;
mod stop;
mod timing;
mod waiting;

use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::cgroup::{oom_kill_count, CgroupError, TaskCgroup};
use crate::event::{
    now, EventSink, SupervisorEvent, STOP_ESSENTIAL_EXITED, STOP_FAILED_TO_START,
    STOP_USER_INITIATED,
};
use crate::plan::{ContainerPlan, PlanError, TaskPlan, CONTAINERS_STATE_DIR, PID_FILE};
use crate::secret_env::SecretEnv;
use health::Health;
use output::Output;
use signals::Signals;
use timing::StartTiming;

pub use launch::LaunchError;
pub use salvaging::{failpoint, salvage, FAILPOINT_ENV};
pub use waiting::WAIT_FOR_TASK;

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot set up signal handling: {0}")]
    Signals(nix::Error),
    #[error("cannot become a child subreaper (containers would not be reaped): {0}")]
    Subreaper(nix::Error),
    #[error("cannot wait for child processes: {0}")]
    Wait(nix::Error),
    #[error("task cgroup: {0}")]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Secrets(#[from] crate::secret_env::SecretEnvError),
    #[error("task ended but cleanup left things behind: {}", .0.join("; "))]
    Cleanup(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RunState {
    NotStarted,
    Running(Pid),
    Exited(i32),
    /// Failed to start, or its dependencies can never be met: it will not run.
    Never,
}

#[derive(Debug)]
struct Slot {
    plan: ContainerPlan,
    state: RunState,
    /// libcontainer state exists and must be deleted at the end.
    created: bool,
    cgroups_path: Option<String>,
    /// The container's stdout/stderr pipes and log file, from just before it starts until
    /// both pipes reach EOF.
    output: Option<Output>,
    /// Health-check state while the container runs, if it has a check.
    health: Option<Health>,
    /// It has reported HEALTHY at least once (a HEALTHY dependency is then met).
    was_healthy: bool,
    /// When it started, for its `start_timeout_secs`.
    started_at: Option<Instant>,
}

/// The stop sequence in progress (`stop.rs`).
#[derive(Debug)]
struct Stopping {
    /// The container being stopped, when its SIGTERM was sent, and whether SIGKILL was.
    current: Option<(usize, Instant, bool)>,
}

struct Supervisor {
    slots: Vec<Slot>,
    events: EventSink,
    signals: Signals,
    stopping: Option<Stopping>,
    state_root: PathBuf,
    task_cgroup: Option<TaskCgroup>,
    log_max_bytes: u64,
    log_max_files: u32,
    timing: StartTiming,
    /// The containers' secret variables, read from stdin at start; in memory only.
    secrets: SecretEnv,
}

/// Runs the task in `task_dir` to completion. Returns once every container has exited and
/// been cleaned up (`TaskExited` written). With [`WAIT_FOR_TASK`] as the directory, first
/// waits for it on stdin (a supervisor started ahead of its task, see `waiting.rs`).
///
/// The containers' secret variables come on stdin after the task directory (or alone, when
/// the directory is an argument), up to EOF ([`crate::secret_env`]).
pub fn run(task_dir: &Path) -> Result<(), SupervisorError> {
    if task_dir == Path::new(WAIT_FOR_TASK) {
        return match waiting::wait_for_task()? {
            Some((dir, secrets)) => run_task(&dir, secrets),
            None => Ok(()),
        };
    }
    let secrets = SecretEnv::read_from(std::io::stdin().lock())?;
    run_task(task_dir, secrets)
}

fn run_task(task_dir: &Path, secrets: SecretEnv) -> Result<(), SupervisorError> {
    let mut timing = StartTiming::begin();
    let plan = TaskPlan::load(task_dir)?;
    timing.plan = now();
    // Containers inherit the open-files limit the agent was given, not its raised one.
    if let Err(e) = crate::rlimit::restore_inherited_nofile() {
        tracing::warn!("cannot restore the inherited open-files limit: {e}");
    }
    // Before anything that forks: containers that share our network namespace get the
    // task's (see `TaskPlan::netns`).
    if let Some(ns) = &plan.netns {
        join_netns(ns)?;
    }
    let signals = Signals::install().map_err(SupervisorError::Signals)?;
    nix::sys::prctl::set_child_subreaper(true).map_err(SupervisorError::Subreaper)?;
    let io = |what, path: PathBuf| {
        move |source| SupervisorError::Io {
            what,
            path: path.clone(),
            source,
        }
    };
    let pid_path = task_dir.join(PID_FILE);
    let tmp = task_dir.join(format!(".{PID_FILE}.tmp"));
    std::fs::write(&tmp, std::process::id().to_string()).map_err(io("write", tmp.clone()))?;
    std::fs::rename(&tmp, &pid_path).map_err(io("write", pid_path.clone()))?;
    let events = EventSink::open(task_dir).map_err(io("open events file", task_dir.into()))?;
    let state_root = task_dir.join(CONTAINERS_STATE_DIR);
    std::fs::create_dir_all(&state_root).map_err(io("create", state_root.clone()))?;

    let mut sup = Supervisor {
        slots: plan
            .containers
            .iter()
            .map(|c| Slot {
                plan: c.clone(),
                state: RunState::NotStarted,
                created: false,
                cgroups_path: None,
                output: None,
                health: None,
                was_healthy: false,
                started_at: None,
            })
            .collect(),
        events,
        signals,
        stopping: None,
        state_root,
        task_cgroup: None,
        log_max_bytes: plan.log_max_bytes,
        log_max_files: plan.log_max_files,
        timing,
        secrets,
    };
    match TaskCgroup::create(&plan.cgroup_parent, plan.cpu_quota_us(), plan.task_memory) {
        Ok(cg) => {
            sup.task_cgroup = Some(cg);
            sup.timing.cgroup = now();
            if let Err(e) = sup.supervise() {
                // We can no longer wait for signals: kill everything, clean up, report.
                sup.kill_all();
                let _ = sup.teardown();
                return Err(e);
            }
        }
        Err(e) => sup.begin_stop(STOP_FAILED_TO_START, format!("task cgroup: {e}")),
    }
    sup.teardown()
}

impl Supervisor {
    fn emit(&mut self, event: SupervisorEvent) {
        // The journal failing (disk full) must not stop supervision: the containers keep
        // being supervised and stopped; the agent reports the task from what was recorded
        // (and, once the supervisor exits without `TaskExited`, as ended by its death).
        if let Err(e) = self.events.emit(&event) {
            eprintln!("gantry supervisor: cannot record event {event:?}: {e}");
        }
    }

    /// Main loop: starts containers as their dependencies allow, until no container runs
    /// (and none can start any more).
    fn supervise(&mut self) -> Result<(), SupervisorError> {
        loop {
            self.drain_output();
            self.reap();
            self.start_ready();
            self.drive_stop();
            self.drive_health();
            if !self.any_running() {
                return Ok(());
            }
            let timeout = self.next_deadline();
            let fds: Vec<BorrowedFd<'_>> = self
                .slots
                .iter()
                .filter_map(|s| s.output.as_ref())
                .flat_map(Output::fds)
                .collect();
            let sigs = self
                .signals
                .wait(timeout, &fds)
                .map_err(SupervisorError::Wait)?;
            self.on_signals(&sigs);
        }
    }

    /// Moves what the containers wrote into their log files; forgets finished outputs.
    fn drain_output(&mut self) {
        for slot in &mut self.slots {
            if let Some(output) = &mut slot.output {
                output.drain();
                if output.is_closed() {
                    slot.output = None;
                }
            }
        }
    }

    fn on_signals(&mut self, sigs: &[Signal]) {
        if sigs
            .iter()
            .any(|s| matches!(s, Signal::SIGTERM | Signal::SIGINT))
        {
            self.begin_stop(STOP_USER_INITIATED, "Task stopped by user".into());
        }
    }

    fn kill_all(&mut self) {
        for slot in &self.slots {
            if let RunState::Running(pid) = slot.state {
                let _ = kill(pid, Signal::SIGKILL);
            }
            if let Some((pid, _)) = slot.health.as_ref().and_then(|h| h.running) {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
    }

    fn any_running(&self) -> bool {
        self.slots
            .iter()
            .any(|s| matches!(s.state, RunState::Running(_)))
    }

    /// Collects every exited child; maps container inits to their slot.
    fn reap(&mut self) {
        loop {
            let (pid, code) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    eprintln!("gantry supervisor: waitpid: {e}");
                    return;
                }
            };
            if self.on_check_exit(pid, code) {
                continue;
            }
            let Some(i) = self
                .slots
                .iter()
                .position(|s| s.state == RunState::Running(pid))
            else {
                // An orphan reparented to us, a libcontainer helper, or a health check
                // that was already written off (timed out, or its container exited).
                continue;
            };
            self.slots[i].state = RunState::Exited(code);
            // A check still in flight dies with the container's pid namespace; make sure
            // and forget it (it is reaped, unattributed, when it exits).
            if let Some(health) = self.slots[i].health.take() {
                if let Some((check, _)) = health.running {
                    let _ = kill(check, Signal::SIGKILL);
                }
            }
            let slot = &self.slots[i];
            let oom_killed = self.was_oom_killed(slot, code);
            let (name, essential) = (slot.plan.name.clone(), slot.plan.essential);
            self.emit(SupervisorEvent::Exited {
                container: name,
                exit_code: code,
                at: now(),
                oom_killed,
            });
            if essential {
                self.begin_stop(
                    STOP_ESSENTIAL_EXITED,
                    "Essential container in task exited".into(),
                );
            }
        }
    }

    /// If `pid` is a health check in flight, records its result and returns true.
    fn on_check_exit(&mut self, pid: Pid, code: i32) -> bool {
        let Some(i) = self.slots.iter().position(|s| {
            s.health
                .as_ref()
                .is_some_and(|h| h.running.is_some_and(|(p, _)| p == pid))
        }) else {
            return false;
        };
        self.record_check(i, code == 0);
        true
    }

    fn record_check(&mut self, i: usize, ok: bool) {
        let Some(health) = self.slots[i].health.as_mut() else {
            return;
        };
        if let Some(status) = health.record(ok, Instant::now()) {
            self.slots[i].was_healthy |= status == health::Status::Healthy;
            let container = self.slots[i].plan.name.clone();
            self.emit(SupervisorEvent::Health {
                container,
                status: status.as_str().to_string(),
                at: now(),
            });
        }
    }

    /// Kills checks past their timeout (a failure) and starts the checks that are due
    /// (none once the task is stopping).
    fn drive_health(&mut self) {
        for i in 0..self.slots.len() {
            if !matches!(self.slots[i].state, RunState::Running(_)) {
                continue;
            }
            let Some(health) = &self.slots[i].health else {
                continue;
            };
            let now_i = Instant::now();
            if let Some(pid) = health.overdue(now_i) {
                // Still our unreaped child, so the pid cannot have been reused. Once
                // written off here, its exit is reaped without being attributed.
                let _ = kill(pid, Signal::SIGKILL);
                self.record_check(i, false);
                continue;
            }
            if self.stopping.is_some() || !health.due(now_i) {
                continue;
            }
            let argv = health.argv.clone();
            let plan = &self.slots[i].plan;
            let launched = launch::exec_in(
                &plan.container_id,
                &plan.bundle,
                &self.state_root,
                argv,
                self.secrets.of(&plan.name),
            );
            match launched {
                Ok(pid) => {
                    if let Some(h) = self.slots[i].health.as_mut() {
                        h.launched(pid, Instant::now());
                    }
                }
                // Could not exec (e.g. the command does not exist): a failed check.
                Err(_) => self.record_check(i, false),
            }
        }
    }

    /// The container's own cgroup saw an OOM kill, or it died of SIGKILL while the task
    /// cgroup (whose limit it shares) saw one.
    fn was_oom_killed(&self, slot: &Slot, code: i32) -> bool {
        let own = slot.cgroups_path.as_deref().and_then(oom_kill_count);
        if own.is_some_and(|n| n > 0) {
            return true;
        }
        code == 128 + Signal::SIGKILL as i32
            && self
                .task_cgroup
                .as_ref()
                .and_then(|cg| oom_kill_count(cg.path()))
                .is_some_and(|n| n > 0)
    }

    fn next_deadline(&self) -> Option<Duration> {
        let now = Instant::now();
        let stop = match self.stopping.as_ref().and_then(|s| s.current) {
            Some((_, deadline, false)) => Some(deadline.saturating_duration_since(now)),
            // SIGKILL sent: SIGCHLD will wake us; re-check now and then regardless.
            Some((_, _, true)) => Some(Duration::from_secs(1)),
            None => None,
        };
        let health = self
            .slots
            .iter()
            .filter(|s| matches!(s.state, RunState::Running(_)))
            .filter_map(|s| s.health.as_ref())
            // Once stopping, no new check starts: only in-flight timeouts matter.
            .filter(|h| self.stopping.is_none() || h.running.is_some())
            .map(|h| h.next_wakeup().saturating_duration_since(now))
            .min();
        [stop, health, self.next_dependency_timeout(now)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Deletes containers (reverse order), the task cgroup and the rootfs mounts, then
    /// reports `TaskExited`. Keeps going past failures and reports them all.
    fn teardown(mut self) -> Result<(), SupervisorError> {
        let mut problems = Vec::new();
        for slot in self.slots.iter().rev() {
            if slot.created {
                if let Err(e) = launch::delete(&slot.plan.container_id, &self.state_root) {
                    problems.push(format!("delete container {}: {e}", slot.plan.name));
                }
            }
        }
        // Anything delete missed (e.g. a container whose state was lost) dies here.
        self.reap();
        // Every writer is dead: the pipes hold the last output, then EOF. A pipe still
        // open (a writer escaped the container's cgroup) must not hold the task forever.
        for _ in 0..100 {
            self.drain_output();
            if self.slots.iter().all(|s| s.output.is_none()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for slot in &mut self.slots {
            if let Some(mut output) = slot.output.take() {
                output.drain();
                problems.push(format!(
                    "container {}: output pipe still open after every process ended",
                    slot.plan.name
                ));
            }
        }
        if let Some(cg) = &self.task_cgroup {
            if let Err(e) = cg.remove() {
                problems.push(e.to_string());
            }
        }
        for slot in &self.slots {
            if let Some(dir) = &slot.plan.rootfs_dir {
                if let Err(e) = unmount_rootfs(dir) {
                    problems.push(e);
                }
            }
        }
        self.emit(SupervisorEvent::TaskExited { at: now() });
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SupervisorError::Cleanup(problems))
        }
    }
}

fn join_netns(ns: &Path) -> Result<(), SupervisorError> {
    let file = std::fs::File::open(ns).map_err(|source| SupervisorError::Io {
        what: "open network namespace",
        path: ns.to_path_buf(),
        source,
    })?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
        SupervisorError::Io {
            what: "join network namespace",
            path: ns.to_path_buf(),
            source: e.into(),
        }
    })
}

pub(super) fn unmount_rootfs(dir: &Path) -> Result<(), String> {
    let target = dir.join("rootfs");
    match nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (already unmounted); ENOENT: never created.
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(format!("unmount {}: {e}", target.display())),
    }
}
