//! `<state-dir>/agent/status.json`: written by `gantry agent` once it has registered, so that
//! `gantry agent install` (and an operator) can tell the host joined and as what.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    pub container_instance_arn: String,
    pub cluster: String,
    /// The node id of the host's credential (`mi-…` for an activation), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// The URL of the server the agent is connected to (one of its `--server` addresses:
    /// rewritten when it fails over to another replica).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The agent process that wrote it.
    pub pid: u32,
    /// When it registered, in seconds since the epoch.
    pub ready_at: u64,
}

/// Where the agent whose `--state-dir` is `state_dir` writes it.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("agent").join("status.json")
}

impl AgentStatus {
    /// This agent, registered now, connected to `server`.
    pub fn now(cluster: &str, instance_arn: &str, node_id: Option<&str>, server: &str) -> Self {
        Self {
            container_instance_arn: instance_arn.to_string(),
            cluster: cluster.to_string(),
            node_id: node_id.map(str::to_string),
            server: Some(server.to_string()),
            pid: std::process::id(),
            ready_at: now_secs(),
        }
    }
}

/// Records that this agent registered (again, with `server` changed, on a failover). A
/// failure only warns: the agent runs without it.
pub fn write(state_dir: &Path, status: &AgentStatus) {
    let file = path(state_dir);
    let tmp = file.with_extension("json.tmp");
    let written = serde_json::to_vec_pretty(status)
        .map_err(std::io::Error::other)
        .and_then(|body| std::fs::write(&tmp, body))
        .and_then(|()| std::fs::rename(&tmp, &file));
    if let Err(e) = written {
        tracing::warn!(file = %file.display(), "could not write the agent's status file: {e}");
    }
}

/// The status file, if there is a readable one.
pub fn read(state_dir: &Path) -> Option<AgentStatus> {
    let body = std::fs::read(path(state_dir)).ok()?;
    serde_json::from_slice(&body).ok()
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
