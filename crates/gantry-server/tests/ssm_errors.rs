//! SSM's refusals, one table per operation: exception name, HTTP status and message as a
//! client sees them. CreateActivation's role must exist and trust `ssm.amazonaws.com`, and
//! the caller needs `iam:PassRole` on it (refused and audited like any other denial).

mod common;
mod iam_support;
mod ssm_support;

use common::Server;
use serde_json::{json, Value};
use ssm_support::{activation, ssm, SSM_TRUST};

const ACCOUNT: &str = "123456789012";

/// (body, status, exception, message) rows for operation `op`.
async fn table(s: &Server, op: &str, rows: &[(Value, u16, &str, String)]) {
    for (body, status, kind, message) in rows {
        let r = ssm(s, op, body.clone()).await;
        assert_eq!(
            (r.status, r.kind(), r.body["message"].as_str().unwrap_or("")),
            (*status, *kind, message.as_str()),
            "{op} {body}"
        );
    }
}

fn no_role(name: &str) -> String {
    format!(
        "Nonexistent role or missing ssm service principal in trust policy: arn:aws:iam::{ACCOUNT}:role/{name}"
    )
}

#[tokio::test]
async fn create_activation() {
    let s = Server::start().await;
    let ec2_trust = SSM_TRUST.replace("ssm.amazonaws.com", "ec2.amazonaws.com");
    ssm_support::role_at(&s, "/", "ec2-only", &ec2_trust).await;
    ssm_support::role_at(&s, "/service-role/", "pathed", SSM_TRUST).await;
    let v = "ValidationException";
    let rows = [
        (json!({"IamRole": "nobody"}), 400, v, no_role("nobody")),
        (json!({"IamRole": "ec2-only"}), 400, v, no_role("ec2-only")),
        // A role under a path is named with its path, as SSM reads `role/<IamRole>`.
        (json!({"IamRole": "pathed"}), 400, v, no_role("pathed")),
        (json!({"IamRole": "other/pathed"}), 400, v, no_role("other/pathed")),
        (json!({"IamRole": ""}), 400, v, no_role("")),
        (
            json!({}),
            400,
            v,
            "1 validation error detected: Value null at 'iamRole' failed to satisfy constraint: Member must not be null".into(),
        ),
        (
            json!({"IamRole": "gantry-external-node", "RegistrationLimit": 0}),
            400,
            v,
            "1 validation error detected: Value '0' at 'registrationLimit' failed to satisfy constraint: Member must have value greater than or equal to 1".into(),
        ),
        (
            json!({"IamRole": "gantry-external-node", "RegistrationLimit": 1001}),
            400,
            v,
            "1 validation error detected: Value '1001' at 'registrationLimit' failed to satisfy constraint: Member must have value less than or equal to 1000".into(),
        ),
        (
            json!({"IamRole": "gantry-external-node", "ExpirationDate": 946_684_800.0}),
            400,
            "InvalidParameters",
            "ExpirationDate 2000-01-01T00:00:00Z is in the past; give a date up to 30 days ahead.".into(),
        ),
        (
            json!({"IamRole": "gantry-external-node", "ExpirationDate": 4_102_444_800.0}),
            400,
            "InvalidParameters",
            "ExpirationDate 2100-01-01T00:00:00Z is more than 30 days ahead; an activation can be valid for at most 30 days.".into(),
        ),
    ];
    // The key's first use of SSM is recorded once; after that a refusal writes nothing.
    ssm_support::ok(&s, "DescribeActivations", json!({})).await;
    let rev = s.revision().await;
    table(&s, "CreateActivation", &rows).await;
    assert_eq!(
        s.revision().await,
        rev,
        "a refused activation wrote nothing"
    );

    // The default role exists from the first start; a pathed role works by its path.
    activation(&s, json!({"IamRole": "gantry-external-node"})).await;
    activation(&s, json!({"IamRole": "service-role/pathed"})).await;
    let v = ssm_support::ok(&s, "DescribeActivations", json!({})).await;
    assert_eq!(v["ActivationList"][1]["IamRole"], "service-role/pathed");
}

#[tokio::test]
async fn delete_describe_and_deregister() {
    let s = Server::start().await;
    let v = "ValidationException";
    table(
        &s,
        "DeleteActivation",
        &[
            (
                json!({"ActivationId": "aa673477-d926-42c1-8757-1358ceeeeeee"}),
                400,
                "InvalidActivationId",
                "The activation ID isn't valid. Verify that you entered the correct ActivationId or ActivationCode and try again.".into(),
            ),
            (
                json!({"ActivationId": "nope"}),
                400,
                v,
                "1 validation error detected: Value 'nope' at 'activationId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$".into(),
            ),
        ],
    )
    .await;
    table(
        &s,
        "DescribeActivations",
        &[
            (
                json!({"Filters": [{"FilterKey": "ActivationIds", "FilterValues": []},
                                   {"FilterKey": "Name", "FilterValues": ["x"]}]}),
                400,
                v,
                "1 validation error detected: Value 'Name' at 'filters.2.member.filterKey' failed to satisfy constraint: Member must satisfy enum value set: [ActivationIds, DefaultInstanceName, IamRole]".into(),
            ),
            (
                json!({"MaxResults": 51}),
                400,
                v,
                "1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50".into(),
            ),
            (
                json!({"NextToken": "garbage"}),
                400,
                "InvalidNextToken",
                "The specified token isn't valid.".into(),
            ),
        ],
    )
    .await;
    table(
        &s,
        "DeregisterManagedInstance",
        &[
            (
                json!({"InstanceId": "mi-0123456789abcdef0"}),
                400,
                "InvalidInstanceId",
                "Not existing InstanceId mi-0123456789abcdef0".into(),
            ),
            (
                json!({"InstanceId": "i-0123456789abcdef0"}),
                400,
                v,
                "1 validation error detected: Value 'i-0123456789abcdef0' at 'instanceId' failed to satisfy constraint: Member must have length greater than or equal to 20".into(),
            ),
        ],
    )
    .await;
}

/// Makes user `bob` with inline policy `doc` (none if empty) and signs as him.
async fn as_bob(s: &mut Server, doc: &str) {
    iam_support::iam(s, "CreateUser", &[("UserName", "bob")])
        .await
        .ok();
    if !doc.is_empty() {
        iam_support::iam(
            s,
            "PutUserPolicy",
            &[
                ("UserName", "bob"),
                ("PolicyName", "p"),
                ("PolicyDocument", doc),
            ],
        )
        .await
        .ok();
    }
    let k = iam_support::iam(s, "CreateAccessKey", &[("UserName", "bob")])
        .await
        .ok();
    s.key = common::sign::Key {
        access_key_id: k.get("AccessKeyId").unwrap(),
        secret: k.get("SecretAccessKey").unwrap(),
        session_token: None,
    };
}

fn policy(statements: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

#[tokio::test]
async fn creating_an_activation_needs_pass_role_on_its_role() {
    let dir = std::env::temp_dir().join(format!("gantry-ssm-passrole-{}", uuid::Uuid::new_v4()));
    let state_dir = dir.clone();
    let mut s = Server::start_with(move |c| {
        c.state_dir = Some(state_dir);
        c.admin_key = Some(gantry_server::AccessKeyPair {
            access_key_id: iam_support::ADMIN_ID.into(),
            secret_access_key: iam_support::ADMIN_SECRET.into(),
        });
    })
    .await;
    s.key = common::sign::Key {
        access_key_id: iam_support::ADMIN_ID.into(),
        secret: iam_support::ADMIN_SECRET.into(),
        session_token: None,
    };
    let admin = s.key.clone();
    // PassRole only for another service: not enough.
    let doc = policy(json!([
        {"Effect": "Allow", "Action": "ssm:CreateActivation", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}
    ]));
    as_bob(&mut s, &doc).await;
    let role = format!("arn:aws:iam::{ACCOUNT}:role/gantry-external-node");
    let denied = format!(
        "User: arn:aws:iam::{ACCOUNT}:user/bob is not authorized to perform: iam:PassRole on resource: {role} because no identity-based policy allows the iam:PassRole action"
    );
    let rev = s.revision().await;
    let body = json!({"IamRole": "gantry-external-node"});
    table(
        &s,
        "CreateActivation",
        &[(body.clone(), 400, "AccessDeniedException", denied)],
    )
    .await;
    assert_eq!(s.revision().await, rev, "nothing written");
    // The refusal is audited as any other: the role among the resources, the denial's code.
    let audit = dir.join("audit");
    let mut found = None;
    for _ in 0..200 {
        let records = gantry_server::auth::audit::read_all(&audit).unwrap_or_default();
        found = records
            .into_iter()
            .find(|r| r.action == "CreateActivation" && r.service == "ssm");
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let rec = found.unwrap_or_else(|| {
        panic!(
            "the refused CreateActivation is in the audit log: {:?}",
            gantry_server::auth::audit::read_all(&audit)
        )
    });
    assert_eq!(rec.decision, gantry_server::auth::audit::Decision::Deny);
    assert_eq!(rec.error_code.as_deref(), Some("AccessDeniedException"));
    assert_eq!(
        rec.principal_arn.as_deref(),
        Some(format!("arn:aws:iam::{ACCOUNT}:user/bob").as_str())
    );
    assert!(rec.resources.contains(&role), "{:?}", rec.resources);

    // PassRole to SSM on that role: allowed.
    s.key = admin;
    let doc = policy(json!([
        {"Effect": "Allow", "Action": "ssm:CreateActivation", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role,
         "Condition": {"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}}}
    ]));
    iam_support::iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "bob"),
            ("PolicyName", "p"),
            ("PolicyDocument", &doc),
        ],
    )
    .await
    .ok();
    let bob = {
        let k = iam_support::iam(&s, "CreateAccessKey", &[("UserName", "bob")])
            .await
            .ok();
        common::sign::Key {
            access_key_id: k.get("AccessKeyId").unwrap(),
            secret: k.get("SecretAccessKey").unwrap(),
            session_token: None,
        }
    };
    // Another role is not his to pass.
    ssm_support::role(&s, "other").await;
    s.key = bob;
    common::eventually("bob's PassRole to apply", || async {
        ssm(&s, "CreateActivation", body.clone()).await.status == 200
    })
    .await;
    let r = ssm(&s, "CreateActivation", json!({"IamRole": "other"})).await;
    assert_eq!((r.status, r.kind()), (400, "AccessDeniedException"));
    assert_eq!(
        r.body["message"],
        format!("User: arn:aws:iam::{ACCOUNT}:user/bob is not authorized to perform: iam:PassRole on resource: arn:aws:iam::{ACCOUNT}:role/other because no identity-based policy allows the iam:PassRole action")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
