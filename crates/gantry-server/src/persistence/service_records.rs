//! What a service is in the store: its spec, its deployments and its recent events, in one
//! record at `services/<cluster>/<name>` so every change to it is one compare-and-swap.
//! Tasks are not listed here: a task belongs to a service by its `group` (`service:<name>`)
//! and to a deployment by its `startedBy` (the deployment id).

use std::collections::BTreeSet;

use gantry_api::model::{PlacementConstraint, PlacementStrategy};
use gantry_api::Timestamp;
use serde::{Deserialize, Serialize};

use super::deployment_records::{revision_of_deployment, AlarmsRecord};

pub fn service_key(cluster: &str, name: &str) -> String {
    format!("services/{cluster}/{name}")
}
pub fn services_of(cluster: &str) -> String {
    format!("services/{cluster}/")
}
pub const SERVICES: &str = "services/";

/// The task group of a service's tasks.
pub fn service_group(name: &str) -> String {
    format!("service:{name}")
}

/// How many events a service keeps (ECS shows the latest 100).
pub const MAX_EVENTS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceStatus {
    Active,
    /// Deleted; its tasks are being stopped.
    Draining,
    Inactive,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Draining => "DRAINING",
            Self::Inactive => "INACTIVE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchedulingStrategy {
    Replica,
    Daemon,
}

impl SchedulingStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replica => "REPLICA",
            Self::Daemon => "DAEMON",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentSettings {
    pub minimum_healthy_percent: i32,
    pub maximum_percent: i32,
    pub circuit_breaker: CircuitBreaker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    Primary,
    Active,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "PRIMARY",
            Self::Active => "ACTIVE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutState {
    InProgress,
    Completed,
    Failed,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }
}

/// One deployment: a task definition revision the service runs or ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// `ecs-svc/<19 digits>`; the `startedBy` of its tasks.
    pub id: String,
    pub status: DeploymentStatus,
    /// `family:revision`.
    pub task_definition: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub rollout_state: RolloutState,
    pub rollout_state_reason: String,
    /// Tasks of this deployment that stopped before they counted healthy.
    #[serde(default)]
    pub failed_tasks: i32,
    /// The ids of the failed tasks counted in `failed_tasks` that are still in the store:
    /// each failed task is counted once, and one forgotten (stopped tasks expire) is dropped
    /// from here without changing the count. `None` in a record written before failures
    /// were counted by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_failures: Option<BTreeSet<String>>,
    /// The service deployment this deployment is (part of): the one that created it, or
    /// the one it rolls back. `None` in a record written before service deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_deployment: Option<String>,
    /// The service revision it runs; `None`: the number of its own id (see
    /// [`DeploymentRecord::revision`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// It rolls a failed or stopped deployment back.
    #[serde(default)]
    pub rollback: bool,
}

impl DeploymentRecord {
    /// The id of the service revision it runs.
    pub fn revision(&self) -> String {
        self.revision
            .clone()
            .unwrap_or_else(|| revision_of_deployment(&self.id))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: String,
    pub created_at: Timestamp,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: String,
    pub cluster: String,
    pub status: ServiceStatus,
    pub scheduling_strategy: SchedulingStrategy,
    /// For DAEMON services, the controller keeps this at the number of eligible instances.
    pub desired_count: i32,
    /// The task definition of the PRIMARY deployment, `family:revision`.
    pub task_definition: String,
    pub deployment: DeploymentSettings,
    #[serde(default)]
    pub placement_strategy: Vec<PlacementStrategy>,
    #[serde(default)]
    pub placement_constraints: Vec<PlacementConstraint>,
    #[serde(default)]
    pub health_check_grace_period_seconds: Option<i32>,
    /// `EC2` or `EXTERNAL`; `EC2` when the service runs by a capacity provider strategy.
    pub launch_type: String,
    /// The capacity provider strategy, `weight` and `base` filled in; empty when the
    /// service runs by its launch type (docs/capacity-providers.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<gantry_api::model::CapacityProviderStrategyItem>,
    pub created_at: Timestamp,
    /// Newest first.
    pub deployments: Vec<DeploymentRecord>,
    /// The task definition of the last deployment that reached COMPLETED: where a circuit
    /// breaker rollback goes back to.
    #[serde(default)]
    pub last_completed: Option<String>,
    /// The service revision of [`ServiceRecord::last_completed`].
    #[serde(default)]
    pub last_completed_revision: Option<String>,
    /// `deploymentConfiguration.alarms`, as given.
    #[serde(default)]
    pub alarms: Option<AlarmsRecord>,
    /// `deploymentConfiguration.bakeTimeInMinutes`, as given.
    #[serde(default)]
    pub bake_time_in_minutes: Option<i32>,
    /// The service deployment a StopServiceDeployment asked to roll back; the controller
    /// rolls it back and clears this.
    #[serde(default)]
    pub rollback_requested: Option<String>,
    /// Newest first, at most [`MAX_EVENTS`].
    #[serde(default)]
    pub events: Vec<EventRecord>,
    /// Whether the service was at steady state when last reconciled, so "has reached a
    /// steady state" is said once per arrival.
    #[serde(default)]
    pub steady: bool,
}

impl ServiceRecord {
    /// Adds events (given oldest first) at the front, keeping at most [`MAX_EVENTS`].
    pub fn push_events(&mut self, events: impl IntoIterator<Item = EventRecord>) {
        for e in events {
            self.events.insert(0, e);
        }
        self.events.truncate(MAX_EVENTS);
    }
}

/// A new deployment id in ECS's form.
pub fn new_deployment_id() -> String {
    let n: u64 = rand::random::<u64>() % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000;
    format!("ecs-svc/{n}")
}
