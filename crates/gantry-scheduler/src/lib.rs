//! Task placement as a pure function: `(cluster snapshot, requests, seed) -> plan`.
//! Feasibility (status, attributes such as the network modes a node runs, resources, ports,
//! constraints) then ranking by the strategies in order. No I/O and no clock here: the caller
//! commits the plan and re-checks each instance with the same checks ([`check`]). Every
//! placement failure reason is spelled here ([`Reason`]) and nowhere else.
//! Also the cluster query language ([`query`]) that `memberOf` constraints are written in.

use std::collections::{BTreeMap, BTreeSet};

/// One instance as the scheduler sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceView {
    pub id: String,
    /// ACTIVE instances with a connected agent take tasks; anything else does not. The plan
    /// reads this; `status` and `agent_connected` say why for [`check`].
    pub schedulable: bool,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: Status,
    pub remaining_cpu: i64,
    pub remaining_memory: i64,
    /// Host ports in use or reserved.
    pub used_ports: BTreeSet<u16>,
    /// Attributes (an attribute set without a value has the value `""`), for spread by
    /// attribute and `attribute:<name>` in queries.
    pub attributes: Vec<(String, String)>,
    /// Tasks already on the instance: `spread` when requests carry no group, and
    /// `runningTasksCount` in queries.
    pub task_count: u32,
    /// For `agentConnected` in queries (`schedulable` already requires a connected agent).
    pub agent_connected: bool,
    /// For `agentVersion` in queries; empty when unknown.
    pub agent_version: String,
    /// Registration time in unix seconds, for `registeredAt` in queries.
    pub registered_at: f64,
    /// Tasks already on the instance by task group (`service:web`, `family:nginx`): for
    /// `spread` and `distinctInstance`, which count tasks of the request's group, and for
    /// `task:group` in queries.
    pub task_groups: BTreeMap<String, u32>,
    /// How the host joined: EXTERNAL instances (ECS Anywhere) take only EXTERNAL tasks, and
    /// EC2 instances only EC2 tasks.
    pub launch_type: LaunchType,
}

/// The launch type of a task, and of the instances that take it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LaunchType {
    #[default]
    Ec2,
    External,
}

impl LaunchType {
    /// ECS's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            LaunchType::Ec2 => "EC2",
            LaunchType::External => "EXTERNAL",
        }
    }
}

/// What one task needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskRequest {
    pub cpu: i64,
    pub memory: i64,
    /// Static host ports the task binds (tcp and udp counted alike).
    pub ports: Vec<u16>,
    /// The task group: RunTask's `group` (default `family:<family>`), or `service:<name>`.
    /// Empty means none: spread then counts every task on an instance.
    pub group: String,
    /// Attributes an instance must have (any value), e.g. [`TASK_ENI`] for `awsvpc`: see
    /// [`network_mode_attributes`].
    pub required_attributes: Vec<String>,
    /// Only instances of this launch type are candidates (ECS places each launch type on
    /// its own instances; the others are not part of the choice at all).
    pub launch_type: LaunchType,
}

/// A placement constraint. All constraints given to [`place_with`] must hold (ECS combines
/// the task definition's and the call's that way).
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// No two tasks of one group on an instance, counting the tasks already there.
    DistinctInstance,
    /// Only instances the expression selects.
    MemberOf(query::Expr),
}

impl Constraint {
    /// `memberOf` with `expression` parsed.
    pub fn member_of(expression: &str) -> Result<Constraint, query::ParseError> {
        query::parse(expression).map(Constraint::MemberOf)
    }
}

/// A placement strategy, applied in order (the first one dominates, the next breaks ties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    Random,
    /// Spread over the values of a field: `instanceId`, `host` or `attribute:<name>`.
    Spread {
        field: String,
    },
    /// Pack onto the instance with the least remaining `cpu` or `memory`.
    Binpack {
        field: String,
    },
}

/// Why a task could not be placed: [`Reason::Attribute`], `Cpu`, `Memory`, `Ports`,
/// `MemberOf`, `DistinctInstance`, or `Missing` for no usable instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub request: usize,
    pub reason: Reason,
    /// For a person: how many instances each check excluded.
    pub detail: String,
}

/// The outcome: `placements[i] = (request index, instance id)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub placements: Vec<(usize, String)>,
    pub failures: Vec<Failure>,
}

mod cluster;
mod constraint;
mod feasible;
mod index;
mod keys;
mod linear;
mod place;
pub mod query;
mod random;

pub use feasible::{
    check, check_attributes, check_available, check_launch_type, check_resources,
    network_mode_attributes, Reason, Status, TASK_ENI,
};
pub use place::{place, place_with};

#[cfg(test)]
mod constraint_tests;
#[cfg(test)]
mod tests;
