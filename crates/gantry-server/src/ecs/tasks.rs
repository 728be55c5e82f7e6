//! ListTasks, DescribeTasks, StopTask, and the wire form of a task.

use std::collections::BTreeMap;

use gantry_api::model::{
    Attachment, Container, ContainerOverride, DescribeTasksRequest, DescribeTasksResponse, Failure,
    KeyValuePair, ListTasksRequest, ListTasksResponse, NetworkInterface, StopTaskRequest,
    StopTaskResponse, Task, TaskOverride,
};
use gantry_api::{arn, status::stop_code, TaskStatus};
use gantry_store::Store;

use crate::aws::paging;
use crate::ecs::clusters::{self, cluster_name};
use crate::ecs::tags;
use crate::error::{invalid, Result};
use crate::persistence::db;
use crate::persistence::records::{task_key, tasks_of, TaskRecord};
use crate::persistence::service_records::service_group;
use crate::state::AppState;

fn render_overrides(t: &TaskRecord) -> TaskOverride {
    let mut o = t.overrides.clone().unwrap_or_default();
    // ECS lists every container in containerOverrides, overridden or not.
    let mut list = o.container_overrides.take().unwrap_or_default();
    for c in &t.containers {
        if !list
            .iter()
            .any(|x| x.name.as_deref() == Some(c.name.as_str()))
        {
            list.push(ContainerOverride {
                name: Some(c.name.clone()),
                ..Default::default()
            });
        }
    }
    o.container_overrides = Some(list);
    o.inference_accelerator_overrides
        .get_or_insert_with(Vec::new);
    o
}

/// The id of an awsvpc task's ENI attachment: a UUID derived from the task id, so it is the
/// same on every read without being stored.
fn attachment_id(task_id: &str) -> String {
    let base = uuid::Uuid::try_parse(task_id).map_or_else(
        |_| {
            // FNV-1a, 128-bit: stable across builds, unlike std's hasher.
            task_id
                .bytes()
                .fold(0x6c62272e07bb014262b821756295c58d_u128, |h, b| {
                    (h ^ u128::from(b)).wrapping_mul(0x0000000001000000000000000000013b)
                })
        },
        |u| u.as_u128(),
    );
    uuid::Uuid::from_u128(base ^ 0x5a5a_0000_0000_4000_8000_0000_0000_0000).to_string()
}

fn detail(name: &str, value: &str) -> KeyValuePair {
    KeyValuePair {
        name: Some(name.to_string()),
        value: Some(value.to_string()),
    }
}

/// ECS's ENI attachment for an awsvpc task whose agent reported its interface.
fn eni_attachment(t: &TaskRecord) -> Option<Attachment> {
    if t.definition.network_mode.as_deref() != Some("awsvpc") {
        return None;
    }
    let n = t.network.as_ref()?;
    let eni: String =
        t.id.chars()
            .filter(char::is_ascii_hexdigit)
            .take(17)
            .collect();
    let status = if t.last_status == TaskStatus::Stopped {
        "DELETED"
    } else {
        "ATTACHED"
    };
    Some(Attachment {
        id: Some(attachment_id(&t.id)),
        r#type: Some("ElasticNetworkInterface".to_string()),
        status: Some(status.to_string()),
        details: Some(vec![
            detail("subnetId", &n.subnet),
            detail("networkInterfaceId", &format!("eni-{eni}")),
            detail("macAddress", &n.mac_address),
            detail("privateIPv4Address", &n.private_ipv4_address),
        ]),
    })
}

/// The wire form of a task at store revision `version`.
pub fn render<S>(st: &AppState<S>, t: &TaskRecord, version: u64) -> Task {
    let task_arn = st.arns.task(&t.cluster, &t.id);
    let eni = eni_attachment(t);
    let interfaces: Vec<NetworkInterface> = eni
        .iter()
        .map(|a| NetworkInterface {
            attachment_id: a.id.clone(),
            private_ipv4_address: t.network.as_ref().map(|n| n.private_ipv4_address.clone()),
            ..Default::default()
        })
        .collect();
    let containers = t
        .containers
        .iter()
        .map(|c| Container {
            container_arn: Some(st.arns.container(&t.cluster, &t.id, &c.id)),
            task_arn: Some(task_arn.clone()),
            name: Some(c.name.clone()),
            image: c.image.clone(),
            image_digest: c.image_digest.clone(),
            runtime_id: c.runtime_id.clone(),
            last_status: Some(c.last_status.as_str().to_string()),
            exit_code: c.exit_code,
            reason: c.reason.clone(),
            network_bindings: Some(c.network_bindings.clone()),
            network_interfaces: Some(interfaces.clone()),
            health_status: Some(
                c.health_status
                    .clone()
                    .unwrap_or_else(|| "UNKNOWN".to_string()),
            ),
            cpu: Some(c.cpu.unwrap_or(0).to_string()),
            memory: c.memory.map(|m| m.to_string()),
            memory_reservation: c.memory_reservation.map(|m| m.to_string()),
            ..Default::default()
        })
        .collect();
    Task {
        task_arn: Some(task_arn),
        cluster_arn: Some(st.arns.cluster(&t.cluster)),
        task_definition_arn: Some(
            st.arns
                .task_definition(t.family(), i64::from(t.definition.revision.unwrap_or(0))),
        ),
        container_instance_arn: t
            .instance_id
            .as_ref()
            .map(|id| st.arns.container_instance(&t.cluster, id)),
        containers: Some(containers),
        overrides: Some(render_overrides(t)),
        last_status: Some(t.last_status.as_str().to_string()),
        desired_status: Some(t.desired_status.as_str().to_string()),
        cpu: Some(t.cpu.to_string()),
        memory: Some(t.memory.to_string()),
        created_at: Some(t.created_at),
        pull_started_at: t.pull_started_at,
        pull_stopped_at: t.pull_stopped_at,
        started_at: t.started_at,
        stopping_at: t.stopping_at,
        execution_stopped_at: t.execution_stopped_at,
        stopped_at: t.stopped_at,
        stop_code: t.stop_code.clone(),
        stopped_reason: t.stopped_reason.clone(),
        started_by: t.started_by.clone(),
        group: Some(t.group.clone()),
        launch_type: Some(t.launch_type.clone()),
        capacity_provider_name: t.capacity_provider_name.clone(),
        version: Some(i64::try_from(version).unwrap_or(i64::MAX)),
        attachments: Some(eni.into_iter().collect()),
        attributes: Some(Vec::new()),
        health_status: Some(
            t.health_status
                .clone()
                .unwrap_or_else(|| "UNKNOWN".to_string()),
        ),
        enable_execute_command: Some(false),
        ..Default::default()
    }
}

/// A task as RunTask/StartTask return it, with the tags it was created with.
pub fn render_new<S>(st: &AppState<S>, t: &TaskRecord, tag_map: &BTreeMap<String, String>) -> Task {
    let mut task = render(st, t, 1);
    task.tags = Some(tags::render(tag_map));
    task
}

pub async fn list_tasks<S: Store>(
    st: &AppState<S>,
    req: ListTasksRequest,
) -> Result<ListTasksResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let desired = match req.desired_status.as_deref() {
        None | Some("RUNNING") => TaskStatus::Running,
        Some("STOPPED") => TaskStatus::Stopped,
        Some(other) => {
            return Err(invalid(format!(
                "desiredStatus {other} is not supported; use RUNNING or STOPPED."
            )))
        }
    };
    let instance = req.container_instance.as_deref().map(arn::short_id);
    let family = req.family.as_deref();
    let group = req
        .service_name
        .as_deref()
        .map(|s| service_group(arn::short_id(s)));
    let tasks = db::list::<S, TaskRecord>(&st.store, &tasks_of(&cluster)).await?;
    let items = tasks
        .into_iter()
        .map(|t| t.value)
        .filter(|t| {
            t.desired_status == desired
                && family.is_none_or(|f| t.family() == f)
                && req
                    .started_by
                    .as_ref()
                    .is_none_or(|s| t.started_by.as_ref() == Some(s))
                && instance.is_none_or(|i| t.instance_id.as_deref() == Some(i))
                && req.launch_type.as_ref().is_none_or(|l| *l == t.launch_type)
                && group.as_ref().is_none_or(|g| t.group == *g)
        })
        .map(|t| (t.id.clone(), st.arns.task(&cluster, &t.id)))
        .collect();
    let (task_arns, next_token) =
        paging::page(items, req.next_token.as_deref(), req.max_results, true)?;
    Ok(ListTasksResponse {
        task_arns: Some(task_arns),
        next_token,
    })
}

pub async fn describe_tasks<S: Store>(
    st: &AppState<S>,
    req: DescribeTasksRequest,
) -> Result<DescribeTasksResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let wanted = req.tasks.unwrap_or_default();
    if wanted.is_empty() || wanted.len() > 100 {
        return Err(invalid("tasks must name between 1 and 100 tasks."));
    }
    let wants_tags = req.include.unwrap_or_default().iter().any(|i| i == "TAGS");
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for w in &wanted {
        let id = arn::short_id(w);
        match db::get::<S, TaskRecord>(&st.store, &task_key(&cluster, id)).await? {
            Some(t) => {
                let mut task = render(st, &t.value, t.revision);
                if wants_tags {
                    task.tags = Some(tags::read(st, &st.arns.task(&cluster, id)).await?);
                }
                out.push(task);
            }
            None => failures.push(Failure {
                arn: Some(st.arns.task(&cluster, id)),
                reason: Some("MISSING".to_string()),
                detail: None,
            }),
        }
    }
    Ok(DescribeTasksResponse {
        tasks: Some(out),
        failures: Some(failures),
    })
}

pub async fn stop_task<S: Store>(
    st: &AppState<S>,
    req: StopTaskRequest,
) -> Result<StopTaskResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let id = arn::short_id(req.task.as_deref().unwrap_or_default()).to_string();
    let reason = req
        .reason
        .unwrap_or_else(|| "Task stopped by user".to_string());
    if reason.chars().count() > 255 {
        return Err(invalid("reason can be at most 255 characters."));
    }
    let (task, rev) =
        crate::launch::stop::stop(st, &cluster, &id, stop_code::USER_INITIATED, &reason)
            .await?
            .ok_or_else(|| {
                invalid(format!(
                    "The referenced task {id} was not found in cluster {cluster}."
                ))
            })?;
    Ok(StopTaskResponse {
        task: Some(render(st, &task, rev)),
    })
}
