//! What an agent sends the gateway carries a SigV4 signature that Gantry's own verifier
//! (`gantry_aws::sigv4`, written apart from the `aws-sigv4` signer) accepts.

use gantry_api::protocol::RegisterRequest;
use gantry_aws::sigv4::{self, AuthError, Expect};
use gantry_link::testing::{capture_one, Captured};
use gantry_link::{Credentials, Link, Signer};

const KEY: &str = "AKIAGANTRYTESTKEY001";
const SECRET: &str = "GantryTestSecretKey0123456789abcdefghijk";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn check(c: &Captured, secret: &str, region: &str) -> Result<sigv4::Claim, AuthError> {
    let headers = c.header_refs();
    let req = sigv4::Request {
        method: &c.method,
        path: &c.path,
        query: &c.query,
        headers: &headers,
        body: &c.body,
    };
    let claim = sigv4::parse(&req)?;
    let expect = Expect {
        now: now(),
        region,
        service: "ecs",
    };
    sigv4::verify(&req, &claim, secret, &expect)?;
    Ok(claim)
}

fn register_request() -> RegisterRequest {
    RegisterRequest {
        cluster: "default".into(),
        instance_id: None,
        hostname: "h".into(),
        cpu: 1024,
        memory: 512,
        reserved_ports: vec![22],
        attributes: Vec::new(),
        agent_version: "test".into(),
        node_address: None,
    }
}

#[tokio::test]
async fn registration_is_signed_for_ecs_in_the_servers_region() {
    let (addr, seen) = capture_one(200, r#"{"instanceId":"i-1"}"#)
        .await
        .expect("listen");
    let link = Link::new(&format!("http://{addr}"))
        .with_signer(Signer::new(Credentials::new(KEY, SECRET), "local"));
    let _ = link.register(&register_request()).await;
    let c = seen.await.expect("join").expect("captured");
    assert_eq!(
        (c.method.as_str(), c.path.as_str()),
        ("POST", "/agent/v1/register")
    );
    let claim = check(&c, SECRET, "local").expect("a valid signature");
    assert_eq!(claim.access_key_id, KEY);
    assert_eq!(
        (claim.region.as_str(), claim.service.as_str()),
        ("local", "ecs")
    );
    assert!(matches!(
        check(&c, "another-secret-0000000000000000000000000", "local"),
        Err(AuthError::InvalidSignature(_))
    ));
}

#[tokio::test]
async fn the_session_upgrade_is_signed_with_an_empty_payload() {
    let (addr, seen) = capture_one(403, "{}").await.expect("listen");
    let mut creds = Credentials::new(KEY, SECRET);
    creds.session_token = Some("FwoGZXIvYXdzEXAMPLETOKEN".into());
    let link = Link::new(&format!("http://{addr}")).with_signer(Signer::new(creds, "us-east-1"));
    assert!(
        link.connect("i-0abc").await.is_err(),
        "the capture answers 403"
    );
    let c = seen.await.expect("join").expect("captured");
    assert_eq!(c.method, "GET");
    assert_eq!(
        (c.path.as_str(), c.query.as_str()),
        ("/agent/v1/session", "instance=i-0abc")
    );
    let claim = check(&c, SECRET, "us-east-1").expect("a valid signature");
    assert_eq!(
        claim.security_token.as_deref(),
        Some("FwoGZXIvYXdzEXAMPLETOKEN")
    );
    assert!(claim
        .signed_headers
        .contains(&"x-amz-security-token".to_string()));
    assert!(!claim
        .signed_headers
        .iter()
        .any(|h| h.starts_with("sec-websocket")));
}

#[tokio::test]
async fn an_unsigned_link_sends_no_authorization() {
    let (addr, seen) = capture_one(200, r#"{"instanceId":"i-1"}"#)
        .await
        .expect("listen");
    let _ = Link::new(&format!("http://{addr}"))
        .register(&register_request())
        .await;
    let c = seen.await.expect("join").expect("captured");
    assert!(matches!(
        check(&c, SECRET, "local"),
        Err(AuthError::MissingAuthenticationToken)
    ));
}
