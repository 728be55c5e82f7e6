use gantry_api::model::{ContainerDefinition, HealthCheck, TaskDefinition};

use super::*;

fn spec(containers: &[(&str, bool)]) -> TaskSpec {
    TaskSpec {
        task_arn: "arn:t".into(),
        task_id: "t".into(),
        cluster: "default".into(),
        desired_status: TaskStatus::Running,
        task_definition: TaskDefinition {
            container_definitions: Some(
                containers
                    .iter()
                    .map(|(n, checked)| ContainerDefinition {
                        name: Some((*n).into()),
                        health_check: checked.then(HealthCheck::default),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        },
        overrides: None,
        stop_code: None,
        stopped_reason: None,
    }
}

fn started(c: &str, at: f64) -> SupervisorEvent {
    SupervisorEvent::Started {
        container: c.into(),
        pid: 1,
        at,
    }
}

#[test]
fn running_once_every_container_has_started() {
    let mut k = KnownTask::new(&spec(&[("a", false), ("b", false)]));
    assert!(!k.apply(&started("a", 1.0)).report);
    assert_eq!(k.state(), TaskState::Pending);
    assert!(k.apply(&started("b", 2.0)).report);
    let r = k.report(1);
    assert_eq!(r.last_status, Some(TaskStatus::Running));
    assert_eq!(r.started_at, Some(2.0));
    // A replayed Started is no transition.
    assert!(!k.apply(&started("b", 3.0)).report);
}

#[test]
fn stopped_is_terminal_and_the_servers_reason_wins() {
    let mut k = KnownTask::new(&spec(&[("a", false)]));
    k.apply(&started("a", 1.0));
    k.requested(Some(StopRequest {
        stop_code: Some("UserInitiated".into()),
        reason: Some("by the user".into()),
    }));
    let s = k.apply(&SupervisorEvent::Stopping {
        stop_code: "EssentialContainerExited".into(),
        reason: "x".into(),
        at: 2.0,
    });
    assert!(s.report && !s.ended);
    // Before STOPPED the supervisor's reason is reported.
    assert_eq!(
        k.report(2).stop_code.as_deref(),
        Some("EssentialContainerExited")
    );
    assert!(k.apply(&SupervisorEvent::TaskExited { at: 3.0 }).ended);
    let r = k.report(3);
    assert_eq!(r.stop_code.as_deref(), Some("UserInitiated"));
    assert_eq!(r.stopped_reason.as_deref(), Some("by the user"));
    assert_eq!(r.containers[0].last_status, Some(TaskStatus::Stopped));
    // Nothing moves a stopped task.
    assert_eq!(
        k.apply(&started("a", 4.0)),
        Step {
            report: false,
            ended: true
        }
    );
    assert!(!k.fail("TaskFailedToStart", "late".into(), 5.0).report);
    assert_eq!(k.report(4).execution_stopped_at, Some(3.0));
}

#[test]
fn oom_kill_names_the_task_reason_and_failures_the_stop_code() {
    let mut k = KnownTask::new(&spec(&[("a", false), ("b", false)]));
    k.apply(&SupervisorEvent::Failed {
        container: "b".into(),
        reason: "no such file".into(),
        at: 1.0,
    });
    k.apply(&SupervisorEvent::Exited {
        container: "a".into(),
        exit_code: 137,
        at: 1.0,
        oom_killed: true,
    });
    let r = k.report(1);
    assert_eq!(r.stop_code.as_deref(), Some("TaskFailedToStart"));
    assert_eq!(
        r.stopped_reason.as_deref(),
        Some("CannotStartContainerError: no such file")
    );
    assert_eq!(r.containers[0].reason.as_deref(), Some(OOM_KILLED_REASON));
    assert_eq!(r.containers[0].exit_code, Some(137));
}

#[test]
fn task_health_follows_the_checked_essential_containers() {
    let mut k = KnownTask::new(&spec(&[("a", true), ("b", true), ("c", false)]));
    let health = |k: &mut KnownTask, c: &str, s: &str| {
        k.apply(&SupervisorEvent::Health {
            container: c.into(),
            status: s.into(),
            at: 1.0,
        });
        k.report(0).health_status.unwrap_or_default()
    };
    assert_eq!(health(&mut k, "a", "HEALTHY"), "UNKNOWN");
    assert_eq!(health(&mut k, "b", "HEALTHY"), "HEALTHY");
    assert_eq!(health(&mut k, "c", "UNHEALTHY"), "HEALTHY");
    assert_eq!(health(&mut k, "a", "UNHEALTHY"), "UNHEALTHY");
}
