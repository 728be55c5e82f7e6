//! Helpers of the node-restriction tests: a server with an audit log, a registered node,
//! waiting for audit records.
#![allow(dead_code)]

use std::time::Duration;

use gantry_api::protocol::RegisterRequest;
use gantry_server::auth::audit::{read_all, Decision, Record};
use serde_json::Value;

use super::node::NodeKey;
use super::Server;

pub fn register_request(cluster: &str, instance_id: Option<&str>) -> RegisterRequest {
    RegisterRequest {
        cluster: cluster.into(),
        instance_id: instance_id.map(str::to_string),
        hostname: "node-1".into(),
        cpu: 1024,
        memory: 1024,
        reserved_ports: vec![],
        attributes: vec![],
        agent_version: "0.1.0".into(),
        node_address: None,
    }
}

pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server with a state dir (so an audit log).
pub async fn audited_server() -> (Server, TempDir) {
    let dir =
        TempDir(std::env::temp_dir().join(format!("gantry-restrict-{}", uuid::Uuid::new_v4())));
    let state_dir = dir.0.clone();
    let s = Server::start_with(move |c| c.state_dir = Some(state_dir)).await;
    (s, dir)
}

pub async fn status_and_body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A node that joined and registered: its key and its instance id.
pub async fn registered(s: &Server) -> (NodeKey, String) {
    let node = s.join_node("default").await;
    let (status, body) = status_and_body(
        s.register_as(Some(&node), &register_request("default", None))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (node, body["instance_id"].as_str().unwrap().to_string())
}

/// The audit records once `f` holds for them (the writer is a thread of its own).
pub async fn audit_until(dir: &TempDir, f: impl Fn(&[Record]) -> bool) -> Vec<Record> {
    let audit = dir.0.join("audit");
    for _ in 0..400 {
        let records = read_all(&audit).unwrap_or_default();
        if f(&records) {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the audit log never held what was expected: {:?}",
        read_all(&audit)
    );
}

pub fn denied(records: &[Record], action: &str, principal: Option<&str>) -> bool {
    records.iter().any(|r| {
        r.action == action
            && r.decision == Decision::Deny
            && r.error_code.as_deref() == Some("AccessDeniedException")
            && principal.is_none_or(|p| r.principal_arn.as_deref() == Some(p))
    })
}

pub fn arn_of(node: &NodeKey) -> String {
    format!(
        "arn:aws:ec2:us-east-1:123456789012:instance/{}",
        node.node_id
    )
}
