//! Task networking end to end: bridge tasks with static and dynamic host ports reachable from
//! the host, containers of a task sharing localhost, and nothing left after they stop. Traffic
//! goes only to loopback and to the addresses of the tasks these tests start.

use std::time::Duration;

use gantry_tests::dev::{Dev, DevOptions};
use serde_json::json;

const T: Duration = Duration::from_secs(60);

use gantry_tests::http_get;

/// Each test gets its own bridge and subnet so suites can run side by side.
fn bridge_opts(n: u8) -> DevOptions {
    DevOptions {
        args: vec![
            "--bridge".into(),
            format!("gtbr{n}test"),
            "--bridge-subnet".into(),
            format!("10.231.{n}.0/24"),
            "--dynamic-host-ports".into(),
            format!(
                "{}-{}",
                40000 + u32::from(n) * 100,
                40000 + u32::from(n) * 100 + 99
            ),
        ],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_tasks_are_reachable_through_static_and_dynamic_host_ports() {
    let dev = Dev::start_with(bridge_opts(1)).await;
    let static_port = gantry_tests::free_port();
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "web-static",
            "networkMode": "bridge",
            "containerDefinitions": [{
                "name": "web", "image": "web:latest", "memory": 32,
                "portMappings": [{ "containerPort": 80, "hostPort": static_port }]
            }]
        }),
    )
    .await;
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "web-dynamic",
            "containerDefinitions": [{
                "name": "web", "image": "web:latest", "memory": 32,
                "portMappings": [{ "containerPort": 80, "hostPort": 0 }]
            }]
        }),
    )
    .await;
    let a = dev.run_one("web-static").await;
    let b = dev.run_one("web-dynamic").await;
    let ta = dev.wait_status(&a, "RUNNING", T).await;
    let tb = dev.wait_status(&b, "RUNNING", T).await;
    assert_eq!(ta["lastStatus"], "RUNNING", "{ta}\n{}", dev.log());
    let nb = &ta["containers"][0]["networkBindings"][0];
    assert_eq!(nb["hostPort"], static_port, "{ta}");
    assert_eq!(nb["containerPort"], 80);
    assert_eq!(nb["protocol"], "tcp");
    let dyn_port = tb["containers"][0]["networkBindings"][0]["hostPort"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        (40100..40200).contains(&dyn_port),
        "dynamic port from the configured range: {tb}"
    );

    for port in [static_port as u64, dyn_port] {
        let body =
            gantry_tests::wait_for("the task to answer on its host port", T, || async move {
                http_get(&format!("127.0.0.1:{port}")).filter(|b| b.contains("Hello from Gantry"))
            })
            .await;
        assert!(body.starts_with("HTTP/1."), "{body}");
    }

    // Static host ports are booked: a second task with the same port is not placed.
    let out = dev
        .ok("RunTask", json!({ "taskDefinition": "web-static" }))
        .await;
    assert_eq!(out["failures"][0]["reason"], "RESOURCE:PORTS", "{out}");

    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
    // Nothing of the task networks is left: no veth, no rules for these ports.
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    for id in [&a, &b] {
        let short: String = id.rsplit('/').next().unwrap().chars().take(8).collect();
        assert!(
            !links.contains(&format!("gt{short}")),
            "veth of {id} left: {links}"
        );
    }
    assert!(http_get(&format!("127.0.0.1:{static_port}")).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_task_share_localhost_and_none_has_only_loopback() {
    let dev = Dev::start_with(bridge_opts(2)).await;
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "pair",
            "networkMode": "bridge",
            "containerDefinitions": [
                { "name": "server", "image": "web:latest", "memory": 32, "essential": false,
                  "command": ["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"] },
                { "name": "client", "image": "busybox:latest", "memory": 32,
                  "command": ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://127.0.0.1:8080/ && exit 0; sleep 0.3; done; exit 1"] }
            ]
        }),
    )
    .await;
    let arn = dev.run_one("pair").await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    let client = t["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "client")
        .unwrap();
    assert_eq!(
        client["exitCode"], 0,
        "the client reached the server on localhost: {t}"
    );

    dev.register_busybox("isolated", &["sh", "-c", "ls /sys/class/net"], json!({}))
        .await;
    let arn = dev.run_one("isolated").await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    assert_eq!(t["containers"][0]["exitCode"], 0, "{t}");
    let id = arn.rsplit('/').next().unwrap();
    let log = std::fs::read_to_string(dev.tasks_dir().join(id).join("logs/main.log")).unwrap();
    assert!(log.contains("\"lo\""), "{log}");
    assert_eq!(
        log.lines().count(),
        1,
        "networkMode none has loopback only: {log}"
    );
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_network_input_is_refused_and_changes_nothing() {
    let dev = Dev::start_with(bridge_opts(3)).await;
    let before = dev.ok("ListTaskDefinitionFamilies", json!({})).await;
    let pm = |mode: &str, m: serde_json::Value| {
        json!({ "family": "badnet", "networkMode": mode, "containerDefinitions": [
            { "name": "a", "image": "busybox:latest", "memory": 32, "portMappings": m }]})
    };
    let cases = [
        pm(
            "bridge",
            json!([{ "containerPort": 80, "hostPort": 70000 }]),
        ),
        pm(
            "bridge",
            json!([{ "containerPort": 80 }, { "containerPort": 80 }]),
        ),
        pm("none", json!([{ "containerPort": 80 }])),
        pm("awsvpc", json!([{ "containerPort": 80, "hostPort": 81 }])),
        pm("host", json!([{ "containerPort": 80, "hostPort": 0 }])),
        json!({ "family": "badnet", "networkMode": "overlay", "containerDefinitions": [
            { "name": "a", "image": "busybox:latest", "memory": 32 }]}),
    ];
    for body in cases {
        let (kind, err) = dev
            .call("RegisterTaskDefinition", body.clone())
            .await
            .expect_err(&format!("{body} must be refused"));
        assert!(
            kind == "ClientException" || kind == "InvalidParameterException",
            "{kind} {err}"
        );
        assert!(!err["message"].as_str().unwrap_or_default().is_empty());
    }
    assert_eq!(
        dev.ok("ListTaskDefinitionFamilies", json!({})).await,
        before
    );
    assert!(dev.shutdown().await.is_empty());
}
