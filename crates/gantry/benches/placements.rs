//! Issue 12's figures for committed placements and the server's memory per task, through the
//! real server (plain HTTP on loopback, the test administrator key) on its SQLite store, with
//! simulated instances (`gantry sim-agents`: the real agent protocol, no containers; each
//! instance takes its tasks and reports them RUNNING):
//! - committed placements: many clients call RunTask with count 10 in parallel until
//!   GANTRY_BENCH_TASKS tasks are committed; tasks committed a second (from the first call
//!   to the last answer), and the calls' p50/p99;
//! - time until every task is RUNNING (the agents' reports written back);
//! - server memory: VmRSS/VmHWM with the instances registered and no task, then after every
//!   task is RUNNING, and the difference per task.
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench placements`
//! (GANTRY_BENCH_INSTANCES, default 100; GANTRY_BENCH_TASKS, default 20000;
//! GANTRY_BENCH_CLIENTS, default 32; GANTRY_BENCH_PERF=<file>: `perf record` the server
//! during the RunTask load into <file>; GANTRY_BENCH_STORE: unset for the server's SQLite
//! file, `etcd` to start GANTRY_BENCH_ETCD_MEMBERS (default 1) etcd members on loopback
//! (Debian's etcd-server) and run the server on them, or an `etcd://…` URL of a running
//! cluster).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{call, mib, running_tasks, spawn, wait_instances, Proc};
use gantry_tests::bench::{count_from_env, percentile};
use serde_json::json;

async fn run() -> Vec<String> {
    let instances = count_from_env("GANTRY_BENCH_INSTANCES", 100);
    let tasks = count_from_env("GANTRY_BENCH_TASKS", 20_000);
    let clients = count_from_env("GANTRY_BENCH_CLIENTS", 32);
    let mut problems = Vec::new();
    let dir = gantry_tests::TempDir::new("bench-place");
    let port = gantry_tests::free_port();
    let ep = format!("http://127.0.0.1:{port}");
    let (etcd, store) = match std::env::var("GANTRY_BENCH_STORE").ok().as_deref() {
        None | Some("") | Some("sqlite") => (None, None),
        Some("etcd") => {
            let members = count_from_env("GANTRY_BENCH_ETCD_MEMBERS", 1);
            let c = gantry_store::etcd_process::EtcdCluster::start(members)
                .expect("start etcd members (Debian's etcd-server package)");
            let url = c.store_url();
            (Some(c), Some(url))
        }
        Some(url) => (None, Some(url.to_string())),
    };
    let mut args = vec![
        "server".to_string(),
        "--listen".to_string(),
        format!("127.0.0.1:{port}"),
        "--state-dir".to_string(),
        dir.path().display().to_string(),
    ];
    if let Some(url) = &store {
        args.extend(["--store".to_string(), url.clone()]);
    }
    let server = spawn(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let http = reqwest::Client::new();
    gantry_tests::wait_for("the server", Duration::from_secs(30), || async {
        http.post(format!("{ep}/")).send().await.ok().map(|_| ())
    })
    .await;
    call(&http, &ep, "CreateCluster", json!({"clusterName": "place"})).await;
    let limit = u32::try_from(instances).unwrap_or(u32::MAX);
    let (token, _) = gantry_tests::join_token(&http, &ep, "place", limit).await;
    // Room for every task: tasks of 1 CPU unit and 6 MiB (the least ECS takes) on
    // instances big enough for all, four times over (placement is random).
    let per = (tasks / instances.max(1) + 1) * 4;
    let _sims = spawn(&[
        "sim-agents",
        "--server",
        &ep,
        "--join-token",
        &token,
        "--cluster",
        "place",
        "--count",
        &instances.to_string(),
        "--cpu",
        &per.to_string(),
        "--memory",
        &(per * 6).to_string(),
    ]);
    wait_instances(&http, &ep, "place", instances).await;
    let def = call(
        &http,
        &ep,
        "RegisterTaskDefinition",
        json!({"family": "place", "networkMode": "none",
        "containerDefinitions": [{"name": "a", "image": "busybox:latest", "memory": 6, "cpu": 1}]}),
    )
    .await;
    assert!(def["taskDefinition"].is_object(), "{def}");
    // One call first, so every lazily built cache exists before the idle figure.
    let first = call(
        &http,
        &ep,
        "RunTask",
        json!({"cluster": "place", "taskDefinition": "place", "count": 1}),
    )
    .await;
    assert_eq!(first["tasks"].as_array().map(Vec::len), Some(1), "{first}");
    let pid = server.0.id();
    let idle_rss = mib(pid, "VmRSS:");

    let perf = std::env::var("GANTRY_BENCH_PERF").ok().map(|out| {
        Proc(
            std::process::Command::new("perf")
                .args([
                    "record",
                    "-F",
                    "499",
                    "-g",
                    "-o",
                    &out,
                    "-p",
                    &pid.to_string(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn perf"),
        )
    });
    let left = Arc::new(AtomicUsize::new(tasks.div_ceil(10)));
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (http, ep, left) = (http.clone(), ep.clone(), left.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut placed, mut failed) = (0usize, Vec::new());
            while left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                let t = Instant::now();
                let out = call(
                    &http,
                    &ep,
                    "RunTask",
                    json!({"cluster": "place", "taskDefinition": "place", "count": 10}),
                )
                .await;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                placed += out["tasks"].as_array().map_or(0, Vec::len);
                if let Some(f) = out["failures"].as_array().filter(|f| !f.is_empty()) {
                    failed.push(format!("{f:?}"));
                } else if out["tasks"].is_null() {
                    failed.push(out.to_string());
                }
            }
            (lat, placed, failed)
        }));
    }
    let mut lat = Vec::new();
    let mut placed = 0;
    for w in workers {
        let (l, p, f) = w.await.expect("client");
        lat.extend(l);
        placed += p;
        if let Some(first) = f.first() {
            problems.push(format!("{} calls failed, first: {first}", f.len()));
        }
    }
    let took = t0.elapsed();
    if let Some(mut p) = perf {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p.0.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = p.0.wait();
    }
    let committed_rss = mib(pid, "VmRSS:");
    lat.sort_by(f64::total_cmp);
    let total = placed + 1;
    // Polled slowly (DescribeClusters reads every task); given up after a minute without
    // progress (an overloaded server loses instances, and their tasks stop).
    let (mut seen, mut since) = (0, Instant::now());
    loop {
        let n = running_tasks(&http, &ep, "place").await;
        if n >= total {
            break;
        }
        if n > seen {
            (seen, since) = (n, Instant::now());
        } else if since.elapsed() > Duration::from_secs(60) {
            problems.push(format!(
                "only {n} of {total} tasks RUNNING, none more for 60 s"
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_running = t0.elapsed();
    let rss = mib(pid, "VmRSS:");
    let hwm = mib(pid, "VmHWM:");
    let db = match &etcd {
        Some(c) => (0..c.len()).map(|i| common::dir_size(c.data_dir(i))).sum(),
        None if store.is_some() => 0,
        None => common::dir_size(&dir.path().join("server")),
    };

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let kind = store.as_deref().unwrap_or("SQLite");
    println!(
        "instances: {instances}; tasks: {placed}; clients: {clients}; store: {kind}; load: {}",
        load.trim()
    );
    println!("| measure | result |");
    println!("| --- | --- |");
    println!(
        "| committed placements (RunTask count 10, {clients} clients) | {placed} tasks in {:.2} s: {:.0} tasks/s |",
        took.as_secs_f64(),
        placed as f64 / took.as_secs_f64()
    );
    println!(
        "| RunTask latency p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| first call to every task RUNNING | {:.2} s |",
        all_running.as_secs_f64()
    );
    println!(
        "| server RSS idle / committed / all RUNNING / peak | {idle_rss:.1} / {committed_rss:.1} / {rss:.1} / {hwm:.1} MiB |"
    );
    println!(
        "| server memory per task (RSS all RUNNING - idle) | {:.1} KiB |",
        (rss - idle_rss) * 1024.0 / placed.max(1) as f64
    );
    println!(
        "| store size (SQLite db + WAL, or every etcd member's data dir) | {:.1} MiB ({:.1} KiB a task) |",
        db as f64 / 1048576.0,
        db as f64 / 1024.0 / placed.max(1) as f64
    );
    if placed < tasks {
        problems.push(format!("only {placed} of {tasks} tasks placed"));
    }
    problems
}

fn main() {
    gantry_tests::bench::run_checked(run());
}
