use super::*;
use crate::persistence::service_records::{
    CircuitBreaker, DeploymentRecord, DeploymentSettings, ServiceStatus,
};

fn dep(id: &str, sd: &str, status: DeploymentStatus, state: RolloutState) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        status,
        task_definition: "web:2".into(),
        created_at: 1.0,
        updated_at: 1.0,
        rollout_state: state,
        rollout_state_reason: String::new(),
        failed_tasks: 0,
        counted_failures: Some(Default::default()),
        service_deployment: Some(sd.into()),
        revision: None,
        rollback: false,
    }
}

fn status(deployments: Vec<DeploymentRecord>) -> Status {
    Status {
        status: ServiceStatus::Active,
        desired_count: 2,
        task_definition: "web:2".into(),
        deployments,
        last_completed: Some("web:1".into()),
        last_completed_revision: Some("1".into()),
        rollback_requested: None,
        steady: false,
    }
}

fn sd(id: &str) -> ServiceDeploymentRecord {
    ServiceDeploymentRecord {
        id: id.into(),
        cluster: "c".into(),
        service: "web".into(),
        status: SdStatus::Pending,
        status_reason: None,
        created_at: 1.0,
        started_at: None,
        finished_at: None,
        stopped_at: None,
        updated_at: 1.0,
        source_revisions: vec!["1".into()],
        target_revision: "2".into(),
        settings: DeploymentSettings {
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            circuit_breaker: CircuitBreaker {
                enable: true,
                rollback: true,
            },
        },
        alarms: None,
        bake_time_in_minutes: None,
        rollback: None,
        breaker_triggered: false,
        failure_count: 0,
        threshold: 0,
    }
}

#[test]
fn pending_starts_then_succeeds_and_then_never_changes() {
    let mut r = sd("a");
    let st = status(vec![dep(
        "ecs-svc/2",
        "a",
        DeploymentStatus::Primary,
        RolloutState::InProgress,
    )]);
    assert!(advance(&mut r, &st, false, 2, 5.0));
    assert_eq!(
        (r.status, r.started_at, r.threshold),
        (SdStatus::InProgress, Some(5.0), 3)
    );
    assert!(
        !advance(&mut r, &st, false, 2, 6.0),
        "nothing new: no write"
    );
    let done = status(vec![dep(
        "ecs-svc/2",
        "a",
        DeploymentStatus::Primary,
        RolloutState::Completed,
    )]);
    assert!(advance(&mut r, &done, false, 2, 7.0));
    assert_eq!(
        (r.status, r.finished_at, r.updated_at),
        (SdStatus::Successful, Some(7.0), 7.0)
    );
    assert!(!advance(&mut r, &status(vec![]), true, 0, 8.0));
    assert_eq!(r.status, SdStatus::Successful);
}

#[test]
fn a_breaker_without_rollback_stops_and_with_rollback_rolls_back() {
    let mut failed = dep(
        "ecs-svc/2",
        "a",
        DeploymentStatus::Primary,
        RolloutState::Failed,
    );
    failed.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start.".into();
    failed.failed_tasks = 3;
    let mut r = sd("a");
    assert!(advance(
        &mut r,
        &status(vec![failed.clone()]),
        false,
        2,
        5.0
    ));
    assert_eq!(r.status, SdStatus::Stopped);
    assert_eq!(r.stopped_at, Some(5.0));
    assert!(r.breaker_triggered);
    assert_eq!(r.failure_count, 3);

    let mut r = sd("a");
    let mut back = dep(
        "ecs-svc/9",
        "a",
        DeploymentStatus::Primary,
        RolloutState::InProgress,
    );
    back.rollback = true;
    back.revision = Some("1".into());
    back.rollout_state_reason = "rolling back".into();
    failed.status = DeploymentStatus::Active;
    assert!(advance(
        &mut r,
        &status(vec![back.clone(), failed.clone()]),
        false,
        2,
        5.0
    ));
    assert_eq!(r.status, SdStatus::RollbackInProgress);
    assert_eq!(r.rollback.as_ref().map(|x| x.revision.as_str()), Some("1"));
    back.rollout_state = RolloutState::Completed;
    assert!(advance(&mut r, &status(vec![back.clone()]), false, 2, 6.0));
    assert_eq!(r.status, SdStatus::RollbackSuccessful);
    let mut r2 = sd("a");
    back.rollout_state = RolloutState::Failed;
    advance(&mut r2, &status(vec![back]), false, 2, 6.0);
    assert_eq!(r2.status, SdStatus::RollbackFailed);
}

#[test]
fn replaced_or_deleted_deployments_stop() {
    let mut r = sd("a");
    let st = status(vec![
        dep(
            "ecs-svc/3",
            "b",
            DeploymentStatus::Primary,
            RolloutState::InProgress,
        ),
        dep(
            "ecs-svc/2",
            "a",
            DeploymentStatus::Active,
            RolloutState::InProgress,
        ),
    ]);
    assert!(advance(&mut r, &st, false, 2, 5.0));
    assert_eq!(
        (r.status, r.status_reason.as_deref()),
        (SdStatus::Stopped, Some(SUPERSEDED))
    );
    let mut r = sd("b");
    assert!(advance(&mut r, &st, true, 0, 5.0));
    assert_eq!(r.status_reason.as_deref(), Some(DELETED));
}
