//! The gate with IAM's own identities, over HTTP: a user without a policy is denied with
//! AWS's AccessDeniedException text and nothing is written; an allow lets them through;
//! an inactive key, a deleted user, temporary credentials without their token or past their
//! expiry are refused with the codes AWS uses.

mod common;
mod iam_support;

use std::sync::Arc;

use common::sign::{self, Key};
use common::Server;
use gantry_server::ManualClock;
use iam_support::call_as;
use serde_json::json;

async fn admin_iam(s: &Server, action: &str, params: &[(&str, &str)]) -> iam_support::Answer {
    call_as(s, "iam", sign::ACCESS_KEY_ID, action, params).await
}

/// A user `name` with a fresh access key.
async fn user(s: &Server, name: &str) -> Key {
    admin_iam(s, "CreateUser", &[("UserName", name)]).await.ok();
    let k = admin_iam(s, "CreateAccessKey", &[("UserName", name)])
        .await
        .ok();
    Key {
        access_key_id: k.get("AccessKeyId").unwrap(),
        secret: k.get("SecretAccessKey").unwrap(),
        session_token: None,
    }
}

#[tokio::test]
async fn a_user_without_a_policy_is_denied_and_an_allow_lets_them_through() {
    let mut s = Server::start().await;
    let alice = user(&s, "alice").await;
    let before = s.revision().await;
    s.key = alice.clone();
    let r = s.call("CreateCluster", json!({"clusterName": "x"})).await;
    assert_eq!(
        (r.status, r.kind()),
        (400, "AccessDeniedException"),
        "{}",
        r.body
    );
    assert_eq!(
        r.body["message"],
        "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: ecs:CreateCluster on resource: * because no identity-based policy allows the ecs:CreateCluster action"
    );
    assert_eq!(s.revision().await, before, "a denied request wrote nothing");

    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:CreateCluster","Resource":"*"},{"Effect":"Deny","Action":"ecs:DeleteCluster","Resource":"*"}]}"#;
    admin_iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "alice"),
            ("PolicyName", "p"),
            ("PolicyDocument", doc),
        ],
    )
    .await
    .ok();
    s.key = alice;
    s.ok("CreateCluster", json!({"clusterName": "x"})).await;
    let r = s.call("DeleteCluster", json!({"cluster": "x"})).await;
    assert_eq!(r.kind(), "AccessDeniedException");
    assert!(
        r.body["message"].as_str().unwrap().ends_with(
            "ecs:DeleteCluster on resource: arn:aws:ecs:us-east-1:123456789012:cluster/x with an explicit deny in an identity-based policy"
        ),
        "{}",
        r.body
    );
    // IAM itself denies in its own form.
    let a = call_as(
        &s,
        "iam",
        &s.key.access_key_id,
        "CreateUser",
        &[("UserName", "mallory")],
    )
    .await;
    a.err(403, "AccessDenied");
}

#[tokio::test]
async fn inactive_keys_and_deleted_users_are_unrecognized() {
    let mut s = Server::start().await;
    let bob = user(&s, "bob").await;
    admin_iam(
        &s,
        "UpdateAccessKey",
        &[
            ("UserName", "bob"),
            ("AccessKeyId", &bob.access_key_id),
            ("Status", "Inactive"),
        ],
    )
    .await
    .ok();
    s.key = bob.clone();
    let r = s.call("ListClusters", json!({})).await;
    assert_eq!(
        (r.status, r.kind()),
        (403, "UnrecognizedClientException"),
        "{}",
        r.body
    );

    s.key = Key::admin();
    admin_iam(
        &s,
        "DeleteAccessKey",
        &[("UserName", "bob"), ("AccessKeyId", &bob.access_key_id)],
    )
    .await
    .ok();
    admin_iam(&s, "DeleteUser", &[("UserName", "bob")])
        .await
        .ok();
    s.key = bob;
    let r = s.call("ListClusters", json!({})).await;
    assert_eq!(
        (r.status, r.kind()),
        (403, "UnrecognizedClientException"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn temporary_credentials_need_their_token_and_stop_at_expiry() {
    let clock = Arc::new(ManualClock::default());
    let mut s = Server::start_with_clock(clock.clone()).await;
    let t = call_as(
        &s,
        "sts",
        sign::ACCESS_KEY_ID,
        "GetSessionToken",
        &[("DurationSeconds", "900")],
    )
    .await
    .ok();
    let temp = Key {
        access_key_id: t.get("AccessKeyId").unwrap(),
        secret: t.get("SecretAccessKey").unwrap(),
        session_token: t.get("SessionToken"),
    };
    s.key = temp.clone();
    s.ok("ListClusters", json!({})).await;

    s.key = Key {
        session_token: None,
        ..temp.clone()
    };
    let r = s.call("ListClusters", json!({})).await;
    assert_eq!(
        (r.status, r.kind()),
        (403, "UnrecognizedClientException"),
        "{}",
        r.body
    );
    s.key = Key {
        session_token: Some("not-the-token".into()),
        ..temp.clone()
    };
    let r = s.call("ListClusters", json!({})).await;
    assert_eq!(r.kind(), "UnrecognizedClientException");

    clock.advance(901.0);
    s.key = temp;
    let r = s.call("ListClusters", json!({})).await;
    assert_eq!(
        (r.status, r.kind()),
        (403, "ExpiredTokenException"),
        "{}",
        r.body
    );
    assert_eq!(
        r.body["message"],
        "The security token included in the request is expired"
    );
}

/// An IAM key, even one with the old node policy (`ecs:RegisterContainerInstance`,
/// `ecs:Poll`), no longer registers a host: the gateway takes node credentials only and
/// says how to get one. Who may hand out join tokens is IAM's to say: a key without
/// `gantry:CreateJoinToken` is refused with AWS's text, one with it gets a token, and the
/// host that joins with the token registers.
#[tokio::test]
async fn iam_keys_do_not_register_hosts_and_iam_governs_join_tokens() {
    use gantry_link::sim::{Behaviour, Fleet};

    let mut s = Server::start().await;
    let admin = s.key.clone();
    let node = user(&s, "node").await;
    let operator = user(&s, "operator").await;
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:RegisterContainerInstance","ecs:Poll"],"Resource":"*"}]}"#;
    admin_iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "node"),
            ("PolicyName", "gantry-node"),
            ("PolicyDocument", doc),
        ],
    )
    .await
    .ok();

    s.key = node;
    let refused = Fleet::start_on(&s.link(), "default", 1, 1024, 1024, Behaviour::Healthy)
        .await
        .expect_err("an IAM key must not register a host");
    assert!(
        refused.contains("403")
            && refused.contains("Agent sessions take a node credential, not an IAM access key"),
        "{refused}"
    );

    s.key = operator.clone();
    let r = s
        .nodes_api("CreateJoinToken", json!({"cluster": "default"}))
        .await;
    assert_eq!(r.kind(), "AccessDeniedException", "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("user/operator is not authorized to perform: gantry:CreateJoinToken on resource: arn:aws:ecs:us-east-1:123456789012:cluster/default"),
        "{}",
        r.body
    );

    s.key = admin;
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"gantry:CreateJoinToken","Resource":"arn:aws:ecs:*:*:cluster/default"}]}"#;
    admin_iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "operator"),
            ("PolicyName", "tokens"),
            ("PolicyDocument", doc),
        ],
    )
    .await
    .ok();
    s.key = operator;
    let inst = s.register_agent("default", 1024, 1024).await;
    assert!(!inst.instance_id.is_empty());
}
