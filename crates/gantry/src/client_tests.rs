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

/// A loopback port nothing listens on: connecting is refused.
async fn closed_port() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    l.local_addr().expect("addr")
}

/// A server that reads the request and closes the connection without answering, as a
/// replica killed mid-request does; the handle says how many connections it took.
async fn hangs_up() -> (std::net::SocketAddr, tokio::task::JoinHandle<usize>) {
    use tokio::io::AsyncReadExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut n = 0;
        while let Ok(Ok((mut sock, _))) =
            tokio::time::timeout(std::time::Duration::from_millis(500), l.accept()).await
        {
            n += 1;
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
        }
        n
    });
    (addr, task)
}

fn client_of(endpoints: &[String]) -> Client {
    let signer = Signer::new(Credentials::new(KEY, SECRET), "us-east-1");
    Client::signed(&endpoints.join(","), signer, None).expect("client")
}

#[tokio::test]
async fn a_call_moves_to_the_next_endpoint_when_it_cannot_connect() {
    let down = closed_port().await;
    let (up, seen) = capture_one(200, r#"{"taskArns":[]}"#)
        .await
        .expect("listen");
    let c = client_of(&[format!("http://{down}"), format!("http://{up}")]);
    // A write may go elsewhere when nothing was sent.
    let out = c.call("RunTask", json!({})).await.expect("answered");
    assert_eq!(out, json!({ "taskArns": [] }));
    verify(&seen.await.expect("join").expect("captured"));
    // The endpoint that answered stays in use.
    assert_eq!(c.endpoint(), format!("http://{up}"));
}

#[tokio::test]
async fn a_write_that_lost_its_connection_is_not_sent_again() {
    let (hang, hung) = hangs_up().await;
    let (other, other_asked) = hangs_up().await;
    let c = client_of(&[format!("http://{hang}"), format!("http://{other}")]);
    let e = c
        .call("RunTask", json!({}))
        .await
        .expect_err("no answer")
        .to_string();
    assert!(e.contains(&hang.to_string()), "{e}");
    assert_eq!(hung.await.expect("join"), 1);
    assert_eq!(
        other_asked.await.expect("join"),
        0,
        "RunTask was sent twice"
    );
}

#[tokio::test]
async fn a_read_that_lost_its_connection_is_asked_again_elsewhere() {
    let (hang, _hung) = hangs_up().await;
    let (up, seen) = capture_one(200, r#"{"tasks":[],"failures":[]}"#)
        .await
        .expect("listen");
    let c = client_of(&[format!("http://{hang}"), format!("http://{up}")]);
    c.call("DescribeTasks", json!({ "tasks": [] }))
        .await
        .expect("answered by the second");
    assert_eq!(seen.await.expect("join").expect("captured").path, "/");
}

#[tokio::test]
async fn an_api_error_is_an_answer_and_a_503_is_only_retried_for_reads() {
    let (first, _seen) = capture_one(
        400,
        r#"{"__type":"InvalidParameterException","message":"no such cluster"}"#,
    )
    .await
    .expect("listen");
    let (second, second_asked) = hangs_up().await;
    let c = client_of(&[format!("http://{first}"), format!("http://{second}")]);
    let e = c
        .call("ListTasks", json!({}))
        .await
        .expect_err("an API error")
        .to_string();
    assert!(e.starts_with("InvalidParameterException"), "{e}");
    assert_eq!(second_asked.await.expect("join"), 0);

    let (busy, _) = capture_one(503, r#"{"__type":"ServerException","message":"busy"}"#)
        .await
        .expect("listen");
    let (up, _) = capture_one(200, r#"{"clusters":[],"failures":[]}"#)
        .await
        .expect("listen");
    let c = client_of(&[format!("http://{busy}"), format!("http://{up}")]);
    c.call("DescribeClusters", json!({}))
        .await
        .expect("the second answered");

    let (busy, _) = capture_one(503, r#"{"__type":"ServerException","message":"busy"}"#)
        .await
        .expect("listen");
    let (never, asked) = hangs_up().await;
    let c = client_of(&[format!("http://{busy}"), format!("http://{never}")]);
    let e = c
        .call("RunTask", json!({}))
        .await
        .expect_err("503")
        .to_string();
    assert!(e.starts_with("ServerException: busy"), "{e}");
    assert_eq!(asked.await.expect("join"), 0);
}

#[tokio::test]
async fn a_logs_get_follows_the_endpoint_that_answers() {
    let down = closed_port().await;
    let (up, seen) = capture_one(200, "").await.expect("listen");
    let c = client_of(&[format!("http://{down}"), format!("http://{up}")]);
    let url = reqwest::Url::parse(&format!("http://{down}/gantry/v1/logs?task=abc")).expect("url");
    c.get(url).await.expect("answered");
    let got = seen.await.expect("join").expect("captured");
    assert_eq!(
        (got.path.as_str(), got.query.as_str()),
        ("/gantry/v1/logs", "task=abc")
    );
    verify(&got);
}
