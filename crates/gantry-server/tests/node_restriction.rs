//! Node restriction, with forged agents (test clients speaking the agent protocol with
//! stolen, mismatched or forged credentials): an IAM key opens no session, a node registers
//! and holds the session of its own instance only, a report about another node's task
//! changes nothing, forged signatures are refused, deregistration revokes at once, and every
//! refusal is audited.

mod common;

use std::time::Duration;

use common::node::{key_and_csr, NodeKey};
use common::{eventually_within, Server};
use gantry_api::protocol::{ContainerReport, RegisterRequest, TaskReport};
use gantry_api::TaskStatus;
use gantry_server::auth::audit::{read_all, Decision, Record};
use gantry_store::Store;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use serde_json::{json, Value};

fn register_request(cluster: &str, instance_id: Option<&str>) -> RegisterRequest {
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

/// Request headers, name and value.
type Headers = Vec<(String, String)>;

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server with a state dir (so an audit log).
async fn audited_server() -> (Server, TempDir) {
    let dir =
        TempDir(std::env::temp_dir().join(format!("gantry-restrict-{}", uuid::Uuid::new_v4())));
    let state_dir = dir.0.clone();
    let s = Server::start_with(move |c| c.state_dir = Some(state_dir)).await;
    (s, dir)
}

async fn status_and_body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A node that joined and registered: its key and its instance id.
async fn registered(s: &Server) -> (NodeKey, String) {
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
async fn audit_until(dir: &TempDir, f: impl Fn(&[Record]) -> bool) -> Vec<Record> {
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

fn denied(records: &[Record], action: &str, principal: Option<&str>) -> bool {
    records.iter().any(|r| {
        r.action == action
            && r.decision == Decision::Deny
            && r.error_code.as_deref() == Some("AccessDeniedException")
            && principal.is_none_or(|p| r.principal_arn.as_deref() == Some(p))
    })
}

fn arn_of(node: &NodeKey) -> String {
    format!(
        "arn:aws:ec2:us-east-1:123456789012:instance/{}",
        node.node_id
    )
}

#[tokio::test]
async fn an_iam_access_key_opens_no_session_and_registers_nothing() {
    let (s, dir) = audited_server().await;
    let (_, instance) = registered(&s).await;
    let before = s.revision().await;
    // The administrator's own key, SigV4 as the agent used to sign.
    let body = serde_json::to_vec(&register_request("default", None)).unwrap();
    let url = format!("{}/agent/v1/register", s.url());
    let ct = [("content-type", "application/json")];
    let mut rb = reqwest::Client::new().post(&url).header(ct[0].0, ct[0].1);
    for (k, v) in s.sign("POST", &url, &ct, &body) {
        rb = rb.header(k, v);
    }
    let (status, b) = status_and_body(rb.body(body).send().await.unwrap()).await;
    assert_eq!(status, 403, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("Agent sessions take a node credential, not an IAM access key"),
        "{b}"
    );

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let path = format!("/agent/v1/session?instance={instance}");
    let mut req = format!("ws://{}{path}", s.addr)
        .into_client_request()
        .unwrap();
    for (k, v) in s.sign("GET", &format!("{}{path}", s.url()), &[], b"") {
        let name =
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 403),
        other => panic!("a SigV4 session was not refused: {:?}", other.map(|_| ())),
    }
    assert_eq!(s.revision().await, before, "nothing written");
    audit_until(&dir, |r| {
        denied(r, "RegisterContainerInstance", None) && denied(r, "Poll", None)
    })
    .await;
}

#[tokio::test]
async fn a_node_registers_and_holds_the_session_of_its_own_instance_only() {
    let (s, dir) = audited_server().await;
    s.ok("CreateCluster", json!({"clusterName": "other"})).await;
    let (a, inst_a) = registered(&s).await;
    let (b, inst_b) = registered(&s).await;
    let before = s.revision().await;

    let cases = [
        (
            &b,
            register_request("default", Some(&inst_a)),
            format!("it cannot register as container instance {inst_a}"),
        ),
        (
            &a,
            register_request("other", None),
            "it cannot register in cluster other".to_string(),
        ),
    ];
    for (node, req, text) in &cases {
        let (status, body) = status_and_body(s.register_as(Some(node), req).await).await;
        assert_eq!(status, 403, "{text}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(text.as_str()),
            "{text}: {body}"
        );
    }
    let refused = s
        .connect_as(Some(&b), &inst_a)
        .await
        .err()
        .expect("B opened A's session");
    assert!(
        refused.starts_with("403")
            && refused.contains("a node holds the session of its own instance only"),
        "{refused}"
    );
    assert_eq!(s.revision().await, before, "nothing written");

    // Registering again without an id is the node's own instance, not a new one.
    let (status, body) = status_and_body(
        s.register_as(Some(&a), &register_request("default", None))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["instance_id"], inst_a.as_str());
    let d = s
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [inst_a.clone(), inst_b]}),
        )
        .await;
    assert_eq!(d["containerInstances"].as_array().unwrap().len(), 2);
    let rec = s.state.store.list("instances/default/").await.unwrap();
    assert_eq!(rec.len(), 2);
    audit_until(&dir, |r| {
        denied(r, "RegisterContainerInstance", Some(&arn_of(&b)))
            && denied(r, "RegisterContainerInstance", Some(&arn_of(&a)))
            && denied(r, "Poll", Some(&arn_of(&b)))
    })
    .await;
}

#[tokio::test]
async fn a_report_about_another_nodes_task_changes_nothing() {
    let (s, dir) = audited_server().await;
    let (a, inst_a) = registered(&s).await;
    let mut agent_a = s.connect_as(Some(&a), &inst_a).await.unwrap();
    agent_a.desired().await;
    s.register_taskdef("web", 256, 256).await;
    let run = s.ok("RunTask", json!({"taskDefinition": "web"})).await;
    let task = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    agent_a.desired_until(|t| !t.is_empty()).await;

    let (b, inst_b) = registered(&s).await;
    let mut agent_b = s.connect_as(Some(&b), &inst_b).await.unwrap();
    agent_b.desired().await;
    let before = s.revision().await;
    let seen = s
        .ok("DescribeTasks", json!({"tasks": [task.clone()]}))
        .await;
    agent_b
        .report(TaskReport {
            report_id: 7,
            task_arn: task.clone(),
            last_status: Some(TaskStatus::Stopped),
            containers: vec![ContainerReport {
                name: "app".into(),
                last_status: Some(TaskStatus::Stopped),
                exit_code: Some(1),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await;
    assert_eq!(s.revision().await, before, "the report changed nothing");
    let d = s
        .ok("DescribeTasks", json!({"tasks": [task.clone()]}))
        .await;
    assert_eq!(d["tasks"][0], seen["tasks"][0]);
    assert_ne!(d["tasks"][0]["lastStatus"], "STOPPED");
    let records = audit_until(&dir, |r| {
        denied(r, "SubmitTaskStateChange", Some(&arn_of(&b)))
    })
    .await;
    assert!(records
        .iter()
        .any(|r| r.action == "SubmitTaskStateChange" && r.resources == [task.clone()]));
}

/// A certificate for `node_id` from a CA of the forger's own, for `key`.
fn foreign_cert(node_id: &str, key: &KeyPair) -> Vec<u8> {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Gantry cluster CA 00000000");
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec![format!("{node_id}.node.gantry")]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, node_id);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    leaf.signed_by(key, &issuer).unwrap().der().to_vec()
}

#[tokio::test]
async fn forged_and_tampered_signatures_are_refused() {
    let (s, dir) = audited_server().await;
    let (victim, instance) = registered(&s).await;
    let before = s.revision().await;
    let req = register_request("default", Some(&instance));
    let path = "/agent/v1/register";
    let body = serde_json::to_vec(&req).unwrap();
    let send = |headers: Vec<(String, String)>, body: Vec<u8>| {
        let mut rb = reqwest::Client::new()
            .post(format!("{}{path}", s.url()))
            .header("content-type", "application/json");
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        async move { status_and_body(rb.body(body).send().await.unwrap()).await }
    };

    let (forger_key, _) = key_and_csr();
    let forged = NodeKey {
        cert_der: foreign_cert(&victim.node_id, &forger_key),
        key: forger_key,
        node_id: victim.node_id.clone(),
        launch_type: "EC2".into(),
        expires_at: 0,
    };
    let (other_key, _) = key_and_csr();
    let stolen_cert = NodeKey {
        cert_der: victim.cert_der.clone(),
        key: other_key,
        node_id: victim.node_id.clone(),
        launch_type: "EC2".into(),
        expires_at: 0,
    };
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let old = s.now() - Duration::from_secs(600);
    let cases: Vec<(Headers, Vec<u8>, &str)> = vec![
        (vec![], body.clone(), "needs a node signature"),
        (
            victim.headers_at("POST", path, &body, s.now()),
            tampered,
            "does not verify",
        ),
        (
            victim.headers_at("POST", path, &body, old),
            body.clone(),
            "is more than 300 s from the server's clock",
        ),
        (
            forged.headers_at("POST", path, &body, s.now()),
            body.clone(),
            "not from this cluster's CA",
        ),
        (
            stolen_cert.headers_at("POST", path, &body, s.now()),
            body.clone(),
            "does not verify with its certificate's key",
        ),
    ];
    for (headers, body, text) in cases {
        let (status, b) = send(headers, body).await;
        assert_eq!(status, 403, "{text}: {b}");
        assert_eq!(b["__type"], "AccessDeniedException");
        assert!(b["message"].as_str().unwrap().contains(text), "{text}: {b}");
    }
    // A node credential is no key to the ECS API.
    let ecs = br#"{}"#.to_vec();
    let mut rb = reqwest::Client::new()
        .post(format!("{}/", s.url()))
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.ListClusters",
        );
    for (k, v) in victim.headers_at("POST", "/", &ecs, s.now()) {
        rb = rb.header(k, v);
    }
    let (status, b) = status_and_body(rb.body(ecs).send().await.unwrap()).await;
    assert_eq!(
        (status, b["__type"].as_str()),
        (400, Some("MissingAuthenticationTokenException")),
        "{b}"
    );
    assert_eq!(s.revision().await, before, "nothing written");
    audit_until(&dir, |r| {
        let registers = r
            .iter()
            .filter(|x| x.action == "RegisterContainerInstance" && x.decision == Decision::Deny)
            .count();
        registers >= 5
            && r.iter()
                .any(|x| x.action == "ListClusters" && x.decision == Decision::Deny)
    })
    .await;
}

#[tokio::test]
async fn deregistration_revokes_the_node_at_once() {
    let (s, dir) = audited_server().await;
    let (node, instance) = registered(&s).await;
    let mut agent = s.connect_as(Some(&node), &instance).await.unwrap();
    agent.desired().await;
    s.ok(
        "DeregisterContainerInstance",
        json!({"containerInstance": instance.clone(), "force": true}),
    )
    .await;
    let close = agent.closed_within(Duration::from_secs(5)).await;
    assert_eq!(close, Some((4403, "node credential revoked".to_string())));

    let (status, body) = status_and_body(
        s.register_as(Some(&node), &register_request("default", None))
            .await,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let m = body["message"].as_str().unwrap();
    assert!(
        m.contains(&format!(
            "The node credential of {} was revoked at",
            node.node_id
        )) && m.contains("join the host again"),
        "{m}"
    );
    let refused = s
        .connect_as(Some(&node), &instance)
        .await
        .err()
        .expect("a revoked node opened a session");
    assert!(
        refused.starts_with("403") && refused.contains("was revoked"),
        "{refused}"
    );
    eventually_within(
        "the node's record to say revoked",
        Duration::from_secs(5),
        || async {
            gantry_server::nodes::node(&s.state, &node.node_id)
                .await
                .unwrap()
                .is_some_and(|n| n.revoked_at.is_some())
        },
    )
    .await;
    let me = arn_of(&node);
    audit_until(&dir, |r| {
        denied(r, "RegisterContainerInstance", Some(&me)) && denied(r, "Poll", Some(&me))
    })
    .await;
}

#[tokio::test]
async fn refused_joins_and_expired_credentials_are_audited() {
    let dir =
        TempDir(std::env::temp_dir().join(format!("gantry-restrict-{}", uuid::Uuid::new_v4())));
    let state_dir = dir.0.clone();
    let clock = std::sync::Arc::new(gantry_server::ManualClock::default());
    let s = Server::start_clocked(
        move |c| {
            c.state_dir = Some(state_dir);
            c.node_credential_ttl = Duration::from_secs(60);
        },
        None,
        Some(clock.clone()),
    )
    .await;
    let (_, csr) = key_and_csr();
    let bad = common::node::join_request("default", "0123456789abcdef.nope", &csr);
    let (status, _) = common::node::post_join(&s.url(), &bad).await;
    assert_eq!(status, 400);
    let (node, _) = registered(&s).await;
    clock.advance(61.0);
    let (status, _) = status_and_body(
        s.register_as(Some(&node), &register_request("default", None))
            .await,
    )
    .await;
    assert_eq!(status, 403);
    let me = arn_of(&node);
    let records = audit_until(&dir, |r| denied(r, "RegisterContainerInstance", Some(&me))).await;
    let join = records
        .iter()
        .find(|r| r.action == "JoinNode" && r.decision == Decision::Deny)
        .expect("the refused join is audited");
    assert_eq!(join.service, "gantry");
    assert_eq!(
        join.error_code.as_deref(),
        Some("InvalidParameterException")
    );
    assert!(records.iter().any(|r| r.action == "JoinNode"
        && r.decision == Decision::Allow
        && r.principal_arn.as_deref() == Some(me.as_str())));
    let text = std::fs::read_to_string(dir.0.join("audit/audit.log")).unwrap();
    assert!(!text.contains("nope"), "no grant secret in the audit log");
}
