//! The deployment circuit breaker: failed launches are counted per deployment; when the
//! PRIMARY deployment's reach the threshold it fails, and with rollback on, the last
//! completed task definition becomes PRIMARY again.

use std::collections::BTreeSet;

use gantry_api::status::stop_code;
use gantry_api::{TaskStatus, Timestamp};

use super::actions::Status;
use super::counting::has_health_check;
use super::events::UNHEALTHY_REASON;
use crate::persistence::records::TaskRecord;
use crate::persistence::service_records::{
    CircuitBreaker, DeploymentRecord, DeploymentStatus, RolloutState,
};

/// Failed launches that trip the circuit breaker: `ceil(0.5 × desired)`, within 3..=200.
pub fn failure_threshold(desired: i32) -> i32 {
    ((desired.max(0) + 1) / 2).clamp(3, 200)
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

/// Counts each deployment's failed launches among `tasks` (all of the service's tasks in
/// the store), each task once: a task counted before is remembered by id while it is still
/// in the store, so the count neither repeats nor goes down when stopped tasks expire.
pub fn count_failures(deployments: &mut [DeploymentRecord], tasks: &[&TaskRecord]) {
    for dep in deployments {
        let failed: BTreeSet<String> = tasks
            .iter()
            .filter(|t| t.started_by.as_deref() == Some(dep.id.as_str()) && failed_launch(t))
            .map(|t| t.id.clone())
            .collect();
        let new = match &dep.counted_failures {
            Some(counted) => failed.iter().filter(|id| !counted.contains(*id)).count(),
            // A record from before ids were kept: its count already covers (as a
            // maximum) the failed tasks still in the store.
            None => failed
                .len()
                .saturating_sub(dep.failed_tasks.max(0) as usize),
        };
        dep.failed_tasks = dep
            .failed_tasks
            .saturating_add(i32::try_from(new).unwrap_or(i32::MAX));
        dep.counted_failures = Some(failed);
    }
}

/// Trips the breaker of the PRIMARY deployment in progress if it failed often enough, and
/// rolls back when asked to. Returns the events to record.
pub fn trip(
    st: &mut Status,
    cb: CircuitBreaker,
    desired: i32,
    name: &str,
    now: Timestamp,
) -> Vec<String> {
    let mut events = Vec::new();
    let Some(p) = st
        .deployments
        .iter()
        .position(|x| x.status == DeploymentStatus::Primary)
    else {
        return events;
    };
    let dep = &st.deployments[p];
    if !(cb.enable
        && dep.rollout_state == RolloutState::InProgress
        && dep.failed_tasks >= failure_threshold(desired))
    {
        return events;
    }
    let failed_id = dep.id.clone();
    let dep = &mut st.deployments[p];
    dep.rollout_state = RolloutState::Failed;
    dep.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start.".to_string();
    dep.updated_at = now;
    events.push(format!(
        "(service {name}) (deployment {failed_id}) deployment failed: tasks failed to start."
    ));
    // A rollback that fails is not rolled back again: its service deployment is
    // ROLLBACK_FAILED.
    if cb.rollback && !st.deployments[p].rollback {
        events.extend(roll_back(
            st,
            p,
            |back| format!(
                "ECS deployment circuit breaker: rolling back to the last completed task definition {back} after deployment {failed_id} failed."
            ),
            name,
            now,
        ));
    }
    events
}

/// Rolls the deployment at `st.deployments[p]` back to the last completed task definition,
/// if there is one: a new PRIMARY deployment of it, part of the same service deployment.
/// `reason(task definition)` is its rollout reason. Returns the events to record.
pub fn roll_back(
    st: &mut Status,
    p: usize,
    reason: impl FnOnce(&str) -> String,
    name: &str,
    now: Timestamp,
) -> Vec<String> {
    let mut events = Vec::new();
    let Some(back) = st.last_completed.clone() else {
        return events;
    };
    let dep = &mut st.deployments[p];
    let failed_id = dep.id.clone();
    let service_deployment = dep.service_deployment.clone();
    dep.status = DeploymentStatus::Active;
    dep.updated_at = now;
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
            rollout_state_reason: reason(&back),
            failed_tasks: 0,
            counted_failures: Some(Default::default()),
            service_deployment,
            revision: st.last_completed_revision.clone(),
            rollback: true,
        },
    );
    st.task_definition = back;
    events
}

/// A StopServiceDeployment with ROLLBACK asked to roll back service deployment `sd`: its
/// PRIMARY deployment still in progress goes back to the last completed task definition.
/// The request is consumed either way. Returns the events to record.
pub fn requested_rollback(st: &mut Status, name: &str, now: Timestamp) -> Vec<String> {
    let Some(sd) = st.rollback_requested.take() else {
        return Vec::new();
    };
    let Some(p) = st.deployments.iter().position(|x| {
        x.status == DeploymentStatus::Primary
            && x.rollout_state == RolloutState::InProgress
            && !x.rollback
            && x.service_deployment.as_deref() == Some(sd.as_str())
    }) else {
        return Vec::new();
    };
    let stopped_id = st.deployments[p].id.clone();
    let dep = &mut st.deployments[p];
    dep.rollout_state = RolloutState::Failed;
    dep.rollout_state_reason = "ECS deployment stopped by StopServiceDeployment.".to_string();
    dep.updated_at = now;
    roll_back(
        st,
        p,
        |back| {
            format!(
            "Rolling back to the last completed task definition {back} after deployment {stopped_id} was stopped."
        )
        },
        name,
        now,
    )
}
