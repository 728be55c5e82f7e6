//! A DAEMON service with a placement constraint, through the AWS CLI against real containers:
//! it runs on an instance only while the instance meets the constraint.

use std::time::Duration;

use gantry_tests::aws::ecs;
use gantry_tests::dev::Dev;
use serde_json::{json, Value};

async fn service_tasks(dev: &Dev, status: &str) -> Vec<Value> {
    let l = dev
        .ok(
            "ListTasks",
            json!({"serviceName": "edge", "desiredStatus": status}),
        )
        .await;
    let arns = l["taskArns"].as_array().cloned().unwrap_or_default();
    if arns.is_empty() {
        return Vec::new();
    }
    dev.ok("DescribeTasks", json!({ "tasks": arns })).await["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_follows_its_placement_constraint() {
    let dev = Dev::start().await;
    let ep = dev.endpoint.clone();
    dev.register_busybox("edge", &["sleep", "600"], json!({}))
        .await;
    let created = ecs(
        &ep,
        &[
            "create-service",
            "--service-name",
            "edge",
            "--task-definition",
            "edge",
            "--scheduling-strategy",
            "DAEMON",
            "--placement-constraints",
            "type=memberOf,expression=attribute:role == edge",
        ],
    )
    .unwrap();
    assert_eq!(created["service"]["schedulingStrategy"], "DAEMON");
    ecs(&ep, &["wait", "services-stable", "--services", "edge"]).unwrap();
    let d = ecs(&ep, &["describe-services", "--services", "edge"]).unwrap();
    assert_eq!(d["services"][0]["desiredCount"], 0, "{d}");
    assert!(service_tasks(&dev, "RUNNING").await.is_empty());

    // The instance starts to match: the daemon comes.
    let instance = dev.ok("ListContainerInstances", json!({})).await["containerInstanceArns"][0]
        .as_str()
        .unwrap()
        .to_string();
    let attr = format!("name=role,value=edge,targetId={instance}");
    ecs(&ep, &["put-attributes", "--attributes", &attr]).unwrap();
    gantry_tests::wait_for("the daemon task", Duration::from_secs(60), || async {
        let t = service_tasks(&dev, "RUNNING").await;
        (t.len() == 1 && t[0]["lastStatus"] == "RUNNING").then_some(())
    })
    .await;
    let d = ecs(&ep, &["describe-services", "--services", "edge"]).unwrap();
    assert_eq!(d["services"][0]["desiredCount"], 1, "{d}");

    // It stops matching: the daemon leaves, saying why.
    let attr = format!("name=role,targetId={instance}");
    ecs(&ep, &["delete-attributes", "--attributes", &attr]).unwrap();
    let stopped =
        gantry_tests::wait_for("the daemon to leave", Duration::from_secs(60), || async {
            let t = service_tasks(&dev, "STOPPED").await;
            t.into_iter().find(|t| t["lastStatus"] == "STOPPED")
        })
        .await;
    let reason = stopped["stoppedReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no longer meets the placement constraints of service edge"),
        "{stopped}"
    );
    assert!(service_tasks(&dev, "RUNNING").await.is_empty());

    ecs(&ep, &["delete-service", "--service", "edge", "--force"]).unwrap();
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}
