//! The address list and its backoff, as an agent with several `--server` URLs sees them.

use std::time::Duration;

use super::*;

#[test]
fn a_list_parses_in_order_without_repeats_or_trailing_slashes() {
    let s = Servers::parse(" https://a:1/ , https://b:2,https://a:1,, ").expect("parses");
    assert_eq!(s.urls(), ["https://a:1", "https://b:2"]);
    assert_eq!(s.current_url(), "https://a:1");
    assert!(s.is_tls());
    assert_eq!(s.flag_value(), "https://a:1,https://b:2");
    // One bare host:port, as `--server` always took it.
    assert_eq!(
        Servers::parse("h:8080").expect("bare").urls(),
        ["http://h:8080"]
    );
}

#[test]
fn bad_lists_are_refused_by_what_is_wrong() {
    assert!(matches!(Servers::parse(" , "), Err(ServersError::Empty)));
    assert!(matches!(
        Servers::parse("http://a:1,ftp://b"),
        Err(ServersError::BadUrl(u)) if u == "ftp://b"
    ));
    assert!(matches!(
        Servers::parse("https://a:1,http://b:2"),
        Err(ServersError::MixedSchemes(..))
    ));
}

#[test]
fn a_failure_moves_to_the_next_address_and_wraps_around() {
    let s = Servers::parse("http://a,http://b,http://c").expect("parses");
    let shared = s.clone();
    let first = s.current();
    assert_eq!(s.failed(&first).url, "http://b");
    // A clone sees the same address: registration, rotation and the session move together.
    assert_eq!(shared.current_url(), "http://b");
    let b = shared.current();
    assert_eq!(shared.failed(&b).url, "http://c");
    let c = s.current();
    assert_eq!(s.failed(&c).url, "http://a");
}

#[test]
fn two_callers_failing_on_one_address_move_once() {
    let s = Servers::parse("http://a,http://b,http://c").expect("parses");
    let seen_by_session = s.current();
    let seen_by_rotation = s.current();
    s.failed(&seen_by_session);
    // The rotation's failure was on `a` too: it must not skip `b`.
    assert_eq!(s.failed(&seen_by_rotation).url, "http://b");
}

#[test]
fn one_address_never_moves() {
    let s = Servers::one("http://only:1/");
    let c = s.current();
    assert_eq!(s.failed(&c).url, "http://only:1");
    assert!(!s.is_tls());
}

#[test]
fn the_backoff_tries_every_address_quickly_then_doubles_per_round() {
    let ms = Duration::from_millis;
    let mut b = Backoff::new(ms(100), ms(500), 2);
    // a fails: try b soon; b fails too: the round is over, wait and double.
    let waits: Vec<_> = (0..8).map(|_| b.failed()).collect();
    assert_eq!(
        waits,
        [
            ms(100),
            ms(100),
            ms(100),
            ms(200),
            ms(100),
            ms(400),
            ms(100),
            ms(500)
        ]
    );
    b.reset();
    assert_eq!((b.failed(), b.failed()), (ms(100), ms(100)));
}

#[test]
fn with_one_address_the_backoff_is_plain_doubling() {
    let ms = Duration::from_millis;
    let mut b = Backoff::new(ms(100), ms(5000), 1);
    let waits: Vec<_> = (0..4).map(|_| b.failed()).collect();
    assert_eq!(waits, [ms(100), ms(200), ms(400), ms(800)]);
}

fn request() -> gantry_api::protocol::RegisterRequest {
    gantry_api::protocol::RegisterRequest {
        cluster: "default".into(),
        instance_id: None,
        hostname: "h".into(),
        cpu: 1024,
        memory: 512,
        reserved_ports: Vec::new(),
        attributes: Vec::new(),
        agent_version: "test".into(),
        node_address: None,
    }
}

/// A loopback address nothing listens on.
fn closed() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}", l.local_addr().expect("addr"))
}

#[tokio::test]
async fn an_outage_moves_the_link_to_the_next_replica_and_the_retry_lands_there() {
    let down = closed();
    let (up, seen) = crate::testing::capture_one(
        200,
        r#"{"instance_id":"i-1","container_instance_arn":"arn:aws:ecs:us-east-1:0:container-instance/default/i-1"}"#,
    )
    .await
    .expect("listen");
    let up = format!("http://{up}");
    let link = crate::Link::with_servers(Servers::parse(&format!("{down},{up}")).expect("list"));
    let e = link
        .register(&request())
        .await
        .expect_err("nothing at the first");
    assert!(matches!(e, crate::RegisterError::Unavailable(_)), "{e}");
    // The link moved on by itself: the caller's retry goes to the second replica.
    assert_eq!(link.server_url(), up);
    let reg = link.register(&request()).await.expect("the second answers");
    assert_eq!(reg.instance_id, "i-1");
    assert_eq!(
        seen.await.expect("join").expect("captured").path,
        "/agent/v1/register"
    );
}

#[tokio::test]
async fn a_refusal_does_not_move_the_link() {
    let (first, _seen) = crate::testing::capture_one(403, r#"{"message":"revoked"}"#)
        .await
        .expect("listen");
    let first = format!("http://{first}");
    let link =
        crate::Link::with_servers(Servers::parse(&format!("{first},{}", closed())).expect("list"));
    let e = link.register(&request()).await.expect_err("refused");
    assert!(e.is_credential_refused(), "{e}");
    // Every replica would say the same of this credential: no failover.
    assert_eq!(link.server_url(), first);
}
