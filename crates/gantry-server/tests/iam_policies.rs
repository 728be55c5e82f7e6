//! Inline and managed policies through the query protocol.

mod common;
mod iam_support;

use iam_support::{iam, start, url_decode, ALLOW_ALL};

const READ_ECS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}"#;
const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;

#[tokio::test]
async fn inline_policies_on_users_groups_and_roles() {
    let s = start().await;
    iam(&s, "CreateUser", &[("UserName", "carol")]).await.ok();
    iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "carol"),
            ("PolicyName", "read"),
            ("PolicyDocument", READ_ECS),
        ],
    )
    .await
    .ok();
    let g = iam(
        &s,
        "GetUserPolicy",
        &[("UserName", "carol"), ("PolicyName", "read")],
    )
    .await
    .ok();
    let doc = g.get("PolicyDocument").unwrap();
    assert!(
        doc.starts_with("%7B%22Version%22"),
        "URL-encoded as IAM sends it: {doc}"
    );
    assert_eq!(url_decode(&doc), READ_ECS);
    assert_eq!(g.get("UserName").unwrap(), "carol");
    let l = iam(&s, "ListUserPolicies", &[("UserName", "carol")])
        .await
        .ok();
    assert_eq!(l.all("member"), ["read"]);
    iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "carol"),
            ("PolicyName", "bad"),
            ("PolicyDocument", "{not json"),
        ],
    )
    .await
    .err(400, "MalformedPolicyDocument");
    iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "nobody"),
            ("PolicyName", "p"),
            ("PolicyDocument", READ_ECS),
        ],
    )
    .await
    .err(404, "NoSuchEntity");
    iam(
        &s,
        "GetUserPolicy",
        &[("UserName", "carol"), ("PolicyName", "nope")],
    )
    .await
    .err(404, "NoSuchEntity");
    iam(&s, "DeleteUser", &[("UserName", "carol")])
        .await
        .err(409, "DeleteConflict");
    iam(
        &s,
        "DeleteUserPolicy",
        &[("UserName", "carol"), ("PolicyName", "read")],
    )
    .await
    .ok();
    iam(
        &s,
        "DeleteUserPolicy",
        &[("UserName", "carol"), ("PolicyName", "read")],
    )
    .await
    .err(404, "NoSuchEntity");

    iam(&s, "CreateGroup", &[("GroupName", "devs")]).await.ok();
    iam(
        &s,
        "PutGroupPolicy",
        &[
            ("GroupName", "devs"),
            ("PolicyName", "gp"),
            ("PolicyDocument", READ_ECS),
        ],
    )
    .await
    .ok();
    let gp = iam(
        &s,
        "GetGroupPolicy",
        &[("GroupName", "devs"), ("PolicyName", "gp")],
    )
    .await
    .ok();
    assert_eq!(gp.get("GroupName").unwrap(), "devs");
    assert_eq!(
        iam(&s, "ListGroupPolicies", &[("GroupName", "devs")])
            .await
            .ok()
            .all("member"),
        ["gp"]
    );

    iam(
        &s,
        "CreateRole",
        &[
            ("RoleName", "worker"),
            ("AssumeRolePolicyDocument", TRUST_ACCOUNT),
        ],
    )
    .await
    .ok();
    iam(
        &s,
        "PutRolePolicy",
        &[
            ("RoleName", "worker"),
            ("PolicyName", "rp"),
            ("PolicyDocument", ALLOW_ALL),
        ],
    )
    .await
    .ok();
    let rp = iam(
        &s,
        "GetRolePolicy",
        &[("RoleName", "worker"), ("PolicyName", "rp")],
    )
    .await
    .ok();
    assert_eq!(url_decode(&rp.get("PolicyDocument").unwrap()), ALLOW_ALL);
    iam(&s, "DeleteRole", &[("RoleName", "worker")])
        .await
        .err(409, "DeleteConflict");
    iam(
        &s,
        "DeleteRolePolicy",
        &[("RoleName", "worker"), ("PolicyName", "rp")],
    )
    .await
    .ok();
    iam(&s, "DeleteRole", &[("RoleName", "worker")]).await.ok();
}

#[tokio::test]
async fn managed_policies_have_versions_and_attachments() {
    let s = start().await;
    let c = iam(
        &s,
        "CreatePolicy",
        &[
            ("PolicyName", "ecs-read"),
            ("Path", "/ops/"),
            ("PolicyDocument", READ_ECS),
            ("Description", "read ECS"),
        ],
    )
    .await
    .ok();
    let arn = c.get("Arn").unwrap();
    assert_eq!(arn, "arn:aws:iam::123456789012:policy/ops/ecs-read");
    assert_eq!(c.get("DefaultVersionId").unwrap(), "v1");
    assert!(c.get("PolicyId").unwrap().starts_with("ANPA"));
    iam(
        &s,
        "CreatePolicy",
        &[("PolicyName", "ecs-read"), ("PolicyDocument", READ_ECS)],
    )
    .await
    .err(409, "EntityAlreadyExists");
    iam(
        &s,
        "CreatePolicy",
        &[("PolicyName", "x"), ("PolicyDocument", "[]")],
    )
    .await
    .err(400, "MalformedPolicyDocument");

    let admin = iam(
        &s,
        "GetPolicy",
        &[("PolicyArn", "arn:aws:iam::aws:policy/AdministratorAccess")],
    )
    .await
    .ok();
    assert_eq!(
        admin.get("AttachmentCount").unwrap(),
        "1",
        "the administrator has it"
    );
    iam(
        &s,
        "GetPolicy",
        &[("PolicyArn", "arn:aws:iam::123456789012:policy/nope")],
    )
    .await
    .err(404, "NoSuchEntity");
    let local = iam(&s, "ListPolicies", &[("Scope", "Local")]).await.ok();
    assert_eq!(local.all("PolicyName"), ["ecs-read"]);
    let all = iam(&s, "ListPolicies", &[]).await.ok();
    assert_eq!(all.all("PolicyName"), ["AdministratorAccess", "ecs-read"]);

    let v2 = iam(
        &s,
        "CreatePolicyVersion",
        &[
            ("PolicyArn", &arn),
            ("PolicyDocument", ALLOW_ALL),
            ("SetAsDefault", "true"),
        ],
    )
    .await
    .ok();
    assert_eq!(v2.get("VersionId").unwrap(), "v2");
    assert_eq!(v2.get("IsDefaultVersion").unwrap(), "true");
    let got = iam(
        &s,
        "GetPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v1")],
    )
    .await
    .ok();
    assert_eq!(url_decode(&got.get("Document").unwrap()), READ_ECS);
    assert_eq!(got.get("IsDefaultVersion").unwrap(), "false");
    let vs = iam(&s, "ListPolicyVersions", &[("PolicyArn", &arn)])
        .await
        .ok();
    assert_eq!(vs.all("VersionId"), ["v2", "v1"]);
    iam(
        &s,
        "DeletePolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v2")],
    )
    .await
    .err(409, "DeleteConflict");
    iam(
        &s,
        "SetDefaultPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v1")],
    )
    .await
    .ok();
    iam(
        &s,
        "SetDefaultPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v9")],
    )
    .await
    .err(404, "NoSuchEntity");
    for _ in 0..3 {
        iam(
            &s,
            "CreatePolicyVersion",
            &[("PolicyArn", &arn), ("PolicyDocument", READ_ECS)],
        )
        .await
        .ok();
    }
    iam(
        &s,
        "CreatePolicyVersion",
        &[("PolicyArn", &arn), ("PolicyDocument", READ_ECS)],
    )
    .await
    .err(409, "LimitExceeded");

    iam(&s, "CreateUser", &[("UserName", "dave")]).await.ok();
    iam(
        &s,
        "AttachUserPolicy",
        &[("UserName", "dave"), ("PolicyArn", &arn)],
    )
    .await
    .ok();
    iam(
        &s,
        "AttachUserPolicy",
        &[
            ("UserName", "dave"),
            ("PolicyArn", "arn:aws:iam::123456789012:policy/nope"),
        ],
    )
    .await
    .err(404, "NoSuchEntity");
    let att = iam(&s, "ListAttachedUserPolicies", &[("UserName", "dave")])
        .await
        .ok();
    assert_eq!(att.all("PolicyName"), ["ecs-read"]);
    assert_eq!(
        iam(&s, "GetPolicy", &[("PolicyArn", &arn)])
            .await
            .ok()
            .get("AttachmentCount")
            .unwrap(),
        "1"
    );
    iam(&s, "DeletePolicy", &[("PolicyArn", &arn)])
        .await
        .err(409, "DeleteConflict");
    iam(&s, "DeleteUser", &[("UserName", "dave")])
        .await
        .err(409, "DeleteConflict");
    iam(
        &s,
        "DetachUserPolicy",
        &[("UserName", "dave"), ("PolicyArn", &arn)],
    )
    .await
    .ok();
    iam(
        &s,
        "DetachUserPolicy",
        &[("UserName", "dave"), ("PolicyArn", &arn)],
    )
    .await
    .err(404, "NoSuchEntity");

    iam(&s, "CreateGroup", &[("GroupName", "ops")]).await.ok();
    iam(
        &s,
        "AttachGroupPolicy",
        &[("GroupName", "ops"), ("PolicyArn", &arn)],
    )
    .await
    .ok();
    assert_eq!(
        iam(&s, "ListAttachedGroupPolicies", &[("GroupName", "ops")])
            .await
            .ok()
            .all("PolicyArn"),
        [arn.as_str()]
    );
    iam(
        &s,
        "CreateRole",
        &[
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", TRUST_ACCOUNT),
        ],
    )
    .await
    .ok();
    iam(
        &s,
        "AttachRolePolicy",
        &[("RoleName", "r"), ("PolicyArn", &arn)],
    )
    .await
    .ok();
    assert_eq!(
        iam(&s, "ListAttachedRolePolicies", &[("RoleName", "r")])
            .await
            .ok()
            .all("PolicyArn"),
        [arn.as_str()]
    );
    iam(
        &s,
        "DetachRolePolicy",
        &[("RoleName", "r"), ("PolicyArn", &arn)],
    )
    .await
    .ok();
    iam(
        &s,
        "DetachGroupPolicy",
        &[("GroupName", "ops"), ("PolicyArn", &arn)],
    )
    .await
    .ok();

    iam(&s, "DeletePolicy", &[("PolicyArn", &arn)])
        .await
        .err(409, "DeleteConflict");
    for v in ["v2", "v3", "v4", "v5"] {
        iam(
            &s,
            "DeletePolicyVersion",
            &[("PolicyArn", &arn), ("VersionId", v)],
        )
        .await
        .ok();
    }
    iam(&s, "DeletePolicy", &[("PolicyArn", &arn)]).await.ok();
    iam(
        &s,
        "DeletePolicy",
        &[("PolicyArn", "arn:aws:iam::aws:policy/AdministratorAccess")],
    )
    .await
    .err(400, "UnmodifiableEntity");
}
