//! The auth gate over the real router: each bad request is refused with AWS's code and
//! status and changes nothing (the store revision and ListClusters are the same after it);
//! every answer carries a `Date`; the agent gateway and the logs endpoint refuse the
//! unsigned; every request lands in the audit log, with no secret in it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::sign::{self, Key};
use common::Server;
use gantry_server::ManualClock;
use serde_json::{json, Value};

const CREATE: &str = "AmazonEC2ContainerServiceV20141113.CreateCluster";

struct Answer {
    status: u16,
    body: Value,
    date: Option<String>,
}

impl Answer {
    fn kind(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }
    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

/// How a test signs: which key, for which service and region, at what time.
struct Signing {
    key: Key,
    service: &'static str,
    region: &'static str,
    at: std::time::SystemTime,
}

impl Signing {
    fn of(s: &Server) -> Self {
        Self {
            key: Key::admin(),
            service: "ecs",
            region: sign::REGION,
            at: s.now(),
        }
    }
}

/// `CreateCluster` signed as `how` says; `tamper` edits the headers and body after signing.
async fn create(
    s: &Server,
    how: &Signing,
    tamper: impl FnOnce(&mut Vec<(String, String)>, &mut Vec<u8>),
) -> Answer {
    let url = format!("{}/", s.url());
    let mut body = json!({"clusterName": "evil"}).to_string().into_bytes();
    let base = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", CREATE),
    ];
    let mut headers: Vec<(String, String)> = base
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    headers.extend(sign::headers(
        &how.key,
        "POST",
        &url,
        &base,
        &body,
        how.service,
        how.region,
        how.at,
    ));
    tamper(&mut headers, &mut body);
    send(&url, headers, body).await
}

async fn send(url: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Answer {
    let mut rb = reqwest::Client::new().post(url);
    for (k, v) in headers {
        rb = rb.header(k, v);
    }
    let resp = rb.body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let date = resp
        .headers()
        .get("date")
        .map(|d| d.to_str().unwrap().to_string());
    let bytes = resp.bytes().await.unwrap();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        date,
    }
}

async fn clusters(s: &Server) -> Value {
    s.ok("ListClusters", json!({})).await["clusterArns"].clone()
}

/// Runs `refused`, expecting `kind` and `status`, and that nothing was written.
async fn refused_unchanged(s: &Server, a: Answer, kind: &str, status: u16) -> Answer {
    assert_eq!((a.kind(), a.status), (kind, status), "{}", a.body);
    assert!(a.date.is_some(), "a refusal carries a Date");
    assert_eq!(
        clusters(s).await,
        json!([]),
        "a refused CreateCluster wrote nothing"
    );
    a
}

#[tokio::test]
async fn a_signed_request_passes_and_each_bad_one_is_refused_changing_nothing() {
    let s = Server::start().await;
    // The key's first use is written once (GetAccessKeyLastUsed); after it, reads write nothing.
    clusters(&s).await;
    let before = s.revision().await;

    let a = create(&s, &Signing::of(&s), |h, _| {
        h.retain(|(k, _)| k != "authorization")
    })
    .await;
    refused_unchanged(&s, a, "MissingAuthenticationTokenException", 400).await;

    let mut how = Signing::of(&s);
    how.key.access_key_id = "AKIAUNKNOWNKEY000000".into();
    let a = refused_unchanged(
        &s,
        create(&s, &how, |_, _| {}).await,
        "UnrecognizedClientException",
        403,
    )
    .await;
    assert_eq!(
        a.message(),
        "The security token included in the request is invalid."
    );

    let mut how = Signing::of(&s);
    how.key.secret = "not-the-secret".into();
    let a = refused_unchanged(
        &s,
        create(&s, &how, |_, _| {}).await,
        "InvalidSignatureException",
        403,
    )
    .await;
    assert!(
        a.message()
            .starts_with("The request signature we calculated does not match"),
        "{}",
        a.message()
    );

    let a = create(&s, &Signing::of(&s), |_, body| {
        *body = json!({"clusterName": "other"}).to_string().into_bytes();
    })
    .await;
    refused_unchanged(&s, a, "InvalidSignatureException", 403).await;

    // A signed header changed after signing: the target now names another operation.
    let a = create(&s, &Signing::of(&s), |h, _| {
        for (k, v) in h.iter_mut() {
            if k == "x-amz-target" {
                *v = "AmazonEC2ContainerServiceV20141113.DeleteCluster".into();
            }
        }
    })
    .await;
    refused_unchanged(&s, a, "InvalidSignatureException", 403).await;

    let mut how = Signing::of(&s);
    how.region = "eu-west-1";
    let a = refused_unchanged(
        &s,
        create(&s, &how, |_, _| {}).await,
        "InvalidSignatureException",
        403,
    )
    .await;
    assert!(
        a.message().contains("valid region, not 'eu-west-1'"),
        "{}",
        a.message()
    );

    let mut how = Signing::of(&s);
    how.service = "iam";
    let a = refused_unchanged(
        &s,
        create(&s, &how, |_, _| {}).await,
        "InvalidSignatureException",
        403,
    )
    .await;
    assert!(
        a.message().contains("correct service: 'ecs'"),
        "{}",
        a.message()
    );

    let mut how = Signing::of(&s);
    how.key.session_token = Some("FwoGZXIvYXdzEXAMPLETOKEN".into());
    refused_unchanged(
        &s,
        create(&s, &how, |_, _| {}).await,
        "UnrecognizedClientException",
        403,
    )
    .await;

    let a = create(&s, &Signing::of(&s), |h, _| {
        for (k, v) in h.iter_mut() {
            if k == "authorization" {
                v.push_str(&", x".repeat(5000));
            }
        }
    })
    .await;
    refused_unchanged(&s, a, "IncompleteSignatureException", 400).await;

    let a = create(&s, &Signing::of(&s), |h, _| {
        let auth = h
            .iter()
            .find(|(k, _)| k == "authorization")
            .cloned()
            .unwrap();
        h.push(auth);
    })
    .await;
    refused_unchanged(&s, a, "IncompleteSignatureException", 400).await;

    assert_eq!(
        s.revision().await,
        before,
        "no refused request wrote to the store"
    );

    // The same request, untouched, passes.
    let a = create(&s, &Signing::of(&s), |_, _| {}).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(clusters(&s).await.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn signatures_older_or_newer_than_five_minutes_are_refused() {
    let clock = Arc::new(ManualClock::default());
    let s = Server::start_with_clock(clock.clone()).await;
    let before = s.revision().await;

    // Signed now, replayed six minutes later.
    let how = Signing::of(&s);
    clock.advance(360.0);
    let a = refused_unchanged(
        &s,
        create(&s, &how, |_, _| {}).await,
        "InvalidSignatureException",
        403,
    )
    .await;
    assert!(
        a.message().starts_with("Signature expired: "),
        "{}",
        a.message()
    );
    assert!(a.message().ends_with("- 5 min.)"), "{}", a.message());

    // Dated six minutes ahead of the server.
    let mut how = Signing::of(&s);
    how.at += Duration::from_secs(360);
    let a = refused_unchanged(
        &s,
        create(&s, &how, |_, _| {}).await,
        "InvalidSignatureException",
        403,
    )
    .await;
    assert!(
        a.message().starts_with("Signature not yet current: "),
        "{}",
        a.message()
    );

    // Four minutes either way is inside the window.
    let mut how = Signing::of(&s);
    how.at -= Duration::from_secs(240);
    assert_eq!(create(&s, &how, |_, _| {}).await.status, 200);
    assert!(s.revision().await > before);
}

#[tokio::test]
async fn every_answer_carries_the_servers_date() {
    let clock = Arc::new(ManualClock::new(1_440_938_160.0));
    let s = Server::start_with_clock(clock).await;
    let ok = create(&s, &Signing::of(&s), |_, _| {}).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.date.as_deref(), Some("Sun, 30 Aug 2015 12:36:00 GMT"));
    let bad = create(&s, &Signing::of(&s), |h, _| h.clear()).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.date.as_deref(), Some("Sun, 30 Aug 2015 12:36:00 GMT"));
}

#[tokio::test]
async fn authentication_is_on_unless_a_bench_turns_it_off() {
    assert!(gantry_server::ServerConfig::default().authenticate);
}

#[tokio::test]
async fn the_gateway_and_the_logs_endpoint_refuse_the_unsigned() {
    let s = Server::start().await;
    // The server writes the election key once it leads: count from after that.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !s.state.is_leader() {
        assert!(std::time::Instant::now() < deadline, "the server never led");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = s.revision().await;
    let reg = gantry_api::protocol::RegisterRequest {
        cluster: "default".into(),
        instance_id: None,
        hostname: "intruder".into(),
        cpu: 1024,
        memory: 1024,
        reserved_ports: vec![],
        attributes: vec![],
        agent_version: "0.1.0".into(),
        node_address: None,
    };
    let resp = reqwest::Client::new()
        .post(format!("{}/agent/v1/register", s.url()))
        .json(&reg)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.headers().contains_key("date"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["__type"], "AccessDeniedException");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("needs a node signature"),
        "{body}"
    );
    assert_eq!(
        s.revision().await,
        before,
        "an unsigned registration wrote nothing"
    );

    // A registered instance's session, dialled without a signature: no upgrade.
    let inst = s.register_agent("default", 1024, 1024).await;
    let url = format!(
        "ws://{}/agent/v1/session?instance={}",
        s.addr, inst.instance_id
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 403),
        other => panic!(
            "an unsigned session was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    let resp = reqwest::get(format!("{}/gantry/v1/logs?task=abc", s.url()))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["__type"], "MissingAuthenticationTokenException");
}

#[tokio::test]
async fn query_protocol_refusals_are_xml() {
    let s = Server::start().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/", s.url()))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body("Action=GetCallerIdentity&Version=2011-06-15")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.headers().contains_key("date"));
    let body = resp.text().await.unwrap();
    assert!(
        body.starts_with(
            "<ErrorResponse><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code>"
        ),
        "{body}"
    );
    let mut s2 = Server::start().await;
    s2.key.secret = "wrong".into();
    let resp = s2
        .form("Action=GetCallerIdentity&Version=2011-06-15", "sts")
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
}

#[tokio::test]
async fn every_request_is_audited_without_secrets() {
    let dir = std::env::temp_dir().join(format!("gantry-audit-test-{}", uuid::Uuid::new_v4()));
    let state_dir = dir.clone();
    let s = Server::start_with(move |c| c.state_dir = Some(state_dir)).await;
    s.ok("CreateCluster", json!({"clusterName": "web"})).await;
    let denied = create(&s, &Signing::of(&s), |h, _| {
        h.retain(|(k, _)| k != "authorization")
    })
    .await;
    assert_eq!(denied.status, 400);
    let audit = dir.join("audit");
    let mut records = Vec::new();
    for _ in 0..200 {
        records = gantry_server::auth::audit::read_all(&audit).unwrap_or_default();
        if records.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(records.len(), 2, "{records:?}");
    let ok = &records[0];
    assert_eq!(ok.action, "CreateCluster");
    assert_eq!(ok.service, "ecs");
    assert_eq!(ok.decision, gantry_server::auth::audit::Decision::Allow);
    assert_eq!(
        ok.principal_arn.as_deref(),
        Some("arn:aws:iam::123456789012:user/admin")
    );
    assert_eq!(ok.access_key_id.as_deref(), Some(sign::ACCESS_KEY_ID));
    assert_eq!(ok.source_ip, "127.0.0.1");
    assert_eq!(ok.resources, ["*"]);
    let no = &records[1];
    assert_eq!(no.decision, gantry_server::auth::audit::Decision::Deny);
    assert_eq!(
        no.error_code.as_deref(),
        Some("MissingAuthenticationTokenException")
    );
    assert_eq!(no.principal_arn, None);
    let text = std::fs::read_to_string(audit.join("audit.log")).unwrap();
    assert!(!text.contains(sign::SECRET_ACCESS_KEY));
    assert!(
        !text.contains("clusterName"),
        "no request body in the audit log"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
