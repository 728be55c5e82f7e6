//! SSM activations over the wire: create, describe (filters, paging, `Expired`), delete; the
//! model's limits with SSM's exception names and texts; redemption: the right code registers
//! a managed instance, a wrong code, an expired, deleted or used-up activation is refused and
//! nothing is written; a user without `ssm:CreateActivation` gets AccessDeniedException.

mod common;
mod iam_support;
mod ssm_support;

use std::sync::Arc;

use common::Server;
use gantry_server::ssm::activations::redeem;
use gantry_server::ManualClock;
use gantry_store::Store;
use serde_json::json;
use ssm_support::{activation, err, ok};

#[tokio::test]
async fn create_describe_and_delete() {
    let s = Server::start().await;
    let before = s.state.clock.now();
    let (id, code) = activation(
        &s,
        json!({"IamRole": "gantry-external-node", "RegistrationLimit": 3,
               "DefaultInstanceName": "edge", "Description": "lab hosts",
               "Tags": [{"Key": "team", "Value": "infra"}]}),
    )
    .await;
    assert_eq!(code.len(), 20);
    ssm_support::role(&s, "other-role").await;
    let (other, _) = activation(&s, json!({"IamRole": "other-role"})).await;

    let v = ok(&s, "DescribeActivations", json!({})).await;
    let list = v["ActivationList"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    let a = &list[0];
    assert_eq!(a["ActivationId"], id.as_str());
    assert_eq!(a["IamRole"], "gantry-external-node");
    assert_eq!(a["RegistrationLimit"], 3);
    assert_eq!(a["RegistrationsCount"], 0);
    assert_eq!(a["Expired"], false);
    assert_eq!(a["DefaultInstanceName"], "edge");
    assert_eq!(a["Description"], "lab hosts");
    assert_eq!(a["Tags"], json!([{"Key": "team", "Value": "infra"}]));
    let ttl = a["ExpirationDate"].as_f64().unwrap() - a["CreatedDate"].as_f64().unwrap();
    assert!(
        (ttl - 86_400.0).abs() < 1.0,
        "default expiry is a day: {ttl}"
    );
    assert!(a["CreatedDate"].as_f64().unwrap() >= before.floor());
    assert!(
        !v.to_string().contains(&code),
        "the code is never shown again"
    );
    // The stored record holds only the code's hash.
    let stored = s.state.store.list("ssm/").await.unwrap();
    assert!(stored
        .iter()
        .all(|r| !String::from_utf8_lossy(&r.value).contains(&code)));

    let by_role = ok(
        &s,
        "DescribeActivations",
        json!({"Filters": [{"FilterKey": "IamRole", "FilterValues": ["other-role"]}]}),
    )
    .await;
    assert_eq!(by_role["ActivationList"][0]["ActivationId"], other.as_str());
    assert_eq!(by_role["ActivationList"].as_array().unwrap().len(), 1);
    let m = err(
        &s,
        "DescribeActivations",
        json!({"Filters": [{"FilterKey": "Nope", "FilterValues": ["x"]}]}),
        "ValidationException",
    )
    .await;
    assert_eq!(m, "1 validation error detected: Value 'Nope' at 'filters.1.member.filterKey' failed to satisfy constraint: Member must satisfy enum value set: [ActivationIds, DefaultInstanceName, IamRole]");

    // Paging: one at a time, in creation order.
    let p1 = ok(&s, "DescribeActivations", json!({"MaxResults": 1})).await;
    assert_eq!(p1["ActivationList"][0]["ActivationId"], id.as_str());
    let t = p1["NextToken"].as_str().unwrap();
    let p2 = ok(
        &s,
        "DescribeActivations",
        json!({"MaxResults": 1, "NextToken": t}),
    )
    .await;
    assert_eq!(p2["ActivationList"][0]["ActivationId"], other.as_str());
    assert!(p2.get("NextToken").is_none());
    err(
        &s,
        "DescribeActivations",
        json!({"NextToken": "garbage"}),
        "InvalidNextToken",
    )
    .await;

    ok(&s, "DeleteActivation", json!({"ActivationId": id})).await;
    let v = ok(&s, "DescribeActivations", json!({})).await;
    assert_eq!(v["ActivationList"].as_array().unwrap().len(), 1);
    err(
        &s,
        "DeleteActivation",
        json!({"ActivationId": id}),
        "InvalidActivationId",
    )
    .await;
}

#[tokio::test]
async fn limits_and_bad_inputs_are_refused_with_ssm_texts() {
    let s = Server::start().await;
    // The key's first use of SSM is recorded once; after that a refusal writes nothing.
    ok(&s, "DescribeActivations", json!({})).await;
    let rev = s.revision().await;
    let m = err(
        &s,
        "CreateActivation",
        json!({"IamRole": "gantry-external-node", "RegistrationLimit": 0}),
        "ValidationException",
    )
    .await;
    assert_eq!(m, "1 validation error detected: Value '0' at 'registrationLimit' failed to satisfy constraint: Member must have value greater than or equal to 1");
    let m = err(
        &s,
        "CreateActivation",
        json!({"IamRole": "gantry-external-node", "RegistrationLimit": 1001}),
        "ValidationException",
    )
    .await;
    assert_eq!(m, "1 validation error detected: Value '1001' at 'registrationLimit' failed to satisfy constraint: Member must have value less than or equal to 1000");
    let m = err(&s, "CreateActivation", json!({}), "ValidationException").await;
    assert_eq!(m, "1 validation error detected: Value null at 'iamRole' failed to satisfy constraint: Member must not be null");
    let now = s.state.clock.now();
    let m = err(
        &s,
        "CreateActivation",
        json!({"IamRole": "gantry-external-node", "ExpirationDate": now - 60.0}),
        "InvalidParameters",
    )
    .await;
    assert!(m.contains("in the past"), "{m}");
    let m = err(
        &s,
        "CreateActivation",
        json!({"IamRole": "gantry-external-node", "ExpirationDate": now + 31.0 * 86_400.0}),
        "InvalidParameters",
    )
    .await;
    assert!(m.contains("at most 30 days"), "{m}");
    let m = err(
        &s,
        "CreateActivation",
        json!({"IamRole": "gantry-external-node", "RegistrationMetadata": [{"Key": "k", "Value": "v"}]}),
        "InvalidParameters",
    )
    .await;
    assert!(m.contains("RegistrationMetadata"), "{m}");
    err(
        &s,
        "CreateActivation",
        json!({"IamRole": "gantry-external-node", "RegistrationLimit": "three"}),
        "SerializationException",
    )
    .await;
    err(
        &s,
        "DeleteActivation",
        json!({"ActivationId": "not-a-uuid"}),
        "ValidationException",
    )
    .await;
    err(
        &s,
        "DescribeActivations",
        json!({"MaxResults": 51}),
        "ValidationException",
    )
    .await;
    assert_eq!(s.revision().await, rev, "a refused request wrote nothing");
    // Thirty days exactly is allowed.
    activation(
        &s,
        json!({"IamRole": "gantry-external-node", "ExpirationDate": now + 30.0 * 86_400.0 - 5.0}),
    )
    .await;
}

#[tokio::test]
async fn redeem_checks_code_expiry_deletion_and_limit() {
    let clock = Arc::new(ManualClock::default());
    let s = Server::start_with_clock(clock.clone()).await;
    ssm_support::role(&s, "edge-role").await;
    let (id, code) = activation(
        &s,
        json!({"IamRole": "edge-role", "RegistrationLimit": 2, "DefaultInstanceName": "edge",
               "Tags": [{"Key": "site", "Value": "lab"}]}),
    )
    .await;

    let rev = s.revision().await;
    let e = redeem(&s.state, &id, "WRONGCODEWRONGCODE00", "h1")
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.kind.name(), "InvalidActivation");
    assert!(e.message.contains("code does not match"), "{}", e.message);
    assert!(!e.message.contains(&code) && !e.message.contains("WRONGCODE"));
    assert_eq!(
        s.revision().await,
        rev,
        "a refused redemption wrote nothing"
    );

    let r1 = redeem(&s.state, &id, &code, "host-1").await.unwrap();
    assert!(r1.managed_instance_id.starts_with("mi-"));
    assert_eq!(r1.managed_instance_id.len(), 20);
    assert_eq!(r1.iam_role, "edge-role");
    assert_eq!(r1.default_instance_name.as_deref(), Some("edge"));
    let r2 = redeem(&s.state, &id, &code, "host-2").await.unwrap();
    assert_ne!(r1.managed_instance_id, r2.managed_instance_id);

    let rev = s.revision().await;
    let e = redeem(&s.state, &id, &code, "host-3")
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.kind.name(), "InvalidActivation");
    assert!(e.message.contains("limit of 2"), "{}", e.message);
    assert_eq!(s.revision().await, rev);

    let v = ok(&s, "DescribeActivations", json!({})).await;
    assert_eq!(v["ActivationList"][0]["RegistrationsCount"], 2);

    // The instances it registered, with the activation's name, role and tags.
    let v = ok(&s, "DescribeInstanceInformation", json!({})).await;
    let list = v["InstanceInformationList"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    // Both registered at the same (manual) instant: order is then by id.
    let i = list
        .iter()
        .find(|i| i["InstanceId"] == r1.managed_instance_id.as_str())
        .unwrap();
    assert_eq!(i["ActivationId"], id.as_str());
    assert_eq!(i["IamRole"], "edge-role");
    assert_eq!(i["Name"], "edge");
    assert_eq!(i["ComputerName"], "host-1");
    assert_eq!(i["ResourceType"], "ManagedInstance");
    assert_eq!(i["PlatformType"], "Linux");
    assert_eq!(i["PingStatus"], "ConnectionLost", "no agent connected yet");
    let tags = ok(
        &s,
        "ListTagsForResource",
        json!({"ResourceType": "ManagedInstance", "ResourceId": r1.managed_instance_id}),
    )
    .await;
    assert_eq!(tags["TagList"], json!([{"Key": "site", "Value": "lab"}]));

    // Expiry, judged by the server's clock.
    let (late, late_code) = activation(&s, json!({"IamRole": "gantry-external-node"})).await;
    clock.advance(86_401.0);
    let rev = s.revision().await;
    let e = redeem(&s.state, &late, &late_code, "h")
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.kind.name(), "InvalidActivation");
    assert!(e.message.contains("expired"), "{}", e.message);
    assert_eq!(s.revision().await, rev);
    let v = ok(
        &s,
        "DescribeActivations",
        json!({"Filters": [{"FilterKey": "ActivationIds", "FilterValues": [late]}]}),
    )
    .await;
    assert_eq!(v["ActivationList"][0]["Expired"], true);

    // Deleted.
    let (gone, gone_code) = activation(&s, json!({"IamRole": "gantry-external-node"})).await;
    ok(&s, "DeleteActivation", json!({"ActivationId": gone})).await;
    let rev = s.revision().await;
    let e = redeem(&s.state, &gone, &gone_code, "h")
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.kind.name(), "InvalidActivationId");
    assert!(e.message.contains("deleted"), "{}", e.message);
    assert_eq!(s.revision().await, rev);
}

#[tokio::test]
async fn a_user_without_ssm_create_activation_is_denied() {
    let mut s = iam_support::start().await;
    iam_support::iam(&s, "CreateUser", &[("UserName", "bob")])
        .await
        .ok();
    let k = iam_support::iam(&s, "CreateAccessKey", &[("UserName", "bob")])
        .await
        .ok();
    let admin = s.key.clone();
    s.key = common::sign::Key {
        access_key_id: k.get("AccessKeyId").unwrap(),
        secret: k.get("SecretAccessKey").unwrap(),
        session_token: None,
    };
    let rev = s.revision().await;
    let r = ssm_support::ssm(
        &s,
        "CreateActivation",
        json!({"IamRole": "gantry-external-node"}),
    )
    .await;
    assert_eq!(
        (r.status, r.kind()),
        (400, "AccessDeniedException"),
        "{}",
        r.body
    );
    assert_eq!(
        r.body["message"],
        "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: ssm:CreateActivation on resource: * because no identity-based policy allows the ssm:CreateActivation action"
    );
    assert_eq!(s.revision().await, rev, "nothing written");

    // Allowed to describe only: describe works, create still refused.
    s.key = admin;
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:Describe*","Resource":"*"}]}"#;
    iam_support::iam(
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
    s.key = common::sign::Key {
        access_key_id: k.get("AccessKeyId").unwrap(),
        secret: k.get("SecretAccessKey").unwrap(),
        session_token: None,
    };
    common::eventually("the policy to apply", || async {
        ssm_support::ssm(&s, "DescribeActivations", json!({}))
            .await
            .status
            == 200
    })
    .await;
    let r = ssm_support::ssm(
        &s,
        "CreateActivation",
        json!({"IamRole": "gantry-external-node"}),
    )
    .await;
    assert_eq!(r.kind(), "AccessDeniedException");
}
