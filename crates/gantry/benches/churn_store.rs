//! Issue 13's "the store stays flat over a 10,000-task churn": the real server (plain HTTP
//! on loopback, its SQLite store) and simulated instances (`gantry sim-agents`: the real
//! agent protocol, no containers) run and stop GANTRY_BENCH_TASKS tasks (default 10,000),
//! RunTask count 10 then StopTask for each, from 8 clients. Run twice side by side: with
//! stopped tasks kept an hour (ECS's retention, so none expires during the run) and with a
//! retention of GANTRY_BENCH_RETENTION (default 5s). Every 2,000 tasks, and at the end once
//! the retention has passed: the task records in the store (ListTasks, RUNNING + STOPPED),
//! the store's bytes on disk and the server's RSS.
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench churn_store`

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{call, mib, spawn, wait_instances};
use gantry_tests::bench::count_from_env;
use serde_json::{json, Value};

const CLIENTS: usize = 8;
const INSTANCES: usize = 10;

/// Task records in the store: ListTasks (paged) for RUNNING and for STOPPED.
async fn task_records(http: &reqwest::Client, ep: &str) -> usize {
    let mut n = 0;
    for status in ["RUNNING", "STOPPED"] {
        let mut token: Option<Value> = None;
        loop {
            let mut req = json!({"cluster": "churn", "desiredStatus": status, "maxResults": 100});
            if let Some(t) = token.take() {
                req["nextToken"] = t;
            }
            let out = call(http, ep, "ListTasks", req).await;
            n += out["taskArns"].as_array().map_or(0, Vec::len);
            match out.get("nextToken") {
                Some(t @ Value::String(_)) => token = Some(t.clone()),
                _ => break,
            }
        }
    }
    n
}

struct Sample {
    done: usize,
    records: usize,
    store_kib: u64,
    rss_mib: f64,
}

async fn churn(retention: &str, tasks: usize) -> (Vec<Sample>, Duration, Vec<String>) {
    let mut problems = Vec::new();
    let dir = gantry_tests::TempDir::new("bench-churn");
    let port = gantry_tests::free_port();
    let ep = format!("http://127.0.0.1:{port}");
    let server = spawn(&[
        "server",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--state-dir",
        &dir.path().display().to_string(),
        "--stopped-task-retention",
        retention,
    ]);
    let http = reqwest::Client::new();
    gantry_tests::wait_for("the server", Duration::from_secs(30), || async {
        http.post(format!("{ep}/")).send().await.ok().map(|_| ())
    })
    .await;
    call(&http, &ep, "CreateCluster", json!({"clusterName": "churn"})).await;
    let (token, _) = gantry_tests::join_token(&http, &ep, "churn", INSTANCES as u32).await;
    let _sims = spawn(&[
        "sim-agents",
        "--server",
        &ep,
        "--join-token",
        &token,
        "--cluster",
        "churn",
        "--count",
        &INSTANCES.to_string(),
        "--cpu",
        "4096",
        "--memory",
        "8192",
    ]);
    wait_instances(&http, &ep, "churn", INSTANCES).await;
    call(
        &http,
        &ep,
        "RegisterTaskDefinition",
        json!({"family": "churn", "networkMode": "none",
        "containerDefinitions": [{"name": "a", "image": "busybox:latest", "memory": 6, "cpu": 1}]}),
    )
    .await;
    let pid = server.0.id();
    let store_dir = dir.path().join("server");
    let sample = |done: usize, records: usize| Sample {
        done,
        records,
        store_kib: common::dir_size(&store_dir) / 1024,
        rss_mib: mib(pid, "VmRSS:"),
    };
    let mut samples = vec![sample(0, task_records(&http, &ep).await)];
    let t0 = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let step = 2_000.min(tasks);
    for round in 0..tasks.div_ceil(step) {
        let batches = Arc::new(AtomicUsize::new(step.div_ceil(10)));
        let mut workers = Vec::new();
        for _ in 0..CLIENTS {
            let (http, ep, batches, done) =
                (http.clone(), ep.clone(), batches.clone(), done.clone());
            workers.push(tokio::spawn(async move {
                let mut failed = Vec::new();
                while batches
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let out = call(
                        &http,
                        &ep,
                        "RunTask",
                        json!({"cluster": "churn", "taskDefinition": "churn", "count": 10}),
                    )
                    .await;
                    for t in out["tasks"].as_array().into_iter().flatten() {
                        let stop = call(
                            &http,
                            &ep,
                            "StopTask",
                            json!({"cluster": "churn", "task": t["taskArn"]}),
                        )
                        .await;
                        if stop["task"].is_null() {
                            failed.push(stop.to_string());
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    if out["tasks"].as_array().is_none_or(|t| t.len() != 10) {
                        failed.push(out.to_string());
                    }
                }
                failed
            }));
        }
        for w in workers {
            let f = w.await.expect("client");
            if let Some(first) = f.first() {
                problems.push(format!(
                    "round {round}: {} calls failed, first: {first}",
                    f.len()
                ));
            }
        }
        let n = done.load(Ordering::SeqCst);
        samples.push(sample(n, task_records(&http, &ep).await));
    }
    let took = t0.elapsed();
    // Once the retention has passed (and a sweep with it), what is left.
    let wait = humantime::parse_duration(retention).unwrap_or_default();
    if wait < Duration::from_secs(60) {
        let n = done.load(Ordering::SeqCst);
        let deadline = Instant::now() + wait * 3 + Duration::from_secs(120);
        let flat = loop {
            let r = task_records(&http, &ep).await;
            if r == 0 || Instant::now() > deadline {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        if flat != 0 {
            let left = call(
                &http,
                &ep,
                "ListTasks",
                json!({"cluster": "churn", "desiredStatus": "STOPPED", "maxResults": 1}),
            )
            .await;
            let d = call(
                &http,
                &ep,
                "DescribeTasks",
                json!({"cluster": "churn", "tasks": left["taskArns"]}),
            )
            .await;
            problems.push(format!(
                "{flat} task records left after {:?}; one: {d}",
                wait * 3 + Duration::from_secs(120)
            ));
        }
        samples.push(sample(n, flat));
    }
    (samples, took, problems)
}

async fn run() -> Vec<String> {
    let tasks = count_from_env("GANTRY_BENCH_TASKS", 10_000);
    let short = std::env::var("GANTRY_BENCH_RETENTION").unwrap_or_else(|_| "5s".into());
    let mut problems = Vec::new();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "tasks: {tasks}; clients: {CLIENTS}; instances: {INSTANCES}; load: {}",
        load.trim()
    );
    println!("| retention | tasks run and stopped | task records | store on disk | server RSS |");
    println!("| --- | --- | --- | --- | --- |");
    for retention in ["1h", short.as_str()] {
        let (samples, took, p) = churn(retention, tasks).await;
        problems.extend(p);
        for s in &samples {
            println!(
                "| {retention} | {} | {} | {} KiB | {:.1} MiB |",
                s.done, s.records, s.store_kib, s.rss_mib
            );
        }
        println!(
            "| {retention} | churn of {tasks} took {:.1} s ({:.0} tasks/s run and stopped) | | | |",
            took.as_secs_f64(),
            tasks as f64 / took.as_secs_f64()
        );
    }
    problems
}

fn main() {
    gantry_tests::bench::run_checked(run());
}
