//! The parts of a service request that are checked and defaulted the same way by
//! CreateService and UpdateService: deployment configuration, placement strategy, health
//! check grace period, and a new PRIMARY deployment.

use gantry_api::model::{DeploymentConfiguration, PlacementStrategy};
use gantry_api::Timestamp;

use crate::error::{invalid, Result};
use crate::launch::strategies;
use crate::persistence::deployment_records::AlarmsRecord;
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
            if cb.reset_on_healthy_task.is_some() {
                return Err(invalid(
                    "deploymentConfiguration.deploymentCircuitBreaker.resetOnHealthyTask is not supported yet; leave it out.",
                ));
            }
            if cb.threshold_configuration.is_some() {
                return Err(invalid(
                    "deploymentConfiguration.deploymentCircuitBreaker.thresholdConfiguration is not supported yet; leave it out (the threshold is ECS's default, 0.5 × desiredCount within 3..200).",
                ));
            }
            s.circuit_breaker = CircuitBreaker {
                enable: cb.enable.unwrap_or(false),
                rollback: cb.rollback.unwrap_or(false),
            };
        }
        match c.strategy.as_deref() {
            None | Some("ROLLING") => {}
            Some(other) => {
                return Err(invalid(format!(
                    "deploymentConfiguration.strategy {other} shifts traffic between load balancer target groups, which Gantry does not have yet; use ROLLING."
                )))
            }
        }
        if c.lifecycle_hooks.as_ref().is_some_and(|h| !h.is_empty()) {
            return Err(invalid(
                "deploymentConfiguration.lifecycleHooks call AWS Lambda functions, which Gantry cannot do; leave them out.",
            ));
        }
        if c.linear_configuration.is_some() {
            return Err(invalid(
                "deploymentConfiguration.linearConfiguration is for the LINEAR strategy, which needs load balancers Gantry does not have yet; leave it out.",
            ));
        }
        if c.canary_configuration.is_some() {
            return Err(invalid(
                "deploymentConfiguration.canaryConfiguration is for the CANARY strategy, which needs load balancers Gantry does not have yet; leave it out.",
            ));
        }
        if c.early_success_criteria.is_some() {
            return Err(invalid(
                "deploymentConfiguration.earlySuccessCriteria is not supported yet; leave it out.",
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

/// `deploymentConfiguration.alarms` and `bakeTimeInMinutes` over `base` (what the service
/// had). Both are stored and shown; alarms can only be given disabled, since Gantry has no
/// CloudWatch alarms to watch, and the bake time only matters to the BLUE_GREEN strategy, as
/// on ECS.
pub fn options(
    base: (Option<AlarmsRecord>, Option<i32>),
    req: Option<&DeploymentConfiguration>,
) -> Result<(Option<AlarmsRecord>, Option<i32>)> {
    let (mut alarms, mut bake) = base;
    let Some(c) = req else {
        return Ok((alarms, bake));
    };
    if let Some(a) = &c.alarms {
        if a.enable == Some(true) {
            return Err(invalid(
                "deploymentConfiguration.alarms.enable is true, but Gantry has no CloudWatch alarms to watch; set enable to false or leave alarms out.",
            ));
        }
        alarms = Some(AlarmsRecord {
            alarm_names: a.alarm_names.clone().unwrap_or_default(),
            enable: false,
            rollback: a.rollback.unwrap_or(false),
        });
    }
    if let Some(b) = c.bake_time_in_minutes {
        if !(0..=1440).contains(&b) {
            return Err(invalid(format!(
                "bakeTimeInMinutes is {b}; it must be between 0 and 1440."
            )));
        }
        bake = Some(b);
    }
    Ok((alarms, bake))
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
        service_deployment: None,
        revision: None,
        rollback: false,
    }
}
