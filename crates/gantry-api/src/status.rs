//! The task lifecycle, in ECS's words and order.

use serde::{Deserialize, Serialize};

/// `lastStatus` / `desiredStatus` of a task or container. The order is the lifecycle's: a
/// report is accepted only when it moves a task forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Provisioning,
    Pending,
    Activating,
    Running,
    Deactivating,
    Stopping,
    Deprovisioning,
    Stopped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "PROVISIONING",
            Self::Pending => "PENDING",
            Self::Activating => "ACTIVATING",
            Self::Running => "RUNNING",
            Self::Deactivating => "DEACTIVATING",
            Self::Stopping => "STOPPING",
            Self::Deprovisioning => "DEPROVISIONING",
            Self::Stopped => "STOPPED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Provisioning,
            Self::Pending,
            Self::Activating,
            Self::Running,
            Self::Deactivating,
            Self::Stopping,
            Self::Deprovisioning,
            Self::Stopped,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ECS's `stopCode` values.
pub mod stop_code {
    pub const TASK_FAILED_TO_START: &str = "TaskFailedToStart";
    pub const ESSENTIAL_CONTAINER_EXITED: &str = "EssentialContainerExited";
    pub const USER_INITIATED: &str = "UserInitiated";
    pub const SERVICE_SCHEDULER_INITIATED: &str = "ServiceSchedulerInitiated";
    pub const INFRASTRUCTURE_HEALTH: &str = "InfrastructureHealth";
}

#[cfg(test)]
mod tests {
    use super::TaskStatus;

    #[test]
    fn lifecycle_is_ordered() {
        assert!(TaskStatus::Pending < TaskStatus::Running);
        assert!(TaskStatus::Running < TaskStatus::Stopped);
        assert_eq!(TaskStatus::parse("RUNNING"), Some(TaskStatus::Running));
        assert_eq!(TaskStatus::parse("running"), None);
    }
}
