//! ECS account settings over HTTP: what each operation answers (shapes and ECS's messages),
//! the effective value (principal, then account default, then ECS's default), who may name
//! another principal, and the settings that change behaviour: `containerInsights` for new
//! clusters and `tagResourceAuthorization` for tagged creates.

mod common;
mod iam_support;

use common::sign::{self, Key};
use common::Server;
use iam_support::call_as;
use serde_json::{json, Value};

const ROOT: &str = "arn:aws:iam::123456789012:root";
const ADMIN: &str = "arn:aws:iam::123456789012:user/admin";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

async fn admin_iam(s: &Server, action: &str, params: &[(&str, &str)]) -> iam_support::Answer {
    call_as(s, "iam", sign::ACCESS_KEY_ID, action, params).await
}

/// A user `name` with a fresh access key and the policy `doc`.
async fn user(s: &Server, name: &str, doc: &str) -> Key {
    admin_iam(s, "CreateUser", &[("UserName", name)]).await.ok();
    admin_iam(
        s,
        "PutUserPolicy",
        &[
            ("UserName", name),
            ("PolicyName", "p"),
            ("PolicyDocument", doc),
        ],
    )
    .await
    .ok();
    let k = admin_iam(s, "CreateAccessKey", &[("UserName", name)])
        .await
        .ok();
    Key {
        access_key_id: k.get("AccessKeyId").unwrap(),
        secret: k.get("SecretAccessKey").unwrap(),
        session_token: None,
    }
}

fn setting(name: &str, value: &str, principal: &str) -> Value {
    json!({"name": name, "value": value, "principalArn": principal, "type": "user"})
}

#[tokio::test]
async fn put_list_and_delete_answer_as_ecs() {
    let s = Server::start().await;
    // Put for oneself: the caller's ARN, type user.
    let r = s
        .ok(
            "PutAccountSetting",
            json!({"name": "containerInsights", "value": "enhanced"}),
        )
        .await;
    assert_eq!(
        r,
        json!({"setting": setting("containerInsights", "enhanced", ADMIN)})
    );
    // The default is the root's.
    let r = s
        .ok(
            "PutAccountSettingDefault",
            json!({"name": "awsvpcTrunking", "value": "enabled"}),
        )
        .await;
    assert_eq!(
        r,
        json!({"setting": setting("awsvpcTrunking", "enabled", ROOT)})
    );

    // Without effectiveSettings: only what the principal set.
    let r = s.ok("ListAccountSettings", json!({})).await;
    assert_eq!(
        r,
        json!({"settings": [setting("containerInsights", "enhanced", ADMIN)]})
    );
    let r = s
        .ok("ListAccountSettings", json!({"principalArn": ROOT}))
        .await;
    assert_eq!(
        r["settings"],
        json!([setting("awsvpcTrunking", "enabled", ROOT)])
    );

    // Effective: every setting, sorted by name, own over default over ECS's.
    let r = s
        .ok("ListAccountSettings", json!({"effectiveSettings": true}))
        .await;
    let got: Vec<(String, String)> = r["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("awsvpcTrunking", "enabled"),
        ("containerInsights", "enhanced"),
        ("containerInstanceLongArnFormat", "enabled"),
        ("defaultLogDriverMode", "non-blocking"),
        ("fargateEventWindows", "disabled"),
        ("fargateFIPSMode", "disabled"),
        ("fargateTaskRetirementWaitPeriod", "7"),
        ("guardDutyActivate", "off"),
        ("serviceLongArnFormat", "enabled"),
    ];
    assert_eq!(
        got[..9]
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect::<Vec<_>>(),
        want
    );
    assert!(r["nextToken"].is_string(), "11 settings, pages of 10: {r}");
    let next = s
        .ok(
            "ListAccountSettings",
            json!({"effectiveSettings": true, "nextToken": r["nextToken"]}),
        )
        .await;
    assert_eq!(
        next,
        json!({"settings": [setting("taskLongArnFormat", "enabled", ADMIN)]})
    );
    let guard = &r["settings"][7];
    assert_eq!(guard["type"], "aws_managed");

    // Filters: name, and value with it; paging by maxResults.
    let r = s
        .ok(
            "ListAccountSettings",
            json!({"effectiveSettings": true, "name": "tagResourceAuthorization", "value": "on"}),
        )
        .await;
    assert_eq!(
        r,
        json!({"settings": [setting("tagResourceAuthorization", "on", ADMIN)]})
    );
    let r = s
        .ok(
            "ListAccountSettings",
            json!({"effectiveSettings": true, "name": "tagResourceAuthorization", "value": "off"}),
        )
        .await;
    assert_eq!(r, json!({"settings": []}));
    let r = s
        .ok(
            "ListAccountSettings",
            json!({"effectiveSettings": true, "maxResults": 2}),
        )
        .await;
    assert_eq!(r["settings"].as_array().unwrap().len(), 2);
    assert_eq!(r["nextToken"], "containerInsights");

    // Delete answers the setting it removed; the default applies again.
    let r = s
        .ok("DeleteAccountSetting", json!({"name": "containerInsights"}))
        .await;
    assert_eq!(
        r,
        json!({"setting": setting("containerInsights", "enhanced", ADMIN)})
    );
    let r = s
        .ok(
            "ListAccountSettings",
            json!({"effectiveSettings": true, "name": "containerInsights"}),
        )
        .await;
    assert_eq!(r["settings"][0]["value"], "disabled");
}

#[tokio::test]
async fn refusals_carry_ecs_messages() {
    let s = Server::start().await;
    let cases: &[(&str, Value, &str, &str)] = &[
        (
            "PutAccountSetting",
            json!({"name": "serviceLongArnFormat", "value": "disabled"}),
            "InvalidParameterException",
            "You can no longer disable Long Arn settings",
        ),
        (
            "PutAccountSettingDefault",
            json!({"name": "taskLongArnFormat", "value": "disabled"}),
            "InvalidParameterException",
            "You can no longer disable Long Arn settings",
        ),
        (
            "PutAccountSetting",
            json!({"name": "taskLongArnFormat", "value": "ENABLED"}),
            "InvalidParameterException",
            "Invalid setting 'value'",
        ),
        (
            "PutAccountSettingDefault",
            json!({"name": "containerInsights", "value": "on"}),
            "InvalidParameterException",
            "Invalid setting 'value'",
        ),
        (
            "PutAccountSetting",
            json!({"name": "tagResourceAuthorization", "value": "enabled"}),
            "InvalidParameterException",
            "Invalid setting 'value'",
        ),
        (
            "PutAccountSettingDefault",
            json!({"name": "fargateTaskRetirementWaitPeriod", "value": "3"}),
            "InvalidParameterException",
            "Invalid setting 'value'",
        ),
        (
            "PutAccountSetting",
            json!({"name": "guardDutyActivate", "value": "on"}),
            "InvalidParameterException",
            "guardDutyActivate is managed by Amazon Web Services and is read-only.",
        ),
        (
            "ListAccountSettings",
            json!({"value": "enabled"}),
            "InvalidParameterException",
            "value can only be used together with name: name the setting to filter on.",
        ),
        (
            "ListAccountSettings",
            json!({"maxResults": 11}),
            "InvalidParameterException",
            "maxResults is 11; it must be between 1 and 10.",
        ),
        (
            "PutAccountSetting",
            json!({"name": "awsvpcTrunking", "value": "enabled", "principalArn": "arn:aws:iam::999999999999:user/x"}),
            "InvalidParameterException",
            "principalArn arn:aws:iam::999999999999:user/x is not a user, role or the root of account 123456789012.",
        ),
    ];
    for (op, body, kind, message) in cases {
        let r = s.call(op, body.clone()).await;
        assert_eq!(
            (r.status, r.kind()),
            (400, *kind),
            "{op} {body}: {}",
            r.body
        );
        assert_eq!(r.body["message"], *message, "{op} {body}");
    }
    // An unknown name is the model's enum: refused before the handler.
    let r = s
        .call("PutAccountSetting", json!({"name": "nope", "value": "on"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // The root-only setting goes through as the account default.
    let r = s
        .ok(
            "PutAccountSettingDefault",
            json!({"name": "fargateTaskRetirementWaitPeriod", "value": "14"}),
        )
        .await;
    assert_eq!(r["setting"]["value"], "14");
}

#[tokio::test]
async fn only_the_principal_or_the_root_names_a_principal() {
    let mut s = Server::start().await;
    let admin = s.key.clone();
    let alice = user(
        &s,
        "alice",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*"}]}"#,
    )
    .await;
    // The root (Gantry's administrator) sets alice's, and alice sees it as hers.
    s.ok(
        "PutAccountSetting",
        json!({"name": "containerInsights", "value": "enabled", "principalArn": ALICE}),
    )
    .await;
    s.key = alice;
    let r = s.ok("ListAccountSettings", json!({})).await;
    assert_eq!(
        r,
        json!({"settings": [setting("containerInsights", "enabled", ALICE)]})
    );
    // Alice cannot name the administrator, nor the root.
    for arn in [ADMIN, ROOT] {
        let r = s
            .call(
                "PutAccountSetting",
                json!({"name": "containerInsights", "value": "enabled", "principalArn": arn}),
            )
            .await;
        assert_eq!(r.kind(), "AccessDeniedException", "{}", r.body);
        let r = s
            .call("ListAccountSettings", json!({"principalArn": arn}))
            .await;
        assert_eq!(r.kind(), "AccessDeniedException", "{}", r.body);
    }
    // A new cluster of alice's takes her containerInsights; an explicit setting wins.
    let c = s
        .ok("CreateCluster", json!({"clusterName": "insights"}))
        .await;
    assert_eq!(
        c["cluster"]["settings"],
        json!([{"name": "containerInsights", "value": "enabled"}])
    );
    let c = s
        .ok(
            "CreateCluster",
            json!({"clusterName": "plain", "settings": [{"name": "containerInsights", "value": "disabled"}]}),
        )
        .await;
    assert_eq!(
        c["cluster"]["settings"],
        json!([{"name": "containerInsights", "value": "disabled"}])
    );
    s.key = admin;
    let c = s.ok("CreateCluster", json!({"clusterName": "mine"})).await;
    assert_eq!(
        c["cluster"]["settings"],
        json!([{"name": "containerInsights", "value": "disabled"}])
    );
}

#[tokio::test]
async fn tagged_creates_need_tag_resource_unless_the_setting_is_off() {
    let mut s = Server::start().await;
    let admin = s.key.clone();
    let bob = user(
        &s,
        "bob",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:CreateCluster","ecs:PutAccountSetting"],"Resource":"*"}]}"#,
    )
    .await;
    s.key = bob;
    // Untagged: the create action alone.
    s.ok("CreateCluster", json!({"clusterName": "a"})).await;
    let tagged = json!({"clusterName": "b", "tags": [{"key": "team", "value": "x"}]});
    let r = s.call("CreateCluster", tagged.clone()).await;
    assert_eq!(r.kind(), "AccessDeniedException", "{}", r.body);
    assert_eq!(
        r.body["message"],
        "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: ecs:TagResource on resource: arn:aws:ecs:us-east-1:123456789012:cluster/b because no identity-based policy allows the ecs:TagResource action"
    );
    // With tagResourceAuthorization off for bob, the create action decides.
    s.ok(
        "PutAccountSetting",
        json!({"name": "tagResourceAuthorization", "value": "off"}),
    )
    .await;
    s.ok("CreateCluster", tagged).await;
    // Granting ecs:TagResource (scoped by ecs:CreateAction) works with the setting on.
    s.key = admin;
    s.ok(
        "DeleteAccountSetting",
        json!({"name": "tagResourceAuthorization", "principalArn": "arn:aws:iam::123456789012:user/bob"}),
    )
    .await;
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:CreateCluster","Resource":"*"},{"Effect":"Allow","Action":"ecs:TagResource","Resource":"*","Condition":{"StringEquals":{"ecs:CreateAction":"CreateCluster"}}}]}"#;
    admin_iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "bob"),
            ("PolicyName", "p"),
            ("PolicyDocument", doc),
        ],
    )
    .await
    .ok();
    let bob_key = {
        let k = admin_iam(&s, "CreateAccessKey", &[("UserName", "bob")])
            .await
            .ok();
        Key {
            access_key_id: k.get("AccessKeyId").unwrap(),
            secret: k.get("SecretAccessKey").unwrap(),
            session_token: None,
        }
    };
    s.key = bob_key;
    s.ok(
        "CreateCluster",
        json!({"clusterName": "c", "tags": [{"key": "team", "value": "x"}]}),
    )
    .await;
}
