//! Bridge task churn through the whole stack: start and stop bridge tasks with dynamic host
//! port mappings in batches through the API, and check while they run that no address or host
//! port is held by two live tasks (host ports from DescribeTasks networkBindings, addresses
//! from the tasks' own namespaces in the kernel) and that each answers at its host port, and
//! afterwards that nothing is left (veths, namespaces, nftables elements, allocations,
//! conntrack entries). Used by `tests/tests/churn.rs` (a small count) and the network bench
//! (300).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::dev::{Dev, DevOptions};

/// The bridge, subnet and dynamic port range of the churn cluster.
pub const BRIDGE: &str = "gtc0de";
pub const SUBNET: &str = "10.232.0.0/22";
pub const SUBNET_PREFIX: &str = "10.232.";
pub const PORTS: (u16, u16) = (41000, 41999);

pub fn options() -> DevOptions {
    DevOptions {
        args: vec![
            "--bridge".into(),
            BRIDGE.into(),
            "--bridge-subnet".into(),
            SUBNET.into(),
            "--dynamic-host-ports".into(),
            format!("{}-{}", PORTS.0, PORTS.1),
        ],
        ..Default::default()
    }
}

/// What a churn run measured.
#[derive(Debug, Default)]
pub struct ChurnReport {
    pub tasks: usize,
    pub elapsed: Duration,
    /// Host ports and task addresses seen over the run (reuse after a stop is fine).
    pub ports: Vec<u64>,
    pub addresses: Vec<String>,
}

fn http_ok(addr: &str) -> bool {
    crate::http_get(addr).is_some_and(|b| b.contains("Hello from Gantry"))
}

/// The IPv4 address configured on `eth0` in the task's pinned namespace.
fn task_address(dev: &Dev, task_id: &str) -> Option<String> {
    netns_address(&dev.state.path().join("agent/run/netns").join(task_id))
}

/// The IPv4 address of `eth0` in the network namespace pinned at `ns`.
pub fn netns_address(ns: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let inet = s.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
    inet.split('/').next().map(String::from)
}

/// Runs `total` tasks in batches of `batch` (at most 10 per RunTask call) and checks every
/// batch while it runs. Panics on the first violation.
pub async fn run(dev: &Dev, total: usize, batch: usize) -> ChurnReport {
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "churn", "networkMode": "bridge",
            "containerDefinitions": [{ "name": "web", "image": "web:latest", "memory": 16,
                "portMappings": [{ "containerPort": 80, "hostPort": 0 }] }]
        }),
    )
    .await;
    let t0 = Instant::now();
    let mut seen_ports = std::collections::HashSet::new();
    let mut seen_addrs = std::collections::HashSet::new();
    let mut done = 0;
    while done < total {
        let n = batch.min(total - done);
        let arns = run_tasks(dev, "churn", n).await;
        let running = wait_all(dev, &arns, "RUNNING").await;
        let mut ports: HashMap<u64, String> = HashMap::new();
        let mut addrs: HashMap<String, String> = HashMap::new();
        for t in &running {
            let arn = t["taskArn"].as_str().unwrap_or_default().to_string();
            assert_eq!(t["lastStatus"], "RUNNING", "{t}\n{}", dev.log());
            let port = t["containers"][0]["networkBindings"][0]["hostPort"]
                .as_u64()
                .unwrap_or_else(|| panic!("no host port: {t}"));
            assert!(
                (u64::from(PORTS.0)..=u64::from(PORTS.1)).contains(&port),
                "{t}"
            );
            if let Some(other) = ports.insert(port, arn.clone()) {
                panic!("host port {port} given to two live tasks: {other} and {arn}");
            }
            let id = arn.rsplit('/').next().unwrap_or_default();
            let addr = task_address(dev, id)
                .unwrap_or_else(|| panic!("task {arn} has no address in its namespace"));
            assert!(addr.starts_with(SUBNET_PREFIX), "{addr}");
            if let Some(other) = addrs.insert(addr.clone(), arn.clone()) {
                panic!("address {addr} given to two live tasks: {other} and {arn}");
            }
        }
        for port in ports.keys() {
            let a = format!("127.0.0.1:{port}");
            crate::wait_for(
                &format!("a churn task to answer on {a}"),
                Duration::from_secs(30),
                || {
                    let a = a.clone();
                    async move { http_ok(&a).then_some(()) }
                },
            )
            .await;
        }
        seen_ports.extend(ports.into_keys());
        seen_addrs.extend(addrs.into_keys());
        for a in &arns {
            dev.ok("StopTask", json!({ "task": a, "reason": "churn" }))
                .await;
        }
        wait_all(dev, &arns, "STOPPED").await;
        done += n;
    }
    ChurnReport {
        tasks: done,
        elapsed: t0.elapsed(),
        ports: seen_ports.into_iter().collect(),
        addresses: seen_addrs.into_iter().collect(),
    }
}

/// Runs `n` tasks of `td` with RunTask calls of up to 10, back to back; a call the server
/// refused for contention (`RESOURCE:CONTENTION`) is made again, any other failure panics.
pub async fn run_tasks(dev: &Dev, td: &str, n: usize) -> Vec<String> {
    let mut arns = Vec::new();
    while arns.len() < n {
        let count = (n - arns.len()).min(10);
        let out = dev
            .ok("RunTask", json!({ "taskDefinition": td, "count": count }))
            .await;
        arns.extend(
            out["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["taskArn"].as_str().map(String::from)),
        );
        for f in out["failures"].as_array().into_iter().flatten() {
            assert_eq!(f["reason"], "RESOURCE:CONTENTION", "RunTask failed: {out}");
        }
    }
    arns
}

/// Waits until every task is `status` (or STOPPED); returns their descriptions.
pub async fn wait_all(dev: &Dev, arns: &[String], status: &str) -> Vec<Value> {
    crate::wait_for(
        &format!("{} tasks to be {status}", arns.len()),
        Duration::from_secs(180),
        || async {
            let mut all = Vec::new();
            for chunk in arns.chunks(100) {
                let out = dev
                    .call("DescribeTasks", json!({ "tasks": chunk }))
                    .await
                    .ok()?;
                all.extend(out["tasks"].as_array()?.iter().cloned());
            }
            all.iter()
                .all(|t| t["lastStatus"] == status || t["lastStatus"] == "STOPPED")
                .then_some(all)
        },
    )
    .await
}

/// What the churn left on the node: veths on the bridge, pinned namespaces, nftables map
/// elements, allocations, conntrack entries of the tasks' addresses and host ports.
pub fn leftovers(dev: &Dev, report: &ChurnReport) -> Vec<String> {
    let mut left = Vec::new();
    let sh = |cmd: &[&str]| {
        std::process::Command::new(cmd[0])
            .args(&cmd[1..])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    for l in sh(&["ip", "-o", "link", "show", "master", BRIDGE]).lines() {
        left.push(format!("veth: {l}"));
    }
    let netns = std::fs::read_dir(dev.state.path().join("agent/run/netns"))
        .into_iter()
        .flatten()
        .count();
    if netns > 0 {
        left.push(format!("{netns} pinned namespaces"));
    }
    let table = format!("gt_{BRIDGE}");
    let map = sh(&["nft", "list", "map", "ip", &table, "ports"]);
    if map.contains("elements") {
        left.push(format!("nftables elements: {map}"));
    }
    let allocs = std::fs::read_to_string(dev.state.path().join("agent/net/allocations.json"))
        .unwrap_or_default();
    let v: Value = serde_json::from_str(&allocs).unwrap_or(Value::Null);
    if v["tasks"].as_object().is_some_and(|t| !t.is_empty()) {
        left.push(format!("allocations: {}", v["tasks"]));
    }
    let addrs: std::collections::HashSet<String> =
        report.addresses.iter().map(|a| format!("={a} ")).collect();
    // A flow through a task's host port is DNAT'd to the task, so its reply tuple names the
    // task's address; a loopback flow that merely reuses the same port number (another
    // process's ephemeral port) is not the task's and must not count.
    for l in sh(&["conntrack", "-L"]).lines() {
        let l = format!("{l} ");
        if addrs.iter().any(|a| l.contains(a.as_str())) {
            left.push(format!("conntrack: {l}"));
        }
    }
    left
}
