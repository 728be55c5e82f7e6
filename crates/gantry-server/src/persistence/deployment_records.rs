//! Service deployments and service revisions as stored, ECS's history of a service.
//!
//! A service revision (`service-revisions/<cluster>/<service>/<id>`) is what one deployment
//! of the service runs, immutable once written; its id is the number of the ECS deployment
//! (`ecs-svc/<id>`) that first ran it. A service deployment
//! (`service-deployments/<cluster>/<service>/<id>`) is one move of the service from its
//! source revisions to a target revision, with its status. Both are written in the same
//! transaction as the service record (by CreateService and UpdateService, and by the service
//! controller inside its fence), so they never disagree with it.

use gantry_api::Timestamp;
use serde::{Deserialize, Serialize};

use super::service_records::DeploymentSettings;

pub fn deployment_key(cluster: &str, service: &str, id: &str) -> String {
    format!("service-deployments/{cluster}/{service}/{id}")
}
pub fn deployments_of(cluster: &str, service: &str) -> String {
    format!("service-deployments/{cluster}/{service}/")
}
pub fn revision_key(cluster: &str, service: &str, id: &str) -> String {
    format!("service-revisions/{cluster}/{service}/{id}")
}

/// ECS's service deployment statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SdStatus {
    Pending,
    InProgress,
    Successful,
    StopRequested,
    Stopped,
    RollbackRequested,
    RollbackInProgress,
    RollbackSuccessful,
    RollbackFailed,
}

impl SdStatus {
    pub const ALL: [SdStatus; 9] = [
        Self::Pending,
        Self::Successful,
        Self::Stopped,
        Self::StopRequested,
        Self::InProgress,
        Self::RollbackRequested,
        Self::RollbackInProgress,
        Self::RollbackSuccessful,
        Self::RollbackFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::InProgress => "IN_PROGRESS",
            Self::Successful => "SUCCESSFUL",
            Self::StopRequested => "STOP_REQUESTED",
            Self::Stopped => "STOPPED",
            Self::RollbackRequested => "ROLLBACK_REQUESTED",
            Self::RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            Self::RollbackSuccessful => "ROLLBACK_SUCCESSFUL",
            Self::RollbackFailed => "ROLLBACK_FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Finished: nothing changes it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Successful | Self::Stopped | Self::RollbackSuccessful | Self::RollbackFailed
        )
    }
}

/// The CloudWatch alarms of a deployment configuration, as given (stored and shown; Gantry
/// has no CloudWatch, so `enable: true` is refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AlarmsRecord {
    pub alarm_names: Vec<String>,
    pub enable: bool,
    pub rollback: bool,
}

/// A rollback of a service deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackRecord {
    pub reason: String,
    pub started_at: Timestamp,
    /// The revision rolled back to.
    pub revision: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDeploymentRecord {
    /// 21 characters of `[A-Za-z0-9_-]`, ECS's form.
    pub id: String,
    pub cluster: String,
    pub service: String,
    pub status: SdStatus,
    #[serde(default)]
    pub status_reason: Option<String>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
    #[serde(default)]
    pub stopped_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    /// Revision ids the service ran when the deployment began.
    pub source_revisions: Vec<String>,
    pub target_revision: String,
    /// The deployment configuration when the deployment began.
    pub settings: DeploymentSettings,
    #[serde(default)]
    pub alarms: Option<AlarmsRecord>,
    #[serde(default)]
    pub bake_time_in_minutes: Option<i32>,
    #[serde(default)]
    pub rollback: Option<RollbackRecord>,
    /// Whether the circuit breaker tripped on this deployment.
    #[serde(default)]
    pub breaker_triggered: bool,
    /// Failed launches the circuit breaker counted, and its threshold, as last seen.
    #[serde(default)]
    pub failure_count: i32,
    #[serde(default)]
    pub threshold: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerImageRecord {
    pub name: String,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRevisionRecord {
    /// 19 digits: the number of the ECS deployment `ecs-svc/<id>` that first ran it.
    pub id: String,
    pub cluster: String,
    pub service: String,
    /// `family:revision`.
    pub task_definition: String,
    pub launch_type: String,
    pub container_images: Vec<ContainerImageRecord>,
    pub created_at: Timestamp,
}

/// A new service deployment id in ECS's form (21 URL-safe characters).
pub fn new_service_deployment_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    (0..21)
        .map(|_| char::from(ALPHABET[usize::from(rand::random::<u8>() % 64)]))
        .collect()
}

/// The revision id of ECS deployment `ecs-svc/<n>`: `<n>`.
pub fn revision_of_deployment(deployment_id: &str) -> String {
    deployment_id
        .strip_prefix("ecs-svc/")
        .unwrap_or(deployment_id)
        .to_string()
}
