//! The AWS CLI (`pip install awscli`), pointed at a Gantry endpoint with the test cluster's
//! administrator key ([`crate::ACCESS_KEY_ID`]).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The `aws` executable: `$AWS_CLI`, the venv `.ci/run` makes, or `aws` on PATH.
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

/// Runs `aws ecs <args> --endpoint-url <endpoint>`; Ok(JSON output) or Err(stderr).
pub fn ecs(endpoint: &str, args: &[&str]) -> Result<Value, String> {
    cli(endpoint, "ecs", args)
}

/// Runs `aws <service> <args> --endpoint-url <endpoint>` (any service: iam, ssm,
/// secretsmanager, ...); Ok(JSON output) or Err(stderr).
pub fn cli(endpoint: &str, service: &str, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(aws_bin())
        .arg(service)
        .args(args)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", crate::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", crate::SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", crate::REGION)
        .env_remove("AWS_REGION")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .map_err(|e| format!("could not run the AWS CLI ({}): {e}", aws_bin().display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| format!("aws printed non-JSON ({e}): {text}"))
}
