//! Groups, roles and tags through the query protocol, and the policies the auth gate sees
//! for a group's member.

mod common;
mod iam_support;

use gantry_server::iam::identity;
use iam_support::{iam, start, url_decode, ALLOW_ALL};

const READ_ECS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}"#;
const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;

#[tokio::test]
async fn groups_hold_users_and_lend_them_their_policies() {
    let s = start().await;
    iam(&s, "CreateUser", &[("UserName", "erin")]).await.ok();
    let g = iam(
        &s,
        "CreateGroup",
        &[("GroupName", "readers"), ("Path", "/x/")],
    )
    .await
    .ok();
    assert_eq!(
        g.get("Arn").unwrap(),
        "arn:aws:iam::123456789012:group/x/readers"
    );
    assert!(g.get("GroupId").unwrap().starts_with("AGPA"));
    iam(&s, "CreateGroup", &[("GroupName", "readers")])
        .await
        .err(409, "EntityAlreadyExists");
    iam(
        &s,
        "AddUserToGroup",
        &[("GroupName", "readers"), ("UserName", "erin")],
    )
    .await
    .ok();
    iam(
        &s,
        "AddUserToGroup",
        &[("GroupName", "nope"), ("UserName", "erin")],
    )
    .await
    .err(404, "NoSuchEntity");
    let got = iam(&s, "GetGroup", &[("GroupName", "readers")]).await.ok();
    assert_eq!(got.all("UserName"), ["erin"]);
    assert_eq!(
        iam(&s, "ListGroups", &[]).await.ok().all("GroupName"),
        ["readers"]
    );
    assert_eq!(
        iam(&s, "ListGroupsForUser", &[("UserName", "erin")])
            .await
            .ok()
            .all("GroupName"),
        ["readers"]
    );

    iam(
        &s,
        "PutGroupPolicy",
        &[
            ("GroupName", "readers"),
            ("PolicyName", "read"),
            ("PolicyDocument", READ_ECS),
        ],
    )
    .await
    .ok();
    iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "erin"),
            ("PolicyName", "own"),
            ("PolicyDocument", ALLOW_ALL),
        ],
    )
    .await
    .ok();
    let k = iam(&s, "CreateAccessKey", &[("UserName", "erin")])
        .await
        .ok();
    let who = identity::by_access_key(&s.state, &k.get("AccessKeyId").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        identity::policies_of(&s.state, &who.principal)
            .await
            .unwrap()
            .len(),
        2,
        "her own and her group's"
    );

    iam(&s, "DeleteGroup", &[("GroupName", "readers")])
        .await
        .err(409, "DeleteConflict");
    iam(&s, "DeleteUser", &[("UserName", "erin")])
        .await
        .err(409, "DeleteConflict");
    iam(
        &s,
        "RemoveUserFromGroup",
        &[("GroupName", "readers"), ("UserName", "erin")],
    )
    .await
    .ok();
    iam(
        &s,
        "RemoveUserFromGroup",
        &[("GroupName", "readers"), ("UserName", "erin")],
    )
    .await
    .err(404, "NoSuchEntity");
    assert_eq!(
        identity::policies_of(&s.state, &who.principal)
            .await
            .unwrap()
            .len(),
        1
    );
    iam(&s, "DeleteGroup", &[("GroupName", "readers")])
        .await
        .err(409, "DeleteConflict");
    iam(
        &s,
        "DeleteGroupPolicy",
        &[("GroupName", "readers"), ("PolicyName", "read")],
    )
    .await
    .ok();
    iam(&s, "DeleteGroup", &[("GroupName", "readers")])
        .await
        .ok();
    iam(&s, "GetGroup", &[("GroupName", "readers")])
        .await
        .err(404, "NoSuchEntity");
}

#[tokio::test]
async fn roles_carry_trust_policies_session_limits_and_tags() {
    let s = start().await;
    let r = iam(
        &s,
        "CreateRole",
        &[
            ("RoleName", "deployer"),
            ("Path", "/ci/"),
            ("AssumeRolePolicyDocument", TRUST_ACCOUNT),
            ("MaxSessionDuration", "7200"),
            ("Description", "CI"),
            ("Tags.member.1.Key", "env"),
            ("Tags.member.1.Value", "prod"),
        ],
    )
    .await
    .ok();
    assert_eq!(
        r.get("Arn").unwrap(),
        "arn:aws:iam::123456789012:role/ci/deployer"
    );
    assert!(r.get("RoleId").unwrap().starts_with("AROA"));
    assert_eq!(
        url_decode(&r.get("AssumeRolePolicyDocument").unwrap()),
        TRUST_ACCOUNT
    );
    assert_eq!(r.get("MaxSessionDuration").unwrap(), "7200");
    iam(
        &s,
        "CreateRole",
        &[
            ("RoleName", "deployer"),
            ("AssumeRolePolicyDocument", TRUST_ACCOUNT),
        ],
    )
    .await
    .err(409, "EntityAlreadyExists");
    iam(
        &s,
        "CreateRole",
        &[("RoleName", "x"), ("AssumeRolePolicyDocument", "nope")],
    )
    .await
    .err(400, "MalformedPolicyDocument");
    iam(
        &s,
        "CreateRole",
        &[
            ("RoleName", "x"),
            ("AssumeRolePolicyDocument", TRUST_ACCOUNT),
            ("MaxSessionDuration", "60"),
        ],
    )
    .await
    .err(400, "ValidationError");
    iam(&s, "CreateRole", &[("RoleName", "x")])
        .await
        .err(400, "ValidationError");

    let g = iam(&s, "GetRole", &[("RoleName", "deployer")]).await.ok();
    assert_eq!(g.get("Description").unwrap(), "CI");
    // Beside the role the cluster's first start makes for SSM activations.
    assert_eq!(
        iam(&s, "ListRoles", &[]).await.ok().all("RoleName"),
        ["deployer", "gantry-external-node"]
    );
    iam(&s, "GetRole", &[("RoleName", "nope")])
        .await
        .err(404, "NoSuchEntity");

    iam(
        &s,
        "TagRole",
        &[
            ("RoleName", "deployer"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "infra"),
            ("Tags.member.2.Key", "ENV"),
            ("Tags.member.2.Value", "dev"),
        ],
    )
    .await
    .ok();
    let t = iam(&s, "ListRoleTags", &[("RoleName", "deployer")])
        .await
        .ok();
    assert_eq!(t.all("Key"), ["env", "team"]);
    assert_eq!(
        t.all("Value"),
        ["dev", "infra"],
        "tag keys are case-insensitive"
    );
    iam(
        &s,
        "UntagRole",
        &[("RoleName", "deployer"), ("TagKeys.member.1", "team")],
    )
    .await
    .ok();
    assert_eq!(
        iam(&s, "ListRoleTags", &[("RoleName", "deployer")])
            .await
            .ok()
            .all("Key"),
        ["env"]
    );

    iam(&s, "CreateUser", &[("UserName", "frank")]).await.ok();
    iam(
        &s,
        "TagUser",
        &[
            ("UserName", "frank"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "web"),
        ],
    )
    .await
    .ok();
    assert_eq!(
        iam(&s, "ListUserTags", &[("UserName", "frank")])
            .await
            .ok()
            .all("Value"),
        ["web"]
    );
    iam(
        &s,
        "UntagUser",
        &[("UserName", "frank"), ("TagKeys.member.1", "team")],
    )
    .await
    .ok();
    assert!(iam(&s, "ListUserTags", &[("UserName", "frank")])
        .await
        .ok()
        .all("Key")
        .is_empty());
    iam(
        &s,
        "TagUser",
        &[
            ("UserName", "nobody"),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.1.Value", "b"),
        ],
    )
    .await
    .err(404, "NoSuchEntity");
    iam(
        &s,
        "TagUser",
        &[
            ("UserName", "frank"),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.1.Value", "b"),
            ("Tags.member.2.Key", "A"),
            ("Tags.member.2.Value", "c"),
        ],
    )
    .await
    .err(400, "InvalidInput");

    iam(&s, "DeleteRole", &[("RoleName", "deployer")])
        .await
        .ok();
    iam(&s, "DeleteRole", &[("RoleName", "deployer")])
        .await
        .err(404, "NoSuchEntity");
}
