//! The service controller's business logic, as a pure function (STYLE.md §1):
//! `reconcile(service, tasks of the service, instances, now) -> Actions`. No I/O, no clock,
//! no randomness: the same inputs give the same actions, so running it twice is harmless and
//! its tests need no server. [`crate::controller`] is the I/O shell that applies the actions.
//!
//! Counting, as ECS documents it:
//! - a task is *live* until it is STOPPED, whatever its desired status: live tasks count
//!   toward `maximumPercent` (`floor(desired × max% / 100)`), because a task being stopped
//!   still holds its instance;
//! - a task is *healthy* when it is wanted RUNNING, is RUNNING, and, if its task definition
//!   has container health checks, reports HEALTHY: healthy tasks count toward
//!   `minimumHealthyPercent` (`ceil(desired × min% / 100)`);
//! - the scheduler starts tasks of the PRIMARY deployment while the live total stays within
//!   the maximum, and stops unwanted tasks (older deployments, excess, unhealthy, on draining
//!   instances) while the healthy count stays at or above the minimum. Stopping a task that is
//!   not healthy never lowers the healthy count, so it is always allowed, except that an
//!   unhealthy or draining task of the PRIMARY deployment waits for its replacement when
//!   there is room to start one first.

use std::collections::{BTreeMap, BTreeSet};

use gantry_api::status::stop_code;
use gantry_api::{TaskStatus, Timestamp};

use crate::persistence::records::{InstanceRecord, InstanceStatus, TaskRecord};
use crate::persistence::service_records::{
    DeploymentRecord, DeploymentStatus, RolloutState, SchedulingStrategy, ServiceRecord,
    ServiceStatus,
};

/// The stop reason of a task replaced for failing its health checks (ECS's words).
pub const UNHEALTHY_REASON: &str = "Task failed container health checks";

/// Start `count` tasks of deployment `deployment_id`; on `instance` if set (DAEMON), else
/// wherever placement puts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub deployment_id: String,
    pub task_definition: String,
    pub count: usize,
    pub instance: Option<String>,
}

/// The part of a service record the controller owns, as it should be after this round.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub status: ServiceStatus,
    pub desired_count: i32,
    pub task_definition: String,
    pub deployments: Vec<DeploymentRecord>,
    pub last_completed: Option<String>,
    pub steady: bool,
}

impl Status {
    fn of(s: &ServiceRecord) -> Self {
        Self {
            status: s.status,
            desired_count: s.desired_count,
            task_definition: s.task_definition.clone(),
            deployments: s.deployments.clone(),
            last_completed: s.last_completed.clone(),
            steady: s.steady,
        }
    }

    /// Is this different from what `s` holds?
    pub fn differs(&self, s: &ServiceRecord) -> bool {
        *self != Self::of(s)
    }

    pub fn apply_to(&self, s: &mut ServiceRecord) {
        s.status = self.status;
        s.desired_count = self.desired_count;
        s.task_definition.clone_from(&self.task_definition);
        s.deployments.clone_from(&self.deployments);
        s.last_completed.clone_from(&self.last_completed);
        s.steady = self.steady;
    }
}

/// What the controller should do now.
#[derive(Debug, Clone, PartialEq)]
pub struct Actions {
    pub start: Vec<Start>,
    /// `(task id, stoppedReason)`; the stop code is always `ServiceSchedulerInitiated`.
    pub stop: Vec<(String, String)>,
    pub status: Status,
    /// Event messages, oldest first.
    pub events: Vec<String>,
    /// Reconcile again at this time even if nothing changes (a grace period ends).
    pub requeue_at: Option<Timestamp>,
}

/// `ceil(desired × percent / 100)`: ECS rounds the minimum healthy count up.
pub fn minimum_healthy(desired: i32, percent: i32) -> usize {
    let n = i64::from(desired.max(0)) * i64::from(percent.max(0));
    usize::try_from((n + 99) / 100).unwrap_or(0)
}

/// `floor(desired × percent / 100)`: ECS rounds the maximum down.
pub fn maximum_total(desired: i32, percent: i32) -> usize {
    let n = i64::from(desired.max(0)) * i64::from(percent.max(0));
    usize::try_from(n / 100).unwrap_or(0)
}

/// Failed launches that trip the circuit breaker: `ceil(0.5 × desired)`, within 3..=200.
pub fn failure_threshold(desired: i32) -> i32 {
    ((desired.max(0) + 1) / 2).clamp(3, 200)
}

/// Does the task definition define a health check on an essential container?
pub fn has_health_check(t: &TaskRecord) -> bool {
    t.definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|c| c.health_check.is_some() && c.essential != Some(false))
}

fn live(t: &TaskRecord) -> bool {
    t.last_status != TaskStatus::Stopped
}

fn wanted(t: &TaskRecord) -> bool {
    live(t) && t.desired_status == TaskStatus::Running
}

/// Counts toward the minimum healthy percent.
pub fn healthy(t: &TaskRecord) -> bool {
    wanted(t)
        && t.last_status == TaskStatus::Running
        && (!has_health_check(t) || t.health_status.as_deref() == Some("HEALTHY"))
}

fn grace_ends(t: &TaskRecord, grace: Option<i32>) -> Timestamp {
    t.started_at.unwrap_or(t.created_at) + f64::from(grace.unwrap_or(0).max(0))
}

/// Reports UNHEALTHY after its grace period: to be replaced.
fn unhealthy(t: &TaskRecord, grace: Option<i32>, now: Timestamp) -> bool {
    wanted(t)
        && t.last_status == TaskStatus::Running
        && has_health_check(t)
        && t.health_status.as_deref() == Some("UNHEALTHY")
        && now >= grace_ends(t, grace)
}

/// A task that stopped before it ever counted healthy, for a reason of its own: a failed
/// launch for the circuit breaker.
pub fn failed_launch(t: &TaskRecord) -> bool {
    if t.last_status != TaskStatus::Stopped {
        return false;
    }
    let ever_healthy = if has_health_check(t) {
        t.first_healthy_at.is_some()
    } else {
        t.started_at.is_some()
    };
    let by_us = match t.stop_code.as_deref() {
        Some(stop_code::INFRASTRUCTURE_HEALTH | stop_code::USER_INITIATED) => true,
        Some(stop_code::SERVICE_SCHEDULER_INITIATED) => {
            t.stopped_reason.as_deref() != Some(UNHEALTHY_REASON)
        }
        _ => false,
    };
    !ever_healthy && !by_us
}

/// Why an unwanted task goes, in the order such tasks are considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Why {
    Unhealthy,
    Draining,
    Unmatched,
    Old,
    Excess,
}

struct Unwanted<'a> {
    task: &'a TaskRecord,
    why: Why,
    /// Of the PRIMARY deployment: replace it before stopping it when there is room.
    replace_first: bool,
}

fn stable_id(seed: &str) -> String {
    // FNV-1a: a deterministic deployment id for a rollback, so reconciling twice agrees.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!(
        "ecs-svc/{}",
        h % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000
    )
}

fn chunks(name: &str, verb: &str, ids: &[String], out: &mut Vec<String>) {
    for part in ids.chunks(10) {
        let list: Vec<String> = part.iter().map(|id| format!("(task {id})")).collect();
        out.push(format!(
            "(service {name}) has {verb} {} tasks: {}.",
            part.len(),
            list.join(" ")
        ));
    }
}

/// The "has started N tasks" events for tasks the shell placed.
pub fn started_events(service: &str, task_ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    chunks(service, "started", task_ids, &mut out);
    out
}

/// The event for tasks that could not be placed, ECS's wording.
pub fn unplaced_event(service: &str, reason: &str) -> String {
    let what = match reason {
        "RESOURCE:CPU" => "has insufficient CPU units available",
        "RESOURCE:MEMORY" => "has insufficient memory available",
        "RESOURCE:PORTS" => "is already using a port required by your task",
        _ => "is not available (no ACTIVE container instance with a connected agent)",
    };
    format!(
        "(service {service}) was unable to place a task because no container instance met all of its requirements. The closest matching container-instance {what}. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
    )
}

/// Best first: healthy, then running, then older, then by id.
fn rank(t: &TaskRecord) -> (bool, bool, u64, &str) {
    (
        !healthy(t),
        t.last_status != TaskStatus::Running,
        // Timestamps are finite and positive; their bits order like them.
        t.created_at.max(0.0).to_bits(),
        t.id.as_str(),
    )
}

/// One reconcile of `service` over its tasks (`group == service:<name>`, any status) and the
/// instances of its cluster, at `now`.
#[cfg(test)]
pub fn reconcile(
    service: &ServiceRecord,
    tasks: &[TaskRecord],
    instances: &[InstanceRecord],
    now: Timestamp,
) -> Actions {
    reconcile_within(service, tasks, instances, &BTreeSet::new(), now)
}

/// [`reconcile`], where `unmatched` names the instances that do not meet the placement
/// constraints of the service and its task definition. A DAEMON service runs nothing there
/// and stops what it runs there; a REPLICA service leaves that to placement.
pub fn reconcile_within(
    service: &ServiceRecord,
    tasks: &[TaskRecord],
    instances: &[InstanceRecord],
    unmatched: &BTreeSet<String>,
    now: Timestamp,
) -> Actions {
    let mut st = Status::of(service);
    let mut events = Vec::new();
    let name = service.name.as_str();
    let deleting = service.status != ServiceStatus::Active;
    let by_id: BTreeMap<&str, &InstanceRecord> =
        instances.iter().map(|i| (i.id.as_str(), i)).collect();
    let daemon = service.scheduling_strategy == SchedulingStrategy::Daemon;
    let matches = |id: &str| !daemon || !unmatched.contains(id);
    let eligible: Vec<&InstanceRecord> = instances
        .iter()
        .filter(|i| i.status == InstanceStatus::Active && i.agent_connected && matches(&i.id))
        .collect();
    if daemon && !deleting {
        st.desired_count = i32::try_from(eligible.len()).unwrap_or(i32::MAX);
    }
    let desired = if deleting { 0 } else { st.desired_count };
    let d = usize::try_from(desired).unwrap_or(0);
    let cfg = service.deployment;
    let min_h = minimum_healthy(desired, cfg.minimum_healthy_percent);
    let max_t = maximum_total(desired, cfg.maximum_percent);
    let grace = service.health_check_grace_period_seconds;

    let mut sorted: Vec<&TaskRecord> = tasks.iter().collect();
    sorted.sort_by(|a, b| rank(a).cmp(&rank(b)));

    // Circuit breaker and failed-task counts, before anything is decided.
    for dep in &mut st.deployments {
        let failed = sorted
            .iter()
            .filter(|t| t.started_by.as_deref() == Some(dep.id.as_str()) && failed_launch(t))
            .count();
        dep.failed_tasks = dep
            .failed_tasks
            .max(i32::try_from(failed).unwrap_or(i32::MAX));
    }
    if let Some(p) = st
        .deployments
        .iter()
        .position(|x| x.status == DeploymentStatus::Primary)
    {
        let dep = &st.deployments[p];
        if !deleting
            && cfg.circuit_breaker.enable
            && dep.rollout_state == RolloutState::InProgress
            && dep.failed_tasks >= failure_threshold(desired)
        {
            let failed_id = dep.id.clone();
            let dep = &mut st.deployments[p];
            dep.rollout_state = RolloutState::Failed;
            dep.rollout_state_reason =
                "ECS deployment circuit breaker: tasks failed to start.".to_string();
            dep.updated_at = now;
            events.push(format!(
                "(service {name}) (deployment {failed_id}) deployment failed: tasks failed to start."
            ));
            if let (true, Some(back)) = (cfg.circuit_breaker.rollback, st.last_completed.clone()) {
                dep.status = DeploymentStatus::Active;
                let id = stable_id(&failed_id);
                events.push(format!(
                    "(service {name}) (deployment {id}) rolling back to task definition {back} after deployment {failed_id} failed."
                ));
                st.deployments.insert(
                    0,
                    DeploymentRecord {
                        id,
                        status: DeploymentStatus::Primary,
                        task_definition: back.clone(),
                        created_at: now,
                        updated_at: now,
                        rollout_state: RolloutState::InProgress,
                        rollout_state_reason: format!(
                            "ECS deployment circuit breaker: rolling back to the last completed task definition {back} after deployment {failed_id} failed."
                        ),
                        failed_tasks: 0,
                    },
                );
                st.task_definition = back;
            }
        }
    }
    let primary = st
        .deployments
        .iter()
        .find(|x| x.status == DeploymentStatus::Primary)
        .cloned();
    let primary_id = primary.as_ref().map(|p| p.id.clone()).unwrap_or_default();
    let launching = !deleting
        && primary
            .as_ref()
            .is_some_and(|p| p.rollout_state != RolloutState::Failed);
    let is_primary = |t: &TaskRecord| t.started_by.as_deref() == Some(primary_id.as_str());

    let total = sorted.iter().filter(|t| live(t)).count();
    let healthy_now = sorted.iter().filter(|t| healthy(t)).count();
    let mut unwanted: Vec<Unwanted<'_>> = Vec::new();
    let mut start: Vec<Start> = Vec::new();
    let mut requeue_at: Option<Timestamp> = None;
    let primary_healthy = sorted
        .iter()
        .filter(|t| healthy(t) && is_primary(t))
        .count();

    for t in sorted.iter().filter(|t| wanted(t)) {
        if has_health_check(t) && t.last_status == TaskStatus::Running {
            let end = grace_ends(t, grace);
            if now < end {
                requeue_at = Some(requeue_at.map_or(end, |r: f64| r.min(end)));
            }
        }
    }

    let mut kept: usize;
    if daemon {
        // One task of the PRIMARY deployment on every eligible instance.
        let mut on: BTreeMap<&str, Vec<&TaskRecord>> = BTreeMap::new();
        for t in sorted.iter().filter(|t| live(t)) {
            on.entry(t.instance_id.as_deref().unwrap_or_default())
                .or_default()
                .push(t);
        }
        kept = 0;
        let eligible_ids: BTreeSet<&str> = eligible.iter().map(|i| i.id.as_str()).collect();
        for t in sorted.iter().filter(|t| wanted(t)) {
            let at = t.instance_id.as_deref().unwrap_or_default();
            if eligible_ids.contains(at) {
                continue;
            }
            let i = by_id.get(at);
            let active = i.is_some_and(|i| i.status == InstanceStatus::Active);
            // Silent but not yet lost: liveness decides, not us.
            if active && matches(at) && !deleting {
                continue;
            }
            let why = if deleting {
                Why::Excess
            } else if active {
                Why::Unmatched
            } else {
                Why::Draining
            };
            unwanted.push(Unwanted {
                task: t,
                why,
                replace_first: false,
            });
        }
        for i in &eligible {
            let here = on.get(i.id.as_str()).cloned().unwrap_or_default();
            let mut have_primary = false;
            for t in here.iter().filter(|t| wanted(t)) {
                let why = if deleting {
                    Some(Why::Excess)
                } else if !is_primary(t) {
                    Some(Why::Old)
                } else if unhealthy(t, grace, now) {
                    Some(Why::Unhealthy)
                } else if have_primary {
                    Some(Why::Excess)
                } else {
                    have_primary = true;
                    kept += 1;
                    None
                };
                if let Some(why) = why {
                    unwanted.push(Unwanted {
                        task: t,
                        why,
                        replace_first: false,
                    });
                }
            }
            // Start only on an instance the service has nothing left on: an old task frees
            // its resources first.
            if launching && here.is_empty() {
                start.push(Start {
                    deployment_id: primary_id.clone(),
                    task_definition: st.task_definition.clone(),
                    count: 1,
                    instance: Some(i.id.clone()),
                });
            }
        }
    } else {
        let mut keep: Vec<&TaskRecord> = Vec::new();
        for t in sorted.iter().filter(|t| wanted(t)) {
            let inst = t.instance_id.as_deref().and_then(|i| by_id.get(i));
            let usable = inst.is_some_and(|i| i.status == InstanceStatus::Active);
            let why = if deleting {
                Some(Why::Excess)
            } else if !is_primary(t) {
                Some(Why::Old)
            } else if !usable {
                Some(Why::Draining)
            } else if unhealthy(t, grace, now) {
                Some(Why::Unhealthy)
            } else {
                None
            };
            match why {
                Some(why) => unwanted.push(Unwanted {
                    task: t,
                    why,
                    replace_first: is_primary(t) && why != Why::Excess,
                }),
                None => keep.push(t),
            }
        }
        // `keep` is best first: the surplus is its tail.
        for t in keep.iter().skip(d) {
            unwanted.push(Unwanted {
                task: t,
                why: Why::Excess,
                replace_first: false,
            });
        }
        kept = keep.len().min(d);
        if launching && kept < d {
            let n = (d - kept).min(max_t.saturating_sub(total));
            if n > 0 {
                start.push(Start {
                    deployment_id: primary_id.clone(),
                    task_definition: st.task_definition.clone(),
                    count: n,
                    instance: None,
                });
            }
        }
    }
    let starting: usize = start.iter().map(|s| s.count).sum();

    // Stops: the ones that cost no health first.
    unwanted.sort_by(|a, b| {
        (healthy(a.task), a.why, rank(a.task)).cmp(&(healthy(b.task), b.why, rank(b.task)))
    });
    let mut h = healthy_now;
    let mut stop = Vec::new();
    let mut stopped_ids = Vec::new();
    for u in &unwanted {
        let t = u.task;
        // A failed deployment without rollback stops launching; the old tasks stay.
        if !launching && !deleting && u.why == Why::Old {
            continue;
        }
        if healthy(t) {
            if h == 0 || h - 1 < min_h {
                continue;
            }
            h -= 1;
        } else if u.replace_first && !daemon && kept + starting < d && total + starting < max_t {
            continue;
        }
        let reason = match u.why {
            Why::Unhealthy => {
                events.push(format!(
                    "(service {name}) (task {}) failed container health checks.",
                    t.id
                ));
                UNHEALTHY_REASON.to_string()
            }
            Why::Draining => format!(
                "Task stopped because container instance {} is DRAINING.",
                t.instance_id.as_deref().unwrap_or("(none)")
            ),
            Why::Unmatched => format!(
                "Task stopped because container instance {} no longer meets the placement constraints of service {name}.",
                t.instance_id.as_deref().unwrap_or("(none)")
            ),
            Why::Old | Why::Excess if deleting => format!("Service {name} is being deleted."),
            Why::Old | Why::Excess => {
                format!("Scaling activity initiated by (deployment {primary_id})")
            }
        };
        stop.push((t.id.clone(), reason));
        stopped_ids.push(t.id.clone());
    }
    if !stopped_ids.is_empty() {
        chunks(name, "stopped", &stopped_ids, &mut events);
    }

    // Deployments: drop the drained old ones; complete the primary when it alone runs.
    let live_by_dep: BTreeMap<&str, usize> =
        sorted
            .iter()
            .filter(|t| live(t))
            .fold(BTreeMap::new(), |mut m, t| {
                *m.entry(t.started_by.as_deref().unwrap_or_default())
                    .or_default() += 1;
                m
            });
    // A failed deployment stays visible (rolloutState FAILED) until its replacement
    // completes; other drained ones go at once.
    st.deployments.retain(|x| {
        x.status == DeploymentStatus::Primary
            || live_by_dep.get(x.id.as_str()).copied() > Some(0)
            || x.rollout_state == RolloutState::Failed
    });
    let others_live = st.deployments.iter().any(|x| {
        x.status != DeploymentStatus::Primary && live_by_dep.get(x.id.as_str()).copied() > Some(0)
    });
    let settled = !deleting
        && primary.is_some()
        && !others_live
        && primary_healthy == d
        && total == d
        && start.is_empty()
        && stop.is_empty();
    if let Some(p) = st
        .deployments
        .iter_mut()
        .find(|x| x.status == DeploymentStatus::Primary)
    {
        if settled && p.rollout_state == RolloutState::InProgress {
            p.rollout_state = RolloutState::Completed;
            p.rollout_state_reason = format!("ECS deployment {} completed.", p.id);
            p.updated_at = now;
            st.last_completed = Some(p.task_definition.clone());
            events.push(format!(
                "(service {name}) (deployment {}) deployment completed.",
                p.id
            ));
        }
    }
    if settled {
        st.deployments
            .retain(|x| x.status == DeploymentStatus::Primary);
    }
    if settled && !st.steady {
        events.push(format!("(service {name}) has reached a steady state."));
    }
    st.steady = settled;
    if deleting && total == 0 {
        st.status = ServiceStatus::Inactive;
        st.desired_count = 0;
    }
    Actions {
        start,
        stop,
        status: st,
        events,
        requeue_at,
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
