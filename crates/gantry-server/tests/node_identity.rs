//! Node identity over HTTP: a host joins with a join token made through the
//! GantryNodes API, gets a certificate from the cluster CA for the key it made, registers
//! and holds its session with it; bad grants are refused with what was wrong and write
//! nothing; rotation gives a certificate that works; an expired one is refused with what to
//! do.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::node::{join_request, key_and_csr, post_join, NodeKey};
use common::Server;
use gantry_api::node::{NodeCredential, RotateRequest, ROTATE_PATH};
use gantry_api::protocol::RegisterRequest;
use gantry_server::ManualClock;
use serde_json::{json, Value};

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

/// A state dir of its own, removed at the end.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("gantry-node-test-{}", uuid::Uuid::new_v4())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_token_joins_a_host_that_registers_and_holds_its_session() {
    let dir = TempDir::new();
    let state_dir = dir.0.clone();
    let s = Server::start_with(move |c| c.state_dir = Some(state_dir)).await;
    // The cluster CA exists on a plain-HTTP loopback server too, and is served as is.
    let ca_pem = std::fs::read_to_string(dir.0.join("tls/ca.pem")).unwrap();
    let served = reqwest::get(format!("{}/agent/v1/ca", s.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, ca_pem);

    let r = s
        .nodes_api(
            "CreateJoinToken",
            json!({"cluster": "default", "ttlSeconds": 600, "registrationLimit": 2}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    let id = r.body["tokenId"].as_str().unwrap();
    assert_eq!(id.len(), 16);
    assert!(token.starts_with(&format!("{id}.")) && token.len() >= 16 + 1 + 32);
    assert_eq!(
        r.body["caSha256"].as_str(),
        gantry_server::nodes::ca_sha256_of_pem(&ca_pem).as_deref()
    );
    assert!(r.body["expiresAt"].as_f64().unwrap() > s.state.clock.now() + 590.0);

    let node = NodeKey::join(&s.url(), "default", &token).await;
    assert!(node.node_id.starts_with("i-") && node.node_id.len() == 19);
    assert_eq!(node.launch_type, "EC2");
    let (_, cert) = x509_parser::parse_x509_certificate(&node.cert_der).unwrap();
    let cn = cert.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), node.node_id);
    let san = format!(
        "{:?}",
        cert.subject_alternative_name().unwrap().unwrap().value
    );
    assert!(
        san.contains(&format!("{}.node.gantry", node.node_id)),
        "{san}"
    );

    let resp = s
        .register_as(Some(&node), &register_request("default", None))
        .await;
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 200, "{body}");
    let instance = body["instance_id"].as_str().unwrap().to_string();
    let mut agent = s.connect_as(Some(&node), &instance).await.unwrap();
    let (_, tasks) = agent.desired().await;
    assert!(tasks.is_empty());
    let d = s
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [instance]}),
        )
        .await;
    assert_eq!(d["containerInstances"][0]["status"], "ACTIVE");

    let listed = s.nodes_api("DescribeJoinTokens", json!({})).await;
    let t = &listed.body["joinTokens"][0];
    assert_eq!(t["tokenId"], id);
    assert_eq!(t["registrationsCount"], 1);
    assert_eq!(t["registrationLimit"], 2);
    assert_eq!(t["expired"], false);
    assert!(t.get("token").is_none(), "the secret is shown only once");
    let gone = s.nodes_api("DeleteJoinToken", json!({"tokenId": id})).await;
    assert_eq!(gone.status, 200);
    let again = s.nodes_api("DeleteJoinToken", json!({"tokenId": id})).await;
    assert_eq!(again.kind(), "ResourceNotFoundException");
}

#[tokio::test]
async fn the_token_api_checks_its_members() {
    let s = Server::start().await;
    for (body, text) in [
        (json!({"ttlSeconds": 59}), "ttlSeconds 59 is out of range"),
        (json!({"ttlSeconds": 2_592_001}), "is out of range"),
        (
            json!({"registrationLimit": 0}),
            "registrationLimit 0 is out of range",
        ),
        (json!({"cluster": "nope"}), "Cluster not found."),
        (
            json!({"clusterName": "default"}),
            "unknown field `clusterName`",
        ),
    ] {
        let r = s.nodes_api("CreateJoinToken", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let m = r.body["message"].as_str().unwrap();
        assert!(m.contains(text), "{body}: {m}");
    }
}

/// Each refusal says which check failed, never echoes the secret, and writes nothing.
#[tokio::test]
async fn wrong_expired_used_up_and_mismatched_grants_are_refused() {
    let clock = Arc::new(ManualClock::default());
    let s = Server::start_clocked(|_| {}, None, Some(clock.clone())).await;
    s.ok("CreateCluster", json!({"clusterName": "other"})).await;
    let token = s.token("default").await;
    let (id, secret) = token.split_once('.').unwrap();
    let url = s.url();
    let (_, csr) = key_and_csr();

    let cases = [
        (
            join_request("default", &format!("{id}.wrongsecret"), &csr),
            "does not match",
        ),
        (join_request("default", "not-a-token", &csr), "is malformed"),
        (
            join_request("default", &format!("0123456789abcdef.{secret}"), &csr),
            "does not exist",
        ),
        (
            join_request("other", &token, &csr),
            "is for cluster default, not other",
        ),
        (
            join_request("default", &token, "garbage"),
            "not a valid PKCS#10 CSR",
        ),
    ];
    for (req, text) in &cases {
        let before = s.revision().await;
        let (status, body) = post_join(&url, req).await;
        assert_eq!(status, 400, "{text}: {body}");
        let m = body["message"].as_str().unwrap();
        assert!(m.contains(text), "{text}: {m}");
        assert!(!m.contains(secret), "the secret is never echoed: {m}");
        assert_eq!(s.revision().await, before, "{text}: nothing written");
    }

    // Limit 1: the first host joins, the second is refused.
    NodeKey::join(&url, "default", &token).await;
    let before = s.revision().await;
    let (status, body) = post_join(&url, &join_request("default", &token, &csr)).await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("has reached its registration limit of 1"),
        "{body}"
    );
    assert_eq!(s.revision().await, before);

    let short = s
        .nodes_api("CreateJoinToken", json!({"ttlSeconds": 60}))
        .await;
    let short = short.body["token"].as_str().unwrap().to_string();
    clock.advance(61.0);
    let before = s.revision().await;
    let (status, body) = post_join(&url, &join_request("default", &short, &csr)).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("expired at"),
        "{body}"
    );
    assert_eq!(s.revision().await, before);
    let listed = s.nodes_api("DescribeJoinTokens", json!({})).await;
    assert!(listed.body["joinTokens"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["expired"] == true));
}

async fn rotate(s: &Server, node: &NodeKey, csr: &str) -> (u16, Value) {
    let body = serde_json::to_vec(&RotateRequest {
        csr_pem: csr.into(),
    })
    .unwrap();
    let mut rb = reqwest::Client::new()
        .post(format!("{}{ROTATE_PATH}", s.url()))
        .header("content-type", "application/json");
    for (k, v) in node.headers_at("POST", ROTATE_PATH, &body, s.now()) {
        rb = rb.header(k, v);
    }
    json_of(rb.body(body).send().await.unwrap()).await
}

#[tokio::test]
async fn rotation_gives_a_new_certificate_that_works() {
    let s = Server::start().await;
    let node = s.join_node("default").await;
    let (status, body) = json_of(
        s.register_as(Some(&node), &register_request("default", None))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let instance = body["instance_id"].as_str().unwrap().to_string();

    let (key, csr) = key_and_csr();
    let (status, body) = rotate(&s, &node, &csr).await;
    assert_eq!(status, 200, "{body}");
    let cred: NodeCredential = serde_json::from_value(body).unwrap();
    assert_eq!(cred.node_id, node.node_id);
    let rotated = NodeKey::from_credential(key, &cred);
    assert_ne!(rotated.cert_der, node.cert_der);

    let again = register_request("default", Some(&instance));
    let (status, body) = json_of(s.register_as(Some(&rotated), &again).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["instance_id"], instance.as_str());
    let mut agent = s.connect_as(Some(&rotated), &instance).await.unwrap();
    agent.desired().await;
    // The old certificate stays good until its own expiry.
    let (status, _) = json_of(s.register_as(Some(&node), &again).await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_expired_certificate_is_refused_with_what_to_do() {
    let clock = Arc::new(ManualClock::default());
    let s = Server::start_clocked(
        |c| c.node_credential_ttl = Duration::from_secs(60),
        None,
        Some(clock.clone()),
    )
    .await;
    let node = s.join_node("default").await;
    let req = register_request("default", None);
    let (status, _) = json_of(s.register_as(Some(&node), &req).await).await;
    assert_eq!(status, 200);
    clock.advance(61.0);
    let before = s.revision().await;
    let (status, body) = json_of(s.register_as(Some(&node), &req).await).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["__type"], "AccessDeniedException");
    let m = body["message"].as_str().unwrap();
    assert!(
        m.contains(&format!(
            "The node credential of {} expired at",
            node.node_id
        )) && m.contains("join the host again"),
        "{m}"
    );
    let (_, csr) = key_and_csr();
    let (status, body) = rotate(&s, &node, &csr).await;
    assert_eq!(status, 403, "an expired certificate cannot rotate: {body}");
    assert_eq!(s.revision().await, before);
}
