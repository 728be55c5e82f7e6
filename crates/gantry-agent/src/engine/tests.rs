//! The engine against recording fakes: which side effects it drives, in which order, and
//! what it reports. No kernel, no sleeps: the test plays the supervisor, and the paused
//! tokio clock turns any forgotten wait into an immediate timeout.

use std::sync::Arc;
use std::time::Duration;

use gantry_api::model::{ContainerDefinition, TaskDefinition};
use gantry_api::protocol::{TaskReport, TaskSpec};
use gantry_api::TaskStatus;
use gantry_runtime::event::SupervisorEvent;
use gantry_runtime::plan::TaskPlan;
use gantry_runtime::TaskDir;
use tokio::sync::mpsc;

use super::fake::{Calls, FakeImages, FakeRootfs, FakeSecrets, FakeSupervisors, LoggedNetwork};
use super::{Effects, Engine};
use crate::config::AgentConfig;

const IMAGE: &str = "gantry.local/busybox:1";

fn spec(id: &str, desired: TaskStatus) -> TaskSpec {
    TaskSpec {
        task_arn: format!("arn:aws:ecs:us-east-1:0:task/default/{id}"),
        task_id: id.to_string(),
        cluster: "default".to_string(),
        desired_status: desired,
        task_definition: TaskDefinition {
            network_mode: Some("none".into()),
            container_definitions: Some(vec![ContainerDefinition {
                name: Some("main".into()),
                image: Some(IMAGE.into()),
                ..Default::default()
            }]),
            ..Default::default()
        },
        overrides: None,
        stop_code: None,
        stopped_reason: None,
    }
}

fn stopped(id: &str, code: &str, reason: &str) -> TaskSpec {
    let mut s = spec(id, TaskStatus::Stopped);
    s.stop_code = Some(code.into());
    s.stopped_reason = Some(reason.into());
    s
}

struct Harness {
    engine: Engine,
    reports: mpsc::UnboundedReceiver<TaskReport>,
    calls: Calls,
    images: Arc<FakeImages>,
    sups: Arc<FakeSupervisors>,
    seen: mpsc::UnboundedReceiver<String>,
    cfg: Arc<AgentConfig>,
}

impl Harness {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("gantry-engine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tasks")).expect("state dir");
        let cfg = Arc::new(AgentConfig::new("http://127.0.0.1:1", &dir));
        let calls = Calls::default();
        let images = Arc::new(FakeImages {
            calls: calls.clone(),
            ..Default::default()
        });
        let (sups, seen) = FakeSupervisors::new(calls.clone());
        let sups = Arc::new(sups);
        let secrets = Arc::new(FakeSecrets {
            calls: calls.clone(),
            ..Default::default()
        });
        let fx = Effects {
            secrets: secrets.clone(),
            images: images.clone(),
            rootfs: Arc::new(FakeRootfs {
                calls: calls.clone(),
            }),
            network: Arc::new(LoggedNetwork {
                calls: calls.clone(),
                inner: Default::default(),
            }),
            supervisors: sups.clone(),
        };
        let (engine, reports) = Engine::new(cfg.clone(), fx);
        Self {
            engine,
            reports,
            calls,
            images,
            sups,
            seen,
            cfg,
        }
    }

    fn task(&self, id: &str) -> TaskDir {
        TaskDir::under(&self.cfg.tasks_dir(), id)
    }

    async fn report(&mut self) -> TaskReport {
        tokio::time::timeout(Duration::from_secs(3600), self.reports.recv())
            .await
            .expect("a report")
            .expect("the engine is alive")
    }

    /// Waits for the fake supervisors to see `call` (`spawn a`, `stop a`, ...).
    async fn saw(&mut self, call: &str) {
        let got = tokio::time::timeout(Duration::from_secs(3600), self.seen.recv())
            .await
            .expect("a supervisor call")
            .expect("fakes alive");
        assert_eq!(got, call);
    }

    /// Starts task `id` and sees it RUNNING.
    async fn running(&mut self, seq: u64, id: &str) -> TaskReport {
        assert!(self.engine.apply(seq, vec![spec(id, TaskStatus::Running)]));
        self.saw(&format!("spawn {id}")).await;
        self.sups.record(id, vec![started("main")]);
        let r = self.report().await;
        assert_eq!(r.last_status, Some(TaskStatus::Running), "{r:?}");
        r
    }

    fn calls(&self) -> Vec<String> {
        self.calls.all()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.cfg.state_dir);
    }
}

fn started(c: &str) -> SupervisorEvent {
    SupervisorEvent::Started {
        container: c.into(),
        pid: 100,
        at: 1.0,
    }
}

fn exited(c: &str, code: i32) -> SupervisorEvent {
    SupervisorEvent::Exited {
        container: c.into(),
        exit_code: code,
        at: 2.0,
        oom_killed: false,
    }
}

fn stopping(code: &str, reason: &str) -> SupervisorEvent {
    SupervisorEvent::Stopping {
        stop_code: code.into(),
        reason: reason.into(),
        at: 2.0,
    }
}

fn statuses(rs: &[TaskReport]) -> Vec<TaskStatus> {
    rs.iter().filter_map(|r| r.last_status).collect()
}

#[tokio::test(start_paused = true)]
async fn start_plans_before_it_spawns_and_reports_running() {
    let mut h = Harness::new("start");
    let r = h.running(1, "a").await;
    assert_eq!(
        h.calls(),
        [
            "net reconcile a",
            "net setup a none",
            &format!("pull {IMAGE}"),
            "mount main",
            "spawn a"
        ]
    );
    assert_eq!(r.report_id, 1);
    assert_eq!(r.started_at, Some(1.0));
    assert!(r.pull_started_at.is_some() && r.pull_stopped_at.is_some());
    let c = &r.containers[0];
    assert_eq!(c.last_status, Some(TaskStatus::Running));
    assert_eq!(
        c.image_digest.as_deref(),
        Some("sha256:gantry.local/busybox:1")
    );
    // The supervisor was handed a valid plan and a bundle, at the TaskDir's paths.
    let task = h.task("a");
    let plan = TaskPlan::load(task.root()).expect("plan.json");
    assert_eq!(plan.containers[0].bundle, task.bundle("main"));
    assert!(task.bundle_config("main").is_file());
    assert!(task.etc().join("hosts").is_file());
}

#[tokio::test(start_paused = true)]
async fn stop_asks_the_supervisor_and_reports_the_servers_reason() {
    let mut h = Harness::new("stop");
    h.running(1, "a").await;
    assert!(h.engine.apply(
        2,
        vec![stopped("a", "UserInitiated", "stopped by the test")]
    ));
    h.saw("stop a").await;
    h.sups.record(
        "a",
        vec![
            stopping("UserInitiated", "Task stopped by the agent"),
            exited("main", 143),
            SupervisorEvent::TaskExited { at: 3.0 },
        ],
    );
    let rs = [h.report().await, h.report().await, h.report().await];
    assert_eq!(
        statuses(&rs),
        [
            TaskStatus::Stopping,
            TaskStatus::Stopping,
            TaskStatus::Stopped
        ]
    );
    let last = &rs[2];
    assert_eq!(last.stop_code.as_deref(), Some("UserInitiated"));
    assert_eq!(last.stopped_reason.as_deref(), Some("stopped by the test"));
    assert_eq!(last.containers[0].exit_code, Some(143));
    assert_eq!(last.execution_stopped_at, Some(3.0));
    assert_eq!(&h.calls()[5..], ["stop a", "net teardown a"]);
}

#[tokio::test(start_paused = true)]
async fn an_essential_exit_ends_the_task_without_a_stop_request() {
    let mut h = Harness::new("essential");
    h.running(1, "a").await;
    h.sups.record(
        "a",
        vec![
            exited("main", 1),
            stopping(
                "EssentialContainerExited",
                "Essential container in task exited",
            ),
            SupervisorEvent::TaskExited { at: 3.0 },
        ],
    );
    let rs = [h.report().await, h.report().await, h.report().await];
    assert_eq!(
        statuses(&rs),
        [
            TaskStatus::Running,
            TaskStatus::Stopping,
            TaskStatus::Stopped
        ]
    );
    assert_eq!(rs[0].containers[0].exit_code, Some(1));
    assert_eq!(rs[0].containers[0].last_status, Some(TaskStatus::Stopped));
    assert_eq!(rs[2].stop_code.as_deref(), Some("EssentialContainerExited"));
    assert_eq!(
        rs.iter().map(|r| r.report_id).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert_eq!(&h.calls()[5..], ["net teardown a"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_pull_stops_the_task_before_anything_is_mounted() {
    let mut h = Harness::new("pull");
    h.images
        .failing
        .lock()
        .expect("lock")
        .insert(IMAGE.to_string());
    assert!(h.engine.apply(1, vec![spec("a", TaskStatus::Running)]));
    let r = h.report().await;
    assert_eq!(r.last_status, Some(TaskStatus::Stopped));
    assert_eq!(r.stop_code.as_deref(), Some("TaskFailedToStart"));
    let reason = r.stopped_reason.clone().unwrap_or_default();
    assert!(reason.starts_with("CannotPullContainerError"), "{reason}");
    assert!(r.pull_started_at.is_some() && r.pull_stopped_at.is_some());
    assert_eq!(r.containers[0].last_status, Some(TaskStatus::Stopped));
    assert_eq!(
        h.calls(),
        [
            "net reconcile a",
            "net setup a none",
            &format!("pull {IMAGE}"),
            "net teardown a"
        ]
    );
    assert!(!h.task("a").has_plan());
}

#[tokio::test(start_paused = true)]
async fn an_older_desired_set_is_ignored() {
    let mut h = Harness::new("stale");
    assert!(h.engine.apply(5, vec![spec("a", TaskStatus::Running)]));
    h.saw("spawn a").await;
    // Replayed older sets that would stop task `a` change nothing...
    assert!(!h
        .engine
        .apply(4, vec![stopped("a", "UserInitiated", "old")]));
    assert!(!h.engine.apply(3, vec![]));
    // ...while the same set again is applied and starts nothing twice.
    assert!(h.engine.apply(5, vec![spec("a", TaskStatus::Running)]));
    h.sups.record("a", vec![started("main")]);
    let r = h.report().await;
    assert_eq!((r.report_id, r.last_status), (1, Some(TaskStatus::Running)));
    let started = [
        "net reconcile a".to_string(),
        "net setup a none".into(),
        format!("pull {IMAGE}"),
        "mount main".into(),
        "spawn a".into(),
    ];
    assert_eq!(h.calls(), started);
    // A newer set does stop it, with its own reason.
    assert!(h
        .engine
        .apply(6, vec![stopped("a", "UserInitiated", "new")]));
    h.saw("stop a").await;
    h.sups
        .record("a", vec![SupervisorEvent::TaskExited { at: 3.0 }]);
    let r = h.report().await;
    assert_eq!(r.last_status, Some(TaskStatus::Stopped));
    assert_eq!(r.stopped_reason.as_deref(), Some("new"));
    let mut all = started.to_vec();
    all.extend(["stop a".to_string(), "net teardown a".into()]);
    assert_eq!(h.calls(), all);
}

#[tokio::test(start_paused = true)]
async fn a_new_sessions_first_set_is_applied_whatever_its_number_and_restarts_nothing() {
    let mut h = Harness::new("newsession");
    h.running(900, "a").await;
    let before = h.calls();
    // Another replica (or a migrated store) numbers its first full set lower.
    h.engine.new_session();
    assert!(h.engine.apply(
        12,
        vec![
            spec("a", TaskStatus::Running),
            spec("b", TaskStatus::Running)
        ]
    ));
    h.saw("spawn b").await;
    // `a` is adopted as it runs: nothing of it is done again.
    let after = h.calls();
    assert_eq!(after[..before.len()], before[..]);
    assert!(
        !after[before.len()..].iter().any(|c| c.ends_with(" a")),
        "{after:?}"
    );
    // Within the session, older sets are still ignored.
    assert!(!h.engine.apply(11, vec![]));
}

/// Leaves task `id` as an earlier agent would: its plan written, its supervisor known to
/// the fake with `journal`.
fn left_by_an_earlier_agent(h: &Harness, id: &str, alive: bool, journal: Vec<SupervisorEvent>) {
    let task = h.task(id);
    std::fs::create_dir_all(task.root()).expect("task dir");
    let plan = TaskPlan {
        task_id: id.into(),
        cgroup_parent: format!("/gantry/{id}"),
        task_cpu: None,
        task_memory: None,
        containers: vec![gantry_runtime::plan::ContainerPlan {
            name: "main".into(),
            container_id: TaskPlan::container_id(id, "main"),
            bundle: task.bundle("main"),
            rootfs_dir: Some(task.container("main")),
            essential: true,
            stop_timeout_secs: 30,
            log_path: task.log_file("main"),
            health_check: None,
            depends_on: Vec::new(),
            start_timeout_secs: None,
        }],
        log_max_bytes: 1 << 20,
        log_max_files: 2,
        netns: None,
    };
    plan.write(task.root()).expect("plan");
    h.sups.existing(id, alive, journal);
}

#[tokio::test(start_paused = true)]
async fn a_task_running_before_a_restart_is_adopted_not_started_again() {
    let mut h = Harness::new("adopt");
    left_by_an_earlier_agent(&h, "a", true, vec![started("main")]);
    assert!(h.engine.apply(1, vec![spec("a", TaskStatus::Running)]));
    h.saw("adopt a").await;
    let r = h.report().await;
    assert_eq!(r.last_status, Some(TaskStatus::Running));
    h.sups.record(
        "a",
        vec![exited("main", 0), SupervisorEvent::TaskExited { at: 3.0 }],
    );
    assert_eq!(h.report().await.last_status, Some(TaskStatus::Running));
    assert_eq!(h.report().await.last_status, Some(TaskStatus::Stopped));
    assert_eq!(
        h.calls(),
        [
            // Wanted, and its supervisor is alive.
            "net reconcile a,a",
            "net lookup a",
            "adopt a",
            "net teardown a"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_supervisor_found_dead_after_a_restart_is_salvaged() {
    let mut h = Harness::new("salvage-adopted");
    left_by_an_earlier_agent(&h, "a", false, vec![started("main")]);
    assert!(h.engine.apply(1, vec![spec("a", TaskStatus::Running)]));
    h.saw("adopt a").await;
    h.saw("salvage a: it (pid 42) was gone when the agent started")
        .await;
    let rs = [h.report().await, h.report().await, h.report().await];
    assert_eq!(
        statuses(&rs),
        [
            TaskStatus::Running,
            TaskStatus::Stopping,
            TaskStatus::Stopped
        ]
    );
    assert_eq!(rs[2].stop_code.as_deref(), Some("EssentialContainerExited"));
    let reason = rs[2].stopped_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("was gone when the agent started"),
        "{reason}"
    );
    assert_eq!(
        h.calls(),
        [
            "net reconcile a",
            "net lookup a",
            "adopt a",
            "salvage a: it (pid 42) was gone when the agent started",
            "net teardown a"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_supervisor_that_dies_under_the_agent_is_salvaged() {
    let mut h = Harness::new("salvage-spawned");
    h.running(1, "a").await;
    h.sups
        .die("a", "it (pid 7) was killed by signal 9 (SIGKILL)");
    h.saw("salvage a: it (pid 7) was killed by signal 9 (SIGKILL)")
        .await;
    let rs = [h.report().await, h.report().await];
    assert_eq!(statuses(&rs), [TaskStatus::Stopping, TaskStatus::Stopped]);
    let reason = rs[1].stopped_reason.clone().unwrap_or_default();
    assert!(reason.contains("killed by signal 9"), "{reason}");
    assert_eq!(h.calls().last().map(String::as_str), Some("net teardown a"));
}

#[tokio::test(start_paused = true)]
async fn a_task_stopped_before_it_started_is_never_prepared() {
    let mut h = Harness::new("early-stop");
    assert!(h
        .engine
        .apply(1, vec![stopped("a", "UserInitiated", "changed my mind")]));
    let r = h.report().await;
    assert_eq!(r.last_status, Some(TaskStatus::Stopped));
    assert_eq!(r.stopped_reason.as_deref(), Some("changed my mind"));
    assert_eq!(h.calls(), ["net reconcile a"]);
}
