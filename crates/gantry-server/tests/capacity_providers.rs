//! Capacity providers over HTTP: create with ECS's defaults filled in, describe (by name,
//! all, paged, with tags), update, delete (refused while a cluster uses it), ECS's reserved
//! names, and a cluster's providers and default strategy.

mod common;

use common::Server;
use serde_json::{json, Value};

const ASG: &str =
    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1:autoScalingGroupName/web";
const CP_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:capacity-provider/web";

fn create(name: &str) -> Value {
    json!({"name": name, "autoScalingGroupProvider": {"autoScalingGroupArn": ASG,
        "managedScaling": {"status": "ENABLED", "targetCapacity": 80}}})
}

#[tokio::test]
async fn lifecycle_answers_as_ecs() {
    let s = Server::start().await;
    let mut body = create("web");
    body["tags"] = json!([{"key": "team", "value": "web"}]);
    let r = s.ok("CreateCapacityProvider", body).await;
    assert_eq!(
        r,
        json!({"capacityProvider": {
            "capacityProviderArn": CP_ARN,
            "name": "web",
            "status": "ACTIVE",
            "autoScalingGroupProvider": {
                "autoScalingGroupArn": ASG,
                "managedScaling": {"status": "ENABLED", "targetCapacity": 80,
                    "minimumScalingStepSize": 1, "maximumScalingStepSize": 10000,
                    "instanceWarmupPeriod": 300},
                "managedTerminationProtection": "DISABLED",
                "managedDraining": "ENABLED"
            },
            "tags": [{"key": "team", "value": "web"}],
            "type": "EC2_AUTOSCALING"
        }})
    );
    let r = s.call("CreateCapacityProvider", create("web")).await;
    assert_eq!(r.kind(), "ClientException");
    assert_eq!(r.body["message"], "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.");
    s.ok("CreateCapacityProvider", create("batch")).await;

    let d = s
        .ok(
            "DescribeCapacityProviders",
            json!({"capacityProviders": ["web", "ghost"], "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(
        d["capacityProviders"][0]["tags"],
        json!([{"key": "team", "value": "web"}])
    );
    assert_eq!(
        d["failures"],
        json!([{"arn": "arn:aws:ecs:us-east-1:123456789012:capacity-provider/ghost", "reason": "MISSING"}])
    );
    let d = s
        .ok("DescribeCapacityProviders", json!({"maxResults": 1}))
        .await;
    assert_eq!(d["capacityProviders"][0]["name"], "batch");
    assert!(d["capacityProviders"][0].get("tags").is_none());
    let d = s
        .ok(
            "DescribeCapacityProviders",
            json!({"maxResults": 1, "nextToken": d["nextToken"]}),
        )
        .await;
    assert_eq!(d["capacityProviders"][0]["name"], "web");
    assert!(d.get("nextToken").is_none(), "{d}");

    let u = s
        .ok(
            "UpdateCapacityProvider",
            json!({"name": CP_ARN, "autoScalingGroupProvider": {"managedScaling": {"status": "ENABLED", "targetCapacity": 100}, "managedTerminationProtection": "ENABLED"}}),
        )
        .await;
    let p = &u["capacityProvider"];
    assert_eq!(p["updateStatus"], "UPDATE_COMPLETE");
    assert_eq!(
        p["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"],
        100
    );
    assert_eq!(
        p["autoScalingGroupProvider"]["managedTerminationProtection"],
        "ENABLED"
    );

    // A cluster uses it: its default strategy is shown with base and weight filled in.
    s.ok("CreateCluster", json!({"clusterName": "c"})).await;
    let c = s
        .ok(
            "PutClusterCapacityProviders",
            json!({"cluster": "c", "capacityProviders": ["web", "batch"],
                   "defaultCapacityProviderStrategy": [{"capacityProvider": "web", "weight": 2, "base": 1}, {"capacityProvider": "batch", "weight": 1}]}),
        )
        .await;
    assert_eq!(c["cluster"]["capacityProviders"], json!(["web", "batch"]));
    assert_eq!(
        c["cluster"]["defaultCapacityProviderStrategy"],
        json!([{"capacityProvider": "web", "weight": 2, "base": 1}, {"capacityProvider": "batch", "weight": 1, "base": 0}])
    );
    let r = s
        .call(
            "PutClusterCapacityProviders",
            json!({"cluster": "c", "capacityProviders": ["web", "batch"],
                   "defaultCapacityProviderStrategy": [{"capacityProvider": "web", "base": 1}, {"capacityProvider": "batch", "base": 2}]}),
        )
        .await;
    assert_eq!(
        r.body["message"],
        "Only one capacity provider in a capacity provider strategy can have a base defined."
    );
    let r = s
        .call("DeleteCapacityProvider", json!({"capacityProvider": "web"}))
        .await;
    assert_eq!(r.kind(), "ClientException");
    assert_eq!(
        r.body["message"],
        "The specified capacity provider is in use and cannot be removed."
    );
    s.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "c", "capacityProviders": [], "defaultCapacityProviderStrategy": []}),
    )
    .await;
    let d = s
        .ok("DeleteCapacityProvider", json!({"capacityProvider": "web"}))
        .await;
    assert_eq!(d["capacityProvider"]["status"], "INACTIVE");
    assert_eq!(d["capacityProvider"]["updateStatus"], "DELETE_COMPLETE");
    let r = s
        .call("DeleteCapacityProvider", json!({"capacityProvider": "web"}))
        .await;
    assert_eq!(r.body["message"], "The specified capacity provider does not exist. Specify a valid capacity provider and try again.");
    let d = s.ok("DescribeCapacityProviders", json!({})).await;
    assert_eq!(d["capacityProviders"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn refusals_carry_ecs_messages() {
    let s = Server::start().await;
    let prefixed =
        "The capacity provider name can't be prefixed with \"aws\", \"ecs\", or \"fargate\".";
    let cases: &[(&str, Value, &str, &str)] = &[
        ("CreateCapacityProvider", create("FARGATE"), "InvalidParameterException", prefixed),
        ("CreateCapacityProvider", create("FARGATE_SPOT"), "InvalidParameterException", prefixed),
        ("CreateCapacityProvider", create("ecs-x"), "InvalidParameterException", prefixed),
        ("CreateCapacityProvider", create("AWSx"), "InvalidParameterException", prefixed),
        (
            "CreateCapacityProvider",
            create("bad name"),
            "InvalidParameterException",
            "Capacity provider name \"bad name\" is invalid: use 1 to 255 letters, numbers, hyphens and underscores.",
        ),
        (
            "CreateCapacityProvider",
            json!({"name": "x"}),
            "InvalidParameterException",
            "autoScalingGroupProvider is required: it names the group of instances the capacity provider uses.",
        ),
        (
            "CreateCapacityProvider",
            json!({"name": "x", "autoScalingGroupProvider": {"autoScalingGroupArn": ASG, "managedScaling": {"targetCapacity": 0}}}),
            "InvalidParameterException",
            "autoScalingGroupProvider.managedScaling.targetCapacity is 0; it must be between 1 and 100.",
        ),
        (
            "UpdateCapacityProvider",
            json!({"name": "ghost", "autoScalingGroupProvider": {}}),
            "ClientException",
            "The specified capacity provider does not exist. Specify a valid capacity provider and try again.",
        ),
        (
            "DescribeCapacityProviders",
            json!({"maxResults": 11}),
            "InvalidParameterException",
            "maxResults is 11; it must be between 1 and 10.",
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
}
