//! The managed-scaling target of each capacity provider (docs/capacity-providers.md): what
//! ECS publishes as the `CapacityProviderReservation` metric and the group size its
//! target-tracking policy moves the Auto Scaling group to. Gantry does not resize groups
//! itself; an operator's autoscaler reads this (Gantry's own API,
//! `DescribeCapacityProviderScaling`, or `gantry capacity-provider scaling`) and adds or
//! removes hosts.
//!
//! As ECS computes it, with N the instances in the group and M the instances needed:
//! reservation = M / N × 100 (200 when N = 0 < M, 100 when both are 0), and the desired
//! size is the least N at which the reservation meets `targetCapacity`, ceil(M × 100 /
//! targetCapacity), moved from N by at least `minimumScalingStepSize` and at most
//! `maximumScalingStepSize` instances. M counts the group's instances that run a task, plus
//! the instances the tasks its services want on it but could not place would take.

use std::collections::BTreeMap;

use gantry_store::Store;
use serde::Serialize;

use crate::ecs::capacity_providers::GROUP_ATTRIBUTE;
use crate::ecs::service_render::tasks_of_service;
use crate::error::Result;
use crate::launch::capacity::split;
use crate::launch::prepare::prepare_for_service;
use crate::persistence::capacity_provider_records::{
    CapacityProviderRecord, CapacityProviderStatus, CAPACITY_PROVIDERS,
};
use crate::persistence::db;
use crate::persistence::records::{InstanceRecord, InstanceStatus};
use crate::persistence::service_records::{
    service_group, SchedulingStrategy, ServiceRecord, ServiceStatus, SERVICES,
};
use crate::state::AppState;

/// One provider's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scaling {
    pub capacity_provider: String,
    /// `ENABLED` or `DISABLED`.
    pub managed_scaling: String,
    pub target_capacity: i32,
    /// N: the group's registered instances.
    pub instances: u64,
    /// M: the instances the group's tasks need.
    pub instances_needed: u64,
    /// Tasks its services want on it that have no instance.
    pub unplaced_tasks: u64,
    /// ECS's `CapacityProviderReservation`, in percent (managed scaling ENABLED only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_provider_reservation: Option<f64>,
    /// The group size the target asks for (managed scaling ENABLED only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_instances: Option<u64>,
}

/// ECS's reservation for M needed of N instances.
pub fn reservation(needed: u64, instances: u64) -> f64 {
    match (needed, instances) {
        (0, 0) => 100.0,
        (_, 0) => 200.0,
        #[allow(clippy::cast_precision_loss)]
        (m, n) => m as f64 / n as f64 * 100.0,
    }
}

/// The group size target tracking moves N instances to, M needed, within the step sizes.
pub fn desired(needed: u64, instances: u64, target: i32, min_step: i32, max_step: i32) -> u64 {
    let target = u64::try_from(target.clamp(1, 100)).unwrap_or(100);
    let goal = (needed * 100).div_ceil(target);
    let min_step = u64::try_from(min_step.max(1)).unwrap_or(1);
    let max_step = u64::try_from(max_step.max(1)).unwrap_or(1).max(min_step);
    if goal > instances {
        instances + (goal - instances).clamp(min_step, max_step)
    } else if goal < instances {
        instances - (instances - goal).clamp(min_step, max_step).min(instances)
    } else {
        instances
    }
}

/// The figures of every ACTIVE provider, or of those named.
pub async fn describe<S: Store>(
    st: &AppState<S>,
    names: Option<&[String]>,
) -> Result<Vec<Scaling>> {
    let providers: Vec<CapacityProviderRecord> =
        db::list::<S, CapacityProviderRecord>(&st.store, CAPACITY_PROVIDERS)
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|p| p.status == CapacityProviderStatus::Active)
            .filter(|p| {
                names.is_none_or(|n| n.iter().any(|x| gantry_api::arn::short_id(x) == p.name))
            })
            .collect();
    let instances: Vec<InstanceRecord> = db::list::<S, InstanceRecord>(&st.store, "instances/")
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|i| i.status != InstanceStatus::Inactive)
        .collect();
    let services: Vec<ServiceRecord> = db::list::<S, ServiceRecord>(&st.store, SERVICES)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|s| {
            s.status == ServiceStatus::Active
                && s.scheduling_strategy == SchedulingStrategy::Replica
                && !s.capacity_provider_strategy.is_empty()
        })
        .collect();
    let mut out = Vec::with_capacity(providers.len());
    for p in providers {
        let group: Vec<&InstanceRecord> = instances
            .iter()
            .filter(|i| {
                i.attributes()
                    .iter()
                    .any(|(k, v)| k == GROUP_ATTRIBUTE && v.as_deref() == Some(p.name.as_str()))
            })
            .collect();
        let busy = group
            .iter()
            .filter(|i| {
                i.used.cpu > 0
                    || i.used.memory > 0
                    || i.groups
                        .as_ref()
                        .is_some_and(|g| g.values().any(|n| *n > 0))
            })
            .count();
        // The largest instance of the group sizes the instances still to come.
        let size = group.iter().map(|i| (i.cpu, i.memory)).max();
        let (mut unplaced, mut extra) = (0u64, 0u64);
        for svc in services.iter().filter(|s| {
            s.capacity_provider_strategy
                .iter()
                .any(|i| i.capacity_provider.as_deref() == Some(p.name.as_str()))
        }) {
            let count = usize::try_from(svc.desired_count).unwrap_or(0);
            let want = split(&svc.capacity_provider_strategy, &BTreeMap::new(), count)
                .into_iter()
                .find(|(n, _)| *n == p.name)
                .map_or(0, |(_, n)| n);
            let have = tasks_of_service(st, svc)
                .await?
                .iter()
                .filter(|t| {
                    t.desired_status == gantry_api::TaskStatus::Running
                        && t.capacity_provider_name.as_deref() == Some(p.name.as_str())
                })
                .count();
            let short = u64::try_from(want.saturating_sub(have)).unwrap_or(0);
            if short == 0 {
                continue;
            }
            unplaced += short;
            let per_instance = match (
                size,
                prepare_for_service(
                    st,
                    &svc.task_definition,
                    service_group(&svc.name),
                    String::new(),
                    true,
                )
                .await,
            ) {
                (Some((cpu, memory)), Ok(prep)) => {
                    let fit = |have: i64, need: i64| if need > 0 { have / need } else { i64::MAX };
                    u64::try_from(
                        fit(cpu, prep.allocation.cpu).min(fit(memory, prep.allocation.memory)),
                    )
                    .unwrap_or(0)
                    .max(1)
                }
                _ => 1,
            };
            extra += short.div_ceil(per_instance);
        }
        let scaling = p.provider.managed_scaling.clone().unwrap_or_default();
        let enabled = scaling.status.as_deref() == Some("ENABLED");
        let n = u64::try_from(group.len()).unwrap_or(0);
        let m = u64::try_from(busy).unwrap_or(0) + extra;
        let target = scaling.target_capacity.unwrap_or(100);
        out.push(Scaling {
            capacity_provider: p.name.clone(),
            managed_scaling: if enabled { "ENABLED" } else { "DISABLED" }.to_string(),
            target_capacity: target,
            instances: n,
            instances_needed: m,
            unplaced_tasks: unplaced,
            capacity_provider_reservation: enabled.then(|| reservation(m, n)),
            desired_instances: enabled.then(|| {
                desired(
                    m,
                    n,
                    target,
                    scaling.minimum_scaling_step_size.unwrap_or(1),
                    scaling.maximum_scaling_step_size.unwrap_or(10_000),
                )
            }),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_as_ecs() {
        assert!((reservation(0, 0) - 100.0).abs() < f64::EPSILON);
        assert!((reservation(3, 0) - 200.0).abs() < f64::EPSILON);
        assert!((reservation(3, 4) - 75.0).abs() < f64::EPSILON);
        assert!((reservation(0, 4)).abs() < f64::EPSILON);
    }

    #[test]
    fn desired_meets_the_target_within_the_steps() {
        // 4 needed at 80 %: 5 instances.
        assert_eq!(desired(4, 2, 80, 1, 10_000), 5);
        // At the target: stay.
        assert_eq!(desired(4, 4, 100, 1, 10_000), 4);
        // Idle: scale in to 0, at most the max step at a time.
        assert_eq!(desired(0, 6, 100, 1, 2), 4);
        // A minimum step of 3 scales out by 3 even when 1 would do.
        assert_eq!(desired(3, 2, 100, 3, 10), 5);
        // Empty group with demand: grows.
        assert_eq!(desired(2, 0, 100, 1, 10_000), 2);
    }
}
