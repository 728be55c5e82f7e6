//! Counting, as ECS documents it: which tasks are live, wanted and healthy, the minimum
//! healthy and maximum totals a deployment keeps within, and health-check grace periods.

use gantry_api::{TaskStatus, Timestamp};

use crate::persistence::records::TaskRecord;

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

/// Does the task definition define a health check on an essential container?
pub fn has_health_check(t: &TaskRecord) -> bool {
    t.definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|c| c.health_check.is_some() && c.essential != Some(false))
}

pub fn live(t: &TaskRecord) -> bool {
    t.last_status != TaskStatus::Stopped
}

pub fn wanted(t: &TaskRecord) -> bool {
    live(t) && t.desired_status == TaskStatus::Running
}

/// Counts toward the minimum healthy percent.
pub fn healthy(t: &TaskRecord) -> bool {
    wanted(t)
        && t.last_status == TaskStatus::Running
        && (!has_health_check(t) || t.health_status.as_deref() == Some("HEALTHY"))
}

pub fn grace_ends(t: &TaskRecord, grace: Option<i32>) -> Timestamp {
    t.started_at.unwrap_or(t.created_at) + f64::from(grace.unwrap_or(0).max(0))
}

/// Reports UNHEALTHY after its grace period: to be replaced.
pub fn unhealthy(t: &TaskRecord, grace: Option<i32>, now: Timestamp) -> bool {
    wanted(t)
        && t.last_status == TaskStatus::Running
        && has_health_check(t)
        && t.health_status.as_deref() == Some("UNHEALTHY")
        && now >= grace_ends(t, grace)
}

/// Best first: healthy, then running, then older, then by id.
pub fn rank(t: &TaskRecord) -> (bool, bool, u64, &str) {
    (
        !healthy(t),
        t.last_status != TaskStatus::Running,
        // Timestamps are finite and positive; their bits order like them.
        t.created_at.max(0.0).to_bits(),
        t.id.as_str(),
    )
}

/// The earliest end of a grace period still running among the wanted tasks with health
/// checks: the controller looks again then, since an UNHEALTHY task becomes replaceable.
pub fn next_grace_end(
    tasks: &[&TaskRecord],
    grace: Option<i32>,
    now: Timestamp,
) -> Option<Timestamp> {
    let mut requeue_at: Option<Timestamp> = None;
    for t in tasks.iter().filter(|t| wanted(t)) {
        if has_health_check(t) && t.last_status == TaskStatus::Running {
            let end = grace_ends(t, grace);
            if now < end {
                requeue_at = Some(requeue_at.map_or(end, |r: f64| r.min(end)));
            }
        }
    }
    requeue_at
}
