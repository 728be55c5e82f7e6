//! The real AWS CLI against SSM: `aws ssm create-activation` (botocore's JSON 1.1 serializer
//! and SigV4 for `ssm`), `describe-activations`, `describe-instance-information`,
//! `deregister-managed-instance` and `delete-activation` read what Gantry answers, and an
//! error comes back under SSM's exception name.

mod common;
mod iam_support;

use std::path::PathBuf;

use gantry_server::ssm::activations::redeem;
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
async fn the_aws_cli_creates_lists_and_deletes_activations() {
    let s = start().await;
    let url = s.url();
    let a = aws(
        &url,
        &[
            "ssm",
            "create-activation",
            "--iam-role",
            "gantry-external-node",
            "--registration-limit",
            "2",
            "--default-instance-name",
            "lab",
            "--tags",
            "Key=site,Value=lab",
        ],
    )
    .await
    .unwrap();
    let id = a["ActivationId"].as_str().unwrap().to_string();
    let code = a["ActivationCode"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 20);

    let d = aws(&url, &["ssm", "describe-activations"]).await.unwrap();
    let act = &d["ActivationList"][0];
    assert_eq!(act["ActivationId"], id.as_str());
    assert_eq!(act["RegistrationLimit"], 2);
    assert_eq!(act["RegistrationsCount"], 0);
    assert_eq!(act["Expired"], false);
    assert_eq!(act["DefaultInstanceName"], "lab");
    // botocore parsed the timestamps (this CLI prints them back as epoch seconds).
    assert!(act["ExpirationDate"].as_f64().unwrap() > act["CreatedDate"].as_f64().unwrap());

    let mi = redeem(&s.state, &id, &code, "lab-host")
        .await
        .unwrap()
        .managed_instance_id;
    let i = aws(&url, &["ssm", "describe-instance-information"])
        .await
        .unwrap();
    assert_eq!(i["InstanceInformationList"][0]["InstanceId"], mi.as_str());
    assert_eq!(
        i["InstanceInformationList"][0]["ResourceType"],
        "ManagedInstance"
    );

    aws(
        &url,
        &["ssm", "deregister-managed-instance", "--instance-id", &mi],
    )
    .await
    .unwrap();
    let e = aws(
        &url,
        &["ssm", "deregister-managed-instance", "--instance-id", &mi],
    )
    .await
    .unwrap_err();
    assert!(e.contains("(InvalidInstanceId)"), "{e}");

    aws(&url, &["ssm", "delete-activation", "--activation-id", &id])
        .await
        .unwrap();
    let e = aws(&url, &["ssm", "delete-activation", "--activation-id", &id])
        .await
        .unwrap_err();
    assert!(e.contains("(InvalidActivationId)"), "{e}");
    let e = aws(
        &url,
        &[
            "ssm",
            "create-activation",
            "--iam-role",
            "r",
            "--expiration-date",
            "2001-01-01T00:00:00",
        ],
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("(InvalidParameters)") && e.contains("in the past"),
        "{e}"
    );
}
