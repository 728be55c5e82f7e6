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
use gantry_store::{Op, Store};
use regex::Regex;

use crate::aws::paging;
use crate::ecs::clusters::{self, cluster_name};
use crate::ecs::service_render::render;
use crate::ecs::service_settings::{check_grace, check_strategy, deployment, options, settings};
use crate::ecs::{service_history, tags, task_definitions};
use crate::error::{invalid, Error, Result};
use crate::launch::capacity;
use crate::launch::constraints;
use crate::launch::prepare;
use crate::persistence::db;
use crate::persistence::deployment_records::ContainerImageRecord;
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
/// awsvpc); returns `family:revision` and its container images.
async fn task_definition_for<S: Store>(
    st: &AppState<S>,
    reference: &str,
    launch_type: gantry_scheduler::LaunchType,
) -> Result<(String, Vec<ContainerImageRecord>)> {
    let p =
        prepare::prepare_for_service(st, reference, String::new(), String::new(), false).await?;
    prepare::check_network_mode(launch_type, p.network_mode())?;
    Ok((
        format!("{}:{}", p.def.family, p.def.revision),
        service_history::images_of(&p.def),
    ))
}

/// The `family:revision` of `reference`, its network mode and its container images, for
/// UpdateService (which checks the mode against the service's own launch type).
async fn task_definition_and_mode<S: Store>(
    st: &AppState<S>,
    reference: &str,
) -> Result<(String, Option<String>, Vec<ContainerImageRecord>)> {
    let p =
        prepare::prepare_for_service(st, reference, String::new(), String::new(), false).await?;
    let mode = p.network_mode().map(str::to_string);
    Ok((
        format!("{}:{}", p.def.family, p.def.revision),
        mode,
        service_history::images_of(&p.def),
    ))
}

/// ECS's words (it says them for a DAEMON service on a cluster with a default strategy
/// too: such a service names `launchType` EC2).
const DAEMON_STRATEGY: &str = "Specifying a capacity provider strategy is not supported when you create a service using the DAEMON scheduling strategy.";

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
    let capacity = capacity::resolve(
        &c.value,
        req.launch_type.as_deref(),
        req.capacity_provider_strategy.as_deref(),
    )?;
    if strategy == SchedulingStrategy::Daemon && !capacity.strategy().is_empty() {
        return Err(invalid(DAEMON_STRATEGY));
    }
    let launch_type = capacity.launch_type();
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
    let (alarms, bake_time) = options((None, None), req.deployment_configuration.as_ref())?;
    let placement_strategy = check_strategy(strategy, req.placement_strategy.as_deref())?;
    let grace = check_grace(req.health_check_grace_period_seconds)?;
    let service_tags = tags::validated(req.tags.as_deref().unwrap_or_default())?;
    let (td, images) = task_definition_for(
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
    let mut rec = ServiceRecord {
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
        capacity_provider_strategy: capacity.strategy().to_vec(),
        created_at: now,
        deployments: Vec::new(),
        last_completed: None,
        last_completed_revision: None,
        alarms,
        bake_time_in_minutes: bake_time,
        rollback_requested: None,
        events: Vec::new(),
        steady: false,
    };
    let mut first = deployment(&td, now);
    let history = service_history::begin(&rec, &mut first, images, now)?;
    rec.deployments.push(first);
    let arn = st.arns.service(&cluster, &name);
    let mut ops = vec![db::put(&key, &rec)?];
    ops.extend(history);
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
    change: impl Fn(&mut ServiceRecord) -> Result<Vec<Op>>,
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
            let ops = change(&mut rec)?;
            Ok(Edit::Put(rec.clone(), ops, rec))
        },
    )
    .await
}

pub async fn update_service<S: Store>(
    st: &AppState<S>,
    req: UpdateServiceRequest,
) -> Result<UpdateServiceResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    let cluster_record = clusters::active(st, &cluster).await?;
    let reference = req.service.clone().unwrap_or_default();
    // An empty list goes back to the launch type.
    let new_strategy = match req.capacity_provider_strategy.as_deref() {
        None => None,
        Some([]) => Some(Vec::new()),
        Some(list) => Some(capacity::check(&cluster_record.value, list, false)?),
    };
    // networkConfiguration (awsvpc subnets and security groups) is accepted and informational:
    // an awsvpc task gets its address from its node's task subnet.
    if req.load_balancers.as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(unsupported("loadBalancers"));
    }
    constraints::of_request(req.placement_constraints.as_deref().unwrap_or_default())?;
    let (td, td_mode, td_images) = match req.task_definition.as_deref() {
        Some(r) => {
            let (name, mode, images) = task_definition_and_mode(st, r).await?;
            (Some(name), mode, Some(images))
        }
        None => (None, None, None),
    };
    // A forced deployment of the same task definition runs the images it names now.
    let current_images = match (&td_images, req.force_new_deployment) {
        (None, Some(true)) => {
            let name = arn::short_id(&reference).to_string();
            match crate::ecs::service_render::find(st, &cluster, &name).await? {
                Some(v) => task_definitions::resolve(st, &v.value.task_definition)
                    .await
                    .map(|d| service_history::images_of(&d.value))
                    .unwrap_or_default(),
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
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
        (s.alarms, s.bake_time_in_minutes) = options(
            (s.alarms.clone(), s.bake_time_in_minutes),
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
        if let Some(cps) = new_strategy.as_ref().filter(|c| **c != s.capacity_provider_strategy) {
            if s.scheduling_strategy == SchedulingStrategy::Daemon && !cps.is_empty() {
                return Err(invalid(DAEMON_STRATEGY));
            }
            if req.force_new_deployment != Some(true) {
                return Err(invalid(
                    "When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment.",
                ));
            }
            if !cps.is_empty() {
                s.launch_type = gantry_scheduler::LaunchType::Ec2.as_str().to_string();
            }
            s.capacity_provider_strategy.clone_from(cps);
        }
        if td.is_some() {
            // An EXTERNAL service keeps refusing awsvpc when its task definition changes.
            prepare::check_network_mode(
                prepare::launch_type_of(&s.launch_type),
                td_mode.as_deref(),
            )?;
        }
        let new_td = td.clone().filter(|t| *t != s.task_definition);
        let mut ops = Vec::new();
        if new_td.is_some() || req.force_new_deployment == Some(true) {
            let images = match &new_td {
                Some(_) => td_images.clone().unwrap_or_default(),
                None => current_images.clone(),
            };
            let t = new_td.unwrap_or_else(|| s.task_definition.clone());
            let mut dep = deployment(&t, now);
            ops = service_history::begin(s, &mut dep, images, now)?;
            for d in &mut s.deployments {
                if d.status == DeploymentStatus::Primary {
                    d.status = DeploymentStatus::Active;
                    d.updated_at = now;
                }
            }
            s.deployments.insert(0, dep);
            s.task_definition = t;
            // A rollback asked of the deployment this one replaces is moot.
            s.rollback_requested = None;
        }
        s.steady = false;
        Ok(ops)
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
            return Ok(Vec::new());
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
        Ok(Vec::new())
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
                && req.launch_type.as_ref().is_none_or(|l| {
                    // A service run by a capacity provider strategy has no launch type.
                    *l == s.launch_type && s.capacity_provider_strategy.is_empty()
                })
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
