//! Issue 2's figures, in one run on one machine:
//! - RunTask -> RUNNING and RunTask -> STOPPED for a `true` container (cached image,
//!   networkMode none), p50/p99 over N sequential tasks, through `gantry dev`;
//! - `runc run` of an equivalent bundle (busybox rootfs, `true`), the floor set by the
//!   kernel and an OCI runtime;
//! - idle RSS of `gantry server` and `gantry agent`, each its own process.
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench task_start`
//! (N defaults to 200; set GANTRY_BENCH_TASKS to change it).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gantry_tests::dev::Dev;
use serde_json::json;

use gantry_tests::bench::percentile as pct;

fn row(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        v.len(),
        pct(&v, 0.0),
        pct(&v, 50.0),
        pct(&v, 99.0),
        pct(&v, 100.0)
    );
}

async fn gantry_tasks(n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let dev = Dev::start().await;
    dev.register_busybox("bench-true", &["true"], json!({}))
        .await;
    // Warm the image cache and the page cache.
    let warm = dev.run_one("bench-true").await;
    dev.wait_status(&warm, "STOPPED", Duration::from_secs(30))
        .await;
    let mut to_running = Vec::with_capacity(n);
    let mut to_stopped = Vec::with_capacity(n);
    let mut created_to_started = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        let arn = dev.run_one("bench-true").await;
        let mut running = None;
        loop {
            let t = dev.describe(&arn).await;
            let last = t["lastStatus"].as_str().unwrap_or_default().to_string();
            if running.is_none() && (last == "RUNNING" || last == "STOPPED") {
                running = Some(t0.elapsed());
            }
            if last == "STOPPED" {
                assert_eq!(t["containers"][0]["exitCode"], 0, "{t}");
                to_stopped.push(t0.elapsed().as_secs_f64() * 1e3);
                if let (Some(c), Some(s)) = (t["createdAt"].as_f64(), t["startedAt"].as_f64()) {
                    created_to_started.push((s - c) * 1e3);
                }
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "task did not stop: {t}"
            );
            // Poll gently: the server, agent and supervisor share this machine's two cores.
            tokio::time::sleep(Duration::from_millis(4)).await;
        }
        to_running.push(running.unwrap_or_default().as_secs_f64() * 1e3);
    }
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
    (to_running, to_stopped, created_to_started)
}

fn runc_runs(n: usize) -> Vec<f64> {
    let dir = gantry_tests::TempDir::new("bench-runc");
    let layouts = gantry_tests::images::layouts();
    let rootfs = dir.path().join("bundle");
    let st = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", layouts.join("busybox").display()))
        .arg(&rootfs)
        .stdout(Stdio::null())
        .status()
        .expect("umoci");
    assert!(st.success(), "umoci unpack failed");
    // umoci writes a config.json; make it run `true` without a terminal, like the gantry task.
    let cfg_path = rootfs.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).expect("config.json")).expect("json");
    cfg["process"]["args"] = json!(["true"]);
    cfg["process"]["terminal"] = json!(false);
    std::fs::write(&cfg_path, cfg.to_string()).expect("write config.json");
    let root = dir.path().join("runc-state");
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 1 {
        let t0 = Instant::now();
        let st = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["run", "--bundle"])
            .arg(&rootfs)
            .arg(format!("bench-runc-{}-{i}", std::process::id()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("runc");
        assert!(st.success(), "runc run failed");
        if i > 0 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times
}

async fn idle_rss() -> (u64, u64) {
    let dir = gantry_tests::TempDir::new("bench-rss");
    let port = gantry_tests::free_port();
    let bin = gantry_tests::gantry_bin();
    let mut server = Command::new(&bin)
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gantry server");
    let mut agent = Command::new(&bin)
        .args([
            "agent",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--state-dir",
        ])
        .arg(dir.path())
        .args(["--cgroup-parent", &format!("/gantry-bench-{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gantry agent");
    let http = reqwest::Client::new();
    gantry_tests::wait_for("the agent to register", Duration::from_secs(30), || async {
        let r = http
            .post(format!("http://127.0.0.1:{port}/"))
            .header(
                "X-Amz-Target",
                "AmazonEC2ContainerServiceV20141113.ListContainerInstances",
            )
            .header("Content-Type", "application/x-amz-json-1.1")
            .body("{}")
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        v["containerInstanceArns"]
            .as_array()
            .filter(|a| !a.is_empty())
            .map(|_| ())
    })
    .await;
    // Idle: a few heartbeats later.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let out = (
        gantry_tests::procs::rss_kib(server.id()),
        gantry_tests::procs::rss_kib(agent.id()),
    );
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = server.kill();
    let _ = server.wait();
    out
}

fn main() {
    let n: usize = std::env::var("GANTRY_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("binary: {}", gantry_tests::gantry_bin().display());
    let (running, stopped, inside) = rt.block_on(gantry_tasks(n));
    let runc = runc_runs(n);
    println!();
    println!("| measure (ms) | n | min | p50 | p99 | max |");
    println!("| --- | --- | --- | --- | --- | --- |");
    row("gantry RunTask -> RUNNING observed", running);
    row("gantry RunTask -> STOPPED observed (`true`)", stopped);
    row(
        "gantry createdAt -> startedAt (server commit to container started)",
        inside,
    );
    row("runc run (create+start+exit+delete, `true`)", runc);
    let (server, agent) = rt.block_on(idle_rss());
    println!();
    println!("| process | idle RSS (MiB) |");
    println!("| --- | --- |");
    println!("| gantry server | {:.1} |", server as f64 / 1024.0);
    println!("| gantry agent | {:.1} |", agent as f64 / 1024.0);
}
