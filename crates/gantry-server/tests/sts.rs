//! STS over the query protocol: who am I, assumed roles and session tokens, and the
//! temporary credentials the auth gate then finds.

mod common;
mod iam_support;

use gantry_server::auth::PrincipalKind;
use gantry_server::iam::identity;
use iam_support::{call_as, iam, start, ADMIN_ID};

const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
const TRUST_NOBODY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}"#;

async fn sts(
    s: &common::Server,
    key: &str,
    action: &str,
    params: &[(&str, &str)],
) -> iam_support::Answer {
    call_as(s, "sts", key, action, params).await
}

#[tokio::test]
async fn get_caller_identity_names_the_caller() {
    let s = start().await;
    let r = sts(&s, ADMIN_ID, "GetCallerIdentity", &[]).await.ok();
    assert!(r.body.starts_with(r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>"#), "{}", r.body);
    assert_eq!(
        r.get("Arn").unwrap(),
        "arn:aws:iam::123456789012:user/admin"
    );
    assert_eq!(r.get("Account").unwrap(), "123456789012");
    assert!(r.get("UserId").unwrap().starts_with("AIDA"));
}

#[tokio::test]
async fn assume_role_checks_trust_and_permission_and_issues_temporary_credentials() {
    let s = start().await;
    let role = iam(
        &s,
        "CreateRole",
        &[
            ("RoleName", "deployer"),
            ("AssumeRolePolicyDocument", TRUST_ACCOUNT),
            ("MaxSessionDuration", "7200"),
        ],
    )
    .await
    .ok();
    let role_arn = role.get("Arn").unwrap();
    let role_id = role.get("RoleId").unwrap();
    let r = sts(
        &s,
        ADMIN_ID,
        "AssumeRole",
        &[
            ("RoleArn", &role_arn),
            ("RoleSessionName", "ci-run.1"),
            ("DurationSeconds", "1800"),
        ],
    )
    .await
    .ok();
    let id = r.get("AccessKeyId").unwrap();
    assert!(id.starts_with("ASIA") && id.len() == 20, "{id}");
    assert_eq!(r.get("SecretAccessKey").unwrap().len(), 40);
    let token = r.get("SessionToken").unwrap();
    assert_eq!(
        r.get("Arn").unwrap(),
        "arn:aws:sts::123456789012:assumed-role/deployer/ci-run.1"
    );
    assert_eq!(
        r.get("AssumedRoleId").unwrap(),
        format!("{role_id}:ci-run.1")
    );
    assert!(r.get("Expiration").unwrap().ends_with('Z'));

    let who = identity::by_access_key(&s.state, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who.session_token.as_deref(), Some(token.as_str()));
    let now = s.state.clock.now() as i64;
    assert!((who.expires_at.unwrap() - now - 1800).abs() <= 1);
    assert!(
        matches!(who.principal.kind, PrincipalKind::AssumedRole { ref role_name, .. } if role_name == "deployer")
    );
    let me = sts(&s, &id, "GetCallerIdentity", &[]).await.ok();
    assert_eq!(
        me.get("Arn").unwrap(),
        "arn:aws:sts::123456789012:assumed-role/deployer/ci-run.1"
    );
    // Session credentials cannot mint session tokens.
    sts(&s, &id, "GetSessionToken", &[])
        .await
        .err(403, "AccessDenied");

    sts(
        &s,
        ADMIN_ID,
        "AssumeRole",
        &[("RoleArn", &role_arn), ("RoleSessionName", "x")],
    )
    .await
    .err(400, "ValidationError");
    sts(
        &s,
        ADMIN_ID,
        "AssumeRole",
        &[("RoleArn", &role_arn), ("RoleSessionName", "bad name")],
    )
    .await
    .err(400, "ValidationError");
    sts(
        &s,
        ADMIN_ID,
        "AssumeRole",
        &[
            ("RoleArn", &role_arn),
            ("RoleSessionName", "ok"),
            ("DurationSeconds", "600"),
        ],
    )
    .await
    .err(400, "ValidationError");
    let long = sts(
        &s,
        ADMIN_ID,
        "AssumeRole",
        &[
            ("RoleArn", &role_arn),
            ("RoleSessionName", "ok"),
            ("DurationSeconds", "7201"),
        ],
    )
    .await
    .err(400, "ValidationError");
    assert!(long.get("Message").unwrap().contains("MaxSessionDuration"));
    sts(
        &s,
        ADMIN_ID,
        "AssumeRole",
        &[
            ("RoleArn", &role_arn),
            ("RoleSessionName", "ok"),
            ("Policy", "{}"),
        ],
    )
    .await
    .err(400, "InvalidInput");
    sts(
        &s,
        ADMIN_ID,
        "AssumeRole",
        &[
            ("RoleArn", "arn:aws:iam::123456789012:role/none"),
            ("RoleSessionName", "ok"),
        ],
    )
    .await
    .err(403, "AccessDenied");

    // Trust policy naming another account: denied.
    let other = iam(
        &s,
        "CreateRole",
        &[
            ("RoleName", "foreign"),
            ("AssumeRolePolicyDocument", TRUST_NOBODY),
        ],
    )
    .await
    .ok();
    sts(
        &s,
        ADMIN_ID,
        "AssumeRole",
        &[
            ("RoleArn", &other.get("Arn").unwrap()),
            ("RoleSessionName", "ok"),
        ],
    )
    .await
    .err(403, "AccessDenied");

    // Trusted, but the caller has no sts:AssumeRole permission.
    iam(&s, "CreateUser", &[("UserName", "gina")]).await.ok();
    let k = iam(&s, "CreateAccessKey", &[("UserName", "gina")])
        .await
        .ok()
        .get("AccessKeyId")
        .unwrap();
    let denied = sts(
        &s,
        &k,
        "AssumeRole",
        &[("RoleArn", &role_arn), ("RoleSessionName", "ok")],
    )
    .await
    .err(403, "AccessDenied");
    assert_eq!(denied.get("Message").unwrap(), format!("User: arn:aws:iam::123456789012:user/gina is not authorized to perform: sts:AssumeRole on resource: {role_arn} because no identity-based policy allows the sts:AssumeRole action"));
    let allow = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{role_arn}"}}]}}"#
    );
    iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "gina"),
            ("PolicyName", "assume"),
            ("PolicyDocument", &allow),
        ],
    )
    .await
    .ok();
    sts(
        &s,
        &k,
        "AssumeRole",
        &[("RoleArn", &role_arn), ("RoleSessionName", "ok")],
    )
    .await
    .ok();
}

#[tokio::test]
async fn get_session_token_is_for_permanent_user_keys() {
    let s = start().await;
    let r = sts(&s, ADMIN_ID, "GetSessionToken", &[]).await.ok();
    let id = r.get("AccessKeyId").unwrap();
    assert!(id.starts_with("ASIA"));
    let who = identity::by_access_key(&s.state, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who.principal.arn, "arn:aws:iam::123456789012:user/admin");
    let now = s.state.clock.now() as i64;
    assert!(
        (who.expires_at.unwrap() - now - 43_200).abs() <= 1,
        "12 hours by default"
    );
    sts(
        &s,
        ADMIN_ID,
        "GetSessionToken",
        &[("DurationSeconds", "899")],
    )
    .await
    .err(400, "ValidationError");
    sts(
        &s,
        ADMIN_ID,
        "GetSessionToken",
        &[("DurationSeconds", "129601")],
    )
    .await
    .err(400, "ValidationError");
    sts(
        &s,
        ADMIN_ID,
        "GetSessionToken",
        &[("DurationSeconds", "129600")],
    )
    .await
    .ok();
    sts(
        &s,
        ADMIN_ID,
        "GetSessionToken",
        &[("SerialNumber", "arn:aws:iam::123456789012:mfa/x")],
    )
    .await
    .err(400, "InvalidInput");
    // Never in the store in the clear.
    let secret = r.get("SecretAccessKey").unwrap();
    let token = r.get("SessionToken").unwrap();
    use gantry_store::Store;
    for rec in s.state.store.list("").await.unwrap() {
        let text = String::from_utf8_lossy(&rec.value);
        assert!(
            !text.contains(&secret) && !text.contains(&token),
            "{}",
            rec.key
        );
    }
}

#[tokio::test]
async fn sessions_die_with_their_user_or_role_even_if_the_name_comes_back() {
    let s = start().await;
    iam(&s, "CreateUser", &[("UserName", "hal")]).await.ok();
    let key = iam(&s, "CreateAccessKey", &[("UserName", "hal")])
        .await
        .ok()
        .get("AccessKeyId")
        .unwrap();
    let session = sts(&s, &key, "GetSessionToken", &[])
        .await
        .ok()
        .get("AccessKeyId")
        .unwrap();
    assert!(identity::by_access_key(&s.state, &session)
        .await
        .unwrap()
        .is_some());
    iam(
        &s,
        "DeleteAccessKey",
        &[("UserName", "hal"), ("AccessKeyId", &key)],
    )
    .await
    .ok();
    iam(&s, "DeleteUser", &[("UserName", "hal")]).await.ok();
    assert!(identity::by_access_key(&s.state, &session)
        .await
        .unwrap()
        .is_none());
    iam(&s, "CreateUser", &[("UserName", "hal")]).await.ok();
    assert!(
        identity::by_access_key(&s.state, &session)
            .await
            .unwrap()
            .is_none(),
        "a new hal is not the old one"
    );

    let arn = iam(
        &s,
        "CreateRole",
        &[
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", TRUST_ACCOUNT),
        ],
    )
    .await
    .ok()
    .get("Arn")
    .unwrap();
    let assumed = sts(
        &s,
        ADMIN_ID,
        "AssumeRole",
        &[("RoleArn", &arn), ("RoleSessionName", "s1")],
    )
    .await
    .ok()
    .get("AccessKeyId")
    .unwrap();
    assert!(identity::by_access_key(&s.state, &assumed)
        .await
        .unwrap()
        .is_some());
    iam(&s, "DeleteRole", &[("RoleName", "r")]).await.ok();
    iam(
        &s,
        "CreateRole",
        &[
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", TRUST_ACCOUNT),
        ],
    )
    .await
    .ok();
    assert!(identity::by_access_key(&s.state, &assumed)
        .await
        .unwrap()
        .is_none());
}
