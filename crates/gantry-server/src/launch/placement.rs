//! Committing a placement: the scheduler plans over a snapshot, then each instance's share is
//! written in one transaction that compares the instance record's revision. The instance
//! record carries everything committed on it (`used`), so a concurrent RunTask that changed
//! the instance makes the compare fail, and the caller re-plans with a fresh snapshot. Two
//! plans can never over-commit an instance.

use std::collections::{BTreeMap, HashMap};

use gantry_api::model::Failure;
use gantry_scheduler::{
    Constraint, InstanceView, LaunchType, Reason, Status, Strategy, TaskRequest,
};
use gantry_store::Store;

use crate::ecs::tags;
use crate::error::{Error, Result};
use crate::persistence::db::{self, Versioned};
use crate::persistence::records::{
    instance_key, instances_of, task_key, tasks_of, Allocation, InstanceLaunchType, InstanceRecord,
    InstanceStatus, TaskRecord,
};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// Re-planning rounds without progress before RunTask gives up on the remaining tasks.
const ROUNDS_WITHOUT_PROGRESS: usize = 12;

/// What one task asks of its instance, as the scheduler checks it: its resources and the
/// attributes its network mode needs ([`gantry_scheduler::network_mode_attributes`]).
pub fn request(
    a: &Allocation,
    network_mode: Option<&str>,
    group: &str,
    launch_type: LaunchType,
) -> TaskRequest {
    let mut ports: Vec<u16> = a.tcp_ports.iter().copied().collect();
    ports.extend(a.udp_ports.iter().copied());
    TaskRequest {
        cpu: a.cpu,
        memory: a.memory,
        ports,
        group: group.to_string(),
        required_attributes: gantry_scheduler::network_mode_attributes(network_mode)
            .iter()
            .map(ToString::to_string)
            .collect(),
        launch_type,
    }
}

/// The launch type of the tasks instance `i` takes.
pub fn launch_type_of(i: &InstanceRecord) -> LaunchType {
    match i.launch_type {
        InstanceLaunchType::Ec2 => LaunchType::Ec2,
        InstanceLaunchType::External => LaunchType::External,
    }
}

fn request_of(t: &TaskRecord) -> TaskRequest {
    request(
        &t.allocation,
        t.definition.network_mode.as_deref(),
        &t.group,
        super::prepare::launch_type_of(&t.launch_type),
    )
}

/// Why `req` does not fit on `i` now, or `None` if it fits: the scheduler's own checks
/// ([`gantry_scheduler::check`]) on the record as it stands.
pub fn misfit(i: &InstanceRecord, req: &TaskRequest) -> Option<Reason> {
    gantry_scheduler::check(&view(i, BTreeMap::new()), req).err()
}

/// Writes `tasks` onto instance `i` if its record is still at the revision read, and every
/// task still fits. Returns the tasks as committed, or `None` when the instance changed.
pub async fn commit_on<S: Store>(
    st: &AppState<S>,
    i: &Versioned<InstanceRecord>,
    tasks: Vec<TaskRecord>,
    tags: &BTreeMap<String, String>,
) -> Result<Option<Vec<TaskRecord>>> {
    commit_counted(st, i, None, tasks, tags).await
}

/// [`commit_on`], given the task groups counted from the tasks when the record has none
/// yet (`groups: None`, written before they were kept): the compare on the record's
/// revision makes that count exact, so it is stored from here on.
async fn commit_counted<S: Store>(
    st: &AppState<S>,
    i: &Versioned<InstanceRecord>,
    counted: Option<&BTreeMap<String, u32>>,
    tasks: Vec<TaskRecord>,
    tags: &BTreeMap<String, String>,
) -> Result<Option<Vec<TaskRecord>>> {
    let mut rec = i.value.clone();
    if rec.groups.is_none() {
        rec.groups = counted.cloned();
    }
    let mut compares = Vec::with_capacity(tasks.len() + 1);
    compares.push(db::unchanged(&i.key, i.revision));
    let mut ops = Vec::with_capacity(tasks.len() * 2 + 1);
    for t in &tasks {
        // The scheduler promised this, but the invariant is ours to keep.
        if misfit(&rec, &request_of(t)).is_some() {
            return Ok(None);
        }
        rec.take_task(&t.allocation, &t.group);
        let key = task_key(&t.cluster, &t.id);
        compares.push(db::unchanged(&key, 0));
        ops.push(db::put(&key, t)?);
        if !tags.is_empty() {
            ops.push(tags::put_op(
                &st.arns.task(&t.cluster, &t.id),
                tags.clone(),
            )?);
        }
    }
    ops.push(db::put(&i.key, &rec)?);
    if db::commit(&st.store, compares, ops).await? {
        Ok(Some(tasks))
    } else {
        Ok(None)
    }
}

fn view(i: &InstanceRecord, task_groups: BTreeMap<String, u32>) -> InstanceView {
    let mut attributes: Vec<(String, String)> = i
        .attributes()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    attributes.push(("host".to_string(), i.hostname.clone()));
    InstanceView {
        id: i.id.clone(),
        schedulable: i.status == InstanceStatus::Active && i.agent_connected,
        status: match i.status {
            InstanceStatus::Active => Status::Active,
            InstanceStatus::Draining => Status::Draining,
            InstanceStatus::Inactive => Status::Inactive,
        },
        remaining_cpu: i.remaining_cpu(),
        remaining_memory: i.remaining_memory(),
        used_ports: i.busy_tcp().union(&i.busy_udp()).copied().collect(),
        attributes,
        task_count: task_groups.values().sum(),
        agent_connected: i.agent_connected,
        agent_version: i.agent_version.clone(),
        registered_at: i.registered_at,
        task_groups,
        launch_type: launch_type_of(i),
    }
}

/// The instances of `cluster` and the scheduler's view of each (same order), with the task
/// groups of the tasks still holding resources on them: the instance records' own counts,
/// or, when a record predates them, counted from every task of the cluster.
pub async fn snapshot<S: Store>(
    st: &AppState<S>,
    cluster: &str,
) -> Result<(Vec<Versioned<InstanceRecord>>, Vec<InstanceView>)> {
    let instances = db::list::<S, InstanceRecord>(&st.store, &instances_of(cluster)).await?;
    let mut counted = if instances.iter().all(|i| i.value.groups.is_some()) {
        HashMap::new()
    } else {
        count_groups(st, cluster).await?
    };
    let views = instances
        .iter()
        .map(|i| {
            let groups = match &i.value.groups {
                Some(g) => g.clone(),
                None => counted.remove(i.value.id.as_str()).unwrap_or_default(),
            };
            view(&i.value, groups)
        })
        .collect();
    Ok((instances, views))
}

/// Instance id → task group → tasks still holding resources there, from every task of
/// `cluster` (for instance records written before they counted their groups).
async fn count_groups<S: Store>(
    st: &AppState<S>,
    cluster: &str,
) -> Result<HashMap<String, BTreeMap<String, u32>>> {
    #[derive(serde::Deserialize)]
    struct Held {
        instance_id: Option<String>,
        group: String,
        #[serde(default)]
        released: bool,
    }
    let mut out: HashMap<String, BTreeMap<String, u32>> = HashMap::new();
    for rec in st.store.list(&tasks_of(cluster)).await? {
        let t: Held = serde_json::from_slice(&rec.value).map_err(|source| Error::Corrupt {
            key: rec.key.clone(),
            source,
        })?;
        if let (false, Some(id)) = (t.released, t.instance_id) {
            *out.entry(id).or_default().entry(t.group).or_default() += 1;
        }
    }
    Ok(out)
}

/// One task made by `make` (given the instance's launch type) on instance `id` (StartTask,
/// DAEMON services), re-checked at commit. `launch_type` None takes the instance's own
/// (StartTask names its instance); a DAEMON service's is its own. `Err` holds ECS's failure
/// reason (`MISSING`, `RESOURCE:MEMORY`, `ATTRIBUTE`, ...).
#[allow(clippy::too_many_arguments)]
pub async fn start_on<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
    allocation: &Allocation,
    network_mode: Option<&str>,
    launch_type: Option<LaunchType>,
    make: impl Fn(LaunchType) -> TaskRecord,
    tags: &BTreeMap<String, String>,
) -> Result<std::result::Result<TaskRecord, Reason>> {
    let base = &request(allocation, network_mode, "", LaunchType::Ec2);
    let make = &make;
    let key = &instance_key(cluster, id);
    let attempt = move || async move {
        let Some(i) = db::get::<S, InstanceRecord>(&st.store, key)
            .await?
            .filter(|i| i.value.status != InstanceStatus::Inactive)
        else {
            return Ok(Attempt::Done(Err(Reason::Missing)));
        };
        let mut req = base.clone();
        req.launch_type = launch_type.unwrap_or_else(|| launch_type_of(&i.value));
        if let Some(why) = misfit(&i.value, &req) {
            return Ok(Attempt::Done(Err(why)));
        }
        Ok(
            match commit_on(st, &i, vec![make(req.launch_type)], tags)
                .await?
                .and_then(|mut d| d.pop())
            {
                Some(t) => Attempt::Done(Ok(t)),
                None => Attempt::Conflict,
            },
        )
    };
    // Losing every race for one instance is a placement failure, as ECS reports it, not an
    // error of the call.
    match retry(|| format!("instance {id}"), attempt).await {
        Err(Error::Contention { .. }) => Ok(Err(Reason::Contention)),
        r => r,
    }
}

/// How to choose among the instances that fit: the strategies, the task group the new
/// tasks join (for `spread` and `distinctInstance`), the placement constraints (the
/// call's and the task definition's, parsed by [`crate::launch::constraints`] before placing), and
/// the task definition's network mode (only nodes that run it are candidates).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules<'a> {
    pub strategies: &'a [Strategy],
    pub group: &'a str,
    pub constraints: &'a [Constraint],
    pub network_mode: Option<&'a str>,
    /// Only instances of this launch type are candidates.
    pub launch_type: LaunchType,
}

/// The one call into the scheduler, for RunTask and services alike.
fn plan(
    views: &[InstanceView],
    requests: &[TaskRequest],
    rules: Rules<'_>,
    seed: u64,
) -> gantry_scheduler::Plan {
    gantry_scheduler::place_with(views, requests, rules.strategies, rules.constraints, seed)
}

/// What RunTask placed and what it could not.
#[derive(Debug, Default)]
pub struct Outcome {
    pub tasks: Vec<TaskRecord>,
    pub failures: Vec<Failure>,
}

/// Places `count` tasks made by `make` (given the chosen instance id) in `cluster`.
pub async fn run<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    count: usize,
    allocation: &Allocation,
    rules: Rules<'_>,
    tags: &BTreeMap<String, String>,
    make: impl Fn(&str) -> TaskRecord,
) -> Result<Outcome> {
    let mut out = Outcome::default();
    let mut idle_rounds = 0;
    let request = request(
        allocation,
        rules.network_mode,
        rules.group,
        rules.launch_type,
    );
    while out.tasks.len() < count && idle_rounds < ROUNDS_WITHOUT_PROGRESS {
        let (instances, views) = snapshot(st, cluster).await?;
        let wanted = count - out.tasks.len();
        let requests = vec![request.clone(); wanted];
        let plan = plan(&views, &requests, rules, rand::random());
        let mut by_instance: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, id) in &plan.placements {
            *by_instance.entry(id.as_str()).or_default() += 1;
        }
        // Each instance's share is its own transaction, all sent at once: the store's
        // writer folds them into one commit instead of one commit (and fsync) each.
        let commits = by_instance.into_iter().filter_map(|(id, n)| {
            let i = instances.iter().find(|i| i.value.id == id)?;
            let counted = views.iter().find(|v| v.id == id).map(|v| &v.task_groups);
            let batch = (0..n).map(|_| make(id)).collect();
            Some(commit_counted(st, i, counted, batch, tags))
        });
        let mut progress = false;
        let mut conflicted = false;
        for done in futures_util::future::join_all(commits).await {
            match done? {
                Some(done) => {
                    out.tasks.extend(done);
                    progress = true;
                }
                None => conflicted = true,
            }
        }
        if !plan.failures.is_empty() && !conflicted {
            // The snapshot was current and still could not hold them: report, don't retry.
            out.failures = explain(st, cluster, &request, &plan.failures).await?;
            break;
        }
        idle_rounds = if progress { 0 } else { idle_rounds + 1 };
        if conflicted && !progress {
            // Others won every instance we wanted: back off a random, growing while so
            // concurrent placers stop colliding, instead of giving up.
            let cap_ms = 1u64 << idle_rounds.min(6);
            let wait = rand::random::<u64>() % (cap_ms * 1000);
            tokio::time::sleep(std::time::Duration::from_micros(wait)).await;
        }
    }
    if out.tasks.len() < count && out.failures.is_empty() {
        out.failures.push(Failure {
            arn: None,
            reason: Some(Reason::Contention.to_string()),
            detail: Some(
                "The cluster kept changing while these tasks were placed; run them again."
                    .to_string(),
            ),
        });
    }
    Ok(out)
}

/// ECS reports why each instance could not take the task: `{arn: instance, reason}`.
async fn explain<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    request: &TaskRequest,
    planned: &[gantry_scheduler::Failure],
) -> Result<Vec<Failure>> {
    let mut out: Vec<Failure> = Vec::new();
    for i in db::list::<S, InstanceRecord>(&st.store, &instances_of(cluster)).await? {
        // Draining instances take no tasks by choice; ECS does not list them as failures.
        if i.value.status != InstanceStatus::Active {
            continue;
        }
        // Nor instances of the other launch type: they were never candidates.
        if launch_type_of(&i.value) != request.launch_type {
            continue;
        }
        if let Some(reason) = misfit(&i.value, request) {
            out.push(Failure {
                arn: Some(st.arns.container_instance(cluster, &i.value.id)),
                reason: Some(reason.to_string()),
                detail: None,
            });
        }
    }
    // Constraints are not the instances' fault: always say so. Otherwise, when each instance
    // fits one more task but not all of them, say what the scheduler saw.
    let fits_each = out.is_empty();
    for f in planned {
        if (fits_each || f.reason.is_constraint())
            && !out
                .iter()
                .any(|o| o.reason.as_deref() == Some(f.reason.as_str()))
        {
            out.push(Failure {
                arn: None,
                reason: Some(f.reason.to_string()),
                detail: Some(f.detail.clone()),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
