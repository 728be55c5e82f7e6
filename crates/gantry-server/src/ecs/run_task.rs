//! RunTask and StartTask: resolve the task definition, work out what each task needs, place,
//! commit (see [`crate::placement`]).

use std::collections::BTreeMap;

use gantry_api::model::{
    ContainerOverride, Failure, PlacementStrategy, RunTaskRequest, RunTaskResponse,
    StartTaskRequest, StartTaskResponse, TaskOverride,
};
use gantry_api::{arn, ApiError, ErrorKind, TaskStatus, Timestamp};
use gantry_scheduler::Strategy;
use gantry_store::Store;

use crate::ecs::clusters::{self, cluster_name};
use crate::ecs::tags;
use crate::ecs::task_definitions;
use crate::ecs::task_definitions::rules::{parse_cpu, parse_memory};
use crate::ecs::tasks;
use crate::error::{client, invalid, Error, Result};
use crate::launch::constraints;
use crate::launch::placement;
use crate::persistence::db;
use crate::persistence::records::{
    instances_of, Allocation, ContainerRecord, InstanceRecord, InstanceStatus, TaskDefRecord,
    TaskDefStatus, TaskRecord,
};
use crate::state::AppState;

const MAX_COUNT: i32 = 10;

/// What RunTask, StartTask and the service controller share once the request is checked.
pub struct Prepared {
    pub def: TaskDefRecord,
    pub allocation: Allocation,
    overrides: Option<TaskOverride>,
    group: String,
    started_by: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// The task definition's placement constraints (memberOf only).
    pub constraints: Vec<gantry_scheduler::Constraint>,
}

fn container_override<'a>(
    o: Option<&'a TaskOverride>,
    name: &str,
) -> Option<&'a ContainerOverride> {
    o?.container_overrides
        .as_deref()?
        .iter()
        .find(|c| c.name.as_deref() == Some(name))
}

/// What one task of `def` with `overrides` holds on its instance.
fn needs(def: &TaskDefRecord, overrides: Option<&TaskOverride>) -> Result<Allocation> {
    let d = &def.definition;
    let containers = d.container_definitions.as_deref().unwrap_or_default();
    for o in overrides
        .and_then(|o| o.container_overrides.as_deref())
        .unwrap_or_default()
    {
        let name = o.name.as_deref().unwrap_or_default();
        if !containers.iter().any(|c| c.name.as_deref() == Some(name)) {
            return Err(invalid(format!(
                "Override for container named {name} is not a container in the TaskDefinition."
            )));
        }
    }
    let task_cpu = match overrides
        .and_then(|o| o.cpu.as_deref())
        .or(d.cpu.as_deref())
    {
        Some(s) => Some(
            parse_cpu(s).ok_or_else(|| invalid(format!("Task cpu override {s:?} is invalid.")))?,
        ),
        None => None,
    };
    let task_memory = match overrides
        .and_then(|o| o.memory.as_deref())
        .or(d.memory.as_deref())
    {
        Some(s) => Some(
            parse_memory(s)
                .ok_or_else(|| invalid(format!("Task memory override {s:?} is invalid.")))?,
        ),
        None => None,
    };
    let mut cpu = 0i64;
    let mut memory = 0i64;
    let mut a = Allocation::default();
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        let o = container_override(overrides, name);
        cpu += i64::from(o.and_then(|o| o.cpu).or(c.cpu).unwrap_or(0));
        let hard = o.and_then(|o| o.memory).or(c.memory);
        let soft = o
            .and_then(|o| o.memory_reservation)
            .or(c.memory_reservation);
        memory += i64::from(hard.or(soft).unwrap_or(0));
        // Host ports a task holds on its instance: in host mode its container ports, in
        // bridge mode its static host ports (hostPort 0 is picked by the agent from the
        // dynamic range); awsvpc tasks have addresses of their own and hold none.
        let mode = d.network_mode.as_deref().unwrap_or("bridge");
        if mode == "host" || mode == "bridge" {
            for m in c.port_mappings.as_deref().unwrap_or_default() {
                let port = if mode == "host" {
                    m.host_port.or(m.container_port)
                } else {
                    m.host_port.filter(|p| *p > 0)
                }
                .and_then(|p| u16::try_from(p).ok());
                if let Some(p) = port {
                    if m.protocol.as_deref() == Some("udp") {
                        a.udp_ports.insert(p);
                    } else {
                        a.tcp_ports.insert(p);
                    }
                }
            }
        }
    }
    a.cpu = task_cpu.unwrap_or(cpu);
    a.memory = task_memory.unwrap_or(memory);
    Ok(a)
}

/// The scheduler's strategies for a `placementStrategy` list (RunTask, CreateService).
pub fn strategies(list: &[PlacementStrategy]) -> Result<Vec<Strategy>> {
    if list.len() > 5 {
        return Err(invalid("placementStrategy can have at most 5 strategies."));
    }
    list.iter()
        .map(|s| {
            let field = s.field.clone();
            match (s.r#type.as_deref(), field) {
                (Some("random"), _) => Ok(Strategy::Random),
                (Some("spread"), Some(f)) => {
                    let f = match f.as_str() {
                        "instanceid" | "instanceId" => "instanceId".to_string(),
                        "host" => "host".to_string(),
                        other if other.starts_with("attribute:") => other.to_string(),
                        other => return Err(invalid(format!(
                            "spread field {other} is not valid: use instanceId, host or attribute:<name>."
                        ))),
                    };
                    Ok(Strategy::Spread { field: f })
                }
                (Some("binpack"), Some(f)) if f == "cpu" || f == "memory" => Ok(Strategy::Binpack { field: f }),
                (Some("binpack"), f) => Err(invalid(format!(
                    "binpack field {} is not valid: use cpu or memory.",
                    f.unwrap_or_default()
                ))),
                (Some("spread"), None) => Err(invalid("spread needs a field: instanceId, host or attribute:<name>.")),
                (t, _) => Err(invalid(format!(
                    "placementStrategy type {} is not valid: use random, spread or binpack.",
                    t.unwrap_or_default()
                ))),
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn prepare<S: Store>(
    st: &AppState<S>,
    task_definition: Option<&str>,
    overrides: Option<TaskOverride>,
    group: Option<String>,
    started_by: Option<String>,
    request_tags: Option<&[gantry_api::model::Tag]>,
    allow_inactive: bool,
) -> Result<Prepared> {
    let reference = task_definition.unwrap_or_default();
    let def = task_definitions::resolve(st, reference)
        .await
        .map_err(|e| match e {
            Error::Api(_) => invalid(format!("TaskDefinition not found: {reference}. Register it with RegisterTaskDefinition, or check family:revision.")),
            other => other,
        })?
        .value;
    if def.status != TaskDefStatus::Active && !allow_inactive {
        return Err(client(format!(
            "TaskDefinition is inactive: {}:{} was deregistered; run an ACTIVE revision.",
            def.family, def.revision
        )));
    }
    let constraints = constraints::of_definition(
        def.definition
            .placement_constraints
            .as_deref()
            .unwrap_or_default(),
    )?;
    if started_by.as_ref().is_some_and(|s| s.chars().count() > 128) {
        return Err(invalid("startedBy can be at most 128 characters."));
    }
    if group.as_ref().is_some_and(|g| g.chars().count() > 255) {
        return Err(invalid("group can be at most 255 characters."));
    }
    let allocation = needs(&def, overrides.as_ref())?;
    Ok(Prepared {
        allocation,
        group: group.unwrap_or_else(|| format!("family:{}", def.family)),
        overrides,
        started_by,
        tags: tags::validated(request_tags.unwrap_or_default())?,
        constraints,
        def,
    })
}

/// What a service's tasks of task definition `reference` need: resolved and checked as for
/// RunTask, with the service's group and the deployment id as `startedBy`.
/// Services keep running (and scaling) a revision deregistered after they started using it,
/// as ECS's do: `allow_inactive` says so.
pub async fn prepare_for_service<S: Store>(
    st: &AppState<S>,
    reference: &str,
    group: String,
    deployment_id: String,
    allow_inactive: bool,
) -> Result<Prepared> {
    let mut p = prepare(
        st,
        Some(reference),
        None,
        Some(group),
        Some(deployment_id),
        None,
        allow_inactive,
    )
    .await?;
    p.def.status = TaskDefStatus::Active;
    Ok(p)
}

/// A new task of `p` on `instance_id`, created at `now`.
pub fn make_task(cluster: &str, instance_id: &str, p: &Prepared, now: Timestamp) -> TaskRecord {
    let containers = p
        .def
        .definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c| ContainerRecord::from_definition(c, uuid::Uuid::new_v4().to_string()))
        .collect();
    let mut definition = p.def.definition.clone();
    definition.status = Some(TaskDefStatus::Active.as_str().to_string());
    TaskRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        cluster: cluster.to_string(),
        instance_id: Some(instance_id.to_string()),
        definition,
        last_status: TaskStatus::Provisioning,
        desired_status: TaskStatus::Running,
        created_at: now,
        pull_started_at: None,
        pull_stopped_at: None,
        started_at: None,
        stopping_at: None,
        execution_stopped_at: None,
        stopped_at: None,
        stop_code: None,
        stopped_reason: None,
        started_by: p.started_by.clone(),
        group: p.group.clone(),
        launch_type: "EC2".to_string(),
        overrides: p.overrides.clone(),
        cpu: p.allocation.cpu,
        memory: p.allocation.memory,
        containers,
        allocation: p.allocation.clone(),
        released: false,
        health_status: None,
        first_healthy_at: None,
        network: None,
    }
}

fn no_instances() -> Error {
    Error::Api(ApiError::new(
        ErrorKind::InvalidParameter,
        "No Container Instances were found in your cluster. Start a gantry agent that registers into it.",
    ))
}

/// RunTask, StartTask and services place EC2 tasks only, for now.
pub fn check_launch_type(launch_type: Option<&str>) -> Result<()> {
    match launch_type {
        None | Some("EC2") => Ok(()),
        Some(other) => Err(invalid(format!(
            "launchType {other} is not supported yet; use EC2 (the default)."
        ))),
    }
}

pub async fn run_task<S: Store>(st: &AppState<S>, req: RunTaskRequest) -> Result<RunTaskResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let count = req.count.unwrap_or(1);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(invalid(format!(
            "count is {count}; it must be between 1 and {MAX_COUNT}."
        )));
    }
    check_launch_type(req.launch_type.as_deref())?;
    if req
        .capacity_provider_strategy
        .as_ref()
        .is_some_and(|c| !c.is_empty())
    {
        return Err(invalid(
            "capacityProviderStrategy is not supported yet; leave it out to use EC2.",
        ));
    }
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
    constraints.extend(p.constraints.iter().cloned());
    let registered = db::list::<S, InstanceRecord>(&st.store, &instances_of(&cluster))
        .await?
        .into_iter()
        .any(|i| i.value.status != InstanceStatus::Inactive);
    if !registered {
        return Err(no_instances());
    }
    let count = usize::try_from(count).unwrap_or(1);
    let out = placement::run(
        st,
        &cluster,
        count,
        &p.allocation,
        placement::Rules {
            strategies: &strategies,
            group: &p.group,
            constraints: &constraints,
        },
        &p.tags,
        |id| make_task(&cluster, id, &p, st.clock.now()),
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
        let make = || make_task(&cluster, id, &p, st.clock.now());
        match placement::start_on(st, &cluster, id, &p.allocation, make, &p.tags).await? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_api::model::{ContainerDefinition, PortMapping, TaskDefinition};

    fn def(task_memory: Option<&str>) -> TaskDefRecord {
        TaskDefRecord {
            family: "web".into(),
            revision: 1,
            status: TaskDefStatus::Active,
            definition: TaskDefinition {
                network_mode: Some("host".into()),
                memory: task_memory.map(str::to_string),
                container_definitions: Some(vec![
                    ContainerDefinition {
                        name: Some("a".into()),
                        cpu: Some(256),
                        memory: Some(128),
                        port_mappings: Some(vec![PortMapping {
                            container_port: Some(80),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    },
                    ContainerDefinition {
                        name: Some("b".into()),
                        memory_reservation: Some(64),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            },
        }
    }

    #[test]
    fn needs_sum_containers_and_honour_overrides() {
        let a = needs(&def(None), None).unwrap();
        assert_eq!((a.cpu, a.memory), (256, 192));
        assert!(a.tcp_ports.contains(&80));
        let o = TaskOverride {
            container_overrides: Some(vec![ContainerOverride {
                name: Some("a".into()),
                memory: Some(512),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(needs(&def(None), Some(&o)).unwrap().memory, 576);
        assert_eq!(needs(&def(Some("1 GB")), None).unwrap().memory, 1024);
        let bad = TaskOverride {
            container_overrides: Some(vec![ContainerOverride {
                name: Some("nope".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert!(needs(&def(None), Some(&bad)).is_err());
    }
}
