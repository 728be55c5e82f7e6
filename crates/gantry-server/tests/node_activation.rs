//! A host joined with an SSM activation: an EXTERNAL instance `mi-…` bound to its node
//! credential; DeregisterManagedInstance revokes it at once.

mod common;

use std::time::Duration;

use common::node::{key_and_csr, post_join, NodeKey};
use common::Server;
use gantry_api::node::{JoinGrant, JoinRequest, NodeCredential};
use gantry_api::protocol::RegisterRequest;
use gantry_store::Store;
use serde_json::{json, Value};

fn register_request() -> RegisterRequest {
    RegisterRequest {
        cluster: "default".into(),
        instance_id: None,
        hostname: "edge-1".into(),
        cpu: 1024,
        memory: 1024,
        reserved_ports: vec![],
        attributes: vec![],
        agent_version: "0.1.0".into(),
        node_address: None,
    }
}

async fn ssm(s: &Server, op: &str, body: Value) -> common::Reply {
    s.raw_for(&format!("AmazonSSM.{op}"), body.to_string(), "ssm")
        .await
}

#[tokio::test]
async fn an_activation_joins_an_external_instance_that_deregistration_revokes() {
    let s = Server::start().await;
    let a = ssm(
        &s,
        "CreateActivation",
        json!({"IamRole": "gantry-external-node"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let id = a.body["ActivationId"].as_str().unwrap().to_string();
    let code = a.body["ActivationCode"].as_str().unwrap().to_string();

    let (key, csr) = key_and_csr();
    let mut req = JoinRequest {
        cluster: "default".into(),
        grant: JoinGrant::Activation {
            activation_id: id.clone(),
            activation_code: "wrong-code-0000000000".into(),
        },
        csr_pem: csr,
        hostname: "edge-1".into(),
    };
    let before = s.revision().await;
    let (status, body) = post_join(&s.url(), &req).await;
    assert_eq!(status, 400, "{body}");
    assert!(!body["message"].as_str().unwrap().contains(&code));
    assert_eq!(s.revision().await, before, "a wrong code writes nothing");

    req.grant = JoinGrant::Activation {
        activation_id: id,
        activation_code: code,
    };
    let (status, body) = post_join(&s.url(), &req).await;
    assert_eq!(status, 200, "{body}");
    let cred: NodeCredential = serde_json::from_value(body).unwrap();
    assert!(
        cred.node_id.starts_with("mi-") && cred.node_id.len() == 20,
        "{}",
        cred.node_id
    );
    assert_eq!(cred.launch_type, "EXTERNAL");
    let node = NodeKey::from_credential(key, &cred);

    let resp = s.register_as(Some(&node), &register_request()).await;
    assert_eq!(resp.status().as_u16(), 200);
    let reg: Value = resp.json().await.unwrap();
    let instance = reg["instance_id"].as_str().unwrap().to_string();
    let rec = s.state.store.list("instances/default/").await.unwrap();
    let stored: Value = serde_json::from_slice(&rec[0].value).unwrap();
    assert_eq!(stored["launch_type"], "EXTERNAL");
    assert_eq!(stored["node_id"], cred.node_id.as_str());

    let mut agent = s.connect_as(Some(&node), &instance).await.unwrap();
    agent.desired().await;
    let d = ssm(
        &s,
        "DeregisterManagedInstance",
        json!({"InstanceId": cred.node_id}),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.body);
    let close = agent.closed_within(Duration::from_secs(5)).await;
    assert_eq!(close, Some((4403, "node credential revoked".to_string())));
    let resp = s.register_as(Some(&node), &register_request()).await;
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("was revoked at"),
        "{body}"
    );
}
