//! SSM over AWS JSON 1.1 (`X-Amz-Target: AmazonSSM.<Op>`, signed for `ssm`) against an
//! in-process server, and a way to make a stored ECS instance look like an ECS Anywhere
//! host until the join endpoint registers them itself.
#![allow(dead_code)]

use gantry_store::{Op, Store};
use serde_json::{json, Value};

use crate::common::{sign, Reply, Server};

/// `AmazonSSM.<op>` with `body`, signed with the server's current key.
pub async fn ssm(s: &Server, op: &str, body: Value) -> Reply {
    let url = format!("{}/", s.url());
    let body = body.to_string();
    let target = format!("AmazonSSM.{op}");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target.as_str()),
    ];
    let signed = sign::headers(
        &s.key,
        "POST",
        &url,
        &headers,
        body.as_bytes(),
        "ssm",
        sign::REGION,
        s.now(),
    );
    let mut rb = reqwest::Client::new().post(&url);
    for (k, v) in headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(signed)
    {
        rb = rb.header(k, v);
    }
    let resp = rb.body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Expects success.
pub async fn ok(s: &Server, op: &str, body: Value) -> Value {
    let r = ssm(s, op, body).await;
    assert_eq!(r.status, 200, "{op} failed: {}", r.body);
    r.body
}

/// Expects SSM exception `kind` (HTTP 400) and returns its message.
pub async fn err(s: &Server, op: &str, body: Value, kind: &str) -> String {
    let r = ssm(s, op, body).await;
    assert_eq!((r.status, r.kind()), (400, kind), "{op}: {}", r.body);
    r.body["message"].as_str().unwrap_or_default().to_string()
}

/// The trust policy an activation's role needs: SSM may assume it.
pub const SSM_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// IAM `CreateRole` of `name` at `path` (`/` or `/a/b/`) with trust policy `trust`.
pub async fn role_at(s: &Server, path: &str, name: &str, trust: &str) {
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={}&Path={}&AssumeRolePolicyDocument={}",
        form_encode(name),
        form_encode(path),
        form_encode(trust)
    );
    let r = s.form(&body, "iam").await;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "CreateRole {name}: {text}");
}

/// A role SSM may assume, at path `/`.
pub async fn role(s: &Server, name: &str) {
    role_at(s, "/", name, SSM_TRUST).await;
}

/// A fresh activation: (id, code).
pub async fn activation(s: &Server, body: Value) -> (String, String) {
    let v = ok(s, "CreateActivation", body).await;
    (
        v["ActivationId"].as_str().unwrap().to_string(),
        v["ActivationCode"].as_str().unwrap().to_string(),
    )
}

/// Rewrites stored ECS instance `id` of `cluster` as an EXTERNAL host with node id `node`.
pub async fn make_external(s: &Server, cluster: &str, id: &str, node: &str) {
    set_identity(s, cluster, id, "EXTERNAL", node).await;
}

/// Rewrites stored ECS instance `id` of `cluster` with `launch_type` and `node_id`.
pub async fn set_identity(s: &Server, cluster: &str, id: &str, launch_type: &str, node: &str) {
    let key = format!("instances/{cluster}/{id}");
    let rec = s
        .state
        .store
        .get(&key)
        .await
        .unwrap()
        .expect("instance stored");
    let mut v: Value = serde_json::from_slice(&rec.value).unwrap();
    v["launch_type"] = json!(launch_type);
    v["node_id"] = json!(node);
    let put = Op::Put {
        key,
        value: serde_json::to_vec(&v).unwrap(),
    };
    assert!(
        s.state
            .store
            .txn(vec![], vec![put])
            .await
            .unwrap()
            .succeeded
    );
}

/// Stores an ACTIVE, connected container instance `id` of `cluster` directly (no agent):
/// `launch_type` `EC2` or `EXTERNAL`, with `node_id` if given.
pub async fn put_instance(
    s: &Server,
    cluster: &str,
    id: &str,
    launch_type: &str,
    node_id: Option<&str>,
) {
    let v = json!({
        "id": id,
        "cluster": cluster,
        "hostname": format!("host-{id}"),
        "status": "ACTIVE",
        "agent_connected": true,
        "agent_version": "0.1.0",
        "registered_at": s.state.clock.now(),
        "cpu": 4096,
        "memory": 8192,
        "node_address": "192.0.2.7:7000",
        "launch_type": launch_type,
        "node_id": node_id,
    });
    let put = Op::Put {
        key: format!("instances/{cluster}/{id}"),
        value: serde_json::to_vec(&v).unwrap(),
    };
    assert!(
        s.state
            .store
            .txn(vec![], vec![put])
            .await
            .unwrap()
            .succeeded
    );
}
