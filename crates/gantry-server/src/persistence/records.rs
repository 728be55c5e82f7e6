//! What the server persists, and under which keys. These are our own types, not the ECS wire
//! shapes: the wire form is rendered from them on every read, so the API can change without
//! migrating stored data (task definitions keep the wire shape, being immutable wire data).
//!
//! Keys:
//! - `clusters/<name>`
//! - `families/<family>`: the revision counter of a task definition family
//! - `taskdefs/<family>/<revision, 10 digits>`
//! - `instances/<cluster>/<id>`: an instance and the resources committed on it
//! - `tasks/<cluster>/<id>`
//! - `tags/<arn>`

use std::collections::{BTreeMap, BTreeSet};

use gantry_api::model::{ContainerDefinition, NetworkBinding, TaskDefinition, TaskOverride};
use gantry_api::{TaskStatus, Timestamp};
use serde::{Deserialize, Serialize};

pub fn cluster_key(name: &str) -> String {
    format!("clusters/{name}")
}
pub const CLUSTERS: &str = "clusters/";

pub fn family_key(family: &str) -> String {
    format!("families/{family}")
}

pub fn taskdef_key(family: &str, revision: i32) -> String {
    format!("taskdefs/{family}/{revision:010}")
}
pub fn taskdefs_of(family: &str) -> String {
    format!("taskdefs/{family}/")
}
pub const TASKDEFS: &str = "taskdefs/";

pub fn instance_key(cluster: &str, id: &str) -> String {
    format!("instances/{cluster}/{id}")
}
pub fn instances_of(cluster: &str) -> String {
    format!("instances/{cluster}/")
}

pub fn task_key(cluster: &str, id: &str) -> String {
    format!("tasks/{cluster}/{id}")
}
pub fn tasks_of(cluster: &str) -> String {
    format!("tasks/{cluster}/")
}

pub fn tags_key(arn: &str) -> String {
    format!("tags/{arn}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClusterStatus {
    Active,
    Inactive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterRecord {
    pub name: String,
    pub status: ClusterStatus,
    pub created_at: Timestamp,
    #[serde(default)]
    pub settings: Vec<gantry_api::model::ClusterSetting>,
    /// `configuration` as given (execute-command and managed-storage settings: stored and
    /// shown, Gantry has neither feature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<gantry_api::model::ClusterConfiguration>,
    /// The default Service Connect namespace, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_providers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_capacity_provider_strategy: Vec<gantry_api::model::CapacityProviderStrategyItem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskDefStatus {
    Active,
    Inactive,
    /// Deleted (DeleteTaskDefinitions); removed once no task or service uses it.
    DeleteInProgress,
}

impl TaskDefStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
            Self::DeleteInProgress => "DELETE_IN_PROGRESS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyRecord {
    pub latest_revision: i32,
}

/// A registered task definition. `definition` is complete except for the ARN and status, which
/// are rendered from the configuration and `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDefRecord {
    pub family: String,
    pub revision: i32,
    pub status: TaskDefStatus,
    pub definition: TaskDefinition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    Active,
    Draining,
    Inactive,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Draining => "DRAINING",
            Self::Inactive => "INACTIVE",
        }
    }
}

/// Resources one task holds on its instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub cpu: i64,
    pub memory: i64,
    #[serde(default)]
    pub tcp_ports: BTreeSet<u16>,
    #[serde(default)]
    pub udp_ports: BTreeSet<u16>,
}

/// A container instance and everything committed on it. Placement commits re-check this
/// record's revision, so `used` can never exceed what the instance registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub id: String,
    pub cluster: String,
    pub hostname: String,
    pub status: InstanceStatus,
    pub agent_connected: bool,
    pub agent_version: String,
    pub registered_at: Timestamp,
    pub cpu: i64,
    pub memory: i64,
    #[serde(default)]
    pub reserved_ports: BTreeSet<u16>,
    /// The sum of the allocations of its tasks that are not yet STOPPED.
    #[serde(default)]
    pub used: Allocation,
    /// Attributes the agent reported (`ecs.os-type`, ...).
    #[serde(default)]
    pub agent_attributes: Vec<(String, String)>,
    /// Attributes set with PutAttributes.
    #[serde(default)]
    pub custom_attributes: BTreeMap<String, Option<String>>,
    /// This node's slice of the cluster task network (awsvpc), once the server gave it one.
    #[serde(default)]
    pub task_slice: Option<String>,
    /// The address other nodes reach this one at, as the agent reported it.
    #[serde(default)]
    pub node_address: Option<String>,
    /// How the host joined: `EC2` (a join token, or before node identities) or `EXTERNAL`
    /// (an SSM activation).
    #[serde(default)]
    pub launch_type: InstanceLaunchType,
    /// The node id its credential is bound to: `mi-…` (EXTERNAL, ECS's managed-instance id)
    /// or `i-…` (EC2, shown as `ec2InstanceId`). None: registered without a node identity.
    #[serde(default)]
    pub node_id: Option<String>,
    /// How many of its tasks still holding resources (`used`) are in each task group, kept
    /// with `used` in the same transactions, so placement reads the instances and not every
    /// task of the cluster. `None` on records written before it was kept: placement then
    /// counts the tasks, and fills it in at its next commit on the instance.
    #[serde(default)]
    pub groups: Option<BTreeMap<String, u32>>,
}

/// The attribute of an EXTERNAL instance, as ECS reports it (no value).
pub const EXTERNAL_CAPABILITY: &str = "ecs.capability.external";

/// The launch type of the tasks an instance takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceLaunchType {
    #[default]
    #[serde(rename = "EC2")]
    Ec2,
    #[serde(rename = "EXTERNAL")]
    External,
}

impl InstanceLaunchType {
    #[allow(dead_code)] // for the node side's messages
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ec2 => "EC2",
            Self::External => "EXTERNAL",
        }
    }
}

impl InstanceRecord {
    pub fn remaining_cpu(&self) -> i64 {
        self.cpu - self.used.cpu
    }
    pub fn remaining_memory(&self) -> i64 {
        self.memory - self.used.memory
    }
    /// Reserved and used TCP ports.
    pub fn busy_tcp(&self) -> BTreeSet<u16> {
        self.reserved_ports
            .union(&self.used.tcp_ports)
            .copied()
            .collect()
    }
    /// Reserved and used UDP ports.
    pub fn busy_udp(&self) -> BTreeSet<u16> {
        self.reserved_ports
            .union(&self.used.udp_ports)
            .copied()
            .collect()
    }
    pub fn take(&mut self, a: &Allocation) {
        self.used.cpu += a.cpu;
        self.used.memory += a.memory;
        self.used.tcp_ports.extend(a.tcp_ports.iter().copied());
        self.used.udp_ports.extend(a.udp_ports.iter().copied());
    }
    /// [`Self::take`] of a task's allocation, counted in its task group.
    pub fn take_task(&mut self, a: &Allocation, group: &str) {
        self.take(a);
        if let Some(g) = &mut self.groups {
            *g.entry(group.to_string()).or_default() += 1;
        }
    }
    /// [`Self::release`] of a task's allocation, uncounted from its task group.
    pub fn release_task(&mut self, a: &Allocation, group: &str) {
        self.release(a);
        if let Some(g) = &mut self.groups {
            if let Some(n) = g.get_mut(group) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    g.remove(group);
                }
            }
        }
    }
    pub fn release(&mut self, a: &Allocation) {
        self.used.cpu = (self.used.cpu - a.cpu).max(0);
        self.used.memory = (self.used.memory - a.memory).max(0);
        for p in &a.tcp_ports {
            self.used.tcp_ports.remove(p);
        }
        for p in &a.udp_ports {
            self.used.udp_ports.remove(p);
        }
    }
    /// Every attribute, the agent's and the custom ones. An agent attribute with an empty
    /// value has none, as ECS shows capabilities such as `ecs.capability.task-eni`.
    pub fn attributes(&self) -> Vec<(String, Option<String>)> {
        let mut all: BTreeMap<String, Option<String>> = self
            .agent_attributes
            .iter()
            .map(|(k, v)| (k.clone(), (!v.is_empty()).then(|| v.clone())))
            .collect();
        all.extend(self.custom_attributes.clone());
        // What ECS shows on every ECS Anywhere instance (the agent's ECS_EXTERNAL capability).
        if self.launch_type == InstanceLaunchType::External {
            all.insert(EXTERNAL_CAPABILITY.to_string(), None);
        }
        all.into_iter().collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image: Option<String>,
    pub last_status: TaskStatus,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub runtime_id: Option<String>,
    #[serde(default)]
    pub image_digest: Option<String>,
    #[serde(default)]
    pub network_bindings: Vec<NetworkBinding>,
    #[serde(default)]
    pub cpu: Option<i32>,
    #[serde(default)]
    pub memory: Option<i32>,
    #[serde(default)]
    pub memory_reservation: Option<i32>,
    #[serde(default)]
    pub health_status: Option<String>,
}

impl ContainerRecord {
    pub fn from_definition(def: &ContainerDefinition, id: String) -> Self {
        Self {
            id,
            name: def.name.clone().unwrap_or_default(),
            image: def.image.clone(),
            last_status: TaskStatus::Pending,
            exit_code: None,
            reason: None,
            runtime_id: None,
            image_digest: None,
            network_bindings: Vec::new(),
            cpu: def.cpu,
            memory: def.memory,
            memory_reservation: def.memory_reservation,
            health_status: None,
        }
    }
}

/// One task. Stopped tasks are kept so they stay describable.
// TODO(task-expiry): delete STOPPED tasks about an hour after `stopped_at`, as ECS does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub cluster: String,
    /// Where it was placed; `None` never happens for EC2 tasks today, but a task whose
    /// instance is gone keeps the id for the record.
    pub instance_id: Option<String>,
    pub definition: TaskDefinition,
    pub last_status: TaskStatus,
    pub desired_status: TaskStatus,
    pub created_at: Timestamp,
    #[serde(default)]
    pub pull_started_at: Option<Timestamp>,
    #[serde(default)]
    pub pull_stopped_at: Option<Timestamp>,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub stopping_at: Option<Timestamp>,
    #[serde(default)]
    pub execution_stopped_at: Option<Timestamp>,
    #[serde(default)]
    pub stopped_at: Option<Timestamp>,
    #[serde(default)]
    pub stop_code: Option<String>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    #[serde(default)]
    pub started_by: Option<String>,
    /// Scale-in protection (UpdateTaskProtection) until then; `None`: not protected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_until: Option<Timestamp>,
    pub group: String,
    pub launch_type: String,
    #[serde(default)]
    pub overrides: Option<TaskOverride>,
    /// Task-level size as rendered: CPU units and MiB.
    pub cpu: i64,
    pub memory: i64,
    pub containers: Vec<ContainerRecord>,
    pub allocation: Allocation,
    /// Set once `allocation` has gone back to the instance.
    #[serde(default)]
    pub released: bool,
    /// `HEALTHY`, `UNHEALTHY` or `UNKNOWN`, as the agent last reported it.
    #[serde(default)]
    pub health_status: Option<String>,
    /// When the agent first reported it HEALTHY: it then counted healthy at least once, so
    /// a later stop is not a failed launch for the circuit breaker.
    #[serde(default)]
    pub first_healthy_at: Option<Timestamp>,
    /// The task's own interface, as its agent reported it (bridge and awsvpc modes).
    #[serde(default)]
    pub network: Option<TaskNetwork>,
    /// The capacity provider whose instances it was placed on (`capacityProviderName`),
    /// when it was launched by a capacity provider strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_name: Option<String>,
}

/// The address a task got on its node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskNetwork {
    pub private_ipv4_address: String,
    pub mac_address: String,
    /// The node's task subnet (CIDR), rendered as `subnetId`.
    pub subnet: String,
}

/// The few fields of a [`TaskRecord`] that scans filter on, for [`crate::persistence::db::list_where`].
#[derive(Debug, Clone, Deserialize)]
pub struct TaskWhere {
    pub instance_id: Option<String>,
    pub group: String,
    pub last_status: TaskStatus,
    pub desired_status: TaskStatus,
}

impl TaskRecord {
    pub fn family(&self) -> &str {
        self.definition.family.as_deref().unwrap_or_default()
    }
}

/// Tags of one resource, by key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagsRecord {
    pub tags: BTreeMap<String, String>,
}
