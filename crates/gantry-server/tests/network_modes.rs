//! Network modes in placement: a node that does not advertise `ecs.capability.task-eni` is no
//! candidate for awsvpc tasks, and RunTask and StartTask answer with ECS's `ATTRIBUTE` failure
//! instead of placing a task that cannot start; a node given a slice of the server's task
//! network advertises it; other modes still go anywhere.

mod common;

use common::Server;
use gantry_api::protocol::{RegisterRequest, RegisterResponse, TASK_ENI_ATTRIBUTE};
use serde_json::{json, Value};

async fn node(s: &Server, name: &str, awsvpc: bool) -> RegisterResponse {
    let attributes = if awsvpc {
        vec![(TASK_ENI_ATTRIBUTE.to_string(), String::new())]
    } else {
        vec![]
    };
    s.register_agent_with(&RegisterRequest {
        cluster: "default".into(),
        instance_id: None,
        hostname: name.into(),
        cpu: 2048,
        memory: 2048,
        reserved_ports: vec![],
        attributes,
        agent_version: "0.1.0".into(),
        node_address: None,
    })
    .await
}

async fn register(s: &Server, family: &str, mode: &str) {
    s.ok(
        "RegisterTaskDefinition",
        json!({
            "family": family,
            "networkMode": mode,
            "containerDefinitions": [{"name": "app", "image": "busybox:1.36", "memory": 64}]
        }),
    )
    .await;
}

fn reasons(out: &Value) -> Vec<(String, String)> {
    out["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["arn"].as_str().unwrap_or_default().to_string(),
                f["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn awsvpc_tasks_fail_with_attribute_on_nodes_without_task_eni() {
    let s = Server::start().await;
    let plain = node(&s, "plain", false).await;
    let mut agent = s.connect_agent(&plain.instance_id).await;
    agent.desired().await;
    register(&s, "vpc", "awsvpc").await;
    register(&s, "br", "bridge").await;

    let out = s.ok("RunTask", json!({"taskDefinition": "vpc"})).await;
    assert_eq!(out["tasks"], json!([]), "{out}");
    assert_eq!(
        reasons(&out),
        [(
            plain.container_instance_arn.clone(),
            "ATTRIBUTE".to_string()
        )],
        "{out}"
    );
    let out = s
        .ok(
            "StartTask",
            json!({"taskDefinition": "vpc", "containerInstances": [plain.instance_id]}),
        )
        .await;
    assert_eq!(out["tasks"], json!([]), "{out}");
    assert_eq!(
        reasons(&out),
        [(
            plain.container_instance_arn.clone(),
            "ATTRIBUTE".to_string()
        )]
    );
    // Nothing was committed on the node: a bridge task still fits, as before.
    let out = s.ok("RunTask", json!({"taskDefinition": "br"})).await;
    assert_eq!(out["failures"], json!([]), "{out}");
    assert_eq!(out["tasks"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn awsvpc_tasks_go_only_to_nodes_with_task_eni() {
    let s = Server::start().await;
    let plain = node(&s, "plain", false).await;
    let vpc = node(&s, "vpc", true).await;
    let mut a = s.connect_agent(&plain.instance_id).await;
    let mut b = s.connect_agent(&vpc.instance_id).await;
    a.desired().await;
    b.desired().await;
    register(&s, "vpc", "awsvpc").await;
    let out = s
        .ok("RunTask", json!({"taskDefinition": "vpc", "count": 4}))
        .await;
    assert_eq!(out["failures"], json!([]), "{out}");
    let tasks = out["tasks"].as_array().cloned().unwrap_or_default();
    assert_eq!(tasks.len(), 4, "{out}");
    for t in &tasks {
        assert_eq!(
            t["containerInstanceArn"],
            vpc.container_instance_arn.as_str()
        );
    }
}

#[tokio::test]
async fn a_node_given_a_slice_advertises_task_eni() {
    let s = Server::start_with_task_network("10.214.0.0/16").await;
    let n = node(&s, "n", false).await;
    assert!(n.task_slice.is_some());
    let out = s
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [n.instance_id]}),
        )
        .await;
    let eni: Vec<&Value> = out["containerInstances"][0]["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"] == TASK_ENI_ATTRIBUTE)
        .collect();
    // As on ECS: the capability carries no value.
    assert_eq!(eni, [&json!({"name": TASK_ENI_ATTRIBUTE})], "{out}");
    let mut agent = s.connect_agent(&n.instance_id).await;
    agent.desired().await;
    register(&s, "vpc", "awsvpc").await;
    let out = s.ok("RunTask", json!({"taskDefinition": "vpc"})).await;
    assert_eq!(out["failures"], json!([]), "{out}");
}
