//! `gantry server` and `gantry agent` as separate processes, each killed with `kill -9` and
//! restarted while tasks run: nothing is restarted, nothing is lost.

use std::collections::HashMap;
use std::time::Duration;

use gantry_tests::dev::{Dev, DevOptions};
use gantry_tests::split::alive;
use gantry_tests::TempDir;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(120);

fn split() -> DevOptions {
    DevOptions {
        split: true,
        ..Default::default()
    }
}

/// DescribeTasks of `arns` (at most 100), by ARN.
async fn describe_all(dev: &Dev, arns: &[String]) -> HashMap<String, Value> {
    let d = dev.ok("DescribeTasks", json!({ "tasks": arns })).await;
    d["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["taskArn"].as_str().unwrap_or_default().to_string(),
                t.clone(),
            )
        })
        .collect()
}

async fn wait_all_running(dev: &Dev, arns: &[String]) -> HashMap<String, Value> {
    gantry_tests::wait_for("every task to be RUNNING", T, || async {
        let all = describe_all(dev, arns).await;
        (all.len() == arns.len() && all.values().all(|t| t["lastStatus"] == "RUNNING"))
            .then_some(all)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_survive_kill_9_of_the_server_and_are_not_restarted() {
    let mut dev = Dev::start_with(split()).await;
    dev.register_busybox("fifty", &["sleep", "600"], json!({ "memory": 16 }))
        .await;
    let mut arns = Vec::new();
    for _ in 0..5 {
        let out = dev
            .ok("RunTask", json!({ "taskDefinition": "fifty", "count": 10 }))
            .await;
        for t in out["tasks"].as_array().unwrap() {
            arns.push(t["taskArn"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(arns.len(), 50);
    let before = wait_all_running(&dev, &arns).await;
    let pids: Vec<(i32, Vec<i32>)> = arns
        .iter()
        .map(|a| (dev.supervisor_pid(a), dev.container_pids(a)))
        .collect();

    dev.kill9_server();
    dev.start_server().await;
    dev.wait_agent_connected(true).await;
    let after = wait_all_running(&dev, &arns).await;
    for (arn, (sup, containers)) in arns.iter().zip(&pids) {
        assert_eq!(after[arn]["startedAt"], before[arn]["startedAt"], "{arn}");
        // Same supervisor, same container process, started once.
        assert_eq!(dev.supervisor_pid(arn), *sup, "{arn}");
        assert_eq!(&dev.container_pids(arn), containers, "{arn}");
        assert_eq!(containers.len(), 1, "{arn}");
        assert!(alive(*sup) && alive(containers[0]), "{arn}");
    }
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_while_the_agent_is_down_is_reported_after_its_restart() {
    let mut dev = Dev::start_with(split()).await;
    let gate = TempDir::new("gate");
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "gated",
            "networkMode": "none",
            "volumes": [{ "name": "gate", "host": { "sourcePath": gate.path() } }],
            "containerDefinitions": [{
                "name": "main", "image": "busybox:latest", "essential": true, "memory": 32,
                "mountPoints": [{ "sourceVolume": "gate", "containerPath": "/gate" }],
                "command": ["sh", "-c", "while [ ! -e /gate/go ]; do sleep 0.1; done; exit 3"]
            }]
        }),
    )
    .await;
    let arn = dev.run_one("gated").await;
    let before = dev.wait_status(&arn, "RUNNING", T).await;
    assert_eq!(before["lastStatus"], "RUNNING", "{before}");

    dev.kill9_agent();
    std::fs::write(gate.path().join("go"), "").expect("open the gate");
    // The supervisor records the exit and ends the task on its own.
    let journal = dev.task_dir(&arn).join("events.jsonl");
    gantry_tests::wait_for("the task to end while the agent is down", T, || async {
        let j = std::fs::read_to_string(&journal).unwrap_or_default();
        j.contains("\"TaskExited\"").then_some(())
    })
    .await;
    let meanwhile = dev.describe(&arn).await;
    assert_eq!(
        meanwhile["lastStatus"], "RUNNING",
        "nobody told the server yet"
    );

    dev.start_agent().await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    assert_eq!(t["lastStatus"], "STOPPED", "{t}");
    assert_eq!(t["containers"][0]["exitCode"], 3, "{t}");
    assert_eq!(t["stopCode"], "EssentialContainerExited", "{t}");
    assert_eq!(t["startedAt"], before["startedAt"]);
    assert!(dev.shutdown().await.is_empty());
}
