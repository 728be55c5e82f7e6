//! IAM users and access keys through the query protocol, as the AWS CLI sees them; the
//! identity lookups the auth gate makes; secrets sealed at rest.

mod common;
mod iam_support;

use gantry_server::auth::PrincipalKind;
use gantry_server::iam::identity;
use gantry_store::Store;
use iam_support::{iam, start, ADMIN_ID, ADMIN_SECRET};

#[tokio::test]
async fn users_are_created_read_listed_renamed_and_deleted() {
    let s = start().await;
    let r = iam(
        &s,
        "CreateUser",
        &[
            ("UserName", "alice"),
            ("Path", "/team/"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "web"),
        ],
    )
    .await
    .ok();
    assert!(r.body.starts_with(r#"<CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><CreateUserResult><User>"#), "{}", r.body);
    assert_eq!(
        r.get("Arn").unwrap(),
        "arn:aws:iam::123456789012:user/team/alice"
    );
    assert_eq!(r.get("Path").unwrap(), "/team/");
    let id = r.get("UserId").unwrap();
    assert!(id.starts_with("AIDA") && id.len() == 21, "{id}");
    assert!(r.get("CreateDate").unwrap().ends_with('Z'));
    assert!(r.get("RequestId").is_some());

    iam(&s, "CreateUser", &[("UserName", "ALICE")])
        .await
        .err(409, "EntityAlreadyExists");
    let bad = iam(&s, "CreateUser", &[("UserName", "bad name")])
        .await
        .err(400, "ValidationError");
    assert!(bad
        .get("Message")
        .unwrap()
        .contains("at 'userName' failed to satisfy constraint"));
    iam(&s, "CreateUser", &[("UserName", &"a".repeat(65))])
        .await
        .err(400, "ValidationError");
    iam(&s, "CreateUser", &[("UserName", "b"), ("Path", "noslash")])
        .await
        .err(400, "ValidationError");
    let pb = iam(
        &s,
        "CreateUser",
        &[
            ("UserName", "c"),
            (
                "PermissionsBoundary",
                "arn:aws:iam::aws:policy/AdministratorAccess",
            ),
        ],
    )
    .await
    .err(400, "InvalidInput");
    assert!(pb.get("Message").unwrap().contains("PermissionsBoundary"));

    let g = iam(&s, "GetUser", &[("UserName", "alice")]).await.ok();
    assert_eq!(g.get("UserId").unwrap(), id);
    assert_eq!(g.get("Key").unwrap(), "team");
    let missing = iam(&s, "GetUser", &[("UserName", "nobody")])
        .await
        .err(404, "NoSuchEntity");
    assert_eq!(
        missing.get("Message").unwrap(),
        "The user with name nobody cannot be found."
    );
    // Without UserName, GetUser is about the caller.
    let me = iam(&s, "GetUser", &[]).await.ok();
    assert_eq!(me.get("UserName").unwrap(), "admin");

    let l = iam(&s, "ListUsers", &[]).await.ok();
    assert_eq!(l.all("UserName"), ["admin", "alice"]);
    assert_eq!(l.get("IsTruncated").unwrap(), "false");
    let p1 = iam(&s, "ListUsers", &[("MaxItems", "1")]).await.ok();
    assert_eq!(p1.all("UserName"), ["admin"]);
    assert_eq!(p1.get("IsTruncated").unwrap(), "true");
    let marker = p1.get("Marker").unwrap();
    let p2 = iam(&s, "ListUsers", &[("MaxItems", "1"), ("Marker", &marker)])
        .await
        .ok();
    assert_eq!(p2.all("UserName"), ["alice"]);
    let team = iam(&s, "ListUsers", &[("PathPrefix", "/team/")]).await.ok();
    assert_eq!(team.all("UserName"), ["alice"]);

    iam(
        &s,
        "UpdateUser",
        &[
            ("UserName", "alice"),
            ("NewUserName", "alicia"),
            ("NewPath", "/"),
        ],
    )
    .await
    .ok();
    iam(&s, "GetUser", &[("UserName", "alice")])
        .await
        .err(404, "NoSuchEntity");
    let renamed = iam(&s, "GetUser", &[("UserName", "alicia")]).await.ok();
    assert_eq!(renamed.get("UserId").unwrap(), id, "a rename keeps the id");
    iam(
        &s,
        "UpdateUser",
        &[("UserName", "alicia"), ("NewUserName", "admin")],
    )
    .await
    .err(409, "EntityAlreadyExists");

    iam(&s, "DeleteUser", &[("UserName", "alicia")]).await.ok();
    iam(&s, "DeleteUser", &[("UserName", "alicia")])
        .await
        .err(404, "NoSuchEntity");
}

#[tokio::test]
async fn access_keys_have_aws_shapes_a_quota_and_a_status() {
    let s = start().await;
    iam(&s, "CreateUser", &[("UserName", "bob")]).await.ok();
    let k = iam(&s, "CreateAccessKey", &[("UserName", "bob")])
        .await
        .ok();
    let id = k.get("AccessKeyId").unwrap();
    let secret = k.get("SecretAccessKey").unwrap();
    assert!(id.starts_with("AKIA") && id.len() == 20);
    assert!(
        id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        "{id}"
    );
    assert_eq!(secret.len(), 40);
    assert_eq!(k.get("Status").unwrap(), "Active");
    assert_eq!(k.get("UserName").unwrap(), "bob");
    iam(&s, "CreateAccessKey", &[("UserName", "bob")])
        .await
        .ok();
    let third = iam(&s, "CreateAccessKey", &[("UserName", "bob")])
        .await
        .err(409, "LimitExceeded");
    assert_eq!(
        third.get("Message").unwrap(),
        "Cannot exceed quota for AccessKeysPerUser: 2"
    );

    let l = iam(&s, "ListAccessKeys", &[("UserName", "bob")]).await.ok();
    assert_eq!(l.all("AccessKeyId").len(), 2);
    assert!(
        !l.body.contains("SecretAccessKey"),
        "the secret is shown only once"
    );

    // The gate's lookup: the secret, decrypted; the key's user.
    let who = identity::by_access_key(&s.state, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who.secret, secret);
    assert!(who.active && who.session_token.is_none());
    assert_eq!(who.principal.arn, "arn:aws:iam::123456789012:user/bob");
    assert_eq!(
        who.principal.kind,
        PrincipalKind::User { name: "bob".into() }
    );
    // At rest the secret is sealed: no record holds it.
    for rec in s.state.store.list("").await.unwrap() {
        let text = String::from_utf8_lossy(&rec.value);
        assert!(!text.contains(&secret), "{} holds the secret", rec.key);
        assert!(
            !text.contains(ADMIN_SECRET),
            "{} holds the admin secret",
            rec.key
        );
    }

    iam(
        &s,
        "UpdateAccessKey",
        &[
            ("UserName", "bob"),
            ("AccessKeyId", &id),
            ("Status", "Inactive"),
        ],
    )
    .await
    .ok();
    assert!(
        !identity::by_access_key(&s.state, &id)
            .await
            .unwrap()
            .unwrap()
            .active
    );
    iam(
        &s,
        "UpdateAccessKey",
        &[
            ("UserName", "bob"),
            ("AccessKeyId", &id),
            ("Status", "Sleepy"),
        ],
    )
    .await
    .err(400, "ValidationError");
    let l = iam(&s, "ListAccessKeys", &[("UserName", "bob")]).await.ok();
    assert!(l.all("Status").contains(&"Inactive".to_string()));

    let never = iam(&s, "GetAccessKeyLastUsed", &[("AccessKeyId", &id)])
        .await
        .ok();
    assert_eq!(never.get("UserName").unwrap(), "bob");
    assert_eq!(never.get("ServiceName").unwrap(), "N/A");
    assert!(never.get("LastUsedDate").is_none());
    identity::record_use(&s.state, &id, "ecs", "us-east-1")
        .await
        .unwrap();
    let used = iam(&s, "GetAccessKeyLastUsed", &[("AccessKeyId", &id)])
        .await
        .ok();
    assert_eq!(used.get("ServiceName").unwrap(), "ecs");
    assert_eq!(used.get("Region").unwrap(), "us-east-1");
    assert!(used.get("LastUsedDate").is_some());

    let conflict = iam(&s, "DeleteUser", &[("UserName", "bob")])
        .await
        .err(409, "DeleteConflict");
    assert_eq!(
        conflict.get("Message").unwrap(),
        "Cannot delete entity, must delete access keys first."
    );
    for key in l.all("AccessKeyId") {
        iam(
            &s,
            "DeleteAccessKey",
            &[("UserName", "bob"), ("AccessKeyId", &key)],
        )
        .await
        .ok();
    }
    iam(
        &s,
        "DeleteAccessKey",
        &[("UserName", "bob"), ("AccessKeyId", &id)],
    )
    .await
    .err(404, "NoSuchEntity");
    assert!(identity::by_access_key(&s.state, &id)
        .await
        .unwrap()
        .is_none());
    iam(&s, "DeleteUser", &[("UserName", "bob")]).await.ok();
}

#[tokio::test]
async fn the_administrator_is_a_user_with_administrator_access() {
    let s = start().await;
    let admin = identity::by_access_key(&s.state, ADMIN_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.secret, ADMIN_SECRET);
    assert_eq!(admin.principal.arn, "arn:aws:iam::123456789012:user/admin");
    let attached = iam(&s, "ListAttachedUserPolicies", &[("UserName", "admin")])
        .await
        .ok();
    assert_eq!(
        attached.all("PolicyArn"),
        ["arn:aws:iam::aws:policy/AdministratorAccess"]
    );
    assert_eq!(
        identity::policies_of(&s.state, &admin.principal)
            .await
            .unwrap()
            .len(),
        1
    );
    // Idempotent: a second start changes nothing.
    let before = s.state.store.revision().await.unwrap();
    identity::bootstrap(&s.state).await.unwrap();
    assert_eq!(s.state.store.revision().await.unwrap(), before);
    // An unknown key is not a caller.
    let r = iam_support::call_as(&s, "iam", "AKIAUNKNOWNKEY000000", "ListUsers", &[]).await;
    assert_eq!((r.status, r.code().as_str()), (403, "InvalidClientTokenId"));
}

#[tokio::test]
async fn with_a_state_dir_the_sealing_key_is_a_0600_file_there() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("gantry-iam-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.clone();
    let s = common::Server::start_with(move |c| {
        c.state_dir = Some(d);
        c.admin_key = Some(gantry_server::AccessKeyPair {
            access_key_id: ADMIN_ID.into(),
            secret_access_key: ADMIN_SECRET.into(),
        });
    })
    .await;
    let meta = std::fs::metadata(dir.join("secret.key")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    let admin = identity::by_access_key(&s.state, ADMIN_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.secret, ADMIN_SECRET);
    let _ = std::fs::remove_dir_all(&dir);
}
