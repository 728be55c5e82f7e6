//! Secrets Manager over the wire: versions and stages, ClientRequestToken idempotency,
//! SecretString and SecretBinary, lookups by name, full and partial ARN, deletion with a
//! recovery window and restore, listing with filters, paging and sorting, tags, resource
//! policies (stored and evaluated), authorization per secret, the service's exception names
//! and texts; envelope encryption at rest (the SQLite file never holds a value) and a master
//! key rotation that re-wraps data keys while values stay readable.

mod common;
mod iam_support;
mod sm_support;

use common::Server;
use gantry_store::Store;
use serde_json::{json, Value};
use sm_support::{err, ok, sm_as};

const TOKEN_A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const TOKEN_B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

fn stages(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    s.sort();
    s
}

#[tokio::test]
async fn values_versions_and_idempotency() {
    let s = Server::start().await;
    let c = ok(
        &s,
        "CreateSecret",
        json!({"Name": "app/db", "SecretString": "pw-1", "ClientRequestToken": TOKEN_A,
               "Description": "the database"}),
    )
    .await;
    let arn = c["ARN"].as_str().unwrap().to_string();
    let re = regex::Regex::new(
        r"^arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-[A-Za-z0-9]{6}$",
    )
    .unwrap();
    assert!(re.is_match(&arn), "{arn}");
    assert_eq!(c["VersionId"], TOKEN_A);
    assert_eq!(c["Name"], "app/db");

    // The same token and value: the same answer; another value: ResourceExistsException.
    let again = ok(
        &s,
        "PutSecretValue",
        json!({"SecretId": "app/db", "SecretString": "pw-1", "ClientRequestToken": TOKEN_A}),
    )
    .await;
    assert_eq!(again["VersionId"], TOKEN_A);
    assert_eq!(stages(&again["VersionStages"]), ["AWSCURRENT"]);
    let m = err(
        &s,
        "PutSecretValue",
        json!({"SecretId": "app/db", "SecretString": "other", "ClientRequestToken": TOKEN_A}),
        "ResourceExistsException",
    )
    .await;
    assert_eq!(
        m,
        "You can't modify an existing version, you can only create a new version."
    );

    let p = ok(
        &s,
        "PutSecretValue",
        json!({"SecretId": arn, "SecretString": "pw-2", "ClientRequestToken": TOKEN_B}),
    )
    .await;
    assert_eq!(p["VersionId"], TOKEN_B);
    // By name, full ARN and partial ARN (without the suffix).
    let partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db".to_string();
    for id in ["app/db", arn.as_str(), partial.as_str()] {
        let g = ok(&s, "GetSecretValue", json!({"SecretId": id})).await;
        assert_eq!(g["SecretString"], "pw-2", "{id}");
        assert_eq!(g["VersionId"], TOKEN_B);
        assert_eq!(g["ARN"], arn.as_str());
        assert_eq!(stages(&g["VersionStages"]), ["AWSCURRENT"]);
    }
    let prev = ok(
        &s,
        "GetSecretValue",
        json!({"SecretId": "app/db", "VersionStage": "AWSPREVIOUS"}),
    )
    .await;
    assert_eq!(prev["SecretString"], "pw-1");
    let by_id = ok(
        &s,
        "GetSecretValue",
        json!({"SecretId": "app/db", "VersionId": TOKEN_A}),
    )
    .await;
    assert_eq!(stages(&by_id["VersionStages"]), ["AWSPREVIOUS"]);

    let d = ok(&s, "DescribeSecret", json!({"SecretId": "app/db"})).await;
    assert_eq!(d["Description"], "the database");
    assert_eq!(d["VersionIdsToStages"][TOKEN_A], json!(["AWSPREVIOUS"]));
    assert_eq!(d["VersionIdsToStages"][TOKEN_B], json!(["AWSCURRENT"]));
    assert!(d.get("SecretString").is_none());

    // Binary values round-trip as base64.
    let b = ok(
        &s,
        "CreateSecret",
        json!({"Name": "bin", "SecretBinary": "AAEC/w=="}),
    )
    .await;
    let g = ok(&s, "GetSecretValue", json!({"SecretId": b["ARN"]})).await;
    assert_eq!(g["SecretBinary"], "AAEC/w==");
    assert!(g.get("SecretString").is_none());

    // Errors as the service gives them.
    let m = err(
        &s,
        "GetSecretValue",
        json!({"SecretId": "nope"}),
        "ResourceNotFoundException",
    )
    .await;
    assert_eq!(m, "Secrets Manager can't find the specified secret.");
    let m = err(
        &s,
        "GetSecretValue",
        json!({"SecretId": "app/db", "VersionStage": "NOPE"}),
        "ResourceNotFoundException",
    )
    .await;
    assert_eq!(
        m,
        "Secrets Manager can't find the specified secret value for staging label: NOPE"
    );
    let m = err(
        &s,
        "CreateSecret",
        json!({"Name": "app/db", "SecretString": "x"}),
        "ResourceExistsException",
    )
    .await;
    assert_eq!(
        m,
        "The operation failed because the secret app/db already exists."
    );
    err(
        &s,
        "CreateSecret",
        json!({"Name": "x", "SecretString": "a", "SecretBinary": "AA=="}),
        "InvalidParameterException",
    )
    .await;
    let m = err(
        &s,
        "CreateSecret",
        json!({"Name": "k", "SecretString": "a", "KmsKeyId": "alias/x"}),
        "InvalidParameterException",
    )
    .await;
    assert!(m.contains("KmsKeyId"), "{m}");
    err(
        &s,
        "CreateSecret",
        json!({"Name": "bad name!"}),
        "InvalidParameterException",
    )
    .await;
    let m = err(&s, "CreateSecret", json!({}), "ValidationException").await;
    assert!(
        m.contains("'name' failed to satisfy constraint: Member must not be null"),
        "{m}"
    );
    err(
        &s,
        "PutSecretValue",
        json!({"SecretId": "app/db"}),
        "InvalidRequestException",
    )
    .await;
    let m = err(
        &s,
        "GetSecretValue",
        json!({"SecretId": "app/db", "VersionId": "x".repeat(10)}),
        "ValidationException",
    )
    .await;
    assert!(!m.contains("xxxxxxxxxx"), "values are never echoed: {m}");
}

#[tokio::test]
async fn update_and_stages() {
    let s = Server::start().await;
    ok(
        &s,
        "CreateSecret",
        json!({"Name": "svc", "SecretString": "v1", "ClientRequestToken": TOKEN_A}),
    )
    .await;
    let u = ok(&s, "UpdateSecret", json!({"SecretId": "svc", "SecretString": "v2", "ClientRequestToken": TOKEN_B, "Description": "d2"})).await;
    assert_eq!(u["VersionId"], TOKEN_B);
    let u = ok(
        &s,
        "UpdateSecret",
        json!({"SecretId": "svc", "Description": "d3"}),
    )
    .await;
    assert!(u.get("VersionId").is_none(), "no value, no version: {u}");
    assert_eq!(
        ok(&s, "DescribeSecret", json!({"SecretId": "svc"})).await["Description"],
        "d3"
    );

    // A custom stage, then moving AWSCURRENT back, which needs RemoveFromVersionId.
    ok(
        &s,
        "UpdateSecretVersionStage",
        json!({"SecretId": "svc", "VersionStage": "BLUE", "MoveToVersionId": TOKEN_A}),
    )
    .await;
    let g = ok(
        &s,
        "GetSecretValue",
        json!({"SecretId": "svc", "VersionStage": "BLUE"}),
    )
    .await;
    assert_eq!(g["SecretString"], "v1");
    let m = err(
        &s,
        "UpdateSecretVersionStage",
        json!({"SecretId": "svc", "VersionStage": "AWSCURRENT", "MoveToVersionId": TOKEN_A}),
        "InvalidParameterException",
    )
    .await;
    assert!(m.contains("RemoveFromVersionId"), "{m}");
    ok(&s, "UpdateSecretVersionStage", json!({"SecretId": "svc", "VersionStage": "AWSCURRENT", "MoveToVersionId": TOKEN_A, "RemoveFromVersionId": TOKEN_B})).await;
    let d = ok(&s, "DescribeSecret", json!({"SecretId": "svc"})).await;
    assert_eq!(
        d["VersionIdsToStages"][TOKEN_A],
        json!(["BLUE", "AWSCURRENT"])
    );
    assert_eq!(d["VersionIdsToStages"][TOKEN_B], json!(["AWSPREVIOUS"]));
    ok(
        &s,
        "UpdateSecretVersionStage",
        json!({"SecretId": "svc", "VersionStage": "AWSPREVIOUS", "RemoveFromVersionId": TOKEN_B}),
    )
    .await;
    let l = ok(&s, "ListSecretVersionIds", json!({"SecretId": "svc"})).await;
    assert_eq!(l["Versions"].as_array().unwrap().len(), 1, "{l}");
    let l = ok(
        &s,
        "ListSecretVersionIds",
        json!({"SecretId": "svc", "IncludeDeprecated": true}),
    )
    .await;
    assert_eq!(l["Versions"].as_array().unwrap().len(), 2, "{l}");
    err(
        &s,
        "UpdateSecretVersionStage",
        json!({"SecretId": "svc", "VersionStage": "X", "MoveToVersionId": "c".repeat(32)}),
        "ResourceNotFoundException",
    )
    .await;
}

#[tokio::test]
async fn delete_with_a_window_and_restore() {
    let s = Server::start().await;
    ok(
        &s,
        "CreateSecret",
        json!({"Name": "gone", "SecretString": "v"}),
    )
    .await;
    let m = err(
        &s,
        "DeleteSecret",
        json!({"SecretId": "gone", "RecoveryWindowInDays": 6}),
        "InvalidParameterException",
    )
    .await;
    assert_eq!(
        m,
        "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
    );
    err(
        &s,
        "DeleteSecret",
        json!({"SecretId": "gone", "RecoveryWindowInDays": 7, "ForceDeleteWithoutRecovery": true}),
        "InvalidParameterException",
    )
    .await;
    let now = s.state.clock.now();
    let d = ok(&s, "DeleteSecret", json!({"SecretId": "gone"})).await;
    let when = d["DeletionDate"].as_f64().unwrap();
    assert!(
        (when - now - 30.0 * 86400.0).abs() < 60.0,
        "default 30 days: {d}"
    );
    let m = err(
        &s,
        "GetSecretValue",
        json!({"SecretId": "gone"}),
        "InvalidRequestException",
    )
    .await;
    assert_eq!(
        m,
        "You can't perform this operation on the secret because it was marked for deletion."
    );
    err(
        &s,
        "PutSecretValue",
        json!({"SecretId": "gone", "SecretString": "w"}),
        "InvalidRequestException",
    )
    .await;
    err(
        &s,
        "CreateSecret",
        json!({"Name": "gone", "SecretString": "w"}),
        "InvalidRequestException",
    )
    .await;
    let desc = ok(&s, "DescribeSecret", json!({"SecretId": "gone"})).await;
    assert!(desc["DeletedDate"].is_number(), "{desc}");
    assert_eq!(
        ok(&s, "ListSecrets", json!({})).await["SecretList"],
        json!([])
    );
    let l = ok(&s, "ListSecrets", json!({"IncludePlannedDeletion": true})).await;
    assert_eq!(l["SecretList"].as_array().unwrap().len(), 1);
    ok(&s, "RestoreSecret", json!({"SecretId": "gone"})).await;
    assert_eq!(
        ok(&s, "GetSecretValue", json!({"SecretId": "gone"})).await["SecretString"],
        "v"
    );
    ok(
        &s,
        "DeleteSecret",
        json!({"SecretId": "gone", "ForceDeleteWithoutRecovery": true}),
    )
    .await;
    err(
        &s,
        "DescribeSecret",
        json!({"SecretId": "gone"}),
        "ResourceNotFoundException",
    )
    .await;
    ok(
        &s,
        "CreateSecret",
        json!({"Name": "gone", "SecretString": "again"}),
    )
    .await;
}

#[tokio::test]
async fn list_filters_paging_and_sorting() {
    let s = Server::start().await;
    for (name, desc, team) in [
        ("prod/a", "Primary DB", "red"),
        ("prod/b", "cache", "blue"),
        ("dev/c", "primary cache", "red"),
    ] {
        ok(&s, "CreateSecret", json!({"Name": name, "SecretString": "x", "Description": desc, "Tags": [{"Key": "team", "Value": team}]})).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v["SecretList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Name"].as_str().unwrap().to_string())
            .collect()
    };
    let l = ok(&s, "ListSecrets", json!({"Filters": [{"Key": "name", "Values": ["prod/"]}], "SortBy": "name", "SortOrder": "asc"})).await;
    assert_eq!(names(&l), ["prod/a", "prod/b"]);
    let l = ok(
        &s,
        "ListSecrets",
        json!({"Filters": [{"Key": "name", "Values": ["!prod/"]}]}),
    )
    .await;
    assert_eq!(names(&l), ["dev/c"]);
    let l = ok(&s, "ListSecrets", json!({"Filters": [{"Key": "description", "Values": ["primary"]}], "SortBy": "name", "SortOrder": "asc"})).await;
    assert_eq!(
        names(&l),
        ["dev/c", "prod/a"],
        "description: prefix, not case-sensitive"
    );
    let l = ok(&s, "ListSecrets", json!({"Filters": [{"Key": "tag-value", "Values": ["red"]}, {"Key": "name", "Values": ["prod"]}]})).await;
    assert_eq!(names(&l), ["prod/a"]);
    let l = ok(&s, "ListSecrets", json!({"Filters": [{"Key": "all", "Values": ["cache"]}], "SortBy": "name", "SortOrder": "desc"})).await;
    assert_eq!(names(&l), ["prod/b", "dev/c"]);
    err(
        &s,
        "ListSecrets",
        json!({"Filters": [{"Key": "colour", "Values": ["x"]}]}),
        "InvalidParameterException",
    )
    .await;
    // Pages follow each other.
    let p1 = ok(
        &s,
        "ListSecrets",
        json!({"MaxResults": 2, "SortBy": "name", "SortOrder": "asc"}),
    )
    .await;
    assert_eq!(names(&p1), ["dev/c", "prod/a"]);
    let p2 = ok(&s, "ListSecrets", json!({"MaxResults": 2, "SortBy": "name", "SortOrder": "asc", "NextToken": p1["NextToken"]})).await;
    assert_eq!(names(&p2), ["prod/b"]);
    assert!(p2.get("NextToken").is_none());
    err(
        &s,
        "ListSecrets",
        json!({"NextToken": "zz"}),
        "InvalidNextTokenException",
    )
    .await;
    assert!(!p1.to_string().contains("\"x\""), "no values in a list");

    let b = ok(
        &s,
        "BatchGetSecretValue",
        json!({"SecretIdList": ["prod/a", "missing"]}),
    )
    .await;
    assert_eq!(b["SecretValues"][0]["SecretString"], "x");
    assert_eq!(b["Errors"][0]["SecretId"], "missing");
    assert_eq!(b["Errors"][0]["ErrorCode"], "ResourceNotFoundException");
    let b = ok(
        &s,
        "BatchGetSecretValue",
        json!({"Filters": [{"Key": "tag-value", "Values": ["red"]}]}),
    )
    .await;
    assert_eq!(b["SecretValues"].as_array().unwrap().len(), 2, "{b}");
    err(
        &s,
        "BatchGetSecretValue",
        json!({}),
        "InvalidParameterException",
    )
    .await;
}

#[tokio::test]
async fn tags_and_resource_policies() {
    let s = Server::start().await;
    ok(
        &s,
        "CreateSecret",
        json!({"Name": "t", "SecretString": "x", "Tags": [{"Key": "a", "Value": "1"}]}),
    )
    .await;
    ok(
        &s,
        "TagResource",
        json!({"SecretId": "t", "Tags": [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}]}),
    )
    .await;
    ok(
        &s,
        "UntagResource",
        json!({"SecretId": "t", "TagKeys": ["b"]}),
    )
    .await;
    let d = ok(&s, "DescribeSecret", json!({"SecretId": "t"})).await;
    assert_eq!(d["Tags"], json!([{"Key": "a", "Value": "3"}]));

    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}).to_string();
    ok(
        &s,
        "PutResourcePolicy",
        json!({"SecretId": "t", "ResourcePolicy": policy}),
    )
    .await;
    let g = ok(&s, "GetResourcePolicy", json!({"SecretId": "t"})).await;
    assert_eq!(g["ResourcePolicy"], policy.as_str());
    err(
        &s,
        "PutResourcePolicy",
        json!({"SecretId": "t", "ResourcePolicy": "{not json"}),
        "MalformedPolicyDocumentException",
    )
    .await;
    let public = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}).to_string();
    err(
        &s,
        "PutResourcePolicy",
        json!({"SecretId": "t", "ResourcePolicy": public}),
        "PublicPolicyException",
    )
    .await;
    ok(&s, "DeleteResourcePolicy", json!({"SecretId": "t"})).await;
    assert!(ok(&s, "GetResourcePolicy", json!({"SecretId": "t"}))
        .await
        .get("ResourcePolicy")
        .is_none());
}

/// A user with `policy`, and the key to sign as it.
async fn user(s: &Server, name: &str, policy: Option<&str>) -> common::sign::Key {
    use iam_support::iam;
    iam(s, "CreateUser", &[("UserName", name)]).await.ok();
    if let Some(p) = policy {
        iam(
            s,
            "PutUserPolicy",
            &[
                ("UserName", name),
                ("PolicyName", "p"),
                ("PolicyDocument", p),
            ],
        )
        .await
        .ok();
    }
    let k = iam(s, "CreateAccessKey", &[("UserName", name)]).await.ok();
    common::sign::Key {
        access_key_id: k.get("AccessKeyId").unwrap(),
        secret: k.get("SecretAccessKey").unwrap(),
        session_token: None,
    }
}

#[tokio::test]
async fn authorization_per_secret_and_by_resource_policy() {
    let s = iam_support::start().await;
    let a = ok(
        &s,
        "CreateSecret",
        json!({"Name": "app/one", "SecretString": "1"}),
    )
    .await;
    ok(
        &s,
        "CreateSecret",
        json!({"Name": "other/two", "SecretString": "2"}),
    )
    .await;
    let reader = user(&s, "reader", Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:BatchGetSecretValue"],"Resource":["arn:aws:secretsmanager:us-east-1:123456789012:secret:app/*","*"]}]}"#)).await;
    // Only GetSecretValue on app/* (BatchGet on *): narrow the Resource list.
    let narrow = user(&s, "narrow", Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/*"},{"Effect":"Allow","Action":"secretsmanager:BatchGetSecretValue","Resource":"*"}]}"#)).await;
    let r = sm_as(
        &s,
        &narrow,
        "GetSecretValue",
        &json!({"SecretId": "app/one"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = sm_as(
        &s,
        &narrow,
        "GetSecretValue",
        &json!({"SecretId": "other/two"}),
    )
    .await;
    assert_eq!(r.kind(), "AccessDeniedException", "{}", r.body);
    assert!(!r.body.to_string().contains("\"2\""));
    let b = sm_as(
        &s,
        &narrow,
        "BatchGetSecretValue",
        &json!({"SecretIdList": ["app/one", "other/two"]}),
    )
    .await;
    assert_eq!(
        b.body["SecretValues"].as_array().unwrap().len(),
        1,
        "{}",
        b.body
    );
    assert_eq!(b.body["Errors"][0]["ErrorCode"], "AccessDeniedException");

    // The resource policy's explicit deny beats the identity policy's allow.
    let deny = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/reader"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}).to_string();
    ok(
        &s,
        "PutResourcePolicy",
        json!({"SecretId": a["ARN"], "ResourcePolicy": deny}),
    )
    .await;
    let r = sm_as(
        &s,
        &reader,
        "GetSecretValue",
        &json!({"SecretId": "app/one"}),
    )
    .await;
    assert_eq!(r.kind(), "AccessDeniedException", "{}", r.body);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("resource-based policy"));

    // A user with no policy of its own, allowed by the secret's policy.
    let nobody = user(&s, "nobody", None).await;
    let r = sm_as(
        &s,
        &nobody,
        "GetSecretValue",
        &json!({"SecretId": "other/two"}),
    )
    .await;
    assert_eq!(r.kind(), "AccessDeniedException");
    let allow = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/nobody"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}).to_string();
    ok(
        &s,
        "PutResourcePolicy",
        json!({"SecretId": "other/two", "ResourcePolicy": allow}),
    )
    .await;
    let r = sm_as(
        &s,
        &nobody,
        "GetSecretValue",
        &json!({"SecretId": "other/two"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["SecretString"], "2");
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gantry-sm-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                hits.push(p);
            }
        }
    }
    hits
}

#[tokio::test]
async fn values_are_encrypted_at_rest_and_survive_a_master_key_rotation() {
    let dir = temp_dir("rest");
    let db = dir.join("gantry.db");
    let store = gantry_store::SqliteStore::open(&db).unwrap();
    let state_dir = dir.join("state");
    let sd = state_dir.clone();
    let s = Server::start_on(move |c| c.state_dir = Some(sd), store, None, None).await;
    let canary = "canary-7f3a9c1e-do-not-leak";
    let c = ok(
        &s,
        "CreateSecret",
        json!({"Name": "leak/test", "SecretString": canary}),
    )
    .await;
    ok(
        &s,
        "PutSecretValue",
        json!({"SecretId": "leak/test", "SecretString": format!("{canary}-2")}),
    )
    .await;
    ok(&s, "GetSecretValue", json!({"SecretId": "leak/test"})).await;
    err(
        &s,
        "PutSecretValue",
        json!({"SecretId": "leak/test", "SecretString": canary, "SecretBinary": "AA=="}),
        "InvalidParameterException",
    )
    .await;
    ok(
        &s,
        "BatchGetSecretValue",
        json!({"SecretIdList": [c["ARN"]]}),
    )
    .await;

    let ring = state_dir.join(gantry_server::secretsmanager::keyring::FILE);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&ring).unwrap().permissions())
            & 0o777;
    assert_eq!(mode, 0o600);
    // The audit log has the requests (written by a thread: wait for it), never the value.
    let audit = state_dir.join("audit").join("audit.log");
    common::eventually("the audit log records the reads", || {
        let audit = audit.clone();
        async move { std::fs::read_to_string(&audit).is_ok_and(|t| t.contains("BatchGetSecretValue")) }
    })
    .await;
    assert_eq!(
        files_contain(&dir, canary.as_bytes()),
        Vec::<std::path::PathBuf>::new(),
        "no file holds the value"
    );

    // Rotation: a new current key; the data keys are re-wrapped, the values still read.
    let new_id = gantry_server::secretsmanager::keyring::rotate(&ring).unwrap();
    // (The server's own loop may get there first: either way every data key moves.)
    gantry_server::secretsmanager::rewrap::rewrap_all(&s.state)
        .await
        .unwrap();
    let stored = s.state.store.list("secretsmanager/").await.unwrap();
    let rec: gantry_server::secretsmanager::records::SecretRecord =
        serde_json::from_slice(&stored[0].value).unwrap();
    assert_eq!(rec.versions.len(), 2);
    assert!(
        rec.versions
            .values()
            .all(|v| v.value.master_key_id == new_id),
        "{rec:?}"
    );
    let retired = gantry_server::secretsmanager::keyring::retire_old(&ring).unwrap();
    assert_eq!(retired.len(), 1);
    let g = ok(
        &s,
        "GetSecretValue",
        json!({"SecretId": "leak/test", "VersionStage": "AWSPREVIOUS"}),
    )
    .await;
    assert_eq!(g["SecretString"], canary);
    assert_eq!(
        files_contain(&dir, canary.as_bytes()),
        Vec::<std::path::PathBuf>::new()
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
