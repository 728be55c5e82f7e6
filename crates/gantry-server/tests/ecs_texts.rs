//! ECS's own words: for each operation, the exception, HTTP status and exact message text
//! ECS answers (as recorded by AWS's examples, the SDKs' and tools' issue trackers and
//! moto's ECS model; docs/api-coverage.md lists them), and the shapes ECS fills in. A
//! refused request changes nothing.

mod common;

use common::Server;
use serde_json::{json, Value};

fn c(name: &str) -> Value {
    json!({"name": name, "image": "busybox", "memory": 64})
}

fn td(containers: Value) -> Value {
    json!({"family": "web", "containerDefinitions": containers})
}

/// Each (operation, body) is refused with exactly (exception, message), and the store is
/// left as it was.
async fn table(s: &Server, cases: Vec<(&str, Value, &str, &str)>) {
    // The first signed call records the caller's key use; warm it up.
    s.ok("ListClusters", json!({})).await;
    for (op, body, kind, message) in cases {
        let before = s.revision().await;
        let r = s.call(op, body.clone()).await;
        assert_eq!(r.status, 400, "{op} {body}: {}", r.body);
        assert_eq!(r.kind(), kind, "{op} {body}: {}", r.body);
        assert_eq!(r.body["message"], message, "{op} {body}");
        assert_eq!(s.revision().await, before, "{op} {body} changed the store");
    }
}

#[tokio::test]
async fn register_task_definition_answers_in_ecs_words() {
    let s = Server::start().await;
    let cl = "ClientException";
    table(
        &s,
        vec![
            ("RegisterTaskDefinition", json!({"family": "", "containerDefinitions": [c("a")]}), cl, "Family can not be blank."),
            ("RegisterTaskDefinition", json!({"family": "my app", "containerDefinitions": [c("a")]}), cl, "Family contains invalid characters."),
            ("RegisterTaskDefinition", td(json!([])), cl, "Container list cannot be empty."),
            ("RegisterTaskDefinition", td(json!([{"image": "busybox", "memory": 64}])), cl, "Container.name should not be null or empty."),
            ("RegisterTaskDefinition", td(json!([{"name": "a b", "image": "busybox", "memory": 64}])), cl, "Container.name contains invalid characters."),
            ("RegisterTaskDefinition", td(json!([{"name": "a", "memory": 64}])), cl, "Container.image should not be null or empty."),
            ("RegisterTaskDefinition", td(json!([{"name": "a", "image": "", "memory": 64}])), cl, "Container.image should not be null or empty."),
            ("RegisterTaskDefinition", td(json!([c("a"), c("a")])), cl, "Container names must be unique within a Task Definition."),
            ("RegisterTaskDefinition", td(json!([{"name": "a", "image": "busybox"}])), cl, "Invalid setting for container 'a'. At least one of 'memory' or 'memoryReservation' must be specified."),
            (
                "RegisterTaskDefinition",
                json!({"family": "web", "memory": "128", "containerDefinitions": [{"name": "a", "image": "busybox", "memory": 256}]}),
                cl,
                "The 'memory' setting for container 'a' is greater than for the task.",
            ),
            (
                "RegisterTaskDefinition",
                json!({"family": "web", "memory": "128", "containerDefinitions": [
                    {"name": "a", "image": "busybox", "memoryReservation": 100},
                    {"name": "b", "image": "busybox", "memoryReservation": 100}]}),
                cl,
                "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.",
            ),
            (
                "RegisterTaskDefinition",
                json!({"family": "web", "cpu": "256", "containerDefinitions": [
                    {"name": "a", "image": "busybox", "memory": 64, "cpu": 200},
                    {"name": "b", "image": "busybox", "memory": 64, "cpu": 200}]}),
                cl,
                "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
            ),
            (
                "RegisterTaskDefinition",
                json!({"family": "web", "networkMode": "awsvpc", "containerDefinitions": [
                    {"name": "a", "image": "busybox", "memory": 64, "portMappings": [{"containerPort": 80, "hostPort": 8080}]}]}),
                cl,
                "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
            ),
            (
                "RegisterTaskDefinition",
                td(json!([
                    {"name": "init", "image": "busybox", "memory": 64},
                    {"name": "main", "image": "busybox", "memory": 64, "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]}])),
                cl,
                "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
            ),
            // Members Gantry refuses by name (docs/api-coverage.md, Members).
            (
                "RegisterTaskDefinition",
                td(json!([{"name": "a", "image": "busybox", "memory": 64, "secrets": [], "environmentFiles": [{"value": "arn:aws:s3:::b/e.env", "type": "s3"}]}])),
                cl,
                "containerDefinitions[0].environmentFiles is not supported: Gantry has no S3 to read the files from.",
            ),
            (
                "RegisterTaskDefinition",
                json!({"family": "web", "containerDefinitions": [c("a")], "volumes": [{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]}),
                cl,
                "volumes[0].efsVolumeConfiguration is not supported: Gantry has no Amazon EFS.",
            ),
            (
                "RegisterTaskDefinition",
                json!({"family": "web", "containerDefinitions": [c("a")], "volumes": [{"name": "v", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true}}]}),
                cl,
                "volumes[0].dockerVolumeConfiguration.scope shared is not supported: a shared volume outlives its task, which Gantry's volumes do not yet; use task.",
            ),
            (
                "RegisterTaskDefinition",
                td(json!([{"name": "a", "image": "busybox", "memory": 64, "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}}, "firelensConfiguration": {"type": "fluentbit"}}])),
                cl,
                "containerDefinitions[0].firelensConfiguration is not supported: Gantry has no FireLens log router.",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_registered_definition_shows_what_ecs_fills_in() {
    let s = Server::start().await;
    let out = s
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [
                {"name": "a", "image": "busybox", "memory": 64, "portMappings": [{"containerPort": 80}],
                 "volumesFrom": [], "dockerLabels": {"team": "x"}}],
                "volumes": [{"name": "scratch", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}}]}),
        )
        .await;
    let cd = &out["taskDefinition"]["containerDefinitions"][0];
    // As botocore's RegisterTaskDefinition example shows them.
    assert_eq!(cd["essential"], true);
    assert_eq!(cd["cpu"], 0);
    assert_eq!(cd["environment"], json!([]));
    assert_eq!(cd["mountPoints"], json!([]));
    assert_eq!(cd["volumesFrom"], json!([]));
    assert_eq!(
        cd["portMappings"],
        json!([{"containerPort": 80, "protocol": "tcp"}])
    );
    assert_eq!(cd["dockerLabels"], json!({"team": "x"}));
    // What DescribeTaskDefinition shows registers again unchanged (the empty lists ECS
    // fills in are not "given").
    let mut again = out["taskDefinition"].clone();
    let again = again.as_object_mut().unwrap();
    for k in [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ] {
        again.remove(k);
    }
    let r = s
        .call("RegisterTaskDefinition", Value::Object(again.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["taskDefinition"]["revision"], 2);
}

#[tokio::test]
async fn task_definition_lookups_answer_in_ecs_words() {
    let s = Server::start().await;
    s.register_taskdef("web", 128, 64).await;
    table(
        &s,
        vec![
            (
                "DescribeTaskDefinition",
                json!({"taskDefinition": "nope"}),
                "ClientException",
                "Unable to describe task definition.",
            ),
            (
                "DescribeTaskDefinition",
                json!({"taskDefinition": "web:9"}),
                "ClientException",
                "Unable to describe task definition.",
            ),
            (
                "DeregisterTaskDefinition",
                json!({"taskDefinition": "web"}),
                "ClientException",
                "Revision is missing.",
            ),
            (
                "DeregisterTaskDefinition",
                json!({"taskDefinition": "web:x"}),
                "InvalidParameterException",
                "Invalid revision number. Number: x",
            ),
            (
                "DeregisterTaskDefinition",
                json!({"taskDefinition": "web:9"}),
                "ClientException",
                "Unable to describe task definition.",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn clusters_and_services_answer_in_ecs_words() {
    let s = Server::start().await;
    s.ok("CreateCluster", json!({"clusterName": "c1"})).await;
    s.register_taskdef("web", 128, 64).await;
    let cnf = "ClusterNotFoundException";
    let ip = "InvalidParameterException";
    table(
        &s,
        vec![
            ("ListServices", json!({"cluster": "nope"}), cnf, "Cluster not found."),
            ("ListTasks", json!({"cluster": "nope"}), cnf, "Cluster not found."),
            ("RunTask", json!({"cluster": "nope", "taskDefinition": "web"}), cnf, "Cluster not found."),
            ("CreateService", json!({"cluster": "nope", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1}), cnf, "Cluster not found."),
            ("UpdateService", json!({"cluster": "c1", "service": "nope", "desiredCount": 1}), "ServiceNotFoundException", "Service not found."),
            ("DeleteService", json!({"cluster": "c1", "service": "nope"}), "ServiceNotFoundException", "Service not found."),
            // Members Gantry refuses by name.
            (
                "CreateService",
                json!({"cluster": "c1", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1,
                       "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/t/1", "containerName": "app", "containerPort": 80}]}),
                ip,
                "loadBalancers is not supported: Gantry has no Elastic Load Balancing.",
            ),
            (
                "CreateService",
                json!({"cluster": "c1", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1, "enableExecuteCommand": true}),
                ip,
                "enableExecuteCommand true is not supported: Gantry has no ECS Exec; use false.",
            ),
            (
                "UpdateService",
                json!({"cluster": "c1", "service": "s", "deploymentController": {"type": "CODE_DEPLOY"}}),
                ip,
                "deploymentController.type CODE_DEPLOY is not supported: Gantry runs ECS rolling deployments only; use ECS.",
            ),
            (
                "RunTask",
                json!({"cluster": "c1", "taskDefinition": "web", "overrides": {"taskRoleArn": "arn:aws:iam::1:role/r"}}),
                ip,
                "overrides.taskRoleArn is not supported: Gantry has no task credentials endpoint, so the containers would not get the role's credentials.",
            ),
            (
                "StartTask",
                json!({"cluster": "c1", "taskDefinition": "web", "containerInstances": ["x"], "volumeConfigurations": [{"name": "v"}]}),
                ip,
                "volumeConfigurations is not supported: Gantry has no Amazon EBS volumes.",
            ),
        ],
    )
    .await;
    // A service being deleted is not ACTIVE.
    s.ok(
        "CreateService",
        json!({"cluster": "c1", "serviceName": "s", "taskDefinition": "web", "desiredCount": 0}),
    )
    .await;
    s.ok("DeleteService", json!({"cluster": "c1", "service": "s"}))
        .await;
    // (The service controller is draining it meanwhile, so the store is not still.)
    let r = s
        .call(
            "UpdateService",
            json!({"cluster": "c1", "service": "s", "desiredCount": 1}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.kind(), "ServiceNotActiveException", "{}", r.body);
    assert_eq!(r.body["message"], "Service was not ACTIVE.");
}
