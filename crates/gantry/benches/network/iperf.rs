//! iperf3 between network namespaces: the server runs with `nsenter --net=<ns> iperf3 -s -1`
//! (the host's iperf3 binary inside the task's network namespace, not an image), the client
//! likewise or on the host. One TCP stream, 3 s.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where a side of the test runs: the host's namespace or a task's pinned one.
#[derive(Debug, Clone)]
pub enum Side {
    Host,
    Netns(PathBuf),
}

fn command(side: &Side) -> Command {
    match side {
        Side::Host => Command::new("iperf3"),
        Side::Netns(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={}", ns.display())).arg("iperf3");
            c
        }
    }
}

/// Gbit/s from `client` to an iperf3 server started in `server` listening on `listen_port`,
/// the client dialing `target:port`.
pub fn gbits(server: &Side, listen_port: u16, client: &Side, target: &str, port: u16) -> f64 {
    let mut srv = command(server)
        .args(["-s", "-1", "-p", &listen_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start iperf3 -s (package iperf3)");
    let mut result = None;
    for _ in 0..50 {
        let out = command(client)
            .args(["-c", target, "-p", &port.to_string(), "-t", "3", "-J"])
            .output()
            .expect("run iperf3 -c");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(bps) = v["end"]["sum_received"]["bits_per_second"].as_f64() {
            result = Some(bps / 1e9);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = srv.kill();
    let _ = srv.wait();
    result.unwrap_or_else(|| panic!("iperf3 to {target}:{port} never completed"))
}

/// The pinned namespace of a task of the agent whose state dir is `agent_state`.
pub fn task_netns(agent_state: &Path, task_arn: &str) -> PathBuf {
    agent_state
        .join("run/netns")
        .join(task_arn.rsplit('/').next().unwrap_or_default())
}
