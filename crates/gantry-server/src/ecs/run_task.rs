//! RunTask and StartTask: check the request, prepare the launch, place and commit (see
//! [`crate::launch`]).

use gantry_api::model::{
    Failure, RunTaskRequest, RunTaskResponse, StartTaskRequest, StartTaskResponse,
};
use gantry_api::{arn, ApiError, ErrorKind};
use gantry_store::Store;

use crate::ecs::clusters::{self, cluster_name};
use crate::ecs::tasks;
use crate::error::{invalid, Error, Result};
use crate::launch::capacity;
use crate::launch::prepare::{check_network_mode, prepare};
use crate::launch::strategies::strategies;
use crate::launch::task_record::make_task;
use crate::launch::{constraints, placement};
use crate::persistence::db;
use crate::persistence::records::{instances_of, InstanceRecord, InstanceStatus};
use crate::state::AppState;

const MAX_COUNT: i32 = 10;

fn no_instances() -> Error {
    Error::Api(ApiError::new(
        ErrorKind::InvalidParameter,
        "No Container Instances were found in your cluster. Start a gantry agent that registers into it.",
    ))
}

pub async fn run_task<S: Store>(st: &AppState<S>, req: RunTaskRequest) -> Result<RunTaskResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    let cluster_record = clusters::active(st, &cluster).await?;
    let count = req.count.unwrap_or(1);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(invalid(format!(
            "count is {count}; it must be between 1 and {MAX_COUNT}."
        )));
    }
    let capacity = capacity::resolve(
        &cluster_record.value,
        req.launch_type.as_deref(),
        req.capacity_provider_strategy.as_deref(),
    )?;
    let launch_type = capacity.launch_type();
    let strategies = strategies(req.placement_strategy.as_deref().unwrap_or_default())?;
    let mut constraints =
        constraints::of_request(req.placement_constraints.as_deref().unwrap_or_default())?;
    let p = prepare(
        st,
        req.task_definition.as_deref(),
        req.overrides.clone(),
        req.group.clone(),
        req.started_by.clone(),
        req.tags.as_deref(),
        false,
    )
    .await?;
    check_network_mode(launch_type, p.network_mode())?;
    constraints.extend(p.constraints.iter().cloned());
    let registered = db::list::<S, InstanceRecord>(&st.store, &instances_of(&cluster))
        .await?
        .into_iter()
        .any(|i| i.value.status != InstanceStatus::Inactive);
    if !registered {
        return Err(no_instances());
    }
    let count = usize::try_from(count).unwrap_or(1);
    let out = capacity::place(
        st,
        &cluster,
        count,
        &p.allocation,
        placement::Rules {
            strategies: &strategies,
            group: &p.group,
            constraints: &constraints,
            network_mode: p.network_mode(),
            launch_type,
        },
        &capacity,
        &std::collections::BTreeMap::new(),
        &p.tags,
        |id| make_task(&cluster, id, &p, launch_type, st.clock.now()),
    )
    .await?;
    Ok(RunTaskResponse {
        tasks: Some(
            out.tasks
                .iter()
                .map(|t| tasks::render_new(st, t, &p.tags))
                .collect(),
        ),
        failures: Some(out.failures),
    })
}

pub async fn start_task<S: Store>(
    st: &AppState<S>,
    req: StartTaskRequest,
) -> Result<StartTaskResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let targets = req.container_instances.clone().unwrap_or_default();
    if targets.is_empty() || targets.len() > 10 {
        return Err(invalid(
            "containerInstances must name between 1 and 10 container instances.",
        ));
    }
    let p = prepare(
        st,
        req.task_definition.as_deref(),
        req.overrides.clone(),
        req.group.clone(),
        req.started_by.clone(),
        req.tags.as_deref(),
        false,
    )
    .await?;
    let mut placed = Vec::new();
    let mut failures = Vec::new();
    // One task on each named instance, as ECS does.
    for target in &targets {
        let id = arn::short_id(target);
        // StartTask names its instances: each task takes its instance's launch type.
        let make = |lt| make_task(&cluster, id, &p, lt, st.clock.now());
        let mode = p.network_mode();
        match placement::start_on(st, &cluster, id, &p.allocation, mode, None, make, &p.tags)
            .await?
        {
            Ok(task) => placed.push(task),
            Err(reason) => failures.push(Failure {
                arn: Some(st.arns.container_instance(&cluster, id)),
                reason: Some(reason.to_string()),
                detail: None,
            }),
        }
    }
    Ok(StartTaskResponse {
        tasks: Some(
            placed
                .iter()
                .map(|t| tasks::render_new(st, t, &p.tags))
                .collect(),
        ),
        failures: Some(failures),
    })
}
