//! Records for unit tests elsewhere in the crate.

use std::collections::BTreeSet;
use std::time::Duration;

use gantry_api::model::TaskDefinition;
use gantry_api::TaskStatus;

use super::records::{Allocation, ContainerRecord, InstanceRecord, InstanceStatus, TaskRecord};

/// A PROVISIONING task `id` of one container `app`, wanted RUNNING, placed nowhere.
pub fn task(id: &str) -> TaskRecord {
    TaskRecord {
        id: id.into(),
        cluster: "c".into(),
        instance_id: None,
        definition: TaskDefinition::default(),
        last_status: TaskStatus::Provisioning,
        desired_status: TaskStatus::Running,
        created_at: 1.0,
        pull_started_at: None,
        pull_stopped_at: None,
        started_at: None,
        stopping_at: None,
        execution_stopped_at: None,
        stopped_at: None,
        stop_code: None,
        stopped_reason: None,
        started_by: None,
        protected_until: None,
        group: "family:x".into(),
        launch_type: "EC2".into(),
        overrides: None,
        cpu: 1,
        memory: 1,
        containers: vec![ContainerRecord {
            id: "c1".into(),
            name: "app".into(),
            image: None,
            last_status: TaskStatus::Pending,
            exit_code: None,
            reason: None,
            runtime_id: None,
            image_digest: None,
            network_bindings: vec![],
            cpu: None,
            memory: None,
            memory_reservation: None,
            health_status: None,
        }],
        allocation: Allocation::default(),
        released: false,
        health_status: None,
        first_healthy_at: None,
        network: None,
        capacity_provider_name: None,
    }
}

/// An ACTIVE instance `id` in cluster `c` with a connected agent, 1024 CPU and MiB.
pub fn instance(id: &str) -> InstanceRecord {
    InstanceRecord {
        id: id.into(),
        cluster: "c".into(),
        hostname: "h".into(),
        status: InstanceStatus::Active,
        agent_connected: true,
        agent_version: "0".into(),
        registered_at: 1.0,
        cpu: 1024,
        memory: 1024,
        reserved_ports: BTreeSet::new(),
        used: Allocation::default(),
        groups: Some(Default::default()),
        agent_attributes: Vec::new(),
        custom_attributes: Default::default(),
        task_slice: None,
        node_address: None,
        launch_type: Default::default(),
        node_id: None,
    }
}

/// Polls `f` on the paused clock, up to `limit` of tokio time. The store's writer is a
/// thread of its own: while the runtime waits for it, paused time jumps ahead, so a fixed
/// sleep can end before a write the loop already started has landed.
pub async fn within<F, Fut>(limit: Duration, f: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let step = Duration::from_millis(50);
    for _ in 0..(limit.as_millis() / step.as_millis()) {
        if f().await {
            return true;
        }
        tokio::time::sleep(step).await;
    }
    f().await
}
