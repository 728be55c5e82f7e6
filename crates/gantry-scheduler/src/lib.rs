//! Task placement as a pure function: `(cluster snapshot, requests, seed) -> plan`.
//! Feasibility (resources, ports, status, launch type) then ranking by the strategies in
//! order. No I/O and no clock here: the caller commits the plan and re-checks each instance.

use std::collections::BTreeSet;

/// One instance as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceView {
    pub id: String,
    /// ACTIVE instances with a connected agent take tasks; anything else does not.
    pub schedulable: bool,
    pub remaining_cpu: i64,
    pub remaining_memory: i64,
    /// Host ports in use or reserved.
    pub used_ports: BTreeSet<u16>,
    /// Attributes, for spread by attribute.
    pub attributes: Vec<(String, String)>,
    /// Tasks already on the instance, for spread.
    pub task_count: u32,
}

/// What one task needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequest {
    pub cpu: i64,
    pub memory: i64,
    /// Static host ports the task binds (tcp and udp counted alike).
    pub ports: Vec<u16>,
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

/// Why a task could not be placed, in ECS's words (`RESOURCE:CPU`, `RESOURCE:MEMORY`,
/// `RESOURCE:PORTS`, `MISSING` for no usable instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub request: usize,
    pub reason: String,
}

/// The outcome: `placements[i] = (request index, instance id)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub placements: Vec<(usize, String)>,
    pub failures: Vec<Failure>,
}

mod cluster;
mod index;
mod keys;
mod linear;
mod place;
mod random;

pub use place::place;

#[cfg(test)]
mod tests;
