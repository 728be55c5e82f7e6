//! The parts of a service request that are checked and defaulted the same way by
//! CreateService and UpdateService: deployment configuration, placement strategy, health
//! check grace period, and a new PRIMARY deployment.

use gantry_api::model::{DeploymentConfiguration, PlacementStrategy};
use gantry_api::Timestamp;

use crate::error::{invalid, Result};
use crate::launch::strategies;
use crate::persistence::service_records::{
    new_deployment_id, CircuitBreaker, DeploymentRecord, DeploymentSettings, DeploymentStatus,
    RolloutState, SchedulingStrategy,
};

pub fn settings(
    strategy: SchedulingStrategy,
    base: Option<DeploymentSettings>,
    req: Option<&DeploymentConfiguration>,
) -> Result<DeploymentSettings> {
    let (min, max) = match strategy {
        SchedulingStrategy::Replica => (100, 200),
        SchedulingStrategy::Daemon => (0, 100),
    };
    let mut s = base.unwrap_or(DeploymentSettings {
        minimum_healthy_percent: min,
        maximum_percent: max,
        circuit_breaker: CircuitBreaker {
            enable: false,
            rollback: false,
        },
    });
    if let Some(c) = req {
        if let Some(v) = c.minimum_healthy_percent {
            s.minimum_healthy_percent = v;
        }
        if let Some(v) = c.maximum_percent {
            s.maximum_percent = v;
        }
        if let Some(cb) = &c.deployment_circuit_breaker {
            s.circuit_breaker = CircuitBreaker {
                enable: cb.enable.unwrap_or(false),
                rollback: cb.rollback.unwrap_or(false),
            };
        }
        if c.strategy.as_deref().is_some_and(|x| x != "ROLLING") {
            return Err(invalid(
                "deploymentConfiguration.strategy must be ROLLING; other strategies are not supported yet.",
            ));
        }
    }
    if !(0..=100).contains(&s.minimum_healthy_percent) {
        return Err(invalid(format!(
            "minimumHealthyPercent is {}; it must be between 0 and 100.",
            s.minimum_healthy_percent
        )));
    }
    if !(100..=200).contains(&s.maximum_percent) {
        return Err(invalid(format!(
            "maximumPercent is {}; it must be between 100 and 200.",
            s.maximum_percent
        )));
    }
    Ok(s)
}

pub fn check_strategy(
    strategy: SchedulingStrategy,
    list: Option<&[PlacementStrategy]>,
) -> Result<Vec<PlacementStrategy>> {
    let list = list.unwrap_or_default();
    if strategy == SchedulingStrategy::Daemon && !list.is_empty() {
        return Err(invalid(
            "Placement strategies are not supported with the DAEMON scheduling strategy.",
        ));
    }
    strategies::strategies(list)?;
    Ok(list.to_vec())
}

pub fn check_grace(v: Option<i32>) -> Result<Option<i32>> {
    match v {
        Some(n) if n < 0 => Err(invalid(format!(
            "healthCheckGracePeriodSeconds is {n}; it must be 0 or more."
        ))),
        other => Ok(other),
    }
}

/// A new PRIMARY deployment of `task_definition`.
pub fn deployment(task_definition: &str, now: Timestamp) -> DeploymentRecord {
    let id = new_deployment_id();
    DeploymentRecord {
        rollout_state_reason: format!("ECS deployment {id} in progress."),
        id,
        status: DeploymentStatus::Primary,
        task_definition: task_definition.to_string(),
        created_at: now,
        updated_at: now,
        rollout_state: RolloutState::InProgress,
        failed_tasks: 0,
        counted_failures: Some(Default::default()),
    }
}
