//! Every rejected request gets the ECS exception ECS would give, and writes nothing.

mod common;

use common::Server;
use serde_json::{json, Value};

fn taskdef(containers: Value) -> Value {
    json!({"family": "web", "networkMode": "host", "containerDefinitions": containers})
}

fn container(name: &str) -> Value {
    json!({"name": name, "image": "busybox", "memory": 64})
}

async fn rejected(s: &Server, op: &str, body: Value, kind: &str) {
    let before = s.revision().await;
    let r = s.call(op, body.clone()).await;
    assert_eq!(r.kind(), kind, "{op} {body}: {}", r.body);
    assert_eq!(r.status, 400, "{op} {body}");
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(s.revision().await, before, "{op} {body} changed the store");
}

#[tokio::test]
async fn bad_requests_get_the_ecs_exception_and_change_nothing() {
    let s = Server::start().await;
    s.ok("CreateCluster", json!({"clusterName": "c1"})).await;
    s.register_taskdef("web", 128, 64).await;

    rejected(
        &s,
        "DescribeTasks",
        json!({"cluster": "nope", "tasks": ["x"]}),
        "ClusterNotFoundException",
    )
    .await;
    rejected(
        &s,
        "RunTask",
        json!({"cluster": "nope", "taskDefinition": "web"}),
        "ClusterNotFoundException",
    )
    .await;
    rejected(
        &s,
        "RegisterTaskDefinition",
        json!({"family": "x"}),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "RegisterTaskDefinition",
        taskdef(json!([{"name": "a", "image": "busybox", "cpu": "lots"}])),
        "ClientException",
    )
    .await;
    rejected(
        &s,
        "RegisterTaskDefinition",
        json!({"family": "x", "networkMode": "warp", "containerDefinitions": [container("a")]}),
        "InvalidParameterException",
    )
    .await;
    let mut cpu = taskdef(json!([container("a")]));
    cpu["cpu"] = json!("64");
    rejected(&s, "RegisterTaskDefinition", cpu, "ClientException").await;
    rejected(
        &s,
        "RegisterTaskDefinition",
        taskdef(json!([{"name": "a", "image": "busybox", "memory": 4}])),
        "ClientException",
    )
    .await;
    rejected(
        &s,
        "RegisterTaskDefinition",
        taskdef(json!([{"name": "a", "image": "busybox", "memory": 64, "cpu": 99999}])),
        "ClientException",
    )
    .await;
    rejected(
        &s,
        "RegisterTaskDefinition",
        taskdef(json!([container("a"), container("a")])),
        "ClientException",
    )
    .await;
    rejected(
        &s,
        "RegisterTaskDefinition",
        taskdef(json!([{"name": "a", "image": "busybox", "memory": 64, "essential": false}])),
        "ClientException",
    )
    .await;
    rejected(
        &s,
        "RegisterTaskDefinition",
        taskdef(json!([{"name": "a", "image": "BusyBox:latest", "memory": 64}])),
        "ClientException",
    )
    .await;
    rejected(
        &s,
        "RegisterTaskDefinition",
        taskdef(json!([])),
        "ClientException",
    )
    .await;
    rejected(
        &s,
        "RegisterTaskDefinition",
        // bridge (the default) with a dynamic port in host mode's clothing: hostPort 0 is
        // only for bridge, so in host mode it is refused.
        json!({"family": "web", "networkMode": "host", "containerDefinitions": [
            {"name": "a", "image": "busybox", "memory": 64,
             "portMappings": [{"containerPort": 80, "hostPort": 0}]}]}),
        "ClientException",
    )
    .await;
    rejected(&s, "RegisterTaskDefinition", json!({"family": "bad name!", "networkMode": "host", "containerDefinitions": [container("a")]}), "ClientException").await;
    rejected(
        &s,
        "RunTask",
        json!({"cluster": "c1", "taskDefinition": "web", "count": 11}),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "RunTask",
        json!({"cluster": "c1", "taskDefinition": "web", "launchType": "FARGATE"}),
        "InvalidParameterException",
    )
    .await;
    // No instance in the cluster: ECS answers with an error, not a failure.
    rejected(
        &s,
        "RunTask",
        json!({"cluster": "c1", "taskDefinition": "web"}),
        "InvalidParameterException",
    )
    .await;
    rejected(&s, "TagResource", json!({"resourceArn": "arn:aws:ecs:us-east-1:123456789012:task/c1/nope", "tags": [{"key": "a", "value": "b"}]}), "ResourceNotFoundException").await;
    rejected(
        &s,
        "CreateTaskSet",
        json!({"cluster": "c1", "service": "s", "taskDefinition": "web"}),
        "ClientException",
    )
    .await;
    // Services.
    let svc = |extra: Value| {
        let mut b = json!({"cluster": "c1", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    rejected(
        &s,
        "CreateService",
        json!({"cluster": "nope", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1}),
        "ClusterNotFoundException",
    )
    .await;
    rejected(
        &s,
        "CreateService",
        json!({"cluster": "c1", "serviceName": "s", "taskDefinition": "web"}),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "CreateService",
        svc(json!({"serviceName": "bad name"})),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "CreateService",
        svc(json!({"taskDefinition": "ghost"})),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "CreateService",
        svc(json!({"deploymentConfiguration": {"minimumHealthyPercent": 150}})),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "CreateService",
        svc(json!({"deploymentConfiguration": {"maximumPercent": 50}})),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "CreateService",
        svc(
            json!({"placementConstraints": [{"type": "memberOf", "expression": "attribute:a =="}]}),
        ),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "CreateService",
        svc(json!({"placementStrategy": [{"type": "binpack", "field": "disk"}]})),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "CreateService",
        svc(json!({"schedulingStrategy": "DAEMON"})),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "CreateService",
        svc(json!({"launchType": "FARGATE"})),
        "InvalidParameterException",
    )
    .await;
    rejected(
        &s,
        "UpdateService",
        json!({"cluster": "c1", "service": "ghost", "desiredCount": 2}),
        "ServiceNotFoundException",
    )
    .await;
    rejected(
        &s,
        "DeleteService",
        json!({"cluster": "c1", "service": "ghost"}),
        "ServiceNotFoundException",
    )
    .await;
    rejected(
        &s,
        "DescribeServices",
        json!({"cluster": "c1", "services": []}),
        "InvalidParameterException",
    )
    .await;
    // Once a service exists its controller writes in the background, so from here on only
    // the answer is checked.
    s.ok("CreateService", svc(json!({}))).await;
    for (op, body) in [
        ("CreateService", svc(json!({}))),
        ("DeleteService", json!({"cluster": "c1", "service": "s"})),
        (
            "UpdateService",
            json!({"cluster": "c1", "service": "s", "desiredCount": -1}),
        ),
    ] {
        assert_eq!(
            s.call(op, body).await.kind(),
            "InvalidParameterException",
            "{op}"
        );
    }

    // Framing errors.
    let before = s.revision().await;
    let r = s
        .raw(
            "AmazonEC2ContainerServiceV20141113.CreateCluster",
            "{\"clusterName\": ",
        )
        .await;
    assert_eq!((r.status, r.kind()), (400, "ClientException"), "{}", r.body);
    let r = s
        .raw("AmazonEC2ContainerServiceV20141113.LaunchRockets", "{}")
        .await;
    assert_eq!((r.status, r.kind()), (400, "UnknownOperationException"));
    let r = s.raw("SomethingElse.CreateCluster", "{}").await;
    assert_eq!(r.kind(), "UnknownOperationException");
    let big = format!("{{\"clusterName\": \"{}\"}}", "a".repeat(100 * 1024));
    let r = s
        .raw("AmazonEC2ContainerServiceV20141113.CreateCluster", big)
        .await;
    assert_eq!(
        (r.status, r.kind()),
        (413, "RequestEntityTooLargeException")
    );
    assert_eq!(s.revision().await, before);
}

#[tokio::test]
async fn every_listed_operation_is_dispatched() {
    let s = Server::start().await;
    for op in gantry_server::IMPLEMENTED {
        let r = s.call(op, json!({})).await;
        let msg = r.body["message"].as_str().unwrap_or_default();
        assert!(!msg.contains("does not implement"), "{op}: {msg}");
    }
}
