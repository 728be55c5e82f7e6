//! The gate's caches (keys, policies, and the SigV4 signing keys derived from a secret) never
//! outlive an IAM change: a key that just verified (so its signing key is remembered) stops
//! working on the very next request once it is deactivated or deleted, works again once
//! reactivated, and a policy change applies to the next request.

mod common;
mod iam_support;

use common::sign::Key;
use common::Server;
use iam_support::call_as;
use serde_json::json;

async fn admin_iam(s: &Server, action: &str, params: &[(&str, &str)]) {
    call_as(s, "iam", common::sign::ACCESS_KEY_ID, action, params)
        .await
        .ok();
}

const LIST_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:ListClusters","Resource":"*"}]}"#;
const NOTHING: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ecs:ListClusters","Resource":"*"}]}"#;

/// User `carol` with a key and a policy allowing ListClusters.
async fn carol(s: &Server) -> Key {
    admin_iam(s, "CreateUser", &[("UserName", "carol")]).await;
    let k = call_as(
        s,
        "iam",
        common::sign::ACCESS_KEY_ID,
        "CreateAccessKey",
        &[("UserName", "carol")],
    )
    .await
    .ok();
    admin_iam(
        s,
        "PutUserPolicy",
        &[
            ("UserName", "carol"),
            ("PolicyName", "p"),
            ("PolicyDocument", LIST_ONLY),
        ],
    )
    .await;
    Key {
        access_key_id: k.get("AccessKeyId").unwrap(),
        secret: k.get("SecretAccessKey").unwrap(),
        session_token: None,
    }
}

async fn list_as(s: &mut Server, key: &Key) -> (u16, String) {
    let admin = std::mem::replace(&mut s.key, key.clone());
    let r = s.call("ListClusters", json!({})).await;
    s.key = admin;
    (r.status, r.kind().to_string())
}

#[tokio::test]
async fn a_warm_key_stops_at_once_when_deactivated_or_deleted() {
    let mut s = Server::start().await;
    let k = carol(&s).await;
    // Twice: the second request verifies with the remembered signing key.
    for _ in 0..2 {
        assert_eq!(list_as(&mut s, &k).await.0, 200);
    }
    let id = k.access_key_id.clone();
    admin_iam(
        &s,
        "UpdateAccessKey",
        &[
            ("UserName", "carol"),
            ("AccessKeyId", &id),
            ("Status", "Inactive"),
        ],
    )
    .await;
    assert_eq!(
        list_as(&mut s, &k).await,
        (403, "UnrecognizedClientException".to_string())
    );
    admin_iam(
        &s,
        "UpdateAccessKey",
        &[
            ("UserName", "carol"),
            ("AccessKeyId", &id),
            ("Status", "Active"),
        ],
    )
    .await;
    assert_eq!(list_as(&mut s, &k).await.0, 200);

    admin_iam(
        &s,
        "DeleteAccessKey",
        &[("UserName", "carol"), ("AccessKeyId", &id)],
    )
    .await;
    assert_eq!(
        list_as(&mut s, &k).await,
        (403, "UnrecognizedClientException".to_string())
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_even_when_the_key_is_warm() {
    let mut s = Server::start().await;
    let k = carol(&s).await;
    assert_eq!(list_as(&mut s, &k).await.0, 200);
    // Same key id, same scope, another secret: the remembered signing key must not help.
    let last = if k.secret.ends_with('x') { 'y' } else { 'x' };
    let forged = Key {
        secret: format!("{}{last}", &k.secret[..k.secret.len() - 1]),
        ..k.clone()
    };
    assert_eq!(
        list_as(&mut s, &forged).await,
        (403, "InvalidSignatureException".to_string())
    );
    assert_eq!(list_as(&mut s, &k).await.0, 200);
    // One scope remembered, the one that verified; the forged request added nothing.
    let entry = s
        .state
        .auth_cache
        .key(&s.state, &k.access_key_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.remembered(), 1);
}

#[tokio::test]
async fn a_policy_change_applies_to_the_next_request() {
    let mut s = Server::start().await;
    let k = carol(&s).await;
    assert_eq!(list_as(&mut s, &k).await.0, 200);
    admin_iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "carol"),
            ("PolicyName", "p"),
            ("PolicyDocument", NOTHING),
        ],
    )
    .await;
    assert_eq!(
        list_as(&mut s, &k).await,
        (400, "AccessDeniedException".to_string())
    );
}
