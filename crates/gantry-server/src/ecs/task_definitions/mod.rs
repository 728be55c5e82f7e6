//! RegisterTaskDefinition, DescribeTaskDefinition, DeregisterTaskDefinition,
//! ListTaskDefinitions, ListTaskDefinitionFamilies.

pub mod delete;
pub mod deps;
pub mod ports;
pub mod rules;

use std::collections::BTreeMap;

use gantry_api::model::{
    ContainerDefinition, DeregisterTaskDefinitionRequest, DeregisterTaskDefinitionResponse,
    DescribeTaskDefinitionRequest, DescribeTaskDefinitionResponse,
    ListTaskDefinitionFamiliesRequest, ListTaskDefinitionFamiliesResponse,
    ListTaskDefinitionsRequest, ListTaskDefinitionsResponse, RegisterTaskDefinitionRequest,
    RegisterTaskDefinitionResponse, TaskDefinition,
};
use gantry_api::{arn, Timestamp};
use gantry_store::Store;

use crate::aws::paging;
use crate::ecs::tags;
use crate::ecs::task_definitions::rules as taskdef_rules;
use crate::error::{client, invalid, Error, Result};
use crate::persistence::db::{self, Versioned};
use crate::persistence::records::{
    family_key, taskdef_key, taskdefs_of, FamilyRecord, TaskDefRecord, TaskDefStatus, TASKDEFS,
};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// The wire form of a stored task definition.
pub fn render<S>(st: &AppState<S>, rec: &TaskDefRecord) -> TaskDefinition {
    let mut def = rec.definition.clone();
    def.task_definition_arn = Some(
        st.arns
            .task_definition(&rec.family, i64::from(rec.revision)),
    );
    def.status = Some(rec.status.as_str().to_string());
    def
}

fn unable() -> Error {
    client("Unable to describe task definition.")
}

/// Finds the task definition a request names: `family` (its latest ACTIVE revision),
/// `family:revision`, or an ARN.
pub async fn resolve<S: Store>(
    st: &AppState<S>,
    reference: &str,
) -> Result<Versioned<TaskDefRecord>> {
    let short = arn::short_id(reference);
    match short.rsplit_once(':') {
        Some((family, rev)) => {
            let rev: i32 = rev.parse().map_err(|_| unable())?;
            db::get(&st.store, &taskdef_key(family, rev))
                .await?
                .ok_or_else(unable)
        }
        None => db::list::<S, TaskDefRecord>(&st.store, &taskdefs_of(short))
            .await?
            .into_iter()
            .rev()
            .find(|d| d.value.status == TaskDefStatus::Active)
            .ok_or_else(unable),
    }
}

/// A container definition with what ECS fills in when it is left out: `essential` true,
/// `cpu` 0, empty `portMappings`, `environment`, `mountPoints` and `volumesFrom`, and a
/// mapping's `protocol` tcp.
fn with_defaults(mut c: ContainerDefinition) -> ContainerDefinition {
    c.essential = Some(c.essential.unwrap_or(true));
    c.cpu = Some(c.cpu.unwrap_or(0));
    for m in c.port_mappings.get_or_insert_with(Vec::new) {
        m.protocol = Some(m.protocol.take().unwrap_or_else(|| "tcp".to_string()));
    }
    c.environment.get_or_insert_with(Vec::new);
    c.mount_points.get_or_insert_with(Vec::new);
    c.volumes_from.get_or_insert_with(Vec::new);
    c
}

fn build(
    req: &RegisterTaskDefinitionRequest,
    account: &str,
    now: Timestamp,
) -> Result<TaskDefinition> {
    let (cpu, memory) = taskdef_rules::task_size(req.cpu.as_deref(), req.memory.as_deref())?;
    let containers = req
        .container_definitions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(with_defaults)
        .collect();
    Ok(TaskDefinition {
        family: req.family.clone(),
        container_definitions: Some(containers),
        task_role_arn: req.task_role_arn.clone(),
        execution_role_arn: req.execution_role_arn.clone(),
        network_mode: req.network_mode.clone(),
        volumes: Some(req.volumes.clone().unwrap_or_default()),
        placement_constraints: Some(req.placement_constraints.clone().unwrap_or_default()),
        requires_compatibilities: req.requires_compatibilities.clone(),
        compatibilities: Some(vec!["EXTERNAL".to_string(), "EC2".to_string()]),
        requires_attributes: Some(Vec::new()),
        cpu: cpu.map(|v| v.to_string()),
        memory: memory.map(|v| v.to_string()),
        pid_mode: req.pid_mode.clone(),
        ipc_mode: req.ipc_mode.clone(),
        proxy_configuration: req.proxy_configuration.clone(),
        runtime_platform: req.runtime_platform.clone(),
        ephemeral_storage: req.ephemeral_storage.clone(),
        enable_fault_injection: req.enable_fault_injection,
        registered_at: Some(now),
        registered_by: Some(format!("arn:aws:iam::{account}:root")),
        ..Default::default()
    })
}

pub async fn register_task_definition<S: Store>(
    st: &AppState<S>,
    req: RegisterTaskDefinitionRequest,
) -> Result<RegisterTaskDefinitionResponse> {
    taskdef_rules::check(&req)?;
    crate::task_secrets::register::check(&req)?;
    let tag_map = tags::validated(req.tags.as_deref().unwrap_or_default())?;
    let family = req.family.clone().unwrap_or_default();
    let fkey = family_key(&family);
    let fkey = &fkey;
    let req = &req;
    let family = &family;
    let tag_map = &tag_map;
    retry(
        || format!("task definition family {family}"),
        || async move {
            let current = db::get::<S, FamilyRecord>(&st.store, fkey).await?;
            let (frev, latest) = current.map_or((0, 0), |c| (c.revision, c.value.latest_revision));
            let revision = latest
                .checked_add(1)
                .ok_or_else(|| client(format!("Family {family} has run out of revisions.")))?;
            let mut definition = build(req, &st.config.account_id, st.clock.now())?;
            definition.revision = Some(revision);
            let record = TaskDefRecord {
                family: family.clone(),
                revision,
                status: TaskDefStatus::Active,
                definition,
            };
            let key = taskdef_key(family, revision);
            let arn = st.arns.task_definition(family, i64::from(revision));
            // The family counter is the CAS point: two concurrent registrations read the same
            // counter, only one commits, the other retries with the next revision.
            let ok = db::commit(
                &st.store,
                vec![db::unchanged(fkey, frev), db::unchanged(&key, 0)],
                vec![
                    db::put(
                        fkey,
                        &FamilyRecord {
                            latest_revision: revision,
                        },
                    )?,
                    db::put(&key, &record)?,
                    tags::put_op(&arn, tag_map.clone())?,
                ],
            )
            .await?;
            if ok {
                return Ok(Attempt::Done(RegisterTaskDefinitionResponse {
                    task_definition: Some(render(st, &record)),
                    tags: Some(tags::render(tag_map)),
                }));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await
}

pub async fn describe_task_definition<S: Store>(
    st: &AppState<S>,
    req: DescribeTaskDefinitionRequest,
) -> Result<DescribeTaskDefinitionResponse> {
    let d = resolve(st, req.task_definition.as_deref().unwrap_or_default()).await?;
    let def = render(st, &d.value);
    let wants_tags = req.include.unwrap_or_default().iter().any(|i| i == "TAGS");
    let tags = match (&def.task_definition_arn, wants_tags) {
        (Some(arn), true) => Some(tags::read(st, arn).await?),
        _ => None,
    };
    Ok(DescribeTaskDefinitionResponse {
        task_definition: Some(def),
        tags,
    })
}

pub async fn deregister_task_definition<S: Store>(
    st: &AppState<S>,
    req: DeregisterTaskDefinitionRequest,
) -> Result<DeregisterTaskDefinitionResponse> {
    let reference = req.task_definition.unwrap_or_default();
    match arn::short_id(&reference).rsplit_once(':') {
        None => return Err(client("Revision is missing.")),
        Some((_, rev)) if rev.parse::<i32>().is_err() => {
            return Err(invalid(format!("Invalid revision number. Number: {rev}")))
        }
        Some(_) => {}
    }
    let reference = &reference;
    retry(
        || format!("task definition {reference}"),
        || async move {
            let d = resolve(st, reference).await?;
            // INACTIVE, or DELETE_IN_PROGRESS: already deregistered, shown as it is.
            if d.value.status != TaskDefStatus::Active {
                return Ok(Attempt::Done(DeregisterTaskDefinitionResponse {
                    task_definition: Some(render(st, &d.value)),
                }));
            }
            let mut rec = d.value.clone();
            rec.status = TaskDefStatus::Inactive;
            rec.definition.deregistered_at = Some(st.clock.now());
            if db::commit(
                &st.store,
                vec![db::unchanged(&d.key, d.revision)],
                vec![db::put(&d.key, &rec)?],
            )
            .await?
            {
                return Ok(Attempt::Done(DeregisterTaskDefinitionResponse {
                    task_definition: Some(render(st, &rec)),
                }));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await
}

fn status_filter(status: Option<&str>, default: Option<TaskDefStatus>) -> Option<TaskDefStatus> {
    match status {
        Some("ACTIVE") => Some(TaskDefStatus::Active),
        Some("INACTIVE") => Some(TaskDefStatus::Inactive),
        Some("DELETE_IN_PROGRESS") => Some(TaskDefStatus::DeleteInProgress),
        Some(_) => None,
        None => default,
    }
}

pub async fn list_task_definitions<S: Store>(
    st: &AppState<S>,
    req: ListTaskDefinitionsRequest,
) -> Result<ListTaskDefinitionsResponse> {
    // ECS's familyPrefix here is a whole family name, despite its name.
    let prefix = match req.family_prefix.as_deref() {
        Some(f) => taskdefs_of(f),
        None => TASKDEFS.to_string(),
    };
    let want = status_filter(req.status.as_deref(), Some(TaskDefStatus::Active));
    let ascending = req.sort.as_deref() != Some("DESC");
    let mut items: Vec<(String, String)> = db::list::<S, TaskDefRecord>(&st.store, &prefix)
        .await?
        .into_iter()
        .filter(|d| want.is_none_or(|w| d.value.status == w))
        .map(|d| {
            let arn = st
                .arns
                .task_definition(&d.value.family, i64::from(d.value.revision));
            (d.key, arn)
        })
        .collect();
    if !ascending {
        items.reverse();
    }
    let (arns, next_token) =
        paging::page(items, req.next_token.as_deref(), req.max_results, ascending)?;
    Ok(ListTaskDefinitionsResponse {
        task_definition_arns: Some(arns),
        next_token,
    })
}

pub async fn list_task_definition_families<S: Store>(
    st: &AppState<S>,
    req: ListTaskDefinitionFamiliesRequest,
) -> Result<ListTaskDefinitionFamiliesResponse> {
    let prefix = req.family_prefix.unwrap_or_default();
    // Does each family have an ACTIVE revision?
    let mut families: BTreeMap<String, bool> = BTreeMap::new();
    for d in db::list::<S, TaskDefRecord>(&st.store, TASKDEFS).await? {
        if d.value.family.starts_with(&prefix) {
            let active = families.entry(d.value.family.clone()).or_insert(false);
            *active |= d.value.status == TaskDefStatus::Active;
        }
    }
    let want = status_filter(req.status.as_deref(), None);
    let items = families
        .into_iter()
        .filter(|(_, active)| match want {
            Some(TaskDefStatus::Active) => *active,
            // ListTaskDefinitionFamilies has no DELETE_IN_PROGRESS status.
            Some(TaskDefStatus::Inactive | TaskDefStatus::DeleteInProgress) => !*active,
            None => true,
        })
        .map(|(f, _)| (f.clone(), f))
        .collect();
    let (families, next_token) =
        paging::page(items, req.next_token.as_deref(), req.max_results, true)?;
    Ok(ListTaskDefinitionFamiliesResponse {
        families: Some(families),
        next_token,
    })
}
