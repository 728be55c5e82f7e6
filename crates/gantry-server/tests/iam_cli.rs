//! The real AWS CLI against IAM and STS: botocore's own query serializer and XML parser
//! accept what Gantry sends (`.ci/run` installs the CLI with tests/install-deps.sh).

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

/// `aws <args> --endpoint-url <endpoint>` as (`key`, `secret`); the JSON it prints.
async fn aws(endpoint: &str, key: &str, secret: &str, args: &[&str]) -> Value {
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
    assert!(
        out.status.success(),
        "aws {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    if stdout.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("aws printed non-JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn the_aws_cli_reads_what_iam_and_sts_answer() {
    let s = start().await;
    let url = s.url();
    let admin = |args: &'static [&'static str]| aws(&url, ADMIN_ID, ADMIN_SECRET, args);

    let u = admin(&[
        "iam",
        "create-user",
        "--user-name",
        "alice",
        "--tags",
        "Key=team,Value=web",
    ])
    .await;
    assert_eq!(u["User"]["Arn"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(u["User"]["Tags"][0]["Value"], "web");

    let k = admin(&["iam", "create-access-key", "--user-name", "alice"]).await;
    let key = &k["AccessKey"];
    assert_eq!(key["Status"], "Active");
    assert_eq!(key["SecretAccessKey"].as_str().unwrap().len(), 40);

    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:List*","Resource":"*"}]}"#;
    aws(
        &url,
        ADMIN_ID,
        ADMIN_SECRET,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "list",
            "--policy-document",
            doc,
        ],
    )
    .await;
    let p = admin(&[
        "iam",
        "get-user-policy",
        "--user-name",
        "alice",
        "--policy-name",
        "list",
    ])
    .await;
    // The CLI decodes the URL-encoded document into JSON.
    assert_eq!(p["PolicyDocument"]["Statement"][0]["Action"], "ecs:List*");

    let l = admin(&["iam", "list-users"]).await;
    let names: Vec<&str> = l["Users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["UserName"].as_str())
        .collect();
    assert_eq!(names, ["admin", "alice"]);

    let id = aws(
        &url,
        key["AccessKeyId"].as_str().unwrap(),
        key["SecretAccessKey"].as_str().unwrap(),
        &["sts", "get-caller-identity"],
    )
    .await;
    assert_eq!(id["Arn"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(id["Account"], "123456789012");

    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    let r = aws(
        &url,
        ADMIN_ID,
        ADMIN_SECRET,
        &[
            "iam",
            "create-role",
            "--role-name",
            "deployer",
            "--assume-role-policy-document",
            trust,
        ],
    )
    .await;
    assert_eq!(
        r["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Action"],
        "sts:AssumeRole"
    );
    let a = admin(&[
        "sts",
        "assume-role",
        "--role-arn",
        "arn:aws:iam::123456789012:role/deployer",
        "--role-session-name",
        "cli",
    ])
    .await;
    assert!(a["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .starts_with("ASIA"));
    assert!(a["Credentials"]["SessionToken"].as_str().is_some());
    assert!(a["Credentials"]["Expiration"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(
        a["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::123456789012:assumed-role/deployer/cli"
    );
}
