//! The service controller's business logic, as a pure function (STYLE.md §1):
//! `reconcile(service, tasks of the service, instances, now) -> Actions`. No I/O, no clock,
//! no randomness: the same inputs give the same actions, so running it twice is harmless and
//! its tests need no server. [`super::controller`] is the I/O shell that applies the actions.
//!
//! The rules live beside it, one file each: [`super::counting`] (live, healthy, the minimum
//! and maximum a deployment keeps within, as ECS documents them), [`super::breaker`] (the
//! circuit breaker and rollback), [`super::rollout`] (when a deployment completes and the
//! service is steady) and [`super::events`] (the text). This file decides which tasks go and
//! which start:
//! - the scheduler starts tasks of the PRIMARY deployment while the live total stays within
//!   the maximum, and stops unwanted tasks (older deployments, excess, unhealthy, on draining
//!   instances) while the healthy count stays at or above the minimum. Stopping a task that is
//!   not healthy never lowers the healthy count, so it is always allowed, except that an
//!   unhealthy or draining task of the PRIMARY deployment waits for its replacement when
//!   there is room to start one first.

use std::collections::{BTreeMap, BTreeSet};

use gantry_api::Timestamp;

pub use super::actions::{Actions, Start, Status};
use super::counting::{
    healthy, live, maximum_total, minimum_healthy, next_grace_end, rank, unhealthy, wanted,
};
use super::events::{self, UNHEALTHY_REASON};
use super::{breaker, rollout};
use crate::ecs::task_protection::protected;
use crate::persistence::records::{InstanceRecord, InstanceStatus, TaskRecord};
use crate::persistence::service_records::{
    DeploymentStatus, RolloutState, SchedulingStrategy, ServiceRecord, ServiceStatus,
};

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
    breaker::count_failures(&mut st.deployments, &sorted);
    if !deleting {
        events.extend(breaker::requested_rollback(&mut st, name, now));
        events.extend(breaker::trip(
            &mut st,
            cfg.circuit_breaker,
            desired,
            name,
            now,
        ));
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
    let primary_healthy = sorted
        .iter()
        .filter(|t| healthy(t) && is_primary(t))
        .count();

    let mut requeue_at = next_grace_end(&sorted, grace, now);

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
        // `keep` is best first: the surplus is its tail, and scale-in protected tasks stay
        // out of it while unprotected ones can go instead.
        keep.sort_by_key(|t| !protected(t, now));
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
        // Scale-in protection (UpdateTaskProtection) holds off scale-in and deployments
        // until it expires; the controller looks again then.
        if !deleting && matches!(u.why, Why::Old | Why::Excess) && protected(t, now) {
            requeue_at = t.protected_until.map_or(requeue_at, |p| {
                Some(requeue_at.map_or(p, |r: Timestamp| r.min(p)))
            });
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
        let at = t.instance_id.as_deref().unwrap_or("(none)");
        let reason = match u.why {
            Why::Unhealthy => {
                events.push(events::unhealthy(name, &t.id));
                UNHEALTHY_REASON.to_string()
            }
            Why::Draining => events::draining_reason(at),
            Why::Unmatched => events::unmatched_reason(at, name),
            Why::Old | Why::Excess if deleting => events::deleting_reason(name),
            Why::Old | Why::Excess => events::scaling_reason(&primary_id),
        };
        stop.push((t.id.clone(), reason));
        stopped_ids.push(t.id.clone());
    }
    if !stopped_ids.is_empty() {
        events::chunks(name, "stopped", &stopped_ids, &mut events);
    }

    let round = rollout::Round {
        deleting,
        has_primary: primary.is_some(),
        primary_healthy,
        desired: d,
        total,
        idle: start.is_empty() && stop.is_empty(),
    };
    events.extend(rollout::settle(&mut st, &sorted, round, name, now));
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
