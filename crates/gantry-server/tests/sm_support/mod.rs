//! Secrets Manager over AWS JSON 1.1 (`X-Amz-Target: secretsmanager.<Op>`, signed for
//! `secretsmanager`) against an in-process server.
#![allow(dead_code)]

use serde_json::Value;

use crate::common::{sign, Reply, Server};

/// `secretsmanager.<op>` with `body`, signed with `key`.
pub async fn sm_as(s: &Server, key: &sign::Key, op: &str, body: &Value) -> Reply {
    let url = format!("{}/", s.url());
    let body = body.to_string();
    let target = format!("secretsmanager.{op}");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target.as_str()),
    ];
    let signed = sign::headers(
        key,
        "POST",
        &url,
        &headers,
        body.as_bytes(),
        "secretsmanager",
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

pub async fn sm(s: &Server, op: &str, body: Value) -> Reply {
    sm_as(s, &s.key, op, &body).await
}

/// Expects success.
pub async fn ok(s: &Server, op: &str, body: Value) -> Value {
    let r = sm(s, op, body).await;
    assert_eq!(r.status, 200, "{op} failed: {}", r.body);
    r.body
}

/// Expects `kind` with a 400; returns the message.
pub async fn err(s: &Server, op: &str, body: Value, kind: &str) -> String {
    let r = sm(s, op, body).await;
    assert_eq!((r.status, r.kind()), (400, kind), "{op}: {}", r.body);
    r.body["message"].as_str().unwrap_or_default().to_string()
}
