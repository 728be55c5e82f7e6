//! ListServiceDeployments, DescribeServiceDeployments, DescribeServiceRevisions and
//! StopServiceDeployment: a service's history as ECS shows it. The records are written with
//! the service ([`super::service_history`]) and moved on by the service controller; a
//! requested rollback is a mark on the service record that the controller acts on.

use std::collections::BTreeMap;

use gantry_api::model::{
    DeploymentCircuitBreaker, DeploymentConfiguration, DescribeServiceDeploymentsRequest,
    DescribeServiceDeploymentsResponse, DescribeServiceRevisionsRequest,
    DescribeServiceRevisionsResponse, Failure, ListServiceDeploymentsRequest,
    ListServiceDeploymentsResponse, Rollback, ServiceConnectConfiguration, ServiceDeployment,
    ServiceDeploymentAlarms, ServiceDeploymentBrief, ServiceDeploymentCircuitBreaker,
    ServiceRevision, ServiceRevisionSummary, StopServiceDeploymentRequest,
    StopServiceDeploymentResponse,
};
use gantry_api::{arn, ApiError, ErrorKind, TaskStatus};
use gantry_store::Store;

use crate::aws::paging;
use crate::ecs::clusters::{self, cluster_name};
use crate::ecs::service_render::{alarms_wire, counts, find, taskdef_arn, tasks_of_service};
use crate::ecs::services::not_found;
use crate::error::{invalid, Error, Result};
use crate::persistence::db;
use crate::persistence::deployment_records::{
    deployment_key, deployments_of, revision_key, revision_of_deployment, SdStatus,
    ServiceDeploymentRecord, ServiceRevisionRecord,
};
use crate::persistence::records::TaskRecord;
use crate::persistence::service_records::{
    service_key, DeploymentStatus, RolloutState, ServiceRecord, ServiceStatus,
};
use crate::persistence::update::{update, Edit};
use crate::state::AppState;

/// ListServiceDeployments answers 20 a page unless asked for another size.
const DEFAULT_PAGE: i32 = 20;
/// Describe calls take at most 20 ARNs.
const MAX_ARNS: usize = 20;

fn sd_not_found() -> Error {
    Error::Api(ApiError::new(
        ErrorKind::ServiceDeploymentNotFound,
        "Service deployment not found.",
    ))
}

fn conflict(message: impl Into<String>) -> Error {
    Error::Api(ApiError::new(ErrorKind::Conflict, message))
}

/// `(cluster, service, id)` of an ARN `arn:aws:ecs:<region>:<account>:<kind>/<c>/<s>/<id>` of
/// this account and region.
fn parts<'a, S>(st: &AppState<S>, s: &'a str, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let a = arn::parse(s)?;
    if a.resource_type != kind
        || a.region != st.config.region
        || a.account_id != st.config.account_id
    {
        return None;
    }
    let mut it = a.resource.split('/');
    let (c, svc, id) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || c.is_empty() || svc.is_empty() || id.is_empty() {
        return None;
    }
    Some((c, svc, id))
}

/// The status shown: a rollback StopServiceDeployment asked for and the controller has not
/// begun yet is ROLLBACK_REQUESTED.
fn shown_status(sd: &ServiceDeploymentRecord, svc: Option<&ServiceRecord>) -> SdStatus {
    let requested = svc.is_some_and(|s| s.rollback_requested.as_deref() == Some(sd.id.as_str()));
    if requested && !sd.status.is_final() {
        SdStatus::RollbackRequested
    } else {
        sd.status
    }
}

pub async fn list_service_deployments<S: Store>(
    st: &AppState<S>,
    req: ListServiceDeploymentsRequest,
) -> Result<ListServiceDeploymentsResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let name = arn::short_id(req.service.as_deref().unwrap_or_default()).to_string();
    let svc = find(st, &cluster, &name)
        .await?
        .ok_or_else(|| not_found(&name))?
        .value;
    let mut wanted = Vec::new();
    for s in req.status.as_deref().unwrap_or_default() {
        wanted.push(
            SdStatus::parse(s).ok_or_else(|| {
                invalid(format!("status {s} is not a service deployment status."))
            })?,
        );
    }
    let after = req.created_at.as_ref().and_then(|c| c.after);
    let before = req.created_at.as_ref().and_then(|c| c.before);
    let mut all: Vec<ServiceDeploymentRecord> =
        db::list::<S, ServiceDeploymentRecord>(&st.store, &deployments_of(&cluster, &name))
            .await?
            .into_iter()
            .map(|v| v.value)
            // A service created again under an old name starts a new history.
            .filter(|sd| sd.created_at >= svc.created_at)
            .filter(|sd| wanted.is_empty() || wanted.contains(&shown_status(sd, Some(&svc))))
            .filter(|sd| after.is_none_or(|a| sd.created_at >= a))
            .filter(|sd| before.is_none_or(|b| sd.created_at <= b))
            .collect();
    // Newest first.
    all.sort_by_key(|sd| std::cmp::Reverse(cursor(sd)));
    let items = all
        .into_iter()
        .map(|sd| (cursor(&sd), brief(st, &sd, &svc)))
        .collect();
    let size = Some(req.max_results.unwrap_or(DEFAULT_PAGE));
    let (page, next_token) = paging::page(items, req.next_token.as_deref(), size, false)?;
    Ok(ListServiceDeploymentsResponse {
        service_deployments: Some(page),
        next_token,
    })
}

/// Sorts like the creation time, then the id.
fn cursor(sd: &ServiceDeploymentRecord) -> String {
    let micros = (sd.created_at.max(0.0) * 1e6) as u64;
    format!("{micros:020}.{}", sd.id)
}

fn brief<S>(
    st: &AppState<S>,
    sd: &ServiceDeploymentRecord,
    svc: &ServiceRecord,
) -> ServiceDeploymentBrief {
    ServiceDeploymentBrief {
        service_deployment_arn: Some(st.arns.service_deployment(&sd.cluster, &sd.service, &sd.id)),
        service_arn: Some(st.arns.service(&sd.cluster, &sd.service)),
        cluster_arn: Some(st.arns.cluster(&sd.cluster)),
        started_at: sd.started_at,
        created_at: Some(sd.created_at),
        finished_at: sd.finished_at,
        target_service_revision_arn: Some(st.arns.service_revision(
            &sd.cluster,
            &sd.service,
            &sd.target_revision,
        )),
        status: Some(shown_status(sd, Some(svc)).as_str().to_string()),
        status_reason: sd.status_reason.clone(),
    }
}

/// `(running, pending)` of each revision among `tasks`.
fn by_revision(svc: &ServiceRecord, tasks: &[TaskRecord]) -> BTreeMap<String, (i32, i32)> {
    let of: BTreeMap<&str, String> = svc
        .deployments
        .iter()
        .map(|d| (d.id.as_str(), d.revision()))
        .collect();
    let mut groups: BTreeMap<String, Vec<&TaskRecord>> = BTreeMap::new();
    for t in tasks
        .iter()
        .filter(|t| t.last_status != TaskStatus::Stopped)
    {
        let by = t.started_by.as_deref().unwrap_or_default();
        let rev = of
            .get(by)
            .cloned()
            .unwrap_or_else(|| revision_of_deployment(by));
        groups.entry(rev).or_default().push(t);
    }
    groups
        .into_iter()
        .map(|(r, ts)| (r, counts(ts.into_iter())))
        .collect()
}

fn render_sd<S>(
    st: &AppState<S>,
    sd: &ServiceDeploymentRecord,
    svc: Option<&ServiceRecord>,
    tasks: &[TaskRecord],
) -> ServiceDeployment {
    let counts = svc.map(|s| by_revision(s, tasks)).unwrap_or_default();
    // The revision the service is deploying now is asked for its desired count.
    let current = svc.and_then(|s| {
        s.deployments
            .iter()
            .find(|d| {
                d.status == DeploymentStatus::Primary && d.rollout_state != RolloutState::Failed
            })
            .map(|d| (d.revision(), s.desired_count))
    });
    let summary = |rev: &str| {
        let (running, pending) = counts.get(rev).copied().unwrap_or((0, 0));
        let requested = match &current {
            Some((r, n)) if r == rev && svc.is_some_and(|s| s.status == ServiceStatus::Active) => {
                *n
            }
            _ => 0,
        };
        ServiceRevisionSummary {
            arn: Some(st.arns.service_revision(&sd.cluster, &sd.service, rev)),
            requested_task_count: Some(requested),
            running_task_count: Some(running),
            pending_task_count: Some(pending),
            ..Default::default()
        }
    };
    let status = shown_status(sd, svc);
    let cb = sd.settings.circuit_breaker;
    let breaker = if !cb.enable {
        ServiceDeploymentCircuitBreaker {
            status: Some("DISABLED".to_string()),
            ..Default::default()
        }
    } else {
        let state = if sd.breaker_triggered {
            "TRIGGERED"
        } else if status.is_final() {
            "MONITORING_COMPLETE"
        } else {
            "MONITORING"
        };
        ServiceDeploymentCircuitBreaker {
            status: Some(state.to_string()),
            failure_count: Some(sd.failure_count),
            threshold: Some(sd.threshold),
        }
    };
    let alarms = sd.alarms.clone().unwrap_or_default();
    ServiceDeployment {
        service_deployment_arn: Some(st.arns.service_deployment(&sd.cluster, &sd.service, &sd.id)),
        service_arn: Some(st.arns.service(&sd.cluster, &sd.service)),
        cluster_arn: Some(st.arns.cluster(&sd.cluster)),
        created_at: Some(sd.created_at),
        started_at: sd.started_at,
        finished_at: sd.finished_at,
        stopped_at: sd.stopped_at,
        updated_at: Some(sd.updated_at),
        source_service_revisions: Some(sd.source_revisions.iter().map(|r| summary(r)).collect()),
        target_service_revision: Some(summary(&sd.target_revision)),
        status: Some(status.as_str().to_string()),
        status_reason: sd.status_reason.clone(),
        deployment_configuration: Some(DeploymentConfiguration {
            deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                enable: Some(cb.enable),
                rollback: Some(cb.rollback),
                ..Default::default()
            }),
            maximum_percent: Some(sd.settings.maximum_percent),
            minimum_healthy_percent: Some(sd.settings.minimum_healthy_percent),
            alarms: Some(alarms_wire(&alarms)),
            bake_time_in_minutes: sd.bake_time_in_minutes,
            ..Default::default()
        }),
        rollback: sd.rollback.as_ref().map(|r| Rollback {
            reason: Some(r.reason.clone()),
            started_at: Some(r.started_at),
            service_revision_arn: Some(st.arns.service_revision(
                &sd.cluster,
                &sd.service,
                &r.revision,
            )),
        }),
        deployment_circuit_breaker: Some(breaker),
        // Alarms can only be stored disabled (no CloudWatch): ECS then shows DISABLED alone.
        alarms: Some(ServiceDeploymentAlarms {
            status: Some("DISABLED".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn check_count(n: usize, what: &str) -> Result<()> {
    if n == 0 || n > MAX_ARNS {
        return Err(invalid(format!(
            "{what} must name between 1 and {MAX_ARNS} ARNs."
        )));
    }
    Ok(())
}

fn missing(arn: &str) -> Failure {
    Failure {
        arn: Some(arn.to_string()),
        reason: Some("MISSING".to_string()),
        detail: None,
    }
}

pub async fn describe_service_deployments<S: Store>(
    st: &AppState<S>,
    req: DescribeServiceDeploymentsRequest,
) -> Result<DescribeServiceDeploymentsResponse> {
    let arns = req.service_deployment_arns.unwrap_or_default();
    check_count(arns.len(), "serviceDeploymentArns")?;
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for a in &arns {
        let Some((c, s, id)) = parts(st, a, "service-deployment") else {
            failures.push(missing(a));
            continue;
        };
        let Some(sd) =
            db::get::<S, ServiceDeploymentRecord>(&st.store, &deployment_key(c, s, id)).await?
        else {
            failures.push(missing(a));
            continue;
        };
        let svc = find(st, c, s).await?.map(|v| v.value);
        let tasks = match &svc {
            Some(svc) => tasks_of_service(st, svc).await?,
            None => Vec::new(),
        };
        out.push(render_sd(st, &sd.value, svc.as_ref(), &tasks));
    }
    Ok(DescribeServiceDeploymentsResponse {
        service_deployments: Some(out),
        failures: Some(failures),
    })
}

fn render_revision<S>(st: &AppState<S>, r: &ServiceRevisionRecord) -> ServiceRevision {
    ServiceRevision {
        service_revision_arn: Some(st.arns.service_revision(&r.cluster, &r.service, &r.id)),
        service_arn: Some(st.arns.service(&r.cluster, &r.service)),
        cluster_arn: Some(st.arns.cluster(&r.cluster)),
        task_definition: Some(taskdef_arn(st, &r.task_definition)),
        launch_type: Some(r.launch_type.clone()),
        load_balancers: Some(Vec::new()),
        service_registries: Some(Vec::new()),
        container_images: Some(
            r.container_images
                .iter()
                .map(|c| gantry_api::model::ContainerImage {
                    container_name: Some(c.name.clone()),
                    image: Some(c.image.clone()),
                    image_digest: None,
                })
                .collect(),
        ),
        guard_duty_enabled: Some(false),
        service_connect_configuration: Some(ServiceConnectConfiguration {
            enabled: Some(false),
            ..Default::default()
        }),
        created_at: Some(r.created_at),
        ..Default::default()
    }
}

pub async fn describe_service_revisions<S: Store>(
    st: &AppState<S>,
    req: DescribeServiceRevisionsRequest,
) -> Result<DescribeServiceRevisionsResponse> {
    let arns = req.service_revision_arns.unwrap_or_default();
    check_count(arns.len(), "serviceRevisionArns")?;
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for a in &arns {
        let found = match parts(st, a, "service-revision") {
            Some((c, s, id)) => {
                db::get::<S, ServiceRevisionRecord>(&st.store, &revision_key(c, s, id)).await?
            }
            None => None,
        };
        match found {
            Some(r) => out.push(render_revision(st, &r.value)),
            None => failures.push(missing(a)),
        }
    }
    Ok(DescribeServiceRevisionsResponse {
        service_revisions: Some(out),
        failures: Some(failures),
    })
}

pub async fn stop_service_deployment<S: Store>(
    st: &AppState<S>,
    req: StopServiceDeploymentRequest,
) -> Result<StopServiceDeploymentResponse> {
    let a = req.service_deployment_arn.clone().unwrap_or_default();
    match req.stop_type.as_deref() {
        None | Some("ROLLBACK") => {}
        Some(other) => {
            return Err(invalid(format!(
                "stopType {other} is not supported for ROLLING deployments; use ROLLBACK."
            )))
        }
    }
    let (c, s, id) = parts(st, &a, "service-deployment").ok_or_else(sd_not_found)?;
    let sd = db::get::<S, ServiceDeploymentRecord>(&st.store, &deployment_key(c, s, id))
        .await?
        .ok_or_else(sd_not_found)?
        .value;
    update(&st.store, &service_key(c, s), |v: Option<ServiceRecord>| {
        let Some(mut svc) = v else {
            return Err(sd_not_found());
        };
        let status = shown_status(&sd, Some(&svc));
        if status.is_final()
            || matches!(
                status,
                SdStatus::RollbackRequested | SdStatus::RollbackInProgress
            )
            || svc.status != ServiceStatus::Active
        {
            return Err(conflict(format!(
                "The service deployment is {} and cannot be stopped.",
                status.as_str()
            )));
        }
        let deploying = svc.deployments.iter().any(|d| {
            d.status == DeploymentStatus::Primary
                && d.rollout_state == RolloutState::InProgress
                && d.service_deployment.as_deref() == Some(sd.id.as_str())
        });
        if !deploying {
            return Err(conflict(format!(
                "The service deployment is {} and cannot be stopped.",
                status.as_str()
            )));
        }
        if svc.last_completed.is_none() {
            return Err(conflict(
                "The service deployment has no previous service revision to roll back to.",
            ));
        }
        svc.rollback_requested = Some(sd.id.clone());
        svc.steady = false;
        Ok(Edit::put(svc, ()))
    })
    .await?;
    tracing::info!(cluster = %c, service = %s, deployment = %id, "service deployment rollback requested");
    Ok(StopServiceDeploymentResponse {
        service_deployment_arn: Some(a),
    })
}
