//! The real AWS CLI against IAM and STS: botocore's own query serializer and XML parser
//! accept what Gantry sends (`.ci/run` installs the CLI with tests/install-deps.sh).

mod aws_cli;
mod common;
mod iam_support;

use iam_support::{start, ADMIN_ID, ADMIN_SECRET};
use serde_json::Value;

/// [`aws_cli::aws_as`], which must succeed.
async fn aws(endpoint: &str, key: &str, secret: &str, args: &[&str]) -> Value {
    aws_cli::aws_as(endpoint, key, secret, args)
        .await
        .unwrap_or_else(|e| panic!("aws {args:?} failed: {e}"))
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

#[tokio::test]
async fn the_aws_cli_reads_keys_managed_policies_groups_and_tags() {
    let s = start().await;
    let url = s.url();
    let admin = |args: Vec<String>| {
        let url = url.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            aws(&url, ADMIN_ID, ADMIN_SECRET, &args).await
        }
    };
    let v = |a: &[&str]| a.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();

    admin(v(&["iam", "create-user", "--user-name", "bo"])).await;
    let k = admin(v(&["iam", "create-access-key", "--user-name", "bo"])).await;
    let id = k["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string();
    admin(v(&[
        "iam",
        "update-access-key",
        "--user-name",
        "bo",
        "--access-key-id",
        &id,
        "--status",
        "Inactive",
    ]))
    .await;
    let l = admin(v(&["iam", "list-access-keys", "--user-name", "bo"])).await;
    assert_eq!(l["AccessKeyMetadata"][0]["Status"], "Inactive");
    assert!(l["AccessKeyMetadata"][0]["CreateDate"].as_str().is_some());
    let used = admin(v(&[
        "iam",
        "get-access-key-last-used",
        "--access-key-id",
        &id,
    ]))
    .await;
    assert_eq!(used["AccessKeyLastUsed"]["ServiceName"], "N/A");

    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}"#;
    let p = admin(v(&[
        "iam",
        "create-policy",
        "--policy-name",
        "read",
        "--policy-document",
        doc,
    ]))
    .await;
    let arn = p["Policy"]["Arn"].as_str().unwrap().to_string();
    assert_eq!(p["Policy"]["IsAttachable"], true);
    admin(v(&[
        "iam",
        "create-policy-version",
        "--policy-arn",
        &arn,
        "--policy-document",
        doc,
        "--set-as-default",
    ]))
    .await;
    let pv = admin(v(&[
        "iam",
        "get-policy-version",
        "--policy-arn",
        &arn,
        "--version-id",
        "v2",
    ]))
    .await;
    assert_eq!(pv["PolicyVersion"]["IsDefaultVersion"], true);
    assert_eq!(
        pv["PolicyVersion"]["Document"]["Statement"][0]["Action"],
        "ecs:Describe*"
    );
    let vs = admin(v(&["iam", "list-policy-versions", "--policy-arn", &arn])).await;
    assert_eq!(vs["Versions"].as_array().unwrap().len(), 2);
    admin(v(&[
        "iam",
        "attach-user-policy",
        "--user-name",
        "bo",
        "--policy-arn",
        &arn,
    ]))
    .await;
    let att = admin(v(&[
        "iam",
        "list-attached-user-policies",
        "--user-name",
        "bo",
    ]))
    .await;
    assert_eq!(att["AttachedPolicies"][0]["PolicyArn"], arn.as_str());
    let got = admin(v(&["iam", "get-policy", "--policy-arn", &arn])).await;
    assert_eq!(got["Policy"]["AttachmentCount"], 1);

    admin(v(&["iam", "create-group", "--group-name", "devs"])).await;
    admin(v(&[
        "iam",
        "add-user-to-group",
        "--group-name",
        "devs",
        "--user-name",
        "bo",
    ]))
    .await;
    let g = admin(v(&["iam", "get-group", "--group-name", "devs"])).await;
    assert_eq!(g["Users"][0]["UserName"], "bo");
    let gs = admin(v(&["iam", "list-groups-for-user", "--user-name", "bo"])).await;
    assert_eq!(gs["Groups"][0]["GroupName"], "devs");

    admin(v(&[
        "iam",
        "tag-user",
        "--user-name",
        "bo",
        "--tags",
        "Key=team,Value=web",
    ]))
    .await;
    let t = admin(v(&["iam", "list-user-tags", "--user-name", "bo"])).await;
    assert_eq!(t["Tags"][0]["Key"], "team");

    let st = admin(v(&[
        "sts",
        "get-session-token",
        "--duration-seconds",
        "900",
    ]))
    .await;
    assert!(st["Credentials"]["SessionToken"].as_str().is_some());
}
