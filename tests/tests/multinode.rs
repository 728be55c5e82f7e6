//! Several nodes on one machine (`gantry dev --nodes N`, each agent in its own network
//! namespace with its own node address): awsvpc tasks reach each other across nodes by task
//! address through the routes the server hands out, bridge tasks answer at each node's
//! address on their host port, and the scheduler spreads static host ports over the nodes.
//! Traffic goes only to the node and task addresses these tests create.

use std::time::Duration;

use gantry_tests::dev::{Dev, DevOptions};
use gantry_tests::nodes;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(90);

fn two_nodes() -> DevOptions {
    DevOptions {
        args: vec!["--nodes".into(), "2".into()],
        ..Default::default()
    }
}

use gantry_tests::http_get;

fn eni_address(task: &Value) -> String {
    task["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "ElasticNetworkInterface")
        .and_then(|a| a["details"].as_array())
        .into_iter()
        .flatten()
        .find(|d| d["name"] == "privateIPv4Address")
        .and_then(|d| d["value"].as_str())
        .unwrap_or_else(|| panic!("no ENI address in {task}"))
        .to_string()
}

fn slice_of(ip: &str) -> String {
    ip.rsplit_once('.')
        .map(|(n, _)| n.to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awsvpc_tasks_reach_each_other_across_nodes_by_task_address() {
    let dev = Dev::start_with(two_nodes()).await;
    let inst = dev.instances().await;
    assert_eq!(inst.len(), 2, "{inst:?}");
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "vpc-web", "networkMode": "awsvpc",
            "containerDefinitions": [{ "name": "web", "image": "web:latest", "memory": 32,
                "portMappings": [{ "containerPort": 80 }] }]
        }),
    )
    .await;
    let web = dev.start_on("vpc-web", &inst[0]).await;
    let w = dev.wait_status(&web, "RUNNING", T).await;
    assert_eq!(w["lastStatus"], "RUNNING", "{w}\n{}", dev.log());
    assert_eq!(w["containerInstanceArn"], inst[0].as_str());
    let web_ip = eni_address(&w);

    // A task on the other node fetches the page by the web task's address.
    let fetch = [
        "sh",
        "-c",
        &format!("wget -q -O - http://{web_ip}/ && ip -4 -o addr show eth0"),
    ];
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "vpc-fetch", "networkMode": "awsvpc",
            "containerDefinitions": [{ "name": "main", "image": "busybox:latest",
                "memory": 32, "command": fetch }]
        }),
    )
    .await;
    let f = dev.start_on("vpc-fetch", &inst[1]).await;
    // (busybox 1.35's `wget -T` crashes, so no -T: the test's deadline bounds it.)
    let ft = dev.wait_status(&f, "STOPPED", T).await;
    assert_eq!(ft["containerInstanceArn"], inst[1].as_str());
    let fetch_ip = eni_address(&ft);
    assert_ne!(
        slice_of(&fetch_ip),
        slice_of(&web_ip),
        "each node has its own slice: {fetch_ip} {web_ip}"
    );
    let (web_node, fetch_node) = (dev.node_of(&inst[0]), dev.node_of(&inst[1]));
    let id = f.rsplit('/').next().unwrap();
    let log = std::fs::read_to_string(
        nodes::node_state(dev.state.path(), fetch_node)
            .join("agent/tasks")
            .join(id)
            .join("logs/main.log"),
    )
    .unwrap_or_default();
    assert_eq!(
        ft["containers"][0]["exitCode"],
        0,
        "the fetch from the other node failed: {ft}\n{log}\n{}",
        dev.log()
    );
    assert!(log.contains("Hello from Gantry"), "{log}");
    // The fetching task's own address is its identity across nodes (no masquerade).
    assert!(log.contains(&format!("inet {fetch_ip}/")), "{log}");

    // The fetching node (as a host) routes the web node's slice through its address.
    let routes = nodes::in_node(dev.port, fetch_node, &["ip", "-4", "route"]);
    let routes = String::from_utf8_lossy(&routes.stdout).into_owned();
    assert!(
        routes.contains(&format!(
            "{}.0/24 via {}",
            slice_of(&web_ip),
            nodes::node_address(dev.port, web_node)
        )),
        "{routes}"
    );

    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_ports_answer_at_each_node_address_and_spread_over_nodes() {
    let dev = Dev::start_with(two_nodes()).await;
    let inst = dev.instances().await;
    let host_port = 8080;
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "web-8080", "networkMode": "bridge",
            "containerDefinitions": [{ "name": "web", "image": "web:latest", "memory": 32,
                "portMappings": [{ "containerPort": 80, "hostPort": host_port }] }]
        }),
    )
    .await;
    let a = dev.run_one("web-8080").await;
    let b = dev.run_one("web-8080").await;
    let ta = dev.wait_status(&a, "RUNNING", T).await;
    let tb = dev.wait_status(&b, "RUNNING", T).await;
    assert_eq!(ta["lastStatus"], "RUNNING", "{ta}\n{}", dev.log());
    assert_eq!(tb["lastStatus"], "RUNNING", "{tb}\n{}", dev.log());
    assert_ne!(
        ta["containerInstanceArn"], tb["containerInstanceArn"],
        "the same static host port must land on different instances"
    );
    // All instances have the port taken now.
    let out = dev
        .ok("RunTask", json!({ "taskDefinition": "web-8080" }))
        .await;
    assert_eq!(out["failures"][0]["reason"], "RESOURCE:PORTS", "{out}");
    assert!(
        out["tasks"].as_array().is_some_and(|t| t.is_empty()),
        "{out}"
    );

    // Each node answers at its own address, from the host, through the kernel DNAT.
    for i in 1..=2 {
        let addr = format!("{}:{host_port}", nodes::node_address(dev.port, i));
        let body = gantry_tests::wait_for(&format!("node {i} to answer on {addr}"), T, || {
            let addr = addr.clone();
            async move { http_get(&addr).filter(|b| b.contains("Hello from Gantry")) }
        })
        .await;
        assert!(body.starts_with("HTTP/1."), "{body}");
    }
    for t in [&ta, &tb] {
        assert!(
            inst.iter().any(|i| t["containerInstanceArn"] == i.as_str()),
            "{t}"
        );
    }

    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_tasks_and_removes_the_nodes() {
    let dev = Dev::start_with(two_nodes()).await;
    dev.register_busybox("sleeper", &["sleep", "3600"], json!({}))
        .await;
    let inst = dev.instances().await;
    let mut arns = Vec::new();
    for i in &inst {
        arns.push(dev.start_on("sleeper", i).await);
    }
    for a in &arns {
        let t = dev.wait_status(a, "RUNNING", T).await;
        assert_eq!(t["lastStatus"], "RUNNING", "{t}");
    }
    let port = dev.port;
    assert_eq!(
        nodes::fabric_leaks(port).len(),
        2 + 2 + 1,
        "two netns, two veths, the bridge"
    );
    // No StopTask from the test: gantry dev stops the tasks, then removes its nodes.
    let leaks = dev.terminate_and_check();
    assert!(leaks.is_empty(), "{leaks:?}");
}
