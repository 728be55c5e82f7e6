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

/// A busybox task running `script` with the host directory `gate` at `/gate`, through
/// which the test and the container signal each other.
async fn register_gated(dev: &Dev, family: &str, gate: &TempDir, script: &str) {
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": family,
            "networkMode": "none",
            "volumes": [{ "name": "gate", "host": { "sourcePath": gate.path() } }],
            "containerDefinitions": [{
                "name": "main", "image": "busybox:latest", "essential": true, "memory": 64,
                "mountPoints": [{ "sourceVolume": "gate", "containerPath": "/gate" }],
                "command": ["sh", "-c", script]
            }]
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_while_the_agent_is_down_is_reported_after_its_restart() {
    let mut dev = Dev::start_with(split()).await;
    let gate = TempDir::new("gate");
    register_gated(
        &dev,
        "gated",
        &gate,
        "while [ ! -e /gate/go ]; do sleep 0.1; done; exit 3",
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

/// Lines `seq N` in the task's log files (JSON records), in order, and whether `done`
/// was logged.
fn logged_numbers(dev: &Dev, arn: &str) -> (Vec<u64>, bool) {
    let dir = dev.task_dir(arn).join("logs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    // main.log.N (older) before main.log.
    files.sort_by_key(|p| std::cmp::Reverse(p.extension().map(|e| e.to_os_string())));
    let (mut seq, mut done) = (Vec::new(), false);
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap_or_default().lines() {
            let Ok(r) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let log = r["log"].as_str().unwrap_or_default();
            if let Some(n) = log.strip_prefix("seq ") {
                seq.extend(
                    n.split_whitespace()
                        .next()
                        .and_then(|n| n.parse::<u64>().ok()),
                );
            }
            done |= log.starts_with("done ");
        }
    }
    (seq, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_writer_is_never_blocked_while_the_agent_is_down_and_loses_no_line() {
    const BATCHES: u64 = 200;
    let mut dev = Dev::start_with(DevOptions {
        split: true,
        // One log file holds it all (rotation by design drops the oldest files).
        args: vec!["--log-max-size".into(), "104857600".into()],
        ..Default::default()
    })
    .await;
    let gate = TempDir::new("gate");
    let pad = ".".repeat(80);
    // ~100 KB per batch, a short pause between batches: about 1 MiB/s.
    let script = format!(
        "while [ ! -e /gate/go ]; do sleep 0.1; done; i=0; b=0; \
         while [ $b -lt {BATCHES} ]; do j=0; \
         while [ $j -lt 1000 ]; do echo \"seq $i {pad}\"; i=$((i+1)); j=$((j+1)); done; \
         b=$((b+1)); echo $b > /gate/b.t; mv /gate/b.t /gate/b; sleep 0.05; done; \
         echo \"done $i\"; sleep 600"
    );
    register_gated(&dev, "flood", &gate, &script).await;
    let arn = dev.run_one("flood").await;
    dev.wait_status(&arn, "RUNNING", T).await;
    let batches = || -> u64 {
        std::fs::read_to_string(gate.path().join("b"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };

    dev.kill9_agent();
    std::fs::write(gate.path().join("go"), "").expect("open the gate");
    // For ~10 s while the agent is down the writer keeps going: every second its batch
    // counter advances.
    let start = std::time::Instant::now();
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let b0 = batches();
        gantry_tests::wait_for("the writer to finish another batch", T, || async {
            (batches() > b0).then_some(())
        })
        .await;
        seen.push(batches());
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    let down = start.elapsed().as_secs_f64();
    let (logged, _) = logged_numbers(&dev, &arn);
    eprintln!(
        "agent down {down:.1} s: {} batches, {} lines ({:.2} MiB/s) logged",
        seen[9],
        logged.len(),
        logged.len() as f64 * 90.0 / down / 1048576.0
    );
    // Restarted while the writer still writes; it finishes with every line in the log.
    dev.start_agent().await;
    let (seq, _) = gantry_tests::wait_for("the writer to finish", T, || async {
        let (seq, done) = logged_numbers(&dev, &arn);
        done.then_some((seq, done))
    })
    .await;
    assert!(
        seen[9] < BATCHES,
        "the agent came back before the writer ended"
    );
    let want: Vec<u64> = (0..BATCHES * 1000).collect();
    assert!(
        seq == want,
        "lines lost or reordered: {} of {}",
        seq.len(),
        want.len()
    );
    let out = dev
        .cli()
        .args(["logs", &arn, "--container", "main", "--tail", "2"])
        .output()
        .expect("gantry logs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with(&format!(
            "seq {} {pad}\ndone {}\n",
            BATCHES * 1000 - 1,
            BATCHES * 1000
        )),
        "{text}"
    );
    assert!(dev.shutdown().await.is_empty());
}
