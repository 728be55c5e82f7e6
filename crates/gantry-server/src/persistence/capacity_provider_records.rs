//! Capacity providers as stored. Key: `capacity-providers/<name>`.

use serde::{Deserialize, Serialize};

pub const CAPACITY_PROVIDERS: &str = "capacity-providers/";

pub fn capacity_provider_key(name: &str) -> String {
    format!("capacity-providers/{name}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CapacityProviderStatus {
    Active,
    Inactive,
}

/// An EC2-style capacity provider: the container instances whose attribute
/// `gantry.capacity-provider` is its name (docs/capacity-providers.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityProviderRecord {
    pub name: String,
    pub status: CapacityProviderStatus,
    /// The `autoScalingGroupProvider` as given (its `autoScalingGroupArn` names the group).
    pub provider: gantry_api::model::AutoScalingGroupProvider,
    /// ECS's `updateStatus` after the last change (`None` right after creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status: Option<String>,
}
