//! Issue 5's soak: N tasks (default 1,000) started and stopped in a loop through the whole
//! stack — `gantry server` and `gantry agent` as separate processes, real containers
//! (busybox, networkMode none, so a network namespace per task too) — in rounds of 10.
//! Fails (exit 1) if anything is left behind: supervisor or container processes, mounts,
//! cgroups, task directories; or if the agent's RSS grows (mean over the last 100 tasks
//! more than 10 % above the mean over the first 100).
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench soak`
//! (GANTRY_SOAK_TASKS to change N, a multiple of 10).

use std::time::{Duration, Instant};

use gantry_tests::dev::{Dev, DevOptions};
use gantry_tests::procs;
use serde_json::json;

const ROUND: usize = 10;
const T: Duration = Duration::from_secs(120);

fn mounts_under(root: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(root))
        .map(String::from)
        .collect()
}

fn mean(v: &[u64]) -> f64 {
    v.iter().sum::<u64>() as f64 / v.len().max(1) as f64
}

async fn soak(n: usize) -> Vec<String> {
    let dev = Dev::start_split(DevOptions {
        args: vec!["--task-cleanup-wait".into(), "0".into()],
        ..Default::default()
    })
    .await;
    let state = dev.state.path().display().to_string();
    let (agent, _) = dev.pids();
    // Stops at once on SIGTERM, as a well-behaved service does.
    dev.register_busybox(
        "soak",
        &["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"],
        json!({ "memory": 16 }),
    )
    .await;
    let warm = dev.run_many("soak", 1).await;
    dev.wait_all(&warm, "RUNNING", T).await;
    dev.ok("StopTask", json!({ "task": warm[0] })).await;
    dev.wait_all(&warm, "STOPPED", T).await;
    let tasks_dir = dev.tasks_dir();
    let no_task_dirs = || async {
        gantry_tests::wait_for("task directories to be removed", T, || async {
            let left = std::fs::read_dir(&tasks_dir)
                .map(|d| d.count())
                .unwrap_or(0);
            (left == 0).then_some(())
        })
        .await
    };
    no_task_dirs().await;
    let base_mounts = mounts_under(&state);

    let t0 = Instant::now();
    let mut rss = Vec::with_capacity(n / ROUND);
    let mut round_ms = Vec::with_capacity(n / ROUND);
    for round in 0..n / ROUND {
        let r0 = Instant::now();
        let arns = dev.run_many("soak", ROUND).await;
        dev.wait_all(&arns, "RUNNING", T).await;
        for a in &arns {
            dev.ok("StopTask", json!({ "task": a })).await;
        }
        dev.wait_all(&arns, "STOPPED", T).await;
        for (arn, t) in dev.statuses(&arns).await {
            assert_eq!(t["containers"][0]["exitCode"], 0, "{arn}: {t}");
        }
        round_ms.push(r0.elapsed().as_millis() as u64);
        rss.push(procs::rss_kib(agent));
        if (round + 1) % 10 == 0 {
            eprintln!(
                "{} tasks, agent RSS {:.1} MiB, {:.0} s",
                (round + 1) * ROUND,
                *rss.last().unwrap_or(&0) as f64 / 1024.0,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let total = t0.elapsed();
    no_task_dirs().await;

    let mut leaks = Vec::new();
    let parent = dev.cgroup_parent();
    for p in procs::processes_under_cgroup(&parent) {
        leaks.push(format!("process {p} in {parent}"));
    }
    for p in procs::pids_matching(&[" supervise ", &state]) {
        leaks.push(format!("supervisor {p}"));
    }
    for c in procs::cgroups_under(&parent) {
        leaks.push(format!("cgroup {c}"));
    }
    for m in mounts_under(&state) {
        if !base_mounts.contains(&m) {
            leaks.push(format!("mount {m}"));
        }
    }
    let window = 100 / ROUND;
    let (first, last) = (
        mean(&rss[..window.min(rss.len())]),
        mean(&rss[rss.len().saturating_sub(window)..]),
    );
    if last > first * 1.10 {
        leaks.push(format!(
            "agent RSS grew: {:.1} MiB over the first 100 tasks, {:.1} MiB over the last 100",
            first / 1024.0,
            last / 1024.0
        ));
    }
    let mut sorted = round_ms.clone();
    sorted.sort_unstable();
    println!();
    println!("| soak: {n} tasks in rounds of {ROUND} | value |");
    println!("| --- | --- |");
    println!("| total time | {:.0} s |", total.as_secs_f64());
    println!(
        "| one round (10 × RunTask → RUNNING → StopTask → STOPPED), p50 / max | {} / {} ms |",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
    println!(
        "| agent RSS, mean over the first 100 / last 100 tasks | {:.1} / {:.1} MiB |",
        first / 1024.0,
        last / 1024.0
    );
    println!(
        "| agent RSS, min / max over the run | {:.1} / {:.1} MiB |",
        *rss.iter().min().unwrap_or(&0) as f64 / 1024.0,
        *rss.iter().max().unwrap_or(&0) as f64 / 1024.0
    );
    println!("| agent open fds at the end | {} |", procs::open_fds(agent));
    println!(
        "| leftover processes, mounts, cgroups, task dirs | {} |",
        leaks.len()
    );
    leaks.extend(dev.shutdown().await);
    leaks
}

fn main() {
    let n = gantry_tests::bench::count_from_env("GANTRY_SOAK_TASKS", 1000);
    gantry_tests::bench::run_checked(soak(n.max(ROUND) / ROUND * ROUND));
    println!("\nnothing left behind");
}
