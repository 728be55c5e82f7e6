//! awsvpc out of the box: on a `gantry dev` started without any awsvpc flag, an awsvpc task
//! gets an address of its own (an ElasticNetworkInterface attachment with a private IPv4
//! address) and answers at it from the host; a node that cannot run awsvpc is no placement
//! candidate, so RunTask and StartTask answer with ECS's `ATTRIBUTE` failure instead of a task
//! that stops. Traffic goes only to the task addresses these tests create.

use std::net::Ipv4Addr;
use std::time::Duration;

use gantry_tests::dev::{Dev, DevOptions};
use gantry_tests::http_get;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(60);

/// A bridge of its own (removed at shutdown with its awsvpc twin `<bridge>v`), so the test
/// leaves the host as it found it; nothing about awsvpc is configured.
fn plain_opts() -> DevOptions {
    DevOptions {
        args: vec![
            "--bridge".into(),
            "gtbr41test".into(),
            "--bridge-subnet".into(),
            "10.231.41.0/24".into(),
            "--dynamic-host-ports".into(),
            "44100-44199".into(),
        ],
        ..Default::default()
    }
}

fn eni_address(task: &Value) -> Option<Ipv4Addr> {
    task["attachments"]
        .as_array()?
        .iter()
        .find(|a| a["type"] == "ElasticNetworkInterface")?["details"]
        .as_array()?
        .iter()
        .find(|d| d["name"] == "privateIPv4Address")?["value"]
        .as_str()?
        .parse()
        .ok()
}

/// `a.b.c.d/n` as (network, prefix).
fn cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, p) = s.split_once('/')?;
    Some((a.parse().ok()?, p.parse().ok().filter(|p| *p <= 32)?))
}

fn contains((net, prefix): (Ipv4Addr, u8), ip: Ipv4Addr) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(net) & mask == u32::from(ip) & mask
}

/// A log line without its colour codes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut escape = false;
    for c in line.chars() {
        match (escape, c) {
            (false, '\u{1b}') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

async fn register_web(dev: &Dev) {
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "vpc-web", "networkMode": "awsvpc",
            "containerDefinitions": [{ "name": "web", "image": "web:latest", "memory": 32,
                "portMappings": [{ "containerPort": 80 }] }]
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awsvpc_task_gets_an_address_and_answers_on_a_plain_gantry_dev() {
    let dev = Dev::start_with(plain_opts()).await;
    let inst = dev.instances().await;
    let ci = dev
        .ok(
            "DescribeContainerInstances",
            json!({ "containerInstances": [inst[0]] }),
        )
        .await;
    assert!(
        ci["containerInstances"][0]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["name"] == "ecs.capability.task-eni"),
        "the dev node advertises awsvpc: {ci}"
    );
    register_web(&dev).await;
    let arn = dev.run_one("vpc-web").await;
    let t = dev.wait_status(&arn, "RUNNING", T).await;
    assert_eq!(t["lastStatus"], "RUNNING", "{t}\n{}", dev.log());
    let ip = eni_address(&t).unwrap_or_else(|| panic!("no ENI address in {t}"));
    assert!(ip.is_private(), "{ip}");
    let bridge = cidr("10.231.41.0/24").unwrap();
    assert!(!contains(bridge, ip), "{ip} is in the bridge subnet");
    // The chosen network is logged, and the address is in it.
    let log = dev.log();
    let chosen = log
        .lines()
        .find(|l| l.contains("awsvpc task network"))
        .and_then(|l| {
            strip_ansi(l)
                .split_whitespace()
                .find_map(|w| cidr(w.trim_start_matches("task_network=")))
        })
        .unwrap_or_else(|| panic!("no chosen task network in the log:\n{log}"));
    assert!(contains(chosen, ip), "{ip} outside {chosen:?}");
    assert!(!contains(chosen, bridge.0) && !contains(bridge, chosen.0));

    // Reachable from the host at its own address, no host port involved.
    let body = gantry_tests::wait_for("the awsvpc task to answer at its address", T, || {
        let addr = format!("{ip}:80");
        async move { http_get(&addr).filter(|b| b.contains("Hello from Gantry")) }
    })
    .await;
    assert!(body.starts_with("HTTP/1."), "{body}");

    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
    // (No request after shutdown: without the task bridge the address is routed off the
    // host.) The task bridge and its route are gone.
    let routes = std::process::Command::new("ip")
        .args(["-4", "route", "show", "dev", "gtbr41testv"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(routes.trim().is_empty(), "{routes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_awsvpc_is_no_candidate_and_run_task_says_attribute() {
    // `gantry server` without --task-network and `gantry agent` without --awsvpc-subnet: a
    // node that cannot give awsvpc tasks addresses.
    let mut opts = plain_opts();
    opts.args[1] = "gtbr42test".into();
    opts.args[3] = "10.231.42.0/24".into();
    opts.args[5] = "44200-44299".into();
    let dev = Dev::start_split(opts).await;
    let inst = dev.instances().await;
    register_web(&dev).await;

    let out = dev
        .ok("RunTask", json!({ "taskDefinition": "vpc-web" }))
        .await;
    assert_eq!(out["tasks"], json!([]), "{out}");
    let failures = out["failures"].as_array().cloned().unwrap_or_default();
    assert_eq!(failures.len(), 1, "{out}");
    assert_eq!(failures[0]["reason"], "ATTRIBUTE", "{out}");
    assert_eq!(failures[0]["arn"], inst[0].as_str(), "{out}");

    let out = dev
        .ok(
            "StartTask",
            json!({ "taskDefinition": "vpc-web", "containerInstances": [inst[0]] }),
        )
        .await;
    assert_eq!(out["tasks"], json!([]), "{out}");
    assert_eq!(out["failures"][0]["reason"], "ATTRIBUTE", "{out}");

    // No task was made, so none stopped with "not configured on this node".
    let listed = dev
        .ok("ListTasks", json!({ "desiredStatus": "STOPPED" }))
        .await;
    assert_eq!(listed["taskArns"], json!([]), "{listed}");
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}
