//! DescribeServices and the wire form of a service: counts are computed from the service's
//! tasks on every read, never stored.

use gantry_api::model::{
    DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentController,
    DescribeServicesRequest, DescribeServicesResponse, Failure, Service, ServiceEvent,
};
use gantry_api::{arn, TaskStatus};
use gantry_store::Store;

use crate::ecs::clusters::{self, cluster_name};
use crate::ecs::tags;
use crate::error::{invalid, Result};
use crate::persistence::db::{self, Versioned};
use crate::persistence::deployment_records::AlarmsRecord;
use crate::persistence::records::{tasks_of, TaskRecord, TaskWhere};
use crate::persistence::service_records::{
    service_group, service_key, DeploymentStatus, ServiceRecord, ServiceStatus,
};
use crate::state::AppState;

/// The service named by `reference` (a name or an ARN) in `cluster`, in any status.
pub async fn find<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    reference: &str,
) -> Result<Option<Versioned<ServiceRecord>>> {
    db::get(&st.store, &service_key(cluster, arn::short_id(reference))).await
}

/// Every task of `s`, in any status.
pub async fn tasks_of_service<S: Store>(
    st: &AppState<S>,
    s: &ServiceRecord,
) -> Result<Vec<TaskRecord>> {
    let group = service_group(&s.name);
    Ok(
        db::list_where::<S, TaskWhere, TaskRecord>(&st.store, &tasks_of(&s.cluster), |t| {
            t.group == group
        })
        .await?
        .into_iter()
        .map(|t| t.value)
        .collect(),
    )
}

/// `(running, pending)` of the tasks `f` selects.
pub fn counts<'a>(tasks: impl Iterator<Item = &'a TaskRecord>) -> (i32, i32) {
    let mut running = 0;
    let mut pending = 0;
    for t in tasks {
        if t.last_status == TaskStatus::Running {
            running += 1;
        } else if t.last_status < TaskStatus::Running && t.desired_status == TaskStatus::Running {
            pending += 1;
        }
    }
    (running, pending)
}

pub fn taskdef_arn<S>(st: &AppState<S>, td: &str) -> String {
    match td.rsplit_once(':') {
        Some((family, rev)) => st
            .arns
            .task_definition(family, rev.parse::<i64>().unwrap_or(0)),
        None => td.to_string(),
    }
}

/// `deploymentConfiguration.alarms` as given.
pub fn alarms_wire(a: &AlarmsRecord) -> DeploymentAlarms {
    DeploymentAlarms {
        alarm_names: Some(a.alarm_names.clone()),
        rollback: Some(a.rollback),
        enable: Some(a.enable),
    }
}

/// The wire form of `s` with the counts of `tasks` (its tasks).
pub fn render<S>(st: &AppState<S>, s: &ServiceRecord, tasks: &[TaskRecord]) -> Service {
    let (running, pending) = counts(tasks.iter());
    // A service run by a capacity provider strategy shows the strategy, not a launch type.
    let (launch_type, strategy) = if s.capacity_provider_strategy.is_empty() {
        (Some(s.launch_type.clone()), None)
    } else {
        (None, Some(s.capacity_provider_strategy.clone()))
    };
    let deployments = s
        .deployments
        .iter()
        .map(|d| {
            let (r, p) = counts(
                tasks
                    .iter()
                    .filter(|t| t.started_by.as_deref() == Some(d.id.as_str())),
            );
            gantry_api::model::Deployment {
                id: Some(d.id.clone()),
                status: Some(d.status.as_str().to_string()),
                task_definition: Some(taskdef_arn(st, &d.task_definition)),
                desired_count: Some(if d.status == DeploymentStatus::Primary {
                    s.desired_count
                } else {
                    0
                }),
                pending_count: Some(p),
                running_count: Some(r),
                failed_tasks: Some(d.failed_tasks),
                created_at: Some(d.created_at),
                updated_at: Some(d.updated_at),
                launch_type: launch_type.clone(),
                capacity_provider_strategy: (d.status == DeploymentStatus::Primary)
                    .then(|| strategy.clone())
                    .flatten(),
                rollout_state: Some(d.rollout_state.as_str().to_string()),
                rollout_state_reason: Some(d.rollout_state_reason.clone()),
                ..Default::default()
            }
        })
        .collect();
    let cb = s.deployment.circuit_breaker;
    Service {
        service_arn: Some(st.arns.service(&s.cluster, &s.name)),
        service_name: Some(s.name.clone()),
        cluster_arn: Some(st.arns.cluster(&s.cluster)),
        load_balancers: Some(Vec::new()),
        service_registries: Some(Vec::new()),
        status: Some(s.status.as_str().to_string()),
        desired_count: Some(s.desired_count),
        running_count: Some(running),
        pending_count: Some(pending),
        launch_type,
        capacity_provider_strategy: strategy,
        task_definition: Some(taskdef_arn(st, &s.task_definition)),
        deployment_configuration: Some(DeploymentConfiguration {
            deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                enable: Some(cb.enable),
                rollback: Some(cb.rollback),
                ..Default::default()
            }),
            maximum_percent: Some(s.deployment.maximum_percent),
            minimum_healthy_percent: Some(s.deployment.minimum_healthy_percent),
            alarms: s.alarms.as_ref().map(alarms_wire),
            bake_time_in_minutes: s.bake_time_in_minutes,
            ..Default::default()
        }),
        deployments: Some(if s.status == ServiceStatus::Inactive {
            Vec::new()
        } else {
            deployments
        }),
        events: Some(
            s.events
                .iter()
                .map(|e| ServiceEvent {
                    id: Some(e.id.clone()),
                    created_at: Some(e.created_at),
                    message: Some(e.message.clone()),
                })
                .collect(),
        ),
        created_at: Some(s.created_at),
        placement_constraints: Some(s.placement_constraints.clone()),
        placement_strategy: Some(s.placement_strategy.clone()),
        health_check_grace_period_seconds: s.health_check_grace_period_seconds,
        scheduling_strategy: Some(s.scheduling_strategy.as_str().to_string()),
        deployment_controller: Some(DeploymentController {
            r#type: Some("ECS".to_string()),
        }),
        enable_ecs_managed_tags: Some(false),
        propagate_tags: Some("NONE".to_string()),
        enable_execute_command: Some(false),
        ..Default::default()
    }
}

pub async fn describe_services<S: Store>(
    st: &AppState<S>,
    req: DescribeServicesRequest,
) -> Result<DescribeServicesResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let wanted = req.services.unwrap_or_default();
    if wanted.is_empty() || wanted.len() > 10 {
        return Err(invalid("services must name between 1 and 10 services."));
    }
    let wants_tags = req.include.unwrap_or_default().iter().any(|i| i == "TAGS");
    let all: Vec<TaskRecord> = db::list::<S, TaskRecord>(&st.store, &tasks_of(&cluster))
        .await?
        .into_iter()
        .map(|t| t.value)
        .collect();
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for w in &wanted {
        let name = arn::short_id(w);
        match find(st, &cluster, name).await? {
            Some(v) => {
                let group = service_group(name);
                let mine: Vec<TaskRecord> =
                    all.iter().filter(|t| t.group == group).cloned().collect();
                let mut s = render(st, &v.value, &mine);
                if wants_tags {
                    s.tags = Some(tags::read(st, &st.arns.service(&cluster, name)).await?);
                }
                out.push(s);
            }
            None => failures.push(Failure {
                arn: Some(st.arns.service(&cluster, name)),
                reason: Some("MISSING".to_string()),
                detail: None,
            }),
        }
    }
    Ok(DescribeServicesResponse {
        services: Some(out),
        failures: Some(failures),
    })
}
