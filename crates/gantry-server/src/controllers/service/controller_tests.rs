//! The controller loop on a paused tokio clock with a [`ManualClock`]: it honours the
//! requeue time its reconcile computed, with no resync to help it.

use std::time::Duration;

use gantry_api::model::{ContainerDefinition, HealthCheck, TaskDefinition};
use gantry_api::TaskStatus;
use gantry_store::SqliteStore;

use super::*;
use crate::clock::ManualClock;
use crate::persistence::records::{instance_key, task_key, TaskRecord};
use crate::persistence::service_records::{
    CircuitBreaker, DeploymentRecord, DeploymentSettings, DeploymentStatus, RolloutState,
};
use crate::persistence::testing;
use crate::persistence::testing::within;
use crate::state::{ControllerConfig, ServerConfig};

const T0: Timestamp = 1_000_000.0;
const DEPLOYMENT: &str = "ecs-svc/1000000000000000001";

fn service() -> ServiceRecord {
    ServiceRecord {
        name: "svc".into(),
        cluster: "c".into(),
        status: ServiceStatus::Active,
        scheduling_strategy: SchedulingStrategy::Replica,
        desired_count: 1,
        task_definition: "web:1".into(),
        deployment: DeploymentSettings {
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            circuit_breaker: CircuitBreaker {
                enable: false,
                rollback: false,
            },
        },
        placement_strategy: Vec::new(),
        placement_constraints: Vec::new(),
        health_check_grace_period_seconds: Some(60),
        launch_type: "EC2".into(),
        capacity_provider_strategy: Vec::new(),
        created_at: T0,
        deployments: vec![DeploymentRecord {
            id: DEPLOYMENT.into(),
            status: DeploymentStatus::Primary,
            task_definition: "web:1".into(),
            created_at: T0,
            updated_at: T0,
            rollout_state: RolloutState::InProgress,
            rollout_state_reason: String::new(),
            failed_tasks: 0,
            counted_failures: Some(Default::default()),
            service_deployment: None,
            revision: None,
            rollback: false,
        }],
        last_completed: None,
        last_completed_revision: None,
        alarms: None,
        bake_time_in_minutes: None,
        rollback_requested: None,
        events: Vec::new(),
        steady: false,
    }
}

/// A task of the service, RUNNING since `T0` and reporting UNHEALTHY.
fn unhealthy_task() -> TaskRecord {
    let mut t = testing::task("t");
    t.instance_id = Some("i".into());
    t.group = service_group("svc");
    t.started_by = Some(DEPLOYMENT.into());
    t.last_status = TaskStatus::Running;
    t.started_at = Some(T0);
    t.created_at = T0;
    t.health_status = Some("UNHEALTHY".into());
    t.definition = TaskDefinition {
        container_definitions: Some(vec![ContainerDefinition {
            name: Some("app".into()),
            essential: Some(true),
            health_check: Some(HealthCheck {
                command: Some(vec!["CMD".into(), "true".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    t
}

async fn task(st: &AppState<SqliteStore>) -> TaskRecord {
    db::get::<_, TaskRecord>(&st.store, &task_key("c", "t"))
        .await
        .unwrap()
        .unwrap()
        .value
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_task_is_replaced_when_its_grace_period_ends() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut st = AppState::with_clock(
        ServerConfig::default(),
        SqliteStore::open_in_memory().unwrap(),
        clock.clone(),
    );
    // No resync within the test: only the requeue can wake the controller.
    st.controllers = ControllerConfig {
        service_resync: Duration::from_secs(86_400),
    };
    let st = Arc::new(st);
    db::commit(
        &st.store,
        vec![],
        vec![
            db::put(&service_key("c", "svc"), &service()).unwrap(),
            db::put(&instance_key("c", "i"), &testing::instance("i")).unwrap(),
            db::put(&task_key("c", "t"), &unhealthy_task()).unwrap(),
        ],
    )
    .await
    .unwrap();
    let looping = tokio::spawn(run(st.clone()));

    // Within the grace period the UNHEALTHY task stays, however long the loop waits.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(task(&st).await.desired_status, TaskStatus::Running);
    clock.advance(30.0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(task(&st).await.desired_status, TaskStatus::Running);

    // The grace period ends at T0 + 60: the controller wakes then, by itself.
    clock.advance(31.0);
    // Its sleep ends at about 60 s of tokio time; the bound is loose because paused time
    // races the store's writer thread (see `within`), and far below the resync.
    let stopped = within(Duration::from_secs(3_000), || async {
        task(&st).await.desired_status == TaskStatus::Stopped
    });
    assert!(stopped.await, "not replaced when the grace period ended");
    let t = task(&st).await;
    assert_eq!(t.desired_status, TaskStatus::Stopped);
    assert_eq!(
        t.stopped_reason.as_deref(),
        Some(super::super::events::UNHEALTHY_REASON)
    );
    looping.abort();
}
