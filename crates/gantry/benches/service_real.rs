//! Issue 4's real-container figure: a 50-task REPLICA service of busybox `sleep` containers
//! on one `gantry dev` node, from 0 to steady state, then a rolling deployment to a new
//! task definition revision (ECS's defaults: minimumHealthyPercent 100, maximumPercent 200),
//! until the new deployment is COMPLETED and the old tasks are gone.
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench service_real`
//! (GANTRY_BENCH_SERVICE_TASKS, default 50). Needs root (real containers and cgroups).

use std::time::{Duration, Instant};

use gantry_tests::dev::Dev;
use serde_json::{json, Value};

async fn service(dev: &Dev) -> Value {
    dev.ok("DescribeServices", json!({ "services": ["bench"] }))
        .await["services"][0]
        .clone()
}

async fn wait_until(dev: &Dev, what: &str, done: impl Fn(&Value) -> bool) -> Duration {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(600);
    loop {
        let s = service(dev).await;
        if done(&s) {
            return t0.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn completed_on(s: &Value, revision: &str, n: i64) -> bool {
    let deps = s["deployments"].as_array().cloned().unwrap_or_default();
    deps.len() == 1
        && deps[0]["rolloutState"] == "COMPLETED"
        && deps[0]["taskDefinition"]
            .as_str()
            .is_some_and(|t| t.ends_with(revision))
        && s["runningCount"] == n
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: i64 = std::env::var("GANTRY_BENCH_SERVICE_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dev = Dev::start().await;
    for rev in 1..=2 {
        dev.register_busybox(
            "bench",
            &["sleep", &format!("{}", 3600 + rev)],
            json!({ "memory": 16 }),
        )
        .await;
    }
    let t0 = Instant::now();
    dev.ok(
        "CreateService",
        json!({ "serviceName": "bench", "taskDefinition": "bench:1", "desiredCount": n }),
    )
    .await;
    let _ = wait_until(&dev, "the service to reach steady state", |s| {
        completed_on(s, "bench:1", n)
    })
    .await;
    let scale_up = t0.elapsed();

    let t1 = Instant::now();
    dev.ok(
        "UpdateService",
        json!({ "service": "bench", "taskDefinition": "bench:2" }),
    )
    .await;
    let _ = wait_until(&dev, "the rolling deployment to complete", |s| {
        completed_on(s, "bench:2", n)
    })
    .await;
    let rolled = t1.elapsed();
    // The old revision's tasks are all STOPPED by now (a completed deployment is alone).
    let running = dev
        .ok(
            "ListTasks",
            json!({ "serviceName": "bench", "desiredStatus": "RUNNING", "maxResults": 100 }),
        )
        .await["taskArns"]
        .as_array()
        .map_or(0, Vec::len);
    println!("service of {n} busybox tasks on one node (real containers):");
    println!(
        "  0 -> {n} RUNNING (deployment COMPLETED): {:.2} s",
        scale_up.as_secs_f64()
    );
    println!(
        "  rolling deployment rev 1 -> 2 (min 100%, max 200%) until COMPLETED: {:.2} s",
        rolled.as_secs_f64()
    );
    println!("  tasks RUNNING afterwards: {running}");

    dev.ok(
        "DeleteService",
        json!({ "service": "bench", "force": true }),
    )
    .await;
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "leaked: {leaks:?}");
}
