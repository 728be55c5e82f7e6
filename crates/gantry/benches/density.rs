//! Issue 5's node figures, `gantry server` and `gantry agent` as separate processes:
//! - agent memory idle and with N (default 500) running `sleep` tasks (RSS, PSS, private);
//! - supervisor memory per task: RSS, PSS and private (the honest per-task cost);
//! - density: N `sleep` tasks started at once — time until all RUNNING, MemAvailable drop;
//! - agent restart with N running tasks: kill -9, start again, time until the server sees
//!   the agent connected and every task RUNNING, with no task restarted (the supervisors
//!   are the same processes), then a StopTask through the adopted runner.
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench density`
//! (GANTRY_BENCH_TASKS to change N).

use std::time::{Duration, Instant};

use gantry_tests::dev::{Dev, DevOptions};
use gantry_tests::procs::{self, Mem};
use serde_json::json;

const T: Duration = Duration::from_secs(600);

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn mem_row(what: &str, m: Mem) {
    println!(
        "| {what} | {:.1} | {:.1} | {:.1} |",
        mib(m.rss),
        mib(m.pss),
        mib(m.private)
    );
}

/// Mean memory of the task supervisors of this node.
fn supervisors(state: &str) -> (usize, Mem) {
    let pids = procs::pids_matching(&[" supervise ", state]);
    let mut sum = Mem::default();
    for p in &pids {
        let m = procs::mem_kib(*p);
        sum.rss += m.rss;
        sum.pss += m.pss;
        sum.private += m.private;
    }
    let n = pids.len().max(1) as u64;
    (
        pids.len(),
        Mem {
            rss: sum.rss / n,
            pss: sum.pss / n,
            private: sum.private / n,
        },
    )
}

async fn agent_connected(dev: &Dev) -> bool {
    let list = dev.ok("ListContainerInstances", json!({})).await;
    let arns = list["containerInstanceArns"].clone();
    let d = dev
        .ok(
            "DescribeContainerInstances",
            json!({ "containerInstances": arns }),
        )
        .await;
    d["containerInstances"][0]["agentConnected"] == true
}

async fn density(n: usize) -> Vec<String> {
    let mut dev = Dev::start_split(DevOptions::default()).await;
    let state = dev.state.path().display().to_string();
    dev.register_busybox("sleep", &["sleep", "3600"], json!({ "memory": 16 }))
        .await;
    // Warm the image cache, then let the agent settle.
    let warm = dev.run_many("sleep", 1).await;
    dev.wait_all(&warm, "RUNNING", T).await;
    dev.ok("StopTask", json!({ "task": warm[0] })).await;
    dev.wait_all(&warm, "STOPPED", T).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (agent, server) = dev.pids();
    let agent_idle = procs::mem_kib(agent);
    let fds_idle = procs::open_fds(agent);

    let avail0 = procs::mem_available_kib();
    let t0 = Instant::now();
    let arns = dev.run_many("sleep", n).await;
    let placed = t0.elapsed();
    dev.wait_all(&arns, "RUNNING", T).await;
    let all_running = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let avail1 = procs::mem_available_kib();
    let agent_busy = procs::mem_kib(agent);
    let fds_busy = procs::open_fds(agent);
    let server_busy = procs::mem_kib(server);
    let (nsup, sup) = supervisors(&state);
    let sup_pids_before = procs::pids_matching(&[" supervise ", &state]);

    // Agent restart with every task running.
    let r0 = Instant::now();
    dev.kill9_and_restart_agent();
    let agent = dev.pids().0;
    gantry_tests::wait_for("the agent to reconnect", T, || async {
        agent_connected(&dev).await.then_some(())
    })
    .await;
    let reconnected = r0.elapsed();
    dev.wait_all(&arns, "RUNNING", T).await;
    let readopted = r0.elapsed();
    let sup_pids_after = procs::pids_matching(&[" supervise ", &state]);
    let s0 = Instant::now();
    dev.ok("StopTask", json!({ "task": arns[0] })).await;
    dev.wait_all(&arns[..1], "STOPPED", T).await;
    let stop_after_restart = s0.elapsed();
    let agent_after = procs::mem_kib(agent);

    // Every task stopped at once (the agent stops them concurrently).
    let m0 = Instant::now();
    for a in &arns[1..] {
        dev.ok("StopTask", json!({ "task": a })).await;
    }
    dev.wait_all(&arns, "STOPPED", T).await;
    let all_stopped = m0.elapsed();

    let mut problems = Vec::new();
    if sup_pids_after != sup_pids_before {
        problems.push(format!(
            "supervisors changed across the agent restart: {} before, {} after",
            sup_pids_before.len(),
            sup_pids_after.len()
        ));
    }
    if nsup != n {
        problems.push(format!("{nsup} supervisors for {n} tasks"));
    }

    println!();
    println!("| {n} `sleep` tasks, one node (2 cores) | value |");
    println!("| --- | --- |");
    println!(
        "| RunTask calls ({} × count ≤ 10) | {:.1} s |",
        n.div_ceil(10),
        placed.as_secs_f64()
    );
    println!(
        "| first RunTask → all {n} RUNNING | {:.1} s |",
        all_running.as_secs_f64()
    );
    println!(
        "| MemAvailable drop with {n} running | {:.0} MiB ({:.2} MiB per task) |",
        mib(avail0.saturating_sub(avail1)),
        mib(avail0.saturating_sub(avail1)) / n as f64
    );
    println!("| agent open fds idle / with {n} tasks | {fds_idle} / {fds_busy} |");
    println!(
        "| agent kill -9 → restarted and connected | {:.1} s |",
        reconnected.as_secs_f64()
    );
    println!(
        "| agent kill -9 → connected, all {n} RUNNING, none restarted | {:.1} s |",
        readopted.as_secs_f64()
    );
    println!(
        "| StopTask → STOPPED of an adopted task | {:.2} s |",
        stop_after_restart.as_secs_f64()
    );
    println!(
        "| StopTask × {} → all STOPPED | {:.1} s |",
        n - 1,
        all_stopped.as_secs_f64()
    );
    println!();
    println!("| process (MiB) | RSS | PSS | private |");
    println!("| --- | --- | --- | --- |");
    mem_row("agent, idle", agent_idle);
    mem_row(&format!("agent, {n} tasks running"), agent_busy);
    mem_row(&format!("agent, restarted, {n} tasks adopted"), agent_after);
    mem_row(&format!("server, {n} tasks"), server_busy);
    mem_row(&format!("supervisor, mean of {nsup}"), sup);

    problems.extend(dev.shutdown().await);
    problems
}

fn main() {
    let n = gantry_tests::bench::count_from_env("GANTRY_BENCH_TASKS", 500);
    gantry_tests::bench::run_checked(density(n));
}
