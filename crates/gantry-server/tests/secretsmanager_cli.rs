//! The real AWS CLI against Secrets Manager (botocore's JSON 1.1 serializer, its idempotency
//! tokens and SigV4 for `secretsmanager`): create, put, get (by stage, by ARN), describe,
//! list with a filter, version ids, tags, a resource policy, delete with a window and
//! restore, force delete; an error comes back under the service's exception name and text.

mod aws_cli;
mod common;
mod iam_support;

use aws_cli::aws;
use iam_support::start;

#[tokio::test]
async fn the_aws_cli_manages_secrets() {
    let s = start().await;
    let url = s.url();
    let sm = |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            let mut a = vec!["secretsmanager"];
            a.extend_from_slice(args);
            aws(&url, &a).await
        }
    };
    let c = sm(&[
        "create-secret",
        "--name",
        "prod/db",
        "--secret-string",
        r#"{"password":"one"}"#,
        "--tags",
        "Key=team,Value=red",
    ])
    .await
    .unwrap();
    let arn = c["ARN"].as_str().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:"), "{c}");
    let v1 = c["VersionId"].as_str().unwrap().to_string();
    let p = sm(&[
        "put-secret-value",
        "--secret-id",
        "prod/db",
        "--secret-string",
        r#"{"password":"two"}"#,
    ])
    .await
    .unwrap();
    assert_ne!(p["VersionId"].as_str().unwrap(), v1);
    let g = aws(
        &url,
        &["secretsmanager", "get-secret-value", "--secret-id", &arn],
    )
    .await
    .unwrap();
    assert_eq!(g["SecretString"], r#"{"password":"two"}"#);
    let g = sm(&[
        "get-secret-value",
        "--secret-id",
        "prod/db",
        "--version-stage",
        "AWSPREVIOUS",
    ])
    .await
    .unwrap();
    assert_eq!(g["SecretString"], r#"{"password":"one"}"#);
    assert_eq!(g["VersionId"], v1.as_str());
    let d = sm(&["describe-secret", "--secret-id", "prod/db"])
        .await
        .unwrap();
    assert_eq!(d["Tags"][0]["Key"], "team");
    assert_eq!(d["VersionIdsToStages"].as_object().unwrap().len(), 2, "{d}");
    let l = sm(&["list-secrets", "--filters", "Key=name,Values=prod/"])
        .await
        .unwrap();
    assert_eq!(l["SecretList"].as_array().unwrap().len(), 1, "{l}");
    let v = sm(&["list-secret-version-ids", "--secret-id", "prod/db"])
        .await
        .unwrap();
    assert_eq!(v["Versions"].as_array().unwrap().len(), 2);
    sm(&[
        "tag-resource",
        "--secret-id",
        "prod/db",
        "--tags",
        "Key=env,Value=prod",
    ])
    .await
    .unwrap();
    sm(&[
        "untag-resource",
        "--secret-id",
        "prod/db",
        "--tag-keys",
        "team",
    ])
    .await
    .unwrap();
    sm(&["put-resource-policy", "--secret-id", "prod/db", "--resource-policy",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#]).await.unwrap();
    let rp = sm(&["get-resource-policy", "--secret-id", "prod/db"])
        .await
        .unwrap();
    assert!(rp["ResourcePolicy"]
        .as_str()
        .unwrap()
        .contains("GetSecretValue"));
    sm(&["delete-resource-policy", "--secret-id", "prod/db"])
        .await
        .unwrap();

    let d = sm(&[
        "delete-secret",
        "--secret-id",
        "prod/db",
        "--recovery-window-in-days",
        "7",
    ])
    .await
    .unwrap();
    assert!(
        d["DeletionDate"].is_number() || d["DeletionDate"].is_string(),
        "{d}"
    );
    let e = sm(&["get-secret-value", "--secret-id", "prod/db"])
        .await
        .unwrap_err();
    assert!(
        e.contains("(InvalidRequestException)") && e.contains("marked for deletion"),
        "{e}"
    );
    sm(&["restore-secret", "--secret-id", "prod/db"])
        .await
        .unwrap();
    sm(&["get-secret-value", "--secret-id", "prod/db"])
        .await
        .unwrap();
    sm(&[
        "delete-secret",
        "--secret-id",
        "prod/db",
        "--force-delete-without-recovery",
    ])
    .await
    .unwrap();
    let e = sm(&["describe-secret", "--secret-id", "prod/db"])
        .await
        .unwrap_err();
    assert!(
        e.contains("(ResourceNotFoundException)")
            && e.contains("Secrets Manager can't find the specified secret."),
        "{e}"
    );
    let e = sm(&[
        "create-secret",
        "--name",
        "k",
        "--secret-string",
        "x",
        "--kms-key-id",
        "alias/mine",
    ])
    .await
    .unwrap_err();
    assert!(
        e.contains("(InvalidParameterException)") && e.contains("KmsKeyId"),
        "{e}"
    );
}
