//! The CLI's requests carry a signature that Gantry's own verifier (`gantry_aws::sigv4`,
//! independent of the `aws-sigv4` signer) accepts, for the scope the server expects.

use gantry_aws::sigv4::{self, Expect};
use gantry_link::testing::{capture_one, Captured};
use gantry_link::{Credentials, Signer};
use serde_json::json;

use super::Client;

const KEY: &str = "AKIAGANTRYTESTKEY001";
const SECRET: &str = "GantryTestSecretKey0123456789abcdefghijk";

fn verify(c: &Captured) -> sigv4::Claim {
    let headers = c.header_refs();
    let req = sigv4::Request {
        method: &c.method,
        path: &c.path,
        query: &c.query,
        headers: &headers,
        body: &c.body,
    };
    let claim = sigv4::parse(&req).expect("a signature");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let expect = Expect {
        now,
        region: "us-east-1",
        service: "ecs",
    };
    sigv4::verify(&req, &claim, SECRET, &expect).expect("the signature verifies");
    claim
}

fn client(addr: std::net::SocketAddr) -> Client {
    let signer = Signer::new(Credentials::new(KEY, SECRET), "us-east-1");
    Client::signed(&format!("http://{addr}"), signer, None).expect("client")
}

#[tokio::test]
async fn an_ecs_call_is_signed() {
    let (addr, seen) = capture_one(200, r#"{"clusterArns":[]}"#)
        .await
        .expect("listen");
    let out = client(addr)
        .call("ListClusters", json!({ "maxResults": 10 }))
        .await
        .expect("answered");
    assert_eq!(out, json!({ "clusterArns": [] }));
    let c = seen.await.expect("join").expect("captured");
    let claim = verify(&c);
    assert_eq!(claim.access_key_id, KEY);
    for h in ["content-type", "host", "x-amz-date", "x-amz-target"] {
        assert!(claim.signed_headers.iter().any(|s| s == h), "{h} signed");
    }
}

#[tokio::test]
async fn the_logs_request_is_signed_with_its_query() {
    let (addr, seen) = capture_one(200, "").await.expect("listen");
    let url = reqwest::Url::parse(&format!(
        "http://{addr}/gantry/v1/logs?cluster=default&task=abc&since=1700000000.5"
    ))
    .expect("url");
    client(addr).get(url).await.expect("answered");
    let c = seen.await.expect("join").expect("captured");
    assert_eq!(c.path, "/gantry/v1/logs");
    verify(&c);
}

#[tokio::test]
async fn an_api_error_reads_as_exception_and_message() {
    let (addr, _seen) = capture_one(
        400,
        r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::000000000000:user/u is not authorized"}"#,
    )
    .await
    .expect("listen");
    let e = client(addr)
        .call("ListTasks", json!({}))
        .await
        .expect_err("refused")
        .to_string();
    assert!(e.starts_with("AccessDeniedException: User:"), "{e}");
}
