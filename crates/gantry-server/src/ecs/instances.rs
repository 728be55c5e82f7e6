//! Container instances (registration is the agent gateway's): ListContainerInstances,
//! DescribeContainerInstances, UpdateContainerInstancesState, DeregisterContainerInstance.

use std::collections::BTreeSet;

use gantry_api::model::{
    Attribute, ContainerInstance, DeregisterContainerInstanceRequest,
    DeregisterContainerInstanceResponse, DescribeContainerInstancesRequest,
    DescribeContainerInstancesResponse, Failure, ListContainerInstancesRequest,
    ListContainerInstancesResponse, Resource, UpdateContainerInstancesStateRequest,
    UpdateContainerInstancesStateResponse, VersionInfo,
};
use gantry_api::{arn, status::stop_code, TaskStatus};
use gantry_store::Store;

use crate::aws::paging;
use crate::ecs::clusters::{self, cluster_name};
use crate::ecs::tags;
use crate::error::{invalid, Error, Result};
use crate::gateway::task_index;
use crate::launch::constraints;
use crate::launch::placement;
use crate::persistence::db::{self, Versioned};
use crate::persistence::records::{
    instance_key, task_key, tasks_of, Allocation, InstanceRecord, InstanceStatus, TaskRecord,
};
use crate::persistence::update::{retry, update, Attempt, Edit};
use crate::state::AppState;

fn int(name: &str, v: i64) -> Resource {
    Resource {
        name: Some(name.to_string()),
        r#type: Some("INTEGER".to_string()),
        integer_value: Some(i32::try_from(v).unwrap_or(i32::MAX)),
        double_value: Some(0.0),
        long_value: Some(0),
        ..Default::default()
    }
}

fn ports(name: &str, set: &BTreeSet<u16>) -> Resource {
    Resource {
        name: Some(name.to_string()),
        r#type: Some("STRINGSET".to_string()),
        string_set_value: Some(set.iter().map(u16::to_string).collect()),
        double_value: Some(0.0),
        long_value: Some(0),
        integer_value: Some(0),
    }
}

/// How long a describe on a shared store waits for this replica's task index to hold every
/// task change up to the store's revision (one progress round trip while etcd answers).
const COUNTS_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// Makes this replica's task index hold every task change committed before now, so the
/// counts that follow are no staler than the store (see [`task_counts`]). One server on
/// SQLite has every change in its index's watch at commit.
async fn index_current<S: Store>(st: &AppState<S>) -> Result<()> {
    st.task_index.ready().await;
    if st.store.kind() != "sqlite" {
        let revision = st.store.revision().await?;
        task_index::catch_up(&st.store, &st.task_index, revision, COUNTS_CATCH_UP).await;
    }
    Ok(())
}

/// Running and pending task counts of instance `id`: its tasks not yet STOPPED, found in
/// the server's task index (instance → task keys) and each read from the store, so a call
/// costs O(tasks of the instances asked), not O(tasks of the cluster).
async fn task_counts<S: Store>(st: &AppState<S>, id: &str) -> Result<(i32, i32)> {
    let mut out = (0, 0);
    for t in task_index::records_of(&st.store, &st.task_index, id).await? {
        match t.last_status {
            TaskStatus::Running => out.0 += 1,
            s if s < TaskStatus::Running => out.1 += 1,
            _ => {}
        }
    }
    Ok(out)
}

pub fn render_attributes(rec: &InstanceRecord) -> Vec<Attribute> {
    rec.attributes()
        .into_iter()
        .map(|(name, value)| Attribute {
            name: Some(name),
            value,
            ..Default::default()
        })
        .collect()
}

fn render<S>(
    st: &AppState<S>,
    i: &Versioned<InstanceRecord>,
    counts: (i32, i32),
) -> ContainerInstance {
    let r = &i.value;
    ContainerInstance {
        container_instance_arn: Some(st.arns.container_instance(&r.cluster, &r.id)),
        // The node id: `mi-…` for an EXTERNAL host, `i-…` for an EC2 join, as ECS shows them.
        ec2_instance_id: r.node_id.clone(),
        version: Some(i64::try_from(i.revision).unwrap_or(i64::MAX)),
        version_info: Some(VersionInfo {
            agent_version: Some(r.agent_version.clone()),
            ..Default::default()
        }),
        registered_resources: Some(vec![
            int("CPU", r.cpu),
            int("MEMORY", r.memory),
            ports("PORTS", &r.reserved_ports),
            ports("PORTS_UDP", &r.reserved_ports),
        ]),
        remaining_resources: Some(vec![
            int("CPU", r.remaining_cpu()),
            int("MEMORY", r.remaining_memory()),
            ports("PORTS", &r.busy_tcp()),
            ports("PORTS_UDP", &r.busy_udp()),
        ]),
        status: Some(r.status.as_str().to_string()),
        agent_connected: Some(r.agent_connected),
        running_tasks_count: Some(counts.0),
        pending_tasks_count: Some(counts.1),
        attributes: Some(render_attributes(r)),
        registered_at: Some(r.registered_at),
        attachments: Some(Vec::new()),
        ..Default::default()
    }
}

pub async fn list_container_instances<S: Store>(
    st: &AppState<S>,
    req: ListContainerInstancesRequest,
) -> Result<ListContainerInstancesResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let filter = req
        .filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(constraints::filter)
        .transpose()?;
    let want = req.status.as_deref();
    let (instances, views) = placement::snapshot(st, &cluster).await?;
    let items = instances
        .into_iter()
        .zip(views)
        .filter(|(i, v)| {
            let status = match want {
                Some(s) => i.value.status.as_str() == s,
                None => i.value.status != InstanceStatus::Inactive,
            };
            status && filter.as_ref().is_none_or(|f| f.matches(v))
        })
        .map(|(i, _)| i)
        .map(|i| {
            (
                i.value.id.clone(),
                st.arns.container_instance(&cluster, &i.value.id),
            )
        })
        .collect();
    let (arns, next_token) = paging::page(items, req.next_token.as_deref(), req.max_results, true)?;
    Ok(ListContainerInstancesResponse {
        container_instance_arns: Some(arns),
        next_token,
    })
}

pub async fn describe_container_instances<S: Store>(
    st: &AppState<S>,
    req: DescribeContainerInstancesRequest,
) -> Result<DescribeContainerInstancesResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let wanted = req.container_instances.unwrap_or_default();
    if wanted.is_empty() || wanted.len() > 100 {
        return Err(invalid(
            "containerInstances must name between 1 and 100 container instances.",
        ));
    }
    index_current(st).await?;
    let wants_tags = req.include.unwrap_or_default().iter().any(|i| i == "TAGS");
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for w in &wanted {
        let id = arn::short_id(w);
        match db::get::<S, InstanceRecord>(&st.store, &instance_key(&cluster, id)).await? {
            Some(i) => {
                let mut ci = render(st, &i, task_counts(st, id).await?);
                // The record's flag may be another replica's last word: ask the presence.
                ci.agent_connected = Some(crate::ha::presence::connected(st, id, &i.value).await?);
                if wants_tags {
                    let a = st.arns.container_instance(&cluster, id);
                    ci.tags = Some(tags::read(st, &a).await?);
                }
                out.push(ci);
            }
            None => failures.push(Failure {
                arn: Some(st.arns.container_instance(&cluster, id)),
                reason: Some("MISSING".to_string()),
                detail: None,
            }),
        }
    }
    Ok(DescribeContainerInstancesResponse {
        container_instances: Some(out),
        failures: Some(failures),
    })
}

pub async fn update_container_instances_state<S: Store>(
    st: &AppState<S>,
    req: UpdateContainerInstancesStateRequest,
) -> Result<UpdateContainerInstancesStateResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let status = match req.status.as_deref() {
        Some("ACTIVE") => InstanceStatus::Active,
        Some("DRAINING") => InstanceStatus::Draining,
        other => {
            return Err(invalid(format!(
            "status {} is not allowed: container instances can only be set to ACTIVE or DRAINING.",
            other.unwrap_or("(none)")
        )))
        }
    };
    let wanted = req.container_instances.unwrap_or_default();
    if wanted.len() > 10 {
        return Err(invalid(
            "containerInstances can name at most 10 container instances.",
        ));
    }
    index_current(st).await?;
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for w in &wanted {
        let id = arn::short_id(w);
        let key = instance_key(&cluster, id);
        let changed = update(&st.store, &key, |i: Option<InstanceRecord>| {
            Ok(match i {
                Some(mut i) if i.status != InstanceStatus::Inactive => {
                    i.status = status;
                    Edit::put(i, true)
                }
                _ => Edit::Keep(false),
            })
        })
        .await;
        let done = match changed {
            Ok(true) => db::get::<S, InstanceRecord>(&st.store, &key).await?,
            // As ECS: a target that could not be changed is a failure of its own.
            Ok(false) | Err(Error::Contention { .. }) => None,
            Err(e) => return Err(e),
        };
        match done {
            Some(i) => {
                let mut ci = render(st, &i, task_counts(st, id).await?);
                ci.agent_connected = Some(crate::ha::presence::connected(st, id, &i.value).await?);
                out.push(ci);
            }
            None => failures.push(Failure {
                arn: Some(st.arns.container_instance(&cluster, id)),
                reason: Some("MISSING".to_string()),
                detail: None,
            }),
        }
    }
    Ok(UpdateContainerInstancesStateResponse {
        container_instances: Some(out),
        failures: Some(failures),
    })
}

pub async fn deregister_container_instance<S: Store>(
    st: &AppState<S>,
    req: DeregisterContainerInstanceRequest,
) -> Result<DeregisterContainerInstanceResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let id = arn::short_id(req.container_instance.as_deref().unwrap_or_default()).to_string();
    let key = instance_key(&cluster, &id);
    let force = req.force.unwrap_or(false);
    let key = &key;
    let id = &id;
    let cluster = &cluster;
    retry(
        || format!("container instance {id}"),
        || async move {
            let i = registered(st, cluster, id).await?;
            let live: Vec<Versioned<TaskRecord>> =
                db::list::<S, TaskRecord>(&st.store, &tasks_of(cluster))
                    .await?
                    .into_iter()
                    .filter(|t| {
                        t.value.instance_id.as_deref() == Some(id)
                            && t.value.last_status != TaskStatus::Stopped
                    })
                    .collect();
            if !live.is_empty() && !force {
                return Err(invalid(
                    "Found running tasks on the instance. Stop them first, or deregister with force to stop them.",
                ));
            }
            let mut compares = vec![db::unchanged(key, i.revision)];
            let mut ops = Vec::new();
            let at = st.clock.now();
            for t in &live {
                let mut rec = t.value.clone();
                rec.desired_status = TaskStatus::Stopped;
                rec.last_status = TaskStatus::Stopped;
                rec.stop_code
                    .get_or_insert_with(|| stop_code::INFRASTRUCTURE_HEALTH.to_string());
                rec.stopped_reason.get_or_insert_with(|| {
                    "Container instance deregistration forced by user".to_string()
                });
                rec.stopping_at.get_or_insert(at);
                rec.stopped_at = Some(at);
                rec.released = true;
                compares.push(db::unchanged(&t.key, t.revision));
                ops.push(db::put(&task_key(cluster, &rec.id), &rec)?);
            }
            let mut rec = i.value.clone();
            rec.status = InstanceStatus::Inactive;
            rec.agent_connected = false;
            rec.used = Allocation::default();
            rec.groups = Some(Default::default());
            ops.push(db::put(key, &rec)?);
            if db::commit(&st.store, compares, ops).await? {
                tracing::info!(cluster = %cluster, instance = %id, "container instance deregistered");
                // The host's credential goes with it: its session closes now and it cannot
                // come back without joining again.
                if let Some(node) = &rec.node_id {
                    crate::nodes::revoke(st, node, &format!("container instance {id} was deregistered")).await?;
                }
                let counts = (0, 0);
                let after = Versioned {
                    key: key.clone(),
                    value: rec,
                    revision: i.revision,
                };
                return Ok(Attempt::Done(DeregisterContainerInstanceResponse {
                    container_instance: Some(render(st, &after, counts)),
                }));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await
}

/// The instance `id` of `cluster`, unless it is unknown there or deregistered (INACTIVE).
pub(crate) async fn registered<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
) -> Result<Versioned<InstanceRecord>> {
    db::get::<S, InstanceRecord>(&st.store, &instance_key(cluster, id))
        .await?
        .filter(|i| i.value.status != InstanceStatus::Inactive)
        .ok_or_else(|| {
            invalid(format!(
                "Container instance {id} was not found in cluster {cluster}; check the id with ListContainerInstances."
            ))
        })
}
