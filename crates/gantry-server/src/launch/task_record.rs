//! Making the record of a new task from a [`Prepared`] launch.

use gantry_api::{TaskStatus, Timestamp};

use super::prepare::Prepared;
use crate::persistence::records::{ContainerRecord, TaskDefStatus, TaskRecord};

/// A new task of `p` on `instance_id` of launch type `launch_type`, created at `now`.
pub fn make_task(
    cluster: &str,
    instance_id: &str,
    p: &Prepared,
    launch_type: gantry_scheduler::LaunchType,
    now: Timestamp,
) -> TaskRecord {
    let containers = p
        .def
        .definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c| ContainerRecord::from_definition(c, uuid::Uuid::new_v4().to_string()))
        .collect();
    let mut definition = p.def.definition.clone();
    definition.status = Some(TaskDefStatus::Active.as_str().to_string());
    TaskRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        cluster: cluster.to_string(),
        instance_id: Some(instance_id.to_string()),
        definition,
        last_status: TaskStatus::Provisioning,
        desired_status: TaskStatus::Running,
        created_at: now,
        pull_started_at: None,
        pull_stopped_at: None,
        started_at: None,
        stopping_at: None,
        execution_stopped_at: None,
        stopped_at: None,
        stop_code: None,
        stopped_reason: None,
        started_by: p.started_by.clone(),
        protected_until: None,
        group: p.group.clone(),
        launch_type: launch_type.as_str().to_string(),
        overrides: p.overrides.clone(),
        cpu: p.allocation.cpu,
        memory: p.allocation.memory,
        containers,
        allocation: p.allocation.clone(),
        released: false,
        health_status: None,
        first_healthy_at: None,
        network: None,
        capacity_provider_name: None,
    }
}
