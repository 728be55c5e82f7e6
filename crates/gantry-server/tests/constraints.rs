//! Placement constraints (RunTask, CreateService, task definitions) and the
//! ListContainerInstances filter, over the real router with fake agents.

mod common;

use common::{Agent, Server};
use gantry_api::protocol::{RegisterRequest, RegisterResponse};
use serde_json::{json, Value};

async fn node(s: &Server, host: &str, attrs: &[(&str, &str)]) -> (RegisterResponse, Agent) {
    let reg = s
        .register_agent_with(&RegisterRequest {
            cluster: "default".into(),
            instance_id: None,
            hostname: host.into(),
            cpu: 4096,
            memory: 4096,
            reserved_ports: vec![],
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            agent_version: "0.1.0".into(),
            node_address: None,
        })
        .await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    (reg, agent)
}

fn instances_of(run: &Value) -> Vec<String> {
    run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["containerInstanceArn"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn member_of_a_custom_attribute_places_only_on_members() {
    let s = Server::start().await;
    let (a, _ga) = node(&s, "a", &[]).await;
    let (b, _gb) = node(&s, "b", &[]).await;
    s.ok(
        "PutAttributes",
        json!({"attributes": [{"name": "stack", "value": "prod",
            "targetType": "container-instance", "targetId": b.container_instance_arn}]}),
    )
    .await;
    s.register_taskdef("web", 64, 64).await;
    let run = s
        .ok(
            "RunTask",
            json!({"taskDefinition": "web", "count": 4,
                "placementConstraints": [{"type": "memberOf", "expression": "attribute:stack == prod"}]}),
        )
        .await;
    assert_eq!(run["failures"], json!([]));
    assert_eq!(
        instances_of(&run),
        vec![b.container_instance_arn.clone(); 4]
    );

    let run = s
        .ok(
            "RunTask",
            json!({"taskDefinition": "web",
                "placementConstraints": [{"type": "memberOf", "expression": "attribute:stack == dev"}]}),
        )
        .await;
    assert_eq!(run["tasks"], json!([]));
    assert_eq!(
        run["failures"][0]["reason"],
        "MemberOf placement constraint unsatisfied."
    );
    assert!(run["failures"][0]["detail"].is_string());
    let _ = a;
}

#[tokio::test]
async fn a_task_definitions_member_of_applies_too() {
    let s = Server::start().await;
    let (_a, _ga) = node(&s, "a", &[("zone", "z1")]).await;
    let (b, _gb) = node(&s, "b", &[("zone", "z2")]).await;
    s.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "pinned",
            "networkMode": "host",
            "placementConstraints": [{"type": "memberOf", "expression": "attribute:zone == z2"}],
            "containerDefinitions": [{"name": "app", "image": "busybox:1.36", "cpu": 64, "memory": 64}]
        }),
    )
    .await;
    let run = s
        .ok("RunTask", json!({"taskDefinition": "pinned", "count": 3}))
        .await;
    assert_eq!(
        instances_of(&run),
        vec![b.container_instance_arn.clone(); 3]
    );
}

#[tokio::test]
async fn distinct_instance_with_three_tasks_on_two_instances_fails_one() {
    let s = Server::start().await;
    let (a, _ga) = node(&s, "a", &[]).await;
    let (b, _gb) = node(&s, "b", &[]).await;
    s.register_taskdef("web", 64, 64).await;
    let run = s
        .ok(
            "RunTask",
            json!({"taskDefinition": "web", "count": 3,
                "placementConstraints": [{"type": "distinctInstance"}]}),
        )
        .await;
    let mut placed = instances_of(&run);
    placed.sort();
    let mut both = vec![a.container_instance_arn, b.container_instance_arn];
    both.sort();
    assert_eq!(placed, both);
    let failures = run["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        failures[0]["reason"],
        "DistinctInstance placement constraint unsatisfied."
    );
}

#[tokio::test]
async fn bad_constraints_are_invalid_parameters() {
    let s = Server::start().await;
    let (_a, _ga) = node(&s, "a", &[]).await;
    s.register_taskdef("web", 64, 64).await;
    let r = s
        .call(
            "RunTask",
            json!({"taskDefinition": "web",
                "placementConstraints": [{"type": "memberOf", "expression": "attribute:stack =="}]}),
        )
        .await;
    assert_eq!(r.kind(), "InvalidParameterException");
    let msg = r.body["message"].as_str().unwrap();
    assert!(msg.contains("position 18"), "{msg}");

    let many: Vec<Value> = (0..11)
        .map(|_| json!({"type": "distinctInstance"}))
        .collect();
    let r = s
        .call(
            "RunTask",
            json!({"taskDefinition": "web", "placementConstraints": many}),
        )
        .await;
    assert_eq!(r.kind(), "InvalidParameterException");
    assert!(r.body["message"].as_str().unwrap().contains("at most 10"));

    let r = s
        .call(
            "RegisterTaskDefinition",
            json!({"family": "bad", "networkMode": "host",
                "placementConstraints": [{"type": "memberOf", "expression": "attribute:x =="}],
                "containerDefinitions": [{"name": "app", "image": "busybox:1.36", "memory": 64}]}),
        )
        .await;
    assert_eq!(r.kind(), "InvalidParameterException");
    assert!(r.body["message"].as_str().unwrap().contains("position"));

    let r = s
        .call(
            "CreateService",
            json!({"serviceName": "svc", "taskDefinition": "web", "desiredCount": 1,
                "placementConstraints": [{"type": "memberOf", "expression": "(("}]}),
        )
        .await;
    assert_eq!(r.kind(), "InvalidParameterException");
    assert!(r.body["message"].as_str().unwrap().contains("position"));
}

#[tokio::test]
async fn a_service_places_under_its_constraints() {
    let s = Server::start().await;
    let (_a, _ga) = node(&s, "a", &[]).await;
    let (b, _gb) = node(&s, "b", &[("role", "edge")]).await;
    s.register_taskdef("web", 64, 64).await;
    let svc = s
        .ok(
            "CreateService",
            json!({"serviceName": "svc", "taskDefinition": "web", "desiredCount": 2,
                "placementConstraints": [{"type": "memberOf", "expression": "attribute:role == edge"}]}),
        )
        .await;
    assert_eq!(
        svc["service"]["placementConstraints"][0]["type"],
        "memberOf"
    );
    common::eventually("two service tasks", || async {
        let l = s.ok("ListTasks", json!({"serviceName": "svc"})).await;
        l["taskArns"].as_array().unwrap().len() == 2
    })
    .await;
    let l = s.ok("ListTasks", json!({"serviceName": "svc"})).await;
    let d = s.ok("DescribeTasks", json!({"tasks": l["taskArns"]})).await;
    for t in d["tasks"].as_array().unwrap() {
        assert_eq!(t["containerInstanceArn"], b.container_instance_arn.as_str());
    }
}

#[tokio::test]
async fn list_container_instances_filters_with_the_query_language() {
    let s = Server::start().await;
    let (_a, _ga) = node(&s, "a", &[("zone", "z1")]).await;
    let (b, _gb) = node(&s, "b", &[("zone", "z2")]).await;
    let l = s
        .ok(
            "ListContainerInstances",
            json!({"filter": "attribute:zone == z2"}),
        )
        .await;
    assert_eq!(
        l["containerInstanceArns"],
        json!([b.container_instance_arn])
    );
    let l = s
        .ok(
            "ListContainerInstances",
            json!({"filter": "attribute:zone in [z1, z2]"}),
        )
        .await;
    assert_eq!(l["containerInstanceArns"].as_array().unwrap().len(), 2);
    let r = s
        .call(
            "ListContainerInstances",
            json!({"filter": "attribute:zone =="}),
        )
        .await;
    assert_eq!(r.kind(), "InvalidParameterException");
    assert!(r.body["message"].as_str().unwrap().contains("position"));
}
