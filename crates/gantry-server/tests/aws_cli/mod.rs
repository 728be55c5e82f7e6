//! The real AWS CLI (`.ci/run` installs it with tests/install-deps.sh) run against an
//! in-process server, isolated from the machine's own AWS configuration.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

use crate::iam_support::{ADMIN_ID, ADMIN_SECRET};

/// `$AWS_CLI`, else the venv `tests/install-deps.sh` makes, else `aws` on PATH.
pub fn aws_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AWS_CLI") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from("/opt/gantry-venv/bin/aws");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("aws")
}

/// `aws <args> --endpoint-url <endpoint>` signed with (`key`, `secret`): the JSON it printed
/// (Null for none), or its error output.
pub async fn aws_as(
    endpoint: &str,
    key: &str,
    secret: &str,
    args: &[&str],
) -> Result<Value, String> {
    let out = tokio::process::Command::new(aws_bin())
        .args(args)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
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
        return Err(format!("{}{stdout}", String::from_utf8_lossy(&out.stderr)));
    }
    if stdout.trim().is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("aws printed non-JSON ({e}): {stdout}")))
}

/// [`aws_as`] as the administrator.
pub async fn aws(endpoint: &str, args: &[&str]) -> Result<Value, String> {
    aws_as(endpoint, ADMIN_ID, ADMIN_SECRET, args).await
}
