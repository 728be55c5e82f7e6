//! CreateCluster, DescribeClusters, ListClusters, DeleteCluster, and resolving the `cluster`
//! member every other operation takes.

use std::sync::LazyLock;

use gantry_api::model::{
    Cluster, CreateClusterRequest, CreateClusterResponse, DeleteClusterRequest,
    DeleteClusterResponse, DescribeClustersRequest, DescribeClustersResponse, Failure,
    ListClustersRequest, ListClustersResponse,
};
use gantry_api::{arn, ApiError, ErrorKind, TaskStatus};
use gantry_store::Store;
use regex::Regex;

use crate::aws::paging;
use crate::ecs::{cluster_update, tags};
use crate::error::{invalid, Error, Result};
use crate::persistence::db::{self, Versioned};
use crate::persistence::records::{
    cluster_key, instances_of, tasks_of, ClusterRecord, ClusterStatus, InstanceRecord,
    InstanceStatus, TaskRecord, CLUSTERS,
};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// The cluster used when a request names none.
pub const DEFAULT_CLUSTER: &str = "default";

static NAME: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new("^[a-zA-Z0-9_-]{1,255}$").ok());

/// The cluster name a request means: its short name, from a name or an ARN.
pub fn cluster_name(requested: Option<&str>) -> &str {
    match requested {
        None | Some("") => DEFAULT_CLUSTER,
        Some(c) => arn::short_id(c),
    }
}

fn check_name(name: &str) -> Result<()> {
    if NAME.as_ref().is_some_and(|re| re.is_match(name)) {
        Ok(())
    } else {
        Err(invalid(format!(
            "Cluster name {name:?} is invalid: use 1 to 255 letters, numbers, hyphens and underscores."
        )))
    }
}

/// The ACTIVE cluster `name`, or `ClusterNotFoundException`.
pub async fn active<S: Store>(st: &AppState<S>, name: &str) -> Result<Versioned<ClusterRecord>> {
    match db::get::<S, ClusterRecord>(&st.store, &cluster_key(name)).await? {
        Some(c) if c.value.status == ClusterStatus::Active => Ok(c),
        _ => Err(Error::Api(ApiError::cluster_not_found())),
    }
}

/// Creates cluster `name` unless it is ACTIVE already; returns it either way.
pub async fn ensure<S: Store>(
    st: &AppState<S>,
    name: &str,
    req: Option<&CreateClusterRequest>,
) -> Result<Versioned<ClusterRecord>> {
    check_name(name)?;
    let tag_map = tags::validated(req.and_then(|r| r.tags.as_deref()).unwrap_or_default())?;
    if let Some(r) = req {
        cluster_update::check_settings(r.settings.as_deref().unwrap_or_default())?;
        if let Some(c) = &r.configuration {
            cluster_update::check_configuration(c)?;
        }
        cluster_update::check_capacity_providers(
            st,
            r.capacity_providers.as_deref().unwrap_or_default(),
            r.default_capacity_provider_strategy
                .as_deref()
                .unwrap_or_default(),
        )
        .await?;
    }
    let key = cluster_key(name);
    let key = &key;
    let tag_map = &tag_map;
    retry(
        || format!("cluster {name}"),
        || async move {
            let current = db::get::<S, ClusterRecord>(&st.store, key).await?;
            if let Some(c) = &current {
                if c.value.status == ClusterStatus::Active {
                    return Ok(Attempt::Done(c.clone()));
                }
            }
            let record = ClusterRecord {
                name: name.to_string(),
                status: ClusterStatus::Active,
                created_at: st.clock.now(),
                settings: req.and_then(|r| r.settings.clone()).unwrap_or_default(),
                configuration: req.and_then(|r| r.configuration.clone()),
                service_connect_namespace: req
                    .and_then(|r| r.service_connect_defaults.as_ref())
                    .and_then(|d| d.namespace.clone())
                    .filter(|n| !n.is_empty()),
                capacity_providers: req
                    .and_then(|r| r.capacity_providers.clone())
                    .unwrap_or_default(),
                default_capacity_provider_strategy: cluster_update::filled(
                    req.and_then(|r| r.default_capacity_provider_strategy.as_deref())
                        .unwrap_or_default(),
                ),
            };
            let revision = current.map_or(0, |c| c.revision);
            let ops = vec![
                db::put(key, &record)?,
                tags::put_op(&st.arns.cluster(name), tag_map.clone())?,
            ];
            if db::commit(&st.store, vec![db::unchanged(key, revision)], ops).await? {
                tracing::info!(cluster = name, "cluster created");
                if let Some(c) = db::get(&st.store, key).await? {
                    return Ok(Attempt::Done(c));
                }
            }
            Ok(Attempt::Conflict)
        },
    )
    .await
}

struct Counts {
    instances: i32,
    running: i32,
    pending: i32,
}

async fn counts<S: Store>(st: &AppState<S>, name: &str) -> Result<Counts> {
    let instances = db::list::<S, InstanceRecord>(&st.store, &instances_of(name)).await?;
    let tasks = db::list::<S, TaskRecord>(&st.store, &tasks_of(name)).await?;
    let count = |f: &dyn Fn(&TaskRecord) -> bool| {
        i32::try_from(tasks.iter().filter(|t| f(&t.value)).count()).unwrap_or(i32::MAX)
    };
    Ok(Counts {
        instances: i32::try_from(
            instances
                .iter()
                .filter(|i| i.value.status != InstanceStatus::Inactive)
                .count(),
        )
        .unwrap_or(i32::MAX),
        running: count(&|t| t.last_status == TaskStatus::Running),
        pending: count(&|t| t.last_status < TaskStatus::Running),
    })
}

/// Cluster `c` as ECS shows it: the counts always; `statistics`, `tags`, `settings`,
/// `configuration` and `attachments` when `include` asks for them (ECS's `ClusterField`s);
/// capacity providers, the default strategy and the Service Connect namespace when set.
fn unless_empty<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

pub(crate) async fn render<S: Store>(
    st: &AppState<S>,
    c: &ClusterRecord,
    include: &[String],
) -> Result<Cluster> {
    let arn = st.arns.cluster(&c.name);
    let n = if c.status == ClusterStatus::Active {
        counts(st, &c.name).await?
    } else {
        Counts {
            instances: 0,
            running: 0,
            pending: 0,
        }
    };
    let wants = |f: &str| include.iter().any(|i| i == f);
    Ok(Cluster {
        cluster_name: Some(c.name.clone()),
        status: Some(
            match c.status {
                ClusterStatus::Active => "ACTIVE",
                ClusterStatus::Inactive => "INACTIVE",
            }
            .to_string(),
        ),
        registered_container_instances_count: Some(n.instances),
        running_tasks_count: Some(n.running),
        pending_tasks_count: Some(n.pending),
        active_services_count: Some(0),
        statistics: wants("STATISTICS").then(Vec::new),
        tags: if wants("TAGS") {
            Some(tags::read(st, &arn).await?)
        } else {
            None
        },
        settings: wants("SETTINGS").then(|| c.settings.clone()),
        configuration: if wants("CONFIGURATIONS") {
            c.configuration.clone()
        } else {
            None
        },
        attachments: wants("ATTACHMENTS").then(Vec::new),
        capacity_providers: unless_empty(&c.capacity_providers),
        default_capacity_provider_strategy: unless_empty(&c.default_capacity_provider_strategy),
        service_connect_defaults: c.service_connect_namespace.as_ref().map(|ns| {
            gantry_api::model::ClusterServiceConnectDefaults {
                namespace: Some(ns.clone()),
            }
        }),
        cluster_arn: Some(arn),
        ..Default::default()
    })
}

pub async fn create_cluster<S: Store>(
    st: &AppState<S>,
    req: CreateClusterRequest,
) -> Result<CreateClusterResponse> {
    let name = req
        .cluster_name
        .clone()
        .unwrap_or_else(|| DEFAULT_CLUSTER.to_string());
    let c = ensure(st, &name, Some(&req)).await?;
    Ok(CreateClusterResponse {
        // ECS shows a new cluster's statistics, settings and tags.
        cluster: Some(
            render(
                st,
                &c.value,
                &["STATISTICS", "SETTINGS", "TAGS", "CONFIGURATIONS"].map(String::from),
            )
            .await?,
        ),
    })
}

pub async fn describe_clusters<S: Store>(
    st: &AppState<S>,
    req: DescribeClustersRequest,
) -> Result<DescribeClustersResponse> {
    let names = req
        .clusters
        .unwrap_or_else(|| vec![DEFAULT_CLUSTER.to_string()]);
    if names.len() > 100 {
        return Err(invalid("clusters can name at most 100 clusters."));
    }
    let include = req.include.unwrap_or_default();
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for requested in &names {
        let name = cluster_name(Some(requested));
        match db::get::<S, ClusterRecord>(&st.store, &cluster_key(name)).await? {
            Some(c) => clusters.push(render(st, &c.value, &include).await?),
            None => failures.push(Failure {
                arn: Some(st.arns.cluster(name)),
                reason: Some("MISSING".to_string()),
                detail: None,
            }),
        }
    }
    Ok(DescribeClustersResponse {
        clusters: Some(clusters),
        failures: Some(failures),
    })
}

pub async fn list_clusters<S: Store>(
    st: &AppState<S>,
    req: ListClustersRequest,
) -> Result<ListClustersResponse> {
    let all = db::list::<S, ClusterRecord>(&st.store, CLUSTERS).await?;
    let items = all
        .into_iter()
        .filter(|c| c.value.status == ClusterStatus::Active)
        .map(|c| (c.value.name.clone(), st.arns.cluster(&c.value.name)))
        .collect();
    let (arns, next_token) = paging::page(items, req.next_token.as_deref(), req.max_results, true)?;
    Ok(ListClustersResponse {
        cluster_arns: Some(arns),
        next_token,
    })
}

pub async fn delete_cluster<S: Store>(
    st: &AppState<S>,
    req: DeleteClusterRequest,
) -> Result<DeleteClusterResponse> {
    let name = cluster_name(req.cluster.as_deref()).to_string();
    let name = &name;
    retry(
        || format!("cluster {name}"),
        || async move {
            let c = active(st, name).await?;
            let n = counts(st, name).await?;
            if n.instances > 0 {
                return Err(Error::Api(ApiError::new(
                    ErrorKind::ClusterContainsContainerInstances,
                    "The Cluster cannot be deleted while Container Instances are active or draining. Deregister them with DeregisterContainerInstance first.",
                )));
            }
            let services = db::list::<S, crate::persistence::service_records::ServiceRecord>(
                &st.store,
                &crate::persistence::service_records::services_of(name),
            )
            .await?;
            if services
                .iter()
                .any(|s| s.value.status != crate::persistence::service_records::ServiceStatus::Inactive)
            {
                return Err(Error::Api(ApiError::new(
                    ErrorKind::ClusterContainsServices,
                    "The Cluster cannot be deleted while Services are active. Delete them with DeleteService first.",
                )));
            }
            let tasks = db::list::<S, TaskRecord>(&st.store, &tasks_of(name)).await?;
            if tasks
                .iter()
                .any(|t| t.value.last_status != TaskStatus::Stopped)
            {
                return Err(Error::Api(ApiError::new(
                    ErrorKind::ClusterContainsTasks,
                    "The Cluster cannot be deleted while Tasks are active. Stop them with StopTask first.",
                )));
            }
            let mut record = c.value.clone();
            record.status = ClusterStatus::Inactive;
            // Registrations compare the cluster record too, so no instance can slip in between
            // the check above and this write.
            if db::commit(
                &st.store,
                vec![db::unchanged(&c.key, c.revision)],
                vec![db::put(&c.key, &record)?],
            )
            .await?
            {
                return Ok(Attempt::Done(DeleteClusterResponse {
                    cluster: Some(render(st, &record, &[]).await?),
                }));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await
}
