//! CreateService, UpdateService, DeleteService and ListServices: they write the service's
//! desired state and its deployments; the service controller ([`crate::controllers::service`]) does
//! the rest. DescribeServices and the wire form are in [`crate::ecs::service_render`]; the settings both
//! Create and Update check are in [`crate::ecs::service_settings`].

use std::sync::LazyLock;

use gantry_api::model::{
    CreateServiceRequest, CreateServiceResponse, DeleteServiceRequest, DeleteServiceResponse,
    ListServicesRequest, ListServicesResponse, UpdateServiceRequest, UpdateServiceResponse,
};
use gantry_api::{arn, ApiError, ErrorKind};
use gantry_store::Store;
use regex::Regex;

use crate::aws::paging;
use crate::ecs::clusters::{self, cluster_name};
use crate::ecs::service_render::render;
use crate::ecs::service_settings::{check_grace, check_strategy, deployment, settings};
use crate::ecs::tags;
use crate::error::{invalid, Error, Result};
use crate::launch::constraints;
use crate::launch::prepare;
use crate::persistence::db;
use crate::persistence::service_records::{
    service_key, services_of, DeploymentStatus, SchedulingStrategy, ServiceRecord, ServiceStatus,
};
use crate::persistence::update::{update, Edit};
use crate::state::AppState;

static NAME: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new("^[a-zA-Z0-9_-]{1,255}$").ok());

// ECS's own words; the CLI says what to do about them.
pub fn not_found(_name: &str) -> Error {
    Error::Api(ApiError::new(
        ErrorKind::ServiceNotFound,
        "Service not found.",
    ))
}

fn not_active(_name: &str) -> Error {
    Error::Api(ApiError::new(
        ErrorKind::ServiceNotActive,
        "Service was not ACTIVE.",
    ))
}

/// Resolves and checks a task definition for a service of `launch_type` (EXTERNAL: no
/// awsvpc); returns `family:revision`.
async fn task_definition_for<S: Store>(
    st: &AppState<S>,
    reference: &str,
    launch_type: gantry_scheduler::LaunchType,
) -> Result<String> {
    let p =
        prepare::prepare_for_service(st, reference, String::new(), String::new(), false).await?;
    prepare::check_network_mode(launch_type, p.network_mode())?;
    Ok(format!("{}:{}", p.def.family, p.def.revision))
}

/// The `family:revision` of `reference` and its network mode, for UpdateService (which checks
/// the mode against the service's own launch type).
async fn task_definition_and_mode<S: Store>(
    st: &AppState<S>,
    reference: &str,
) -> Result<(String, Option<String>)> {
    let p =
        prepare::prepare_for_service(st, reference, String::new(), String::new(), false).await?;
    let mode = p.network_mode().map(str::to_string);
    Ok((format!("{}:{}", p.def.family, p.def.revision), mode))
}

fn unsupported(what: &str) -> Error {
    invalid(format!("{what} is not supported yet; leave it out."))
}

pub async fn create_service<S: Store>(
    st: &AppState<S>,
    req: CreateServiceRequest,
) -> Result<CreateServiceResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    let c = clusters::active(st, &cluster).await?;
    let name = req.service_name.clone().unwrap_or_default();
    if !NAME.as_ref().is_some_and(|re| re.is_match(&name)) {
        return Err(invalid(format!(
            "serviceName {name:?} is invalid: use 1 to 255 letters, numbers, hyphens and underscores."
        )));
    }
    let strategy = match req.scheduling_strategy.as_deref() {
        None | Some("REPLICA") => SchedulingStrategy::Replica,
        Some("DAEMON") => SchedulingStrategy::Daemon,
        Some(other) => {
            return Err(invalid(format!(
                "schedulingStrategy {other} is not valid: use REPLICA or DAEMON."
            )))
        }
    };
    let desired = match (strategy, req.desired_count) {
        (SchedulingStrategy::Daemon, Some(_)) => {
            return Err(invalid(
                "The DAEMON scheduling strategy does not support a desiredCount; it runs one task on every instance.",
            ))
        }
        (SchedulingStrategy::Daemon, None) => 0,
        (SchedulingStrategy::Replica, None) => {
            return Err(invalid(
                "desiredCount is required for services with the REPLICA scheduling strategy.",
            ))
        }
        (SchedulingStrategy::Replica, Some(n)) if n < 0 => {
            return Err(invalid(format!(
                "desiredCount is {n}; it must be 0 or more."
            )))
        }
        (SchedulingStrategy::Replica, Some(n)) => n,
    };
    let launch_type = prepare::check_launch_type(req.launch_type.as_deref())?;
    if req
        .capacity_provider_strategy
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        return Err(unsupported("capacityProviderStrategy"));
    }
    if req.load_balancers.as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(unsupported("loadBalancers"));
    }
    if req
        .service_registries
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        return Err(unsupported("serviceRegistries"));
    }
    // networkConfiguration (awsvpc subnets and security groups) is accepted and informational:
    // an awsvpc task gets its address from its node's task subnet.
    if req
        .deployment_controller
        .as_ref()
        .and_then(|d| d.r#type.as_deref())
        .is_some_and(|t| t != "ECS")
    {
        return Err(unsupported("A deploymentController other than ECS"));
    }
    constraints::of_request(req.placement_constraints.as_deref().unwrap_or_default())?;
    let deployment_settings = settings(strategy, None, req.deployment_configuration.as_ref())?;
    let placement_strategy = check_strategy(strategy, req.placement_strategy.as_deref())?;
    let grace = check_grace(req.health_check_grace_period_seconds)?;
    let service_tags = tags::validated(req.tags.as_deref().unwrap_or_default())?;
    let td = task_definition_for(
        st,
        req.task_definition.as_deref().unwrap_or_default(),
        launch_type,
    )
    .await?;

    let key = service_key(&cluster, &name);
    let existing = db::get::<S, ServiceRecord>(&st.store, &key).await?;
    if existing
        .as_ref()
        .is_some_and(|e| e.value.status != ServiceStatus::Inactive)
    {
        return Err(invalid("Creation of service was not idempotent."));
    }
    let now = st.clock.now();
    let rec = ServiceRecord {
        name: name.clone(),
        cluster: cluster.clone(),
        status: ServiceStatus::Active,
        scheduling_strategy: strategy,
        desired_count: desired,
        task_definition: td.clone(),
        deployment: deployment_settings,
        placement_strategy,
        placement_constraints: req.placement_constraints.clone().unwrap_or_default(),
        health_check_grace_period_seconds: grace,
        launch_type: launch_type.as_str().to_string(),
        created_at: now,
        deployments: vec![deployment(&td, now)],
        last_completed: None,
        events: Vec::new(),
        steady: false,
    };
    let arn = st.arns.service(&cluster, &name);
    let mut ops = vec![db::put(&key, &rec)?];
    ops.push(tags::put_op(&arn, service_tags.clone())?);
    // Comparing the cluster keeps a concurrent DeleteCluster from missing the service.
    let compares = vec![
        db::unchanged(&c.key, c.revision),
        db::unchanged(&key, existing.map_or(0, |e| e.revision)),
    ];
    if !db::commit(&st.store, compares, ops).await? {
        return Err(invalid("Creation of service was not idempotent."));
    }
    tracing::info!(cluster = %cluster, service = %name, "service created");
    let mut service = render(st, &rec, &[]);
    service.tags = Some(tags::render(&service_tags));
    Ok(CreateServiceResponse {
        service: Some(service),
    })
}

/// Reads the ACTIVE service, applies `change`, writes it back; retried on conflict.
async fn modify<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    reference: &str,
    allow_draining: bool,
    change: impl Fn(&mut ServiceRecord) -> Result<()>,
) -> Result<ServiceRecord> {
    let name = arn::short_id(reference).to_string();
    update(
        &st.store,
        &service_key(cluster, &name),
        |v: Option<ServiceRecord>| {
            let Some(mut rec) = v else {
                return Err(not_found(&name));
            };
            let ok = match rec.status {
                ServiceStatus::Active => true,
                ServiceStatus::Draining => allow_draining,
                ServiceStatus::Inactive => false,
            };
            if !ok {
                return Err(not_active(&name));
            }
            change(&mut rec)?;
            Ok(Edit::put(rec.clone(), rec))
        },
    )
    .await
}

pub async fn update_service<S: Store>(
    st: &AppState<S>,
    req: UpdateServiceRequest,
) -> Result<UpdateServiceResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let reference = req.service.clone().unwrap_or_default();
    if req
        .capacity_provider_strategy
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        return Err(unsupported("capacityProviderStrategy"));
    }
    // networkConfiguration (awsvpc subnets and security groups) is accepted and informational:
    // an awsvpc task gets its address from its node's task subnet.
    if req.load_balancers.as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(unsupported("loadBalancers"));
    }
    constraints::of_request(req.placement_constraints.as_deref().unwrap_or_default())?;
    let (td, td_mode) = match req.task_definition.as_deref() {
        Some(r) => {
            let (name, mode) = task_definition_and_mode(st, r).await?;
            (Some(name), mode)
        }
        None => (None, None),
    };
    let grace = check_grace(req.health_check_grace_period_seconds)?;
    let now = st.clock.now();
    let rec = modify(st, &cluster, &reference, false, |s| {
        if let Some(n) = req.desired_count {
            if s.scheduling_strategy == SchedulingStrategy::Daemon {
                return Err(invalid(
                    "The DAEMON scheduling strategy does not support a desiredCount.",
                ));
            }
            if n < 0 {
                return Err(invalid(format!(
                    "desiredCount is {n}; it must be 0 or more."
                )));
            }
            s.desired_count = n;
        }
        s.deployment = settings(
            s.scheduling_strategy,
            Some(s.deployment),
            req.deployment_configuration.as_ref(),
        )?;
        if let Some(list) = req.placement_strategy.as_deref() {
            s.placement_strategy = check_strategy(s.scheduling_strategy, Some(list))?;
        }
        if let Some(list) = &req.placement_constraints {
            s.placement_constraints = list.clone();
        }
        if grace.is_some() {
            s.health_check_grace_period_seconds = grace;
        }
        if td.is_some() {
            // An EXTERNAL service keeps refusing awsvpc when its task definition changes.
            prepare::check_network_mode(
                prepare::launch_type_of(&s.launch_type),
                td_mode.as_deref(),
            )?;
        }
        let new_td = td.clone().filter(|t| *t != s.task_definition);
        if new_td.is_some() || req.force_new_deployment == Some(true) {
            let t = new_td.unwrap_or_else(|| s.task_definition.clone());
            for d in &mut s.deployments {
                if d.status == DeploymentStatus::Primary {
                    d.status = DeploymentStatus::Active;
                    d.updated_at = now;
                }
            }
            s.deployments.insert(0, deployment(&t, now));
            s.task_definition = t;
        }
        s.steady = false;
        Ok(())
    })
    .await?;
    let tasks = crate::ecs::service_render::tasks_of_service(st, &rec).await?;
    Ok(UpdateServiceResponse {
        service: Some(render(st, &rec, &tasks)),
    })
}

pub async fn delete_service<S: Store>(
    st: &AppState<S>,
    req: DeleteServiceRequest,
) -> Result<DeleteServiceResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let reference = req.service.clone().unwrap_or_default();
    let force = req.force.unwrap_or(false);
    let rec = modify(st, &cluster, &reference, true, |s| {
        if s.status == ServiceStatus::Draining {
            return Ok(());
        }
        if s.scheduling_strategy == SchedulingStrategy::Replica && s.desired_count > 0 && !force {
            return Err(invalid(
                // ECS's own words; `gantry service delete` says what to do about it.
                "The service cannot be stopped while it is scaled above 0.",
            ));
        }
        s.status = ServiceStatus::Draining;
        s.desired_count = 0;
        s.steady = false;
        Ok(())
    })
    .await?;
    tracing::info!(cluster = %cluster, service = %rec.name, "service deleted; draining");
    let tasks = crate::ecs::service_render::tasks_of_service(st, &rec).await?;
    Ok(DeleteServiceResponse {
        service: Some(render(st, &rec, &tasks)),
    })
}

pub async fn list_services<S: Store>(
    st: &AppState<S>,
    req: ListServicesRequest,
) -> Result<ListServicesResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let items = db::list::<S, ServiceRecord>(&st.store, &services_of(&cluster))
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|s| {
            s.status != ServiceStatus::Inactive
                && req.launch_type.as_ref().is_none_or(|l| *l == s.launch_type)
                && req
                    .scheduling_strategy
                    .as_deref()
                    .is_none_or(|x| x == s.scheduling_strategy.as_str())
        })
        .map(|s| (s.name.clone(), st.arns.service(&cluster, &s.name)))
        .collect();
    let (arns, next_token) = paging::page(items, req.next_token.as_deref(), req.max_results, true)?;
    Ok(ListServicesResponse {
        service_arns: Some(arns),
        next_token,
    })
}
