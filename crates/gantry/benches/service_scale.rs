//! Issue 4's figures through the real server and store, with simulated agents (the real agent
//! protocol, no containers):
//! - a REPLICA service scaled 0 -> N tasks over M simulated instances: time until all RUNNING,
//!   server RSS (peak), store size;
//! - failure detection: the agent holding a service task is killed; time until the service is
//!   back at desiredCount on another instance, with the `--agent-lost-after` used.
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench service_scale`
//! (GANTRY_BENCH_INSTANCES, default 1000; GANTRY_BENCH_TASKS, default 10000).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> Proc {
    Proc(
        Command::new(gantry_tests::gantry_bin())
            .args(args)
            .envs(gantry_tests::key_env())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn gantry"),
    )
}

async fn call(http: &reqwest::Client, ep: &str, op: &str, body: Value) -> Value {
    let r = gantry_tests::post_ecs(http, ep, op, body.to_string().into_bytes())
        .await
        .expect("request");
    r.json().await.unwrap_or(Value::Null)
}

fn status_kib(pid: u32, key: &str) -> u64 {
    gantry_tests::procs::kib(pid, "status", key)
}

async fn running(http: &reqwest::Client, ep: &str, cluster: &str, svc: &str) -> i64 {
    let d = call(
        http,
        ep,
        "DescribeServices",
        json!({"cluster": cluster, "services": [svc]}),
    )
    .await;
    d["services"][0]["runningCount"].as_i64().unwrap_or(0)
}

async fn scale(instances: usize, tasks: usize) {
    let dir = gantry_tests::TempDir::new("bench-scale");
    let port = gantry_tests::free_port();
    let ep = format!("http://127.0.0.1:{port}");
    let server = spawn(&[
        "server",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--state-dir",
        &dir.path().display().to_string(),
    ]);
    let http = reqwest::Client::new();
    gantry_tests::wait_for("the server", Duration::from_secs(30), || async {
        http.post(format!("{ep}/")).send().await.ok().map(|_| ())
    })
    .await;
    call(&http, &ep, "CreateCluster", json!({"clusterName": "scale"})).await;
    // Simulated instances join like real ones, each with its own node credential.
    let limit = u32::try_from(instances).unwrap_or(u32::MAX);
    let (token, _) = gantry_tests::join_token(&http, &ep, "scale", limit).await;
    let _sims = spawn(&[
        "sim-agents",
        "--server",
        &ep,
        "--join-token",
        &token,
        "--cluster",
        "scale",
        "--count",
        &instances.to_string(),
        "--cpu",
        "4096",
        "--memory",
        "16384",
    ]);
    gantry_tests::wait_for(
        "the simulated instances",
        Duration::from_secs(120),
        || async {
            let l = call(
                &http,
                &ep,
                "ListContainerInstances",
                json!({"cluster": "scale", "maxResults": 100}),
            )
            .await;
            let d = call(
                &http,
                &ep,
                "DescribeClusters",
                json!({"clusters": ["scale"]}),
            )
            .await;
            let n = d["clusters"][0]["registeredContainerInstancesCount"]
                .as_u64()
                .unwrap_or(0);
            (n as usize >= instances && l["containerInstanceArns"].is_array()).then_some(())
        },
    )
    .await;
    call(&http, &ep, "RegisterTaskDefinition", json!({"family": "sim", "networkMode": "none",
        "containerDefinitions": [{"name": "a", "image": "busybox:latest", "memory": 16, "cpu": 8}]})).await;
    let t0 = Instant::now();
    let out = call(
        &http,
        &ep,
        "CreateService",
        json!({"cluster": "scale", "serviceName": "big",
        "taskDefinition": "sim", "desiredCount": tasks}),
    )
    .await;
    assert!(out["service"].is_object(), "{out}");
    let mut last = 0;
    loop {
        let n = running(&http, &ep, "scale", "big").await;
        if n as usize >= tasks {
            break;
        }
        if n != last {
            last = n;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(900),
            "only {n} of {tasks} RUNNING after 15 min"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = t0.elapsed();
    let rss = status_kib(server.0.id(), "VmRSS:");
    let hwm = status_kib(server.0.id(), "VmHWM:");
    let db: u64 = std::fs::read_dir(dir.path().join("server"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!("| service 0 -> {tasks} tasks on {instances} simulated instances | {:.1} s ({:.0} tasks/s) |", took.as_secs_f64(), tasks as f64 / took.as_secs_f64());
    println!(
        "| server RSS after / peak | {:.1} MiB / {:.1} MiB |",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "| store size (SQLite db + WAL) | {:.1} MiB |",
        db as f64 / 1048576.0
    );
}

async fn failure_detection(lost_after: u64) {
    let dir = gantry_tests::TempDir::new("bench-fd");
    let port = gantry_tests::free_port();
    let ep = format!("http://127.0.0.1:{port}");
    let _server = spawn(&[
        "server",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--state-dir",
        &dir.path().display().to_string(),
        "--agent-lost-after",
        &lost_after.to_string(),
    ]);
    let http = reqwest::Client::new();
    gantry_tests::wait_for("the server", Duration::from_secs(30), || async {
        http.post(format!("{ep}/")).send().await.ok().map(|_| ())
    })
    .await;
    let (token_a, _) = gantry_tests::join_token(&http, &ep, "default", 1).await;
    let a = spawn(&[
        "sim-agents",
        "--server",
        &ep,
        "--join-token",
        &token_a,
        "--count",
        "1",
    ]);
    gantry_tests::wait_for("instance a", Duration::from_secs(30), || async {
        let l = call(&http, &ep, "ListContainerInstances", json!({})).await;
        (l["containerInstanceArns"].as_array().map_or(0, Vec::len) == 1).then_some(())
    })
    .await;
    call(
        &http,
        &ep,
        "RegisterTaskDefinition",
        json!({"family": "fd", "networkMode": "none",
        "containerDefinitions": [{"name": "a", "image": "busybox:latest", "memory": 16}]}),
    )
    .await;
    call(
        &http,
        &ep,
        "CreateService",
        json!({"serviceName": "fd", "taskDefinition": "fd", "desiredCount": 1}),
    )
    .await;
    gantry_tests::wait_for("the task on a", Duration::from_secs(30), || async {
        (running(&http, &ep, "default", "fd").await == 1).then_some(())
    })
    .await;
    let (token_b, _) = gantry_tests::join_token(&http, &ep, "default", 1).await;
    let _b = spawn(&[
        "sim-agents",
        "--server",
        &ep,
        "--join-token",
        &token_b,
        "--count",
        "1",
    ]);
    gantry_tests::wait_for("instance b", Duration::from_secs(30), || async {
        let l = call(&http, &ep, "ListContainerInstances", json!({})).await;
        (l["containerInstanceArns"].as_array().map_or(0, Vec::len) == 2).then_some(())
    })
    .await;
    let list = call(&http, &ep, "ListTasks", json!({"serviceName": "fd"})).await;
    let original = list["taskArns"][0].as_str().unwrap_or_default().to_string();
    let t0 = Instant::now();
    drop(a);
    // Lost, then replaced: a RUNNING task of the service other than the original one.
    gantry_tests::wait_for("the replacement", Duration::from_secs(120), || async {
        let list = call(&http, &ep, "ListTasks", json!({"serviceName": "fd"})).await;
        let arns: Vec<Value> = list["taskArns"].as_array().cloned().unwrap_or_default();
        let others: Vec<Value> = arns
            .into_iter()
            .filter(|a| a != original.as_str())
            .collect();
        if others.is_empty() {
            return None;
        }
        let d = call(&http, &ep, "DescribeTasks", json!({"tasks": others})).await;
        d["tasks"]
            .as_array()?
            .iter()
            .any(|t| t["lastStatus"] == "RUNNING")
            .then_some(())
    })
    .await;
    println!(
        "| agent killed -> service back at desiredCount (lost_after {lost_after} s) | {:.2} s |",
        t0.elapsed().as_secs_f64()
    );
}

fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let instances = env("GANTRY_BENCH_INSTANCES", 1000);
    let tasks = env("GANTRY_BENCH_TASKS", 10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("| measure | result |");
    println!("| --- | --- |");
    rt.block_on(failure_detection(2));
    rt.block_on(scale(instances, tasks));
}
