//! Issue 3's figures, in one run on one machine:
//! - network setup and teardown per task in `gantry-net` (namespace, veth, address, nftables
//!   element), bridge with one dynamic port mapping and awsvpc, p50/p99;
//! - RunTask -> RUNNING through `gantry dev` for networkMode none, bridge (one port mapping)
//!   and awsvpc, interleaved, p50/p99;
//! - iperf3 throughput as a ratio to host loopback: task -> task on one bridge, host ->
//!   task through a port mapping (127.0.0.1:hostPort, nftables DNAT), task -> task across
//!   two nodes (awsvpc, `gantry dev --nodes 2`, kernel routing);
//! - 200 bridge tasks with port mappings started at once: time until all are RUNNING;
//! - the 300-task bridge churn (the CI test runs 40), with its leftover checks.
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench network`
//! (GANTRY_BENCH_TASKS sets the latency sample size, default 30 per mode).

#[path = "network/iperf.rs"]
mod iperf;

use std::time::{Duration, Instant};

use gantry_net::{
    AwsvpcConfig, KernelNetwork, Mode, NetConfig, NetworkManager, PortMapping, TaskNetSpec,
};
use gantry_tests::churn;
use gantry_tests::dev::{Dev, DevOptions};
use iperf::Side;
use serde_json::json;

use gantry_tests::bench::percentile as pct;

fn row(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    println!(
        "| {name} | {} | {:.2} | {:.2} | {:.2} |",
        v.len(),
        pct(&v, 50.0),
        pct(&v, 99.0),
        pct(&v, 100.0)
    );
}

/// gantry-net alone: setup and teardown times, in ms.
fn setup_times(n: usize) {
    let dir = gantry_tests::TempDir::new("netbench");
    let cfg = NetConfig::new(dir.path().join("run"), dir.path().join("state"))
        .with_bridge("gtbe0f", "10.233.0.0/22".parse().expect("subnet"))
        .with_nft_table("gt_gtbe0f")
        .with_dynamic_ports(42000, 42999)
        .with_awsvpc(AwsvpcConfig {
            bridge: "gtbe0fv".into(),
            task_subnet: "10.234.1.0/24".parse().expect("subnet"),
            cluster_cidr: "10.234.0.0/16".parse().expect("subnet"),
        });
    let net = KernelNetwork::new(cfg).expect("net config");
    net.prepare_host().expect("prepare host");
    let (mut b_up, mut b_down, mut a_up, mut a_down) = (vec![], vec![], vec![], vec![]);
    for i in 0..n {
        for (mode, up, down) in [
            (Mode::Bridge, &mut b_up, &mut b_down),
            (Mode::Awsvpc, &mut a_up, &mut a_down),
        ] {
            let id = format!("bench{i:04}{}", mode.as_ecs());
            let mut spec = TaskNetSpec::new(&id, mode);
            if mode == Mode::Bridge {
                spec = spec.with_port_mappings(vec![PortMapping::tcp(80, None)]);
            }
            let t = Instant::now();
            net.setup(&spec).expect("setup");
            up.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            net.teardown(&id).expect("teardown");
            down.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!("\n### Network setup per task in gantry-net (ms)\n");
    println!("| step | n | p50 | p99 | max |\n| --- | --- | --- | --- | --- |");
    row("bridge setup (netns, veth, address, DNAT element)", b_up);
    row("bridge teardown (incl. conntrack flush)", b_down);
    row("awsvpc setup (netns, veth, address)", a_up);
    row("awsvpc teardown", a_down);
    for l in ["gtbe0f", "gtbe0fv"] {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", l])
            .status();
    }
    let _ = std::process::Command::new("nft")
        .args(["delete", "table", "ip", "gt_gtbe0f"])
        .status();
}

async fn register(dev: &Dev, family: &str, mode: &str, image: &str, ports: serde_json::Value) {
    let mut cd = json!({ "name": "main", "image": image, "memory": 16, "portMappings": ports });
    if image == "busybox:latest" {
        cd["command"] = json!(["sleep", "3600"]);
    }
    dev.ok(
        "RegisterTaskDefinition",
        json!({ "family": family, "networkMode": mode, "containerDefinitions": [cd] }),
    )
    .await;
}

async fn time_to_running(dev: &Dev, td: &str) -> (f64, String) {
    let t0 = Instant::now();
    let arn = dev.run_one(td).await;
    loop {
        let t = dev.describe(&arn).await;
        match t["lastStatus"].as_str() {
            Some("RUNNING") => return (t0.elapsed().as_secs_f64() * 1e3, arn),
            Some("STOPPED") => panic!("{td} stopped: {t}"),
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

async fn start_latency(dev: &Dev, n: usize) {
    register(dev, "lat-none", "none", "busybox:latest", json!([])).await;
    register(
        dev,
        "lat-bridge",
        "bridge",
        "busybox:latest",
        json!([{ "containerPort": 80, "hostPort": 0 }]),
    )
    .await;
    register(dev, "lat-awsvpc", "awsvpc", "busybox:latest", json!([])).await;
    let mut v = [vec![], vec![], vec![]];
    for _ in 0..n {
        let mut arns = vec![];
        for (i, td) in ["lat-none", "lat-bridge", "lat-awsvpc"].iter().enumerate() {
            let (ms, arn) = time_to_running(dev, td).await;
            v[i].push(ms);
            arns.push(arn);
        }
        for a in &arns {
            dev.ok("StopTask", json!({ "task": a })).await;
        }
        churn::wait_all(dev, &arns, "STOPPED").await;
    }
    println!("\n### RunTask -> RUNNING by network mode (ms, busybox `sleep`, cached image)\n");
    println!("| mode | n | p50 | p99 | max |\n| --- | --- | --- | --- | --- |");
    let [none, bridge, awsvpc] = v;
    row("none", none);
    row("bridge (1 dynamic port mapping)", bridge);
    row("awsvpc", awsvpc);
}

async fn running(dev: &Dev, td: &str) -> serde_json::Value {
    let arn = dev.run_one(td).await;
    let t = dev
        .wait_status(&arn, "RUNNING", Duration::from_secs(60))
        .await;
    assert_eq!(t["lastStatus"], "RUNNING", "{t}");
    t
}

fn arn(t: &serde_json::Value) -> String {
    t["taskArn"].as_str().unwrap_or_default().to_string()
}

async fn throughput_one_node(dev: &Dev) -> (f64, f64, f64) {
    let agent = dev.state.path().join("agent");
    let lo = iperf::gbits(&Side::Host, 45201, &Side::Host, "127.0.0.1", 45201);
    register(
        dev,
        "ip-task",
        "bridge",
        "busybox:latest",
        json!([{ "containerPort": 5201, "hostPort": 0 }]),
    )
    .await;
    let a = running(dev, "ip-task").await;
    let b = running(dev, "ip-task").await;
    let (na, nb) = (
        iperf::task_netns(&agent, &arn(&a)),
        iperf::task_netns(&agent, &arn(&b)),
    );
    let addr_a = churn::netns_address(&na).expect("task address");
    let t2t = iperf::gbits(
        &Side::Netns(na.clone()),
        5201,
        &Side::Netns(nb),
        &addr_a,
        5201,
    );
    let host_port = a["containers"][0]["networkBindings"][0]["hostPort"]
        .as_u64()
        .expect("host port");
    let h2t = iperf::gbits(
        &Side::Netns(na),
        5201,
        &Side::Host,
        "127.0.0.1",
        host_port as u16,
    );
    for t in [&a, &b] {
        dev.ok("StopTask", json!({ "task": arn(t) })).await;
    }
    (lo, t2t, h2t)
}

async fn throughput_across_nodes() -> f64 {
    let dev = Dev::start_with(DevOptions {
        args: vec!["--nodes".into(), "2".into()],
        ..Default::default()
    })
    .await;
    register(&dev, "ip-vpc", "awsvpc", "busybox:latest", json!([])).await;
    let inst = dev.instances().await;
    let mut ns = vec![];
    for i in &inst {
        let a = dev.start_on("ip-vpc", i).await;
        let t = dev
            .wait_status(&a, "RUNNING", Duration::from_secs(60))
            .await;
        assert_eq!(t["lastStatus"], "RUNNING", "{t}");
        let state = gantry_tests::nodes::node_state(dev.state.path(), dev.node_of(i)).join("agent");
        ns.push(iperf::task_netns(&state, &a));
    }
    let addr = churn::netns_address(&ns[0]).expect("task address");
    let g = iperf::gbits(
        &Side::Netns(ns[0].clone()),
        5201,
        &Side::Netns(ns[1].clone()),
        &addr,
        5201,
    );
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
    g
}

async fn burst(dev: &Dev, n: usize) -> f64 {
    register(
        dev,
        "burst",
        "bridge",
        "web:latest",
        json!([{ "containerPort": 80, "hostPort": 0 }]),
    )
    .await;
    let t0 = Instant::now();
    let arns = churn::run_tasks(dev, "burst", n).await;
    let all = churn::wait_all(dev, &arns, "RUNNING").await;
    let secs = t0.elapsed().as_secs_f64();
    assert!(all.iter().all(|t| t["lastStatus"] == "RUNNING"));
    for a in &arns {
        dev.ok("StopTask", json!({ "task": a })).await;
    }
    churn::wait_all(dev, &arns, "STOPPED").await;
    secs
}

fn main() {
    let n: usize = std::env::var("GANTRY_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    setup_times(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut opts = churn::options();
        opts.args.extend(["--awsvpc-subnet".into(), "10.235.1.0/24".into(), "--awsvpc-cluster-cidr".into(), "10.235.0.0/16".into()]);
        let dev = Dev::start_with(opts).await;
        start_latency(&dev, n).await;
        let (lo, t2t, h2t) = throughput_one_node(&dev).await;
        let x = throughput_across_nodes().await;
        println!("\n### iperf3 throughput (one TCP stream, 3 s; Gbit/s and ratio to loopback)\n");
        println!("| path | Gbit/s | ratio to loopback |\n| --- | --- | --- |");
        println!("| host loopback (127.0.0.1) | {lo:.1} | 1.00 |");
        println!("| task -> task, one bridge | {t2t:.1} | {:.2} |", t2t / lo);
        println!("| host -> task via 127.0.0.1:hostPort (DNAT) | {h2t:.1} | {:.2} |", h2t / lo);
        println!("| task -> task across nodes (awsvpc, routed) | {x:.1} | {:.2} |", x / lo);
        let secs = burst(&dev, 200).await;
        println!("\n200 bridge tasks with port mappings started at once: all RUNNING after {secs:.1} s");
        let report = churn::run(&dev, 300, 50).await;
        let left = churn::leftovers(&dev, &report);
        println!(
            "Churn: {} bridge tasks with port mappings started and stopped in {:.1} s; {} distinct host ports and {} addresses used; leftovers: {}",
            report.tasks,
            report.elapsed.as_secs_f64(),
            report.ports.len(),
            report.addresses.len(),
            if left.is_empty() { "none".to_string() } else { format!("{left:?}") }
        );
        let leaks = dev.shutdown().await;
        assert!(leaks.is_empty(), "{leaks:?}");
    });
}
