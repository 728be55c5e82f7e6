//! The real AWS CLI against Secrets Manager (botocore's JSON 1.1 serializer, its idempotency
//! tokens and SigV4 for `secretsmanager`): create, put, get (by stage, by ARN), describe,
//! list with a filter, version ids, tags, a resource policy, delete with a window and
//! restore, force delete; an error comes back under the service's exception name and text.

mod common;
mod iam_support;

use std::path::PathBuf;

use iam_support::{start, ADMIN_ID, ADMIN_SECRET};
use serde_json::Value;

fn aws_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AWS_CLI") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from("/opt/gantry-venv/bin/aws");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("aws")
}

/// `aws <args> --endpoint-url <endpoint>` as the administrator: the JSON it printed, or its
/// error output.
async fn aws(endpoint: &str, args: &[&str]) -> Result<Value, String> {
    let out = tokio::process::Command::new(aws_bin())
        .args(args)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", ADMIN_ID)
        .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET)
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the AWS CLI {} ({e}); install it with `bash tests/install-deps.sh`",
                aws_bin().display()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    if stdout.trim().is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("aws printed non-JSON ({e}): {stdout}")))
}

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
