//! The reconciler without a server: examples of each rule, then property tests over random
//! services that check the deployment bounds, idempotence and convergence.

use std::collections::BTreeSet;

use gantry_api::model::{ContainerDefinition, HealthCheck, TaskDefinition};
use proptest::prelude::*;

use super::*;
use crate::controllers::service::breaker::failure_threshold;
use crate::persistence::records::Allocation;
use crate::persistence::service_records::DeploymentRecord;
use crate::persistence::service_records::{CircuitBreaker, DeploymentSettings};
use gantry_api::status::stop_code;
use gantry_api::TaskStatus;

const NOW: f64 = 1_000.0;

fn service(desired: i32, min: i32, max: i32) -> ServiceRecord {
    ServiceRecord {
        name: "web".into(),
        cluster: "default".into(),
        status: ServiceStatus::Active,
        scheduling_strategy: SchedulingStrategy::Replica,
        desired_count: desired,
        task_definition: "web:2".into(),
        deployment: DeploymentSettings {
            minimum_healthy_percent: min,
            maximum_percent: max,
            circuit_breaker: CircuitBreaker {
                enable: false,
                rollback: false,
            },
        },
        placement_strategy: vec![],
        placement_constraints: vec![],
        health_check_grace_period_seconds: None,
        launch_type: "EC2".into(),
        capacity_provider_strategy: Vec::new(),
        created_at: 1.0,
        deployments: vec![deployment("ecs-svc/2", "web:2", DeploymentStatus::Primary)],
        last_completed: None,
        last_completed_revision: None,
        alarms: None,
        bake_time_in_minutes: None,
        rollback_requested: None,
        events: vec![],
        steady: false,
    }
}

fn deployment(id: &str, td: &str, status: DeploymentStatus) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        status,
        task_definition: td.into(),
        created_at: 1.0,
        updated_at: 1.0,
        rollout_state: RolloutState::InProgress,
        rollout_state_reason: String::new(),
        failed_tasks: 0,
        counted_failures: Some(Default::default()),
        service_deployment: None,
        revision: None,
        rollback: false,
    }
}

/// `web` moving from deployment 1 (web:1, completed) to deployment 2 (web:2).
fn rolling(desired: i32, min: i32, max: i32) -> ServiceRecord {
    let mut s = service(desired, min, max);
    let mut old = deployment("ecs-svc/1", "web:1", DeploymentStatus::Active);
    old.rollout_state = RolloutState::Completed;
    s.deployments.push(old);
    s.last_completed = Some("web:1".into());
    s
}

fn instance(id: &str) -> InstanceRecord {
    InstanceRecord {
        id: id.into(),
        cluster: "default".into(),
        hostname: id.into(),
        status: InstanceStatus::Active,
        agent_connected: true,
        agent_version: "0.1.0".into(),
        registered_at: 1.0,
        cpu: 4096,
        memory: 4096,
        reserved_ports: BTreeSet::new(),
        used: Allocation::default(),
        groups: Some(Default::default()),
        agent_attributes: vec![],
        custom_attributes: Default::default(),
        task_slice: None,
        node_address: None,
        launch_type: Default::default(),
        node_id: None,
    }
}

fn task(id: &str, dep: &str, status: TaskStatus) -> TaskRecord {
    TaskRecord {
        id: id.into(),
        cluster: "default".into(),
        instance_id: Some("i1".into()),
        definition: TaskDefinition {
            family: Some("web".into()),
            container_definitions: Some(vec![ContainerDefinition {
                name: Some("app".into()),
                essential: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        },
        last_status: status,
        desired_status: if status == TaskStatus::Stopped {
            TaskStatus::Stopped
        } else {
            TaskStatus::Running
        },
        created_at: 10.0,
        pull_started_at: None,
        pull_stopped_at: None,
        started_at: (status >= TaskStatus::Running && status != TaskStatus::Stopped)
            .then_some(20.0),
        stopping_at: None,
        execution_stopped_at: None,
        stopped_at: None,
        stop_code: None,
        stopped_reason: None,
        started_by: Some(dep.into()),
        protected_until: None,
        group: "service:web".into(),
        launch_type: "EC2".into(),
        overrides: None,
        cpu: 128,
        memory: 128,
        containers: vec![],
        allocation: Allocation::default(),
        released: false,
        health_status: None,
        first_healthy_at: None,
        network: None,
        capacity_provider_name: None,
    }
}

fn with_health_check(mut t: TaskRecord, health: Option<&str>) -> TaskRecord {
    if let Some(c) = t
        .definition
        .container_definitions
        .as_mut()
        .and_then(|c| c.first_mut())
    {
        c.health_check = Some(HealthCheck {
            command: Some(vec!["CMD".into(), "true".into()]),
            ..Default::default()
        });
    }
    t.health_status = health.map(str::to_string);
    t
}

fn running(n: usize, dep: &str) -> Vec<TaskRecord> {
    (0..n)
        .map(|i| task(&format!("{dep}-{i}"), dep, TaskStatus::Running))
        .collect()
}

fn started(a: &Actions) -> usize {
    a.start.iter().map(|s| s.count).sum()
}

#[test]
fn ecs_rounding_and_threshold() {
    assert_eq!(minimum_healthy(3, 50), 2, "rounded up");
    assert_eq!(minimum_healthy(4, 100), 4);
    assert_eq!(minimum_healthy(5, 0), 0);
    assert_eq!(maximum_total(3, 150), 4, "rounded down");
    assert_eq!(maximum_total(4, 200), 8);
    assert_eq!(maximum_total(1, 150), 1);
    assert_eq!(failure_threshold(1), 3);
    assert_eq!(failure_threshold(10), 5);
    assert_eq!(failure_threshold(11), 6);
    assert_eq!(failure_threshold(1000), 200);
}

#[test]
fn a_new_service_starts_desired_count() {
    let a = reconcile(&service(3, 100, 200), &[], &[instance("i1")], NOW);
    assert_eq!(
        a.start,
        vec![Start {
            deployment_id: "ecs-svc/2".into(),
            task_definition: "web:2".into(),
            count: 3,
            instance: None,
        }]
    );
    assert!(a.stop.is_empty());
    assert!(!a.status.steady);
}

#[test]
fn stopped_tasks_are_replaced_and_steady_state_is_said_once() {
    let mut tasks = running(2, "ecs-svc/2");
    let mut dead = task("dead", "ecs-svc/2", TaskStatus::Stopped);
    dead.stop_code = Some(stop_code::ESSENTIAL_CONTAINER_EXITED.into());
    dead.started_at = Some(20.0);
    tasks.push(dead);
    let s = service(3, 100, 200);
    let a = reconcile(&s, &tasks, &[instance("i1")], NOW);
    assert_eq!(started(&a), 1);
    assert_eq!(a.status.deployments[0].failed_tasks, 0, "it had started");

    let tasks = running(3, "ecs-svc/2");
    let a = reconcile(&s, &tasks, &[instance("i1")], NOW);
    assert!(a.start.is_empty() && a.stop.is_empty());
    assert!(a.status.steady);
    assert_eq!(
        a.events,
        vec![
            "(service web) (deployment ecs-svc/2) deployment completed.".to_string(),
            "(service web) has reached a steady state.".to_string()
        ]
    );
    assert_eq!(
        a.status.deployments[0].rollout_state,
        RolloutState::Completed
    );
    let mut s2 = s.clone();
    a.status.apply_to(&mut s2);
    let again = reconcile(&s2, &tasks, &[instance("i1")], NOW);
    assert!(again.events.is_empty(), "said once");
    assert!(!again.status.differs(&s2));
}

#[test]
fn unhealthy_tasks_are_replaced_after_the_grace_period() {
    let mut s = service(2, 100, 200);
    s.health_check_grace_period_seconds = Some(60);
    let tasks = vec![
        with_health_check(task("a", "ecs-svc/2", TaskStatus::Running), Some("HEALTHY")),
        with_health_check(
            task("b", "ecs-svc/2", TaskStatus::Running),
            Some("UNHEALTHY"),
        ),
    ];
    // Started at 20: the grace period ends at 80.
    let a = reconcile(&s, &tasks, &[instance("i1")], 50.0);
    assert!(a.stop.is_empty());
    assert!(a.start.is_empty());
    assert_eq!(a.requeue_at, Some(80.0));
    let a = reconcile(&s, &tasks, &[instance("i1")], 81.0);
    assert_eq!(started(&a), 1, "the replacement starts");
    assert_eq!(
        a.stop,
        vec![("b".to_string(), UNHEALTHY_REASON.to_string())]
    );
}

#[test]
fn rolling_deployment_respects_min_and_max() {
    // min 50%, max 200% of 4: start 4 new, stop 2 old at once.
    let a = reconcile(
        &rolling(4, 50, 200),
        &running(4, "ecs-svc/1"),
        &[instance("i1")],
        NOW,
    );
    assert_eq!(started(&a), 4);
    assert_eq!(a.stop.len(), 2);
    // min 100%: nothing old stops until new ones are healthy.
    let a = reconcile(
        &rolling(4, 100, 200),
        &running(4, "ecs-svc/1"),
        &[instance("i1")],
        NOW,
    );
    assert_eq!(started(&a), 4);
    assert!(a.stop.is_empty());
    let mut tasks = running(4, "ecs-svc/1");
    tasks.extend(running(4, "ecs-svc/2"));
    let a = reconcile(&rolling(4, 100, 200), &tasks, &[instance("i1")], NOW);
    assert!(a.start.is_empty());
    assert_eq!(a.stop.len(), 4);
    assert!(a.stop.iter().all(|(id, _)| id.starts_with("ecs-svc/1")));
    // min 0%, max 100%: stop everything old first, start nothing until it has stopped.
    let a = reconcile(
        &rolling(4, 0, 100),
        &running(4, "ecs-svc/1"),
        &[instance("i1")],
        NOW,
    );
    assert!(a.start.is_empty());
    assert_eq!(a.stop.len(), 4);
}

#[test]
fn draining_instances_lose_their_tasks_after_replacements() {
    let mut drained = instance("i1");
    drained.status = InstanceStatus::Draining;
    let instances = vec![drained, instance("i2")];
    let a = reconcile(
        &service(2, 100, 200),
        &running(2, "ecs-svc/2"),
        &instances,
        NOW,
    );
    assert_eq!(started(&a), 2);
    assert!(a.stop.is_empty(), "replacements first");
    let mut tasks = running(2, "ecs-svc/2");
    for mut t in running(2, "new") {
        t.started_by = Some("ecs-svc/2".into());
        t.instance_id = Some("i2".into());
        tasks.push(t);
    }
    let a = reconcile(&service(2, 100, 200), &tasks, &instances, NOW);
    assert_eq!(a.stop.len(), 2);
    assert!(a.stop.iter().all(|(id, _)| id.starts_with("ecs-svc/2-")));
}

#[test]
fn circuit_breaker_trips_and_rolls_back() {
    let mut s = rolling(2, 100, 200);
    s.deployment.circuit_breaker = CircuitBreaker {
        enable: true,
        rollback: true,
    };
    let mut tasks = running(2, "ecs-svc/1");
    for i in 0..3 {
        let mut t = task(&format!("f{i}"), "ecs-svc/2", TaskStatus::Stopped);
        t.stop_code = Some(stop_code::TASK_FAILED_TO_START.into());
        tasks.push(t);
    }
    let a = reconcile(&s, &tasks, &[instance("i1")], NOW);
    let failed = a
        .status
        .deployments
        .iter()
        .find(|d| d.id == "ecs-svc/2")
        .unwrap();
    assert_eq!(failed.rollout_state, RolloutState::Failed);
    assert_eq!(failed.status, DeploymentStatus::Active);
    assert_eq!(failed.failed_tasks, 3);
    let primary = &a.status.deployments[0];
    assert_eq!(primary.status, DeploymentStatus::Primary);
    assert_eq!(primary.task_definition, "web:1");
    assert_eq!(a.status.task_definition, "web:1");
    assert!(
        a.events[0].contains("(deployment ecs-svc/2) deployment failed: tasks failed to start.")
    );
    // Same inputs, same rollback deployment id.
    assert_eq!(reconcile(&s, &tasks, &[instance("i1")], NOW), a);

    // Without rollback the deployment fails and stops launching.
    s.deployment.circuit_breaker.rollback = false;
    let a = reconcile(&s, &tasks, &[instance("i1")], NOW);
    assert_eq!(a.status.deployments[0].rollout_state, RolloutState::Failed);
    assert!(a.start.is_empty());
}

#[test]
fn two_failures_do_not_trip_the_breaker() {
    let mut s = service(2, 100, 200);
    s.deployment.circuit_breaker.enable = true;
    let mut tasks = Vec::new();
    for i in 0..2 {
        let mut t = task(&format!("f{i}"), "ecs-svc/2", TaskStatus::Stopped);
        t.stop_code = Some(stop_code::TASK_FAILED_TO_START.into());
        tasks.push(t);
    }
    let a = reconcile(&s, &tasks, &[instance("i1")], NOW);
    assert_eq!(
        a.status.deployments[0].rollout_state,
        RolloutState::InProgress
    );
    assert_eq!(started(&a), 2);
}

#[test]
fn daemon_runs_one_task_per_eligible_instance() {
    let mut s = service(0, 0, 100);
    s.scheduling_strategy = SchedulingStrategy::Daemon;
    let mut drained = instance("i4");
    drained.status = InstanceStatus::Draining;
    let mut silent = instance("i5");
    silent.agent_connected = false;
    let instances = vec![
        instance("i1"),
        instance("i2"),
        instance("i3"),
        drained,
        silent,
    ];
    let mut on_drained = task("d", "ecs-svc/2", TaskStatus::Running);
    on_drained.instance_id = Some("i4".into());
    let mut on_silent = task("s", "ecs-svc/2", TaskStatus::Running);
    on_silent.instance_id = Some("i5".into());
    let tasks = vec![
        task("a", "ecs-svc/2", TaskStatus::Running),
        on_drained,
        on_silent,
    ];
    let a = reconcile(&s, &tasks, &instances, NOW);
    assert_eq!(a.status.desired_count, 3);
    let on: Vec<_> = a
        .start
        .iter()
        .map(|s| s.instance.clone().unwrap())
        .collect();
    assert_eq!(on, vec!["i2".to_string(), "i3".to_string()]);
    assert_eq!(a.stop.len(), 1);
    assert_eq!(a.stop[0].0, "d");
}

#[test]
fn daemon_skips_and_leaves_instances_outside_its_constraints() {
    let mut s = service(0, 0, 100);
    s.scheduling_strategy = SchedulingStrategy::Daemon;
    let instances = vec![instance("i1"), instance("i2"), instance("i3")];
    let mut on_i2 = task("b", "ecs-svc/2", TaskStatus::Running);
    on_i2.instance_id = Some("i2".into());
    let tasks = vec![task("a", "ecs-svc/2", TaskStatus::Running), on_i2];
    let unmatched: BTreeSet<String> = ["i2".to_string()].into();
    let a = reconcile_within(&s, &tasks, &instances, &unmatched, NOW);
    assert_eq!(a.status.desired_count, 2);
    let on: Vec<_> = a.start.iter().filter_map(|s| s.instance.clone()).collect();
    assert_eq!(on, vec!["i3".to_string()]);
    assert_eq!(a.stop.len(), 1);
    assert_eq!(a.stop[0].0, "b");
    assert!(
        a.stop[0]
            .1
            .contains("no longer meets the placement constraints"),
        "{}",
        a.stop[0].1
    );
    // A REPLICA service leaves constraints to placement.
    s.scheduling_strategy = SchedulingStrategy::Replica;
    s.desired_count = 2;
    let a = reconcile_within(&s, &tasks, &instances, &unmatched, NOW);
    assert!(a.stop.is_empty() && a.start.is_empty(), "{a:?}");
}

#[test]
fn a_deleted_service_stops_everything_then_goes_inactive() {
    let mut s = service(3, 100, 200);
    s.status = ServiceStatus::Draining;
    let a = reconcile(&s, &running(3, "ecs-svc/2"), &[instance("i1")], NOW);
    assert_eq!(a.stop.len(), 3);
    assert!(a.start.is_empty());
    assert_eq!(a.status.status, ServiceStatus::Draining);
    let a = reconcile(&s, &[], &[instance("i1")], NOW);
    assert_eq!(a.status.status, ServiceStatus::Inactive);
}

/// A random service mid-deployment: old tasks of deployment 1, new ones of deployment 2, in
/// random states.
fn world() -> impl Strategy<Value = (ServiceRecord, Vec<TaskRecord>)> {
    (
        0i32..10,
        0i32..=100,
        100i32..=200,
        proptest::collection::vec((any::<bool>(), 0u8..5), 0..16),
    )
        .prop_map(|(d, min, max, specs)| {
            let s = rolling(d, min, max);
            let tasks = specs
                .into_iter()
                .enumerate()
                .map(|(i, (new, state))| {
                    let dep = if new { "ecs-svc/2" } else { "ecs-svc/1" };
                    let status = match state {
                        0 => TaskStatus::Provisioning,
                        1 => TaskStatus::Pending,
                        4 => TaskStatus::Stopped,
                        _ => TaskStatus::Running,
                    };
                    let mut t = task(&format!("t{i:02}"), dep, status);
                    if state == 3 {
                        // Being stopped: still holds its instance.
                        t.desired_status = TaskStatus::Stopped;
                    }
                    t
                })
                .collect();
            (s, tasks)
        })
}

fn live_count(tasks: &[TaskRecord]) -> usize {
    tasks.iter().filter(|t| live(t)).count()
}

fn healthy_count(tasks: &[TaskRecord]) -> usize {
    tasks.iter().filter(|t| healthy(t)).count()
}

/// Applies `a` as the shell would if every start were placed: new PROVISIONING tasks and
/// desired STOPPED on the stopped ones.
fn apply(s: &mut ServiceRecord, tasks: &mut Vec<TaskRecord>, a: &Actions, next: &mut usize) {
    a.status.apply_to(s);
    for st in &a.start {
        for _ in 0..st.count {
            *next += 1;
            tasks.push(task(
                &format!("n{next:04}"),
                &st.deployment_id,
                TaskStatus::Provisioning,
            ));
        }
    }
    for (id, _) in &a.stop {
        if let Some(t) = tasks.iter_mut().find(|t| t.id == *id) {
            t.desired_status = TaskStatus::Stopped;
        }
    }
}

/// The world moves on: agents start what is wanted and stop what is not.
fn agents_act(tasks: &mut [TaskRecord]) {
    for t in tasks {
        if t.desired_status == TaskStatus::Stopped {
            t.last_status = TaskStatus::Stopped;
        } else if t.last_status < TaskStatus::Running {
            t.last_status = TaskStatus::Running;
            t.started_at = Some(20.0);
        }
    }
}

fn check_bounds(s: &ServiceRecord, before: &[TaskRecord], after: &[TaskRecord]) {
    let d = s.desired_count;
    let max_t = maximum_total(d, s.deployment.maximum_percent);
    let min_h = minimum_healthy(d, s.deployment.minimum_healthy_percent);
    let (lb, la) = (live_count(before), live_count(after));
    assert!(
        la <= max_t.max(lb),
        "live went {lb} -> {la}, above the maximum {max_t}"
    );
    let (hb, ha) = (healthy_count(before), healthy_count(after));
    assert!(
        ha >= min_h.min(hb),
        "healthy went {hb} -> {ha}, below the minimum {min_h}"
    );
}

proptest! {
    #[test]
    fn never_below_minimum_nor_above_maximum((s, tasks) in world()) {
        let a = reconcile(&s, &tasks, &[instance("i1")], NOW);
        let mut s2 = s.clone();
        let mut after = tasks.clone();
        apply(&mut s2, &mut after, &a, &mut 0);
        check_bounds(&s, &tasks, &after);
    }

    #[test]
    fn idempotent((s, tasks) in world()) {
        let a = reconcile(&s, &tasks, &[instance("i1")], NOW);
        let b = reconcile(&s, &tasks, &[instance("i1")], NOW);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn converges_to_desired_count((s, tasks) in world()) {
        let d = s.desired_count;
        let min_h = minimum_healthy(d, s.deployment.minimum_healthy_percent);
        let max_t = maximum_total(d, s.deployment.maximum_percent);
        // ECS cannot move when both bounds are tight (say min 100% and max 100%).
        prop_assume!(max_t > usize::try_from(d).unwrap_or(0) || min_h < usize::try_from(d).unwrap_or(0));
        let mut s = s;
        let mut tasks = tasks;
        let mut next = 0;
        let mut rounds = 0;
        loop {
            let a = reconcile(&s, &tasks, &[instance("i1")], NOW);
            let before = tasks.clone();
            apply(&mut s, &mut tasks, &a, &mut next);
            check_bounds(&s, &before, &tasks);
            if a.start.is_empty() && a.stop.is_empty() && s.steady {
                break;
            }
            agents_act(&mut tasks);
            rounds += 1;
            prop_assert!(rounds < 50, "no steady state after 50 rounds");
        }
        let live: Vec<_> = tasks.iter().filter(|t| live(t)).collect();
        prop_assert_eq!(live.len(), usize::try_from(d).unwrap_or(0));
        prop_assert!(live.iter().all(|t| t.started_by.as_deref() == Some("ecs-svc/2")));
        prop_assert_eq!(s.deployments.len(), 1);
        prop_assert_eq!(s.deployments[0].rollout_state, RolloutState::Completed);
    }
}

/// A failed launch (stopped before it started, for a reason of its own) of deployment `dep`.
fn failed(id: &str, dep: &str) -> TaskRecord {
    let mut t = crate::persistence::testing::task(id);
    t.started_by = Some(dep.into());
    t.last_status = TaskStatus::Stopped;
    t.desired_status = TaskStatus::Stopped;
    t.stop_code = Some(gantry_api::status::stop_code::ESSENTIAL_CONTAINER_EXITED.into());
    t
}

#[test]
fn failed_launches_are_counted_once_even_after_stopped_tasks_expire() {
    use crate::controllers::service::breaker::count_failures;
    let mut deps = vec![deployment("d2", "web:2", DeploymentStatus::Primary)];
    let (a, b, c) = (failed("a", "d2"), failed("b", "d2"), failed("c", "d2"));
    count_failures(&mut deps, &[&a, &b]);
    assert_eq!(deps[0].failed_tasks, 2);
    count_failures(&mut deps, &[&a, &b]);
    assert_eq!(
        deps[0].failed_tasks, 2,
        "the same tasks are not counted again"
    );
    // `a` expired from the store; `c` failed since.
    count_failures(&mut deps, &[&b, &c]);
    assert_eq!(
        deps[0].failed_tasks, 3,
        "an expired task still counts, a new one adds"
    );
    count_failures(&mut deps, &[]);
    assert_eq!(deps[0].failed_tasks, 3, "the count never goes down");

    // A record written before failures were counted by id: its count holds what is there.
    let mut old = vec![deployment("d3", "web:3", DeploymentStatus::Primary)];
    old[0].failed_tasks = 2;
    old[0].counted_failures = None;
    let (x, y, z) = (failed("x", "d3"), failed("y", "d3"), failed("z", "d3"));
    count_failures(&mut old, &[&x, &y]);
    assert_eq!(old[0].failed_tasks, 2);
    count_failures(&mut old, &[&x, &y, &z]);
    assert_eq!(old[0].failed_tasks, 3);
}
