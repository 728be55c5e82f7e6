//! The agent <-> control plane protocol (DESIGN.md §4).
//!
//! 1. The agent registers with `POST /agent/v1/register` ([`RegisterRequest`] ->
//!    [`RegisterResponse`]).
//! 2. It then holds one WebSocket, `GET /agent/v1/session?instance=<id>`, carrying JSON frames
//!    `{"type": ..., "message": ...}`: [`ServerFrame`] down, [`AgentFrame`] up.
//! 3. The server pushes the node's whole desired task set with a sequence number; the agent
//!    ignores a set older than the one it has applied. After a reconnect the set is resent.
//! 4. The agent reports state changes; reports are idempotent and the server applies one only
//!    if it moves the task forward.

use serde::{Deserialize, Serialize};

use crate::model::{NetworkBinding, TaskDefinition, TaskOverride};
pub use crate::task_secrets::{ContainerSecrets, SecretsAnswer, TaskSecrets};
use crate::{TaskStatus, Timestamp};

/// Path of the registration call.
pub const REGISTER_PATH: &str = "/agent/v1/register";
/// Path of the WebSocket session.
pub const SESSION_PATH: &str = "/agent/v1/session";
/// How often the agent sends a heartbeat.
pub const HEARTBEAT_INTERVAL_MS: u64 = 5_000;
/// The registration attribute of a node that runs `awsvpc` tasks (ECS's name for it): the
/// scheduler places awsvpc tasks only on nodes that carry it.
pub const TASK_ENI_ATTRIBUTE: &str = "ecs.capability.task-eni";

/// What an agent says about itself when it joins a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub cluster: String,
    /// The id this host had before, kept in the agent's state dir, so a restarted agent
    /// comes back as the same container instance.
    #[serde(default)]
    pub instance_id: Option<String>,
    pub hostname: String,
    /// CPU units, 1024 a core.
    pub cpu: i64,
    /// MiB available to tasks.
    pub memory: i64,
    /// Host ports tasks may never use.
    #[serde(default)]
    pub reserved_ports: Vec<u16>,
    #[serde(default)]
    pub attributes: Vec<(String, String)>,
    pub agent_version: String,
    /// The address other nodes reach this host at (the awsvpc peer routes point to it).
    #[serde(default)]
    pub node_address: Option<String>,
}

/// The server's answer to a registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub instance_id: String,
    pub container_instance_arn: String,
    /// This node's slice of the cluster task network (CIDR), when the server hands them out:
    /// the agent takes awsvpc task addresses from it. The same node always gets the same one.
    #[serde(default)]
    pub task_slice: Option<String>,
    /// The whole task network (CIDR) the slices come from.
    #[serde(default)]
    pub task_network: Option<String>,
}

/// Another node's slice of the task network and the node address it is routed through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerRoute {
    pub subnet: String,
    pub via: String,
}

/// One task the server wants on this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub task_arn: String,
    pub task_id: String,
    pub cluster: String,
    pub desired_status: TaskStatus,
    pub task_definition: TaskDefinition,
    #[serde(default)]
    pub overrides: Option<TaskOverride>,
    /// Why the task is to stop, once `desired_status` is STOPPED.
    #[serde(default)]
    pub stop_code: Option<String>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
}

/// Frames from the server to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "message")]
pub enum ServerFrame {
    /// The whole desired task set of the node. Tasks absent from it are not wanted.
    DesiredState { seq: u64, tasks: Vec<TaskSpec> },
    /// Answer to a heartbeat.
    HeartbeatAck { at: Timestamp },
    /// The server applied the report with this id (or found it stale).
    ReportAck { report_id: u64 },
    /// Send the logs of a task's containers as [`AgentFrame::LogsChunk`] frames.
    LogsRequest(LogsRequest),
    /// Stop a `follow` logs request.
    LogsCancel { request_id: u64 },
    /// The slices of the other nodes of the cluster and their node addresses: the agent
    /// routes each slice through its node and removes routes to slices no longer listed.
    PeerRoutes { routes: Vec<PeerRoute> },
    /// The answer to an [`AgentFrame::SecretsRequest`].
    Secrets(SecretsAnswer),
}

/// What `gantry logs` asks of the agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogsRequest {
    pub request_id: u64,
    pub task_id: String,
    /// One container, or all of the task's.
    #[serde(default)]
    pub container: Option<String>,
    /// Only records at or after this time (unix seconds).
    #[serde(default)]
    pub since: Option<Timestamp>,
    /// Only the last N records (per container).
    #[serde(default)]
    pub tail: Option<usize>,
    /// Keep sending new records until the task stops or the request is cancelled.
    #[serde(default)]
    pub follow: bool,
}

/// One line a container wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub container: String,
    pub ts: Timestamp,
    /// `stdout` or `stderr`.
    pub stream: String,
    pub log: String,
}

/// Frames from the agent to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "message")]
pub enum AgentFrame {
    Heartbeat {
        at: Timestamp,
    },
    /// The agent applied the desired set with this sequence number.
    Applied {
        seq: u64,
    },
    TaskStateChange(TaskReport),
    /// Part of the answer to a [`ServerFrame::LogsRequest`]; `done` ends it.
    LogsChunk {
        request_id: u64,
        lines: Vec<LogLine>,
        done: bool,
        #[serde(default)]
        error: Option<String>,
    },
    /// A task is starting and names secrets (`secrets`, `repositoryCredentials`): the
    /// server reads them with the task's execution role and answers with
    /// [`ServerFrame::Secrets`]. Only for a task on the session's own instance.
    SecretsRequest {
        request_id: u64,
        task_arn: String,
    },
}

/// What the agent knows about one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// Per-connection counter the server echoes in [`ServerFrame::ReportAck`].
    pub report_id: u64,
    pub task_arn: String,
    pub last_status: Option<TaskStatus>,
    #[serde(default)]
    pub containers: Vec<ContainerReport>,
    #[serde(default)]
    pub pull_started_at: Option<Timestamp>,
    #[serde(default)]
    pub pull_stopped_at: Option<Timestamp>,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub execution_stopped_at: Option<Timestamp>,
    #[serde(default)]
    pub stop_code: Option<String>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    /// Task health (`HEALTHY`, `UNHEALTHY`, `UNKNOWN`), from its essential containers' checks.
    #[serde(default)]
    pub health_status: Option<String>,
    /// The task's own network interface (bridge and awsvpc modes).
    #[serde(default)]
    pub network: Option<NetworkReport>,
}

/// The network interface a task got on its node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkReport {
    pub private_ipv4_address: String,
    pub mac_address: String,
    /// The task subnet the address came from (CIDR), reported as `subnetId`.
    pub subnet: String,
}

/// What the agent knows about one container of a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerReport {
    pub name: String,
    pub last_status: Option<TaskStatus>,
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
    /// `HEALTHY`, `UNHEALTHY` or `UNKNOWN` when the container has a health check.
    #[serde(default)]
    pub health_status: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_type_message_shape() {
        let f = ServerFrame::DesiredState {
            seq: 7,
            tasks: vec![],
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["type"], "DesiredState");
        assert_eq!(v["message"]["seq"], 7);
        let back: ServerFrame = serde_json::from_value(v).unwrap();
        assert_eq!(back, f);
    }
}
