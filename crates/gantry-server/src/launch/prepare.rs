//! Preparing a launch: the task definition resolved and checked, what each task needs, its
//! group, startedBy, tags and the task definition's placement constraints. RunTask,
//! StartTask and the service controller all start from a [`Prepared`].

use std::collections::BTreeMap;

use gantry_api::model::TaskOverride;
use gantry_scheduler::LaunchType;
use gantry_store::Store;

use super::constraints;
use super::needs::needs;
use crate::ecs::{tags, task_definitions};
use crate::error::{client, invalid, Error, Result};
use crate::persistence::records::{Allocation, TaskDefRecord, TaskDefStatus};
use crate::state::AppState;

/// What RunTask, StartTask and the service controller share once the request is checked.
pub struct Prepared {
    pub def: TaskDefRecord,
    pub allocation: Allocation,
    pub overrides: Option<TaskOverride>,
    pub group: String,
    pub started_by: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// The task definition's placement constraints (memberOf only).
    pub constraints: Vec<gantry_scheduler::Constraint>,
}

impl Prepared {
    /// The task definition's networkMode, if set (placement keeps tasks off nodes that
    /// cannot run it).
    pub fn network_mode(&self) -> Option<&str> {
        self.def.definition.network_mode.as_deref()
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn prepare<S: Store>(
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

/// The launch type RunTask and services place on: EC2 (the default) or EXTERNAL (hosts
/// joined with an SSM activation, as in ECS Anywhere). Fargate has no Gantry equivalent.
pub fn check_launch_type(launch_type: Option<&str>) -> Result<LaunchType> {
    match launch_type {
        None | Some("EC2") => Ok(LaunchType::Ec2),
        Some("EXTERNAL") => Ok(LaunchType::External),
        Some(other) => Err(invalid(format!(
            "launchType {other} is not supported; use EC2 (the default) or EXTERNAL."
        ))),
    }
}

/// EXTERNAL tasks run bridge, host or none, as ECS Anywhere's do (ECS's words).
pub fn check_network_mode(launch_type: LaunchType, network_mode: Option<&str>) -> Result<()> {
    if launch_type == LaunchType::External && network_mode == Some("awsvpc") {
        return Err(invalid(
            "Tasks that run on external instances must use the bridge, host, or none network modes. The awsvpc network mode isn't supported.",
        ));
    }
    Ok(())
}

/// The launch type a task record names.
pub fn launch_type_of(name: &str) -> LaunchType {
    if name == "EXTERNAL" {
        LaunchType::External
    } else {
        LaunchType::Ec2
    }
}
