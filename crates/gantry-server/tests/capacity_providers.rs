//! Capacity providers over HTTP: create with ECS's defaults filled in, describe (by name,
//! all, paged, with tags), update, delete (refused while a cluster uses it), ECS's reserved
//! names, and a cluster's providers and default strategy; RunTask and services placed by
//! capacity provider strategies (base, then weight, each provider's share on its own
//! instances) and ECS's refusals of bad strategies.

mod common;

use std::collections::BTreeMap;

use common::Server;
use gantry_link::sim::{Behaviour, Fleet};
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

/// Joins `n` simulated hosts and puts the first `a` in provider `spot`'s group and the rest
/// in `ondemand`'s (the attribute docs/capacity-providers.md names); returns each
/// instance's ARN with its provider.
async fn two_groups(s: &Server, n: usize, a: usize) -> (Fleet, BTreeMap<String, String>) {
    let f = Fleet::start_on(&s.link(), "default", n, 4096, 4096, Behaviour::Healthy)
        .await
        .unwrap();
    common::eventually("the hosts to register", || async {
        s.ok("ListContainerInstances", json!({})).await["containerInstanceArns"]
            .as_array()
            .is_some_and(|a| a.len() == n)
    })
    .await;
    let arns = s.ok("ListContainerInstances", json!({})).await["containerInstanceArns"].clone();
    let mut group = BTreeMap::new();
    for (i, arn) in arns.as_array().unwrap().iter().enumerate() {
        let arn = arn.as_str().unwrap().to_string();
        let provider = if i < a { "spot" } else { "ondemand" };
        s.ok(
            "PutAttributes",
            json!({"attributes": [{"name": "gantry.capacity-provider", "value": provider,
                "targetType": "container-instance", "targetId": arn}]}),
        )
        .await;
        group.insert(arn, provider.to_string());
    }
    for name in ["spot", "ondemand"] {
        s.ok("CreateCapacityProvider", create(name)).await;
    }
    (f, group)
}

/// Each task's provider, checked against the group of the instance it landed on.
fn providers_of(tasks: &Value, group: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in tasks.as_array().unwrap() {
        let p = t["capacityProviderName"].as_str().unwrap().to_string();
        let instance = t["containerInstanceArn"].as_str().unwrap();
        assert_eq!(
            group[instance], p,
            "task on the other provider's instance: {t}"
        );
        assert_eq!(t["launchType"], "EC2");
        *out.entry(p).or_default() += 1;
    }
    out
}

fn split(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn run_task_splits_by_base_then_weight_on_each_providers_instances() {
    let s = Server::start_open().await;
    let (_f, group) = two_groups(&s, 4, 2).await;
    s.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["spot", "ondemand"],
            "defaultCapacityProviderStrategy": [
                {"capacityProvider": "ondemand", "base": 1, "weight": 1},
                {"capacityProvider": "spot", "weight": 3}]}),
    )
    .await;
    s.register_taskdef("web", 64, 64).await;
    // No launch type, no strategy: the cluster's default. 1 on the base, then 1:3.
    let r = s
        .ok("RunTask", json!({"taskDefinition": "web", "count": 5}))
        .await;
    assert_eq!(r["failures"], json!([]));
    assert_eq!(
        providers_of(&r["tasks"], &group),
        split(&[("ondemand", 2), ("spot", 3)])
    );
    // DescribeTasks says the same.
    let arns: Vec<Value> = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].clone())
        .collect();
    let d = s.ok("DescribeTasks", json!({"tasks": arns})).await;
    assert_eq!(
        providers_of(&d["tasks"], &group),
        split(&[("ondemand", 2), ("spot", 3)])
    );
    // The call's own strategy wins over the default.
    let r = s
        .ok(
            "RunTask",
            json!({"taskDefinition": "web", "count": 4,
                "capacityProviderStrategy": [{"capacityProvider": "spot", "weight": 1}]}),
        )
        .await;
    assert_eq!(providers_of(&r["tasks"], &group), split(&[("spot", 4)]));
    // A launch type places as before, with no provider.
    let r = s
        .ok(
            "RunTask",
            json!({"taskDefinition": "web", "count": 1, "launchType": "EC2"}),
        )
        .await;
    assert!(r["tasks"][0].get("capacityProviderName").is_none(), "{r}");
}

#[tokio::test]
async fn a_providers_share_never_spills_onto_other_instances() {
    let s = Server::start_open().await;
    // Every instance is in `spot`'s group: `ondemand` has none.
    let (_f, group) = two_groups(&s, 2, 2).await;
    s.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["spot", "ondemand"],
            "defaultCapacityProviderStrategy": []}),
    )
    .await;
    s.register_taskdef("web", 64, 64).await;
    let r = s
        .ok(
            "RunTask",
            json!({"taskDefinition": "web", "count": 4, "capacityProviderStrategy": [
                {"capacityProvider": "spot", "weight": 1},
                {"capacityProvider": "ondemand", "weight": 1}]}),
        )
        .await;
    assert_eq!(providers_of(&r["tasks"], &group), split(&[("spot", 2)]));
    let detail = r["failures"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("capacity provider ondemand: "), "{r}");
    assert_eq!(r["failures"].as_array().map(Vec::len), Some(1), "{r}");
}

#[tokio::test]
async fn strategies_are_refused_as_ecs_refuses_them() {
    let s = Server::start_open().await;
    let (_f, _group) = two_groups(&s, 1, 1).await;
    s.ok("CreateCapacityProvider", create("other")).await;
    s.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["spot", "ondemand"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "spot"}, {"capacityProvider": "ondemand"}]}),
    )
    .await;
    s.register_taskdef("web", 64, 64).await;
    let item = |p: &str, w: i64, b: i64| json!({"capacityProvider": p, "weight": w, "base": b});
    let not_associated = "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.";
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "RunTask",
            json!({"taskDefinition": "web", "launchType": "EC2", "capacityProviderStrategy": [item("spot", 1, 0)]}),
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        ),
        (
            "RunTask",
            json!({"taskDefinition": "web", "capacityProviderStrategy": [item("other", 1, 0)]}),
            not_associated,
        ),
        (
            "RunTask",
            json!({"taskDefinition": "web", "capacityProviderStrategy": [item("spot", 1, 1), item("ondemand", 1, 2)]}),
            "Only one capacity provider in a capacity provider strategy can have a base defined.",
        ),
        (
            "RunTask",
            json!({"taskDefinition": "web", "capacityProviderStrategy": [item("spot", 1001, 0)]}),
            "capacityProviderStrategy[0].weight is 1001; it must be between 0 and 1000.",
        ),
        (
            "RunTask",
            json!({"taskDefinition": "web", "capacityProviderStrategy": [item("FARGATE", 1, 0)]}),
            "The capacity provider FARGATE is not available: Gantry has no Fargate capacity yet.",
        ),
        (
            "RunTask",
            json!({"taskDefinition": "web", "capacityProviderStrategy": [item("spot", 0, 0), item("ondemand", 0, 0)]}),
            "There are no capacity providers with a weight value greater than zero defined in the capacity provider strategy. At least one capacity provider must have a weight value greater than zero specified. Specify a valid capacity provider strategy and try again.",
        ),
        // The default strategy's weights are all 0.
        (
            "RunTask",
            json!({"taskDefinition": "web"}),
            "There are no capacity providers with a weight value greater than zero defined in the default capacity provider strategy. At least one capacity provider must have a weight value greater than zero specified. Update the cluster's default capacity provider strategy or specify a valid capacity provider strategy and try again.",
        ),
        (
            "CreateService",
            json!({"serviceName": "d", "taskDefinition": "web", "schedulingStrategy": "DAEMON",
                "capacityProviderStrategy": [item("spot", 1, 0)]}),
            "Specifying a capacity provider strategy is not supported when you create a service using the DAEMON scheduling strategy.",
        ),
        (
            "CreateService",
            json!({"serviceName": "x", "taskDefinition": "web", "desiredCount": 1, "launchType": "EC2",
                "capacityProviderStrategy": [item("spot", 1, 0)]}),
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        ),
    ];
    for (op, body, message) in &cases {
        let before = s.ok("ListTasks", json!({})).await;
        let r = s.call(op, body.clone()).await;
        assert_eq!(
            (r.status, r.kind()),
            (400, "InvalidParameterException"),
            "{op} {body}: {}",
            r.body
        );
        assert_eq!(r.body["message"], *message, "{op} {body}");
        assert_eq!(
            s.ok("ListTasks", json!({})).await,
            before,
            "{op} changed nothing"
        );
    }
    assert_eq!(
        s.ok("ListServices", json!({})).await["serviceArns"],
        json!([])
    );
}

#[tokio::test]
async fn services_place_by_their_strategy_and_a_change_needs_a_new_deployment() {
    let s = Server::start_open().await;
    let (_f, group) = two_groups(&s, 4, 2).await;
    s.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["spot", "ondemand"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "ondemand", "base": 2, "weight": 1}]}),
    )
    .await;
    s.register_taskdef("web", 64, 64).await;
    // No launch type: the service takes the cluster's default strategy and shows it.
    let c = s
        .ok(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 3}),
        )
        .await;
    let strategy = json!([{"capacityProvider": "ondemand", "weight": 1, "base": 2}]);
    assert_eq!(c["service"]["capacityProviderStrategy"], strategy);
    assert!(c["service"].get("launchType").is_none(), "{c}");
    assert_eq!(
        c["service"]["deployments"][0]["capacityProviderStrategy"],
        strategy
    );
    let running = |want: BTreeMap<String, usize>| {
        let s = &s;
        let group = &group;
        async move {
            common::eventually_within("the split", std::time::Duration::from_secs(20), || {
                let want = want.clone();
                async move {
                    let arns =
                        s.ok("ListTasks", json!({"serviceName": "web"})).await["taskArns"].clone();
                    if arns.as_array().unwrap().is_empty() {
                        return false;
                    }
                    let d = s.ok("DescribeTasks", json!({"tasks": arns})).await;
                    providers_of(&d["tasks"], group) == want
                }
            })
            .await;
        }
    };
    running(split(&[("ondemand", 3)])).await;

    let new = json!([{"capacityProvider": "ondemand", "base": 1, "weight": 1},
        {"capacityProvider": "spot", "weight": 1}]);
    let r = s
        .call(
            "UpdateService",
            json!({"service": "web", "capacityProviderStrategy": new}),
        )
        .await;
    assert_eq!(r.kind(), "InvalidParameterException");
    assert_eq!(r.body["message"], "When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment.");
    let u = s
        .ok(
            "UpdateService",
            json!({"service": "web", "capacityProviderStrategy": new, "forceNewDeployment": true}),
        )
        .await;
    let deployments = u["service"]["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 2, "{u}");
    assert_eq!(
        deployments[0]["capacityProviderStrategy"],
        json!([{"capacityProvider": "ondemand", "weight": 1, "base": 1},
            {"capacityProvider": "spot", "weight": 1, "base": 0}])
    );
    // The new deployment: 1 on the base, then 1:1 of the other 2.
    running(split(&[("ondemand", 2), ("spot", 1)])).await;
    // The same strategy again is no change and needs no new deployment.
    s.ok(
        "UpdateService",
        json!({"service": "web", "capacityProviderStrategy": new}),
    )
    .await;
}

#[tokio::test]
async fn the_managed_scaling_target_counts_what_services_could_not_place() {
    let s = Server::start_open().await;
    // One host in each group; both providers have managed scaling at 80 %.
    let (_f, group) = two_groups(&s, 2, 1).await;
    s.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["spot", "ondemand"],
            "defaultCapacityProviderStrategy": []}),
    )
    .await;
    // Two of these fit on a 4096-unit host.
    s.register_taskdef("big", 2048, 2048).await;
    s.ok(
        "CreateService",
        json!({"serviceName": "big", "taskDefinition": "big", "desiredCount": 5,
            "capacityProviderStrategy": [{"capacityProvider": "ondemand", "weight": 1}]}),
    )
    .await;
    common::eventually_within(
        "two tasks on ondemand",
        std::time::Duration::from_secs(20),
        || async {
            let arns = s.ok("ListTasks", json!({"serviceName": "big"})).await["taskArns"].clone();
            arns.as_array().map(Vec::len) == Some(2)
        },
    )
    .await;
    let arns = s.ok("ListTasks", json!({"serviceName": "big"})).await["taskArns"].clone();
    let d = s.ok("DescribeTasks", json!({"tasks": arns})).await;
    assert_eq!(providers_of(&d["tasks"], &group), split(&[("ondemand", 2)]));
    let r = s
        .nodes_api("DescribeCapacityProviderScaling", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // ondemand: N = 1, M = 1 busy + 3 unplaced at 2 a host = 3; 300 %, and 4 hosts meet 80 %.
    // spot: idle, so 0 % and scale in to 0.
    assert_eq!(
        r.body,
        json!({"capacityProviders": [
            {"capacityProvider": "ondemand", "managedScaling": "ENABLED", "targetCapacity": 80,
             "instances": 1, "instancesNeeded": 3, "unplacedTasks": 3,
             "capacityProviderReservation": 300.0, "desiredInstances": 4},
            {"capacityProvider": "spot", "managedScaling": "ENABLED", "targetCapacity": 80,
             "instances": 1, "instancesNeeded": 0, "unplacedTasks": 0,
             "capacityProviderReservation": 0.0, "desiredInstances": 0}
        ]})
    );
    let r = s
        .nodes_api(
            "DescribeCapacityProviderScaling",
            json!({"capacityProviders": ["spot"]}),
        )
        .await;
    assert_eq!(
        r.body["capacityProviders"].as_array().map(Vec::len),
        Some(1)
    );
}
