//! UpdateCluster, UpdateClusterSettings, PutClusterCapacityProviders and the cluster's
//! shape per DescribeClusters `include`: what is stored comes back, what ECS refuses is
//! refused with ECS's message, and members appear only where ECS shows them.

mod common;

use common::Server;
use serde_json::{json, Value};

const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/c";

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

const BASE: &[&str] = &[
    "activeServicesCount",
    "clusterArn",
    "clusterName",
    "pendingTasksCount",
    "registeredContainerInstancesCount",
    "runningTasksCount",
    "status",
];

fn with(extra: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = BASE.iter().chain(extra).map(|s| s.to_string()).collect();
    k.sort();
    k
}

async fn describe(s: &Server, include: Value) -> Value {
    s.ok(
        "DescribeClusters",
        json!({"clusters": ["c"], "include": include}),
    )
    .await["clusters"][0]
        .clone()
}

#[tokio::test]
async fn describe_shows_what_include_asks_for() {
    let s = Server::start().await;
    let c = s.ok("CreateCluster", json!({"clusterName": "c"})).await;
    // CreateCluster shows statistics, settings and tags, as ECS does.
    assert_eq!(
        keys(&c["cluster"]),
        with(&["settings", "statistics", "tags"])
    );
    assert_eq!(c["cluster"]["tags"], json!([]));
    assert_eq!(keys(&describe(&s, json!([])).await), with(&[]));
    let all = describe(
        &s,
        json!([
            "ATTACHMENTS",
            "CONFIGURATIONS",
            "SETTINGS",
            "STATISTICS",
            "TAGS"
        ]),
    )
    .await;
    // No configuration was given, so none is shown.
    assert_eq!(
        keys(&all),
        with(&["attachments", "settings", "statistics", "tags"])
    );
    assert_eq!(
        all["settings"],
        json!([{"name": "containerInsights", "value": "disabled"}])
    );
}

#[tokio::test]
async fn update_cluster_stores_settings_configuration_and_namespace() {
    let s = Server::start().await;
    s.ok("CreateCluster", json!({"clusterName": "c"})).await;
    let exec = json!({"executeCommandConfiguration": {
        "kmsKeyId": "key-1", "logging": "OVERRIDE",
        "logConfiguration": {"cloudWatchLogGroupName": "exec", "cloudWatchEncryptionEnabled": true}}});
    let r = s
        .ok(
            "UpdateCluster",
            json!({"cluster": "c", "settings": [{"name": "containerInsights", "value": "enhanced"}],
                   "configuration": exec, "serviceConnectDefaults": {"namespace": "internal"}}),
        )
        .await;
    let c = &r["cluster"];
    assert_eq!(c["clusterArn"], ARN);
    assert_eq!(
        c["settings"],
        json!([{"name": "containerInsights", "value": "enhanced"}])
    );
    assert_eq!(c["configuration"], exec);
    assert_eq!(
        c["serviceConnectDefaults"],
        json!({"namespace": "internal"})
    );
    assert_eq!(c["statistics"], json!([]));
    assert_eq!(c["tags"], json!([]));

    let d = describe(&s, json!(["CONFIGURATIONS"])).await;
    assert_eq!(d["configuration"], exec);
    assert_eq!(
        d["serviceConnectDefaults"],
        json!({"namespace": "internal"})
    );
    assert!(describe(&s, json!([])).await.get("configuration").is_none());

    // An empty namespace removes the default; settings merge by name.
    let r = s
        .ok(
            "UpdateCluster",
            json!({"cluster": ARN, "serviceConnectDefaults": {"namespace": ""}}),
        )
        .await;
    assert!(r["cluster"].get("serviceConnectDefaults").is_none(), "{r}");
    assert_eq!(
        r["cluster"]["settings"],
        json!([{"name": "containerInsights", "value": "enhanced"}])
    );
    let r = s
        .ok(
            "UpdateClusterSettings",
            json!({"cluster": "c", "settings": [{"name": "containerInsights", "value": "disabled"}]}),
        )
        .await;
    assert_eq!(
        r["cluster"]["settings"],
        json!([{"name": "containerInsights", "value": "disabled"}])
    );
    assert_eq!(
        describe(&s, json!(["SETTINGS"])).await["settings"],
        json!([{"name": "containerInsights", "value": "disabled"}])
    );
}

#[tokio::test]
async fn refusals_carry_ecs_messages() {
    let s = Server::start().await;
    s.ok("CreateCluster", json!({"clusterName": "c"})).await;
    let override_without = json!({"executeCommandConfiguration": {"logging": "OVERRIDE"}});
    let none_with = json!({"executeCommandConfiguration": {"logging": "NONE",
        "logConfiguration": {"s3BucketName": "b"}}});
    let not_associated = "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.";
    let cases: &[(&str, Value, &str, &str)] = &[
        (
            "UpdateClusterSettings",
            json!({"cluster": "c", "settings": [{"name": "containerInsights", "value": "on"}]}),
            "InvalidParameterException",
            "Invalid setting 'value'",
        ),
        (
            "UpdateCluster",
            json!({"cluster": "c", "settings": [{"name": "containerInsights", "value": "enhaced"}]}),
            "InvalidParameterException",
            "Invalid setting 'value'",
        ),
        (
            "CreateCluster",
            json!({"clusterName": "d", "settings": [{"name": "containerInsights", "value": "ENABLED"}]}),
            "InvalidParameterException",
            "Invalid setting 'value'",
        ),
        (
            "UpdateCluster",
            json!({"cluster": "c", "configuration": override_without}),
            "InvalidParameterException",
            "executeCommandConfiguration.logConfiguration is required when logging is OVERRIDE.",
        ),
        (
            "UpdateCluster",
            json!({"cluster": "c", "configuration": none_with}),
            "InvalidParameterException",
            "executeCommandConfiguration.logConfiguration can only be given when logging is OVERRIDE, not NONE.",
        ),
        (
            "PutClusterCapacityProviders",
            json!({"cluster": "c", "capacityProviders": ["ghost"], "defaultCapacityProviderStrategy": []}),
            "InvalidParameterException",
            "The specified capacity provider does not exist. Specify a valid capacity provider and try again.",
        ),
        (
            "PutClusterCapacityProviders",
            json!({"cluster": "c", "capacityProviders": [],
                   "defaultCapacityProviderStrategy": [{"capacityProvider": "ghost", "weight": 1}]}),
            "InvalidParameterException",
            not_associated,
        ),
        (
            "PutClusterCapacityProviders",
            json!({"cluster": "c", "capacityProviders": ["FARGATE"], "defaultCapacityProviderStrategy": []}),
            "InvalidParameterException",
            "The capacity provider FARGATE is not available: Gantry has no Fargate capacity yet.",
        ),
        (
            "CreateCluster",
            json!({"clusterName": "d", "capacityProviders": ["FARGATE_SPOT"]}),
            "InvalidParameterException",
            "The capacity provider FARGATE_SPOT is not available: Gantry has no Fargate capacity yet.",
        ),
    ];
    for (op, body, kind, message) in cases {
        let before = s.revision().await;
        let r = s.call(op, body.clone()).await;
        assert_eq!(
            (r.status, r.kind()),
            (400, *kind),
            "{op} {body}: {}",
            r.body
        );
        assert_eq!(r.body["message"], *message, "{op} {body}");
        assert_eq!(s.revision().await, before, "{op} {body} wrote nothing");
    }
    for (op, body) in [
        ("UpdateCluster", json!({"cluster": "ghost"})),
        (
            "UpdateClusterSettings",
            json!({"cluster": "ghost", "settings": []}),
        ),
        (
            "PutClusterCapacityProviders",
            json!({"cluster": "ghost", "capacityProviders": [], "defaultCapacityProviderStrategy": []}),
        ),
    ] {
        let r = s.call(op, body).await;
        assert_eq!(r.kind(), "ClusterNotFoundException", "{op}: {}", r.body);
    }
    // No providers and no strategy: accepted, and nothing is shown.
    let r = s
        .ok(
            "PutClusterCapacityProviders",
            json!({"cluster": "c", "capacityProviders": [], "defaultCapacityProviderStrategy": []}),
        )
        .await;
    assert!(r["cluster"].get("capacityProviders").is_none(), "{r}");
}
