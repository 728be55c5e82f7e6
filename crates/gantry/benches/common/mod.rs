//! What the issue 12 benches (placements, ha) share: processes that die with their guard,
//! signed ECS calls, /proc figures, the simulated fleet's registration.
#![allow(dead_code)] // each bench uses its own part

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// A child process killed (SIGKILL) and reaped on drop.
pub struct Proc(pub Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `gantry <args>` with the test key, its stderr into `log` (appended) or nowhere.
pub fn spawn_logged(args: &[&str], log: Option<&Path>) -> Proc {
    let stderr = match log {
        Some(p) => Stdio::from(
            File::options()
                .create(true)
                .append(true)
                .open(p)
                .expect("open the log"),
        ),
        None => Stdio::null(),
    };
    let mut cmd = Command::new(gantry_tests::gantry_bin());
    cmd.args(args)
        .envs(gantry_tests::key_env())
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(stderr);
    // Killed with the bench even when the bench itself is killed and no Drop runs.
    gantry_tests::vm::die_with_parent(&mut cmd);
    Proc(cmd.spawn().expect("spawn gantry"))
}

pub fn spawn(args: &[&str]) -> Proc {
    spawn_logged(args, None)
}

/// An ECS call signed with the test key; the answer's JSON (Null when there is none).
pub async fn call(http: &reqwest::Client, ep: &str, op: &str, body: Value) -> Value {
    match gantry_tests::post_ecs(http, ep, op, body.to_string().into_bytes()).await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// One `kB` field of /proc/<pid>/status, in MiB.
pub fn mib(pid: u32, key: &str) -> f64 {
    gantry_tests::procs::kib(pid, "status", key) as f64 / 1024.0
}

/// The cluster's RUNNING tasks, as DescribeClusters counts them.
pub async fn running_tasks(http: &reqwest::Client, ep: &str, cluster: &str) -> usize {
    let d = call(http, ep, "DescribeClusters", json!({"clusters": [cluster]})).await;
    d["clusters"][0]["runningTasksCount"].as_u64().unwrap_or(0) as usize
}

/// Waits until `n` instances are registered in `cluster` (10 min, or 1 s per 5 instances
/// when that is longer).
pub async fn wait_instances(http: &reqwest::Client, ep: &str, cluster: &str, n: usize) {
    gantry_tests::wait_for(
        "the simulated instances",
        Duration::from_secs(600.max(n as u64 / 5)),
        || async {
            let d = call(http, ep, "DescribeClusters", json!({"clusters": [cluster]})).await;
            let got = d["clusters"][0]["registeredContainerInstancesCount"]
                .as_u64()
                .unwrap_or(0);
            (got as usize >= n).then_some(())
        },
    )
    .await;
}

/// The bytes of the files under `dir`, recursively.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
