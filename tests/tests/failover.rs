//! An agent given several server addresses (`gantry agent --server A,B`) fails over when the
//! server it is connected to dies: it reconnects at the other address within seconds, keeps
//! its node credential and pinned CA, gets the full desired set and restarts no task.
//!
//! Two shapes: replicas of one cluster on one etcd (the HA topology), and, runnable with
//! SQLite, one server that is killed and comes back at the agent's other address (the same
//! agent code path: a dead address, then another one with the same store and CA).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gantry_tests::split::alive;
use gantry_tests::TempDir;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(60);
/// "Within a few seconds": the agent notices a killed replica at once (its socket closes)
/// and redials the next address after about 100 ms.
const FAILOVER: Duration = Duration::from_secs(10);

/// One `gantry server` process with its own state dir and port.
struct Replica {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Replica {
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Starts `gantry server --tls` on this replica's port (`store`: `--store URL`).
    fn start(&mut self, root: &Path, store: Option<&str>) {
        let log = log_file(root, &format!("server-{}.log", self.port));
        let mut cmd = Command::new(gantry_tests::gantry_bin());
        cmd.arg("server")
            .arg("--state-dir")
            .arg(&self.dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--tls");
        if let Some(s) = store {
            cmd.arg("--store").arg(s);
        }
        self.child = Some(
            cmd.envs(gantry_tests::key_env())
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .expect("start gantry server"),
        );
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn terminate(&mut self) {
        gantry_tests::dev::terminate(self.child.take(), Duration::from_secs(10));
    }
}

fn log_file(root: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join(name))
        .expect("log file")
}

/// The cluster of a test: replicas, one agent, a client that trusts the cluster CA, and the
/// clean-up (tasks stopped, processes ended, leaks checked) on [`Cluster::shutdown`].
struct Cluster {
    root: TempDir,
    replicas: Vec<Replica>,
    agent: Option<Child>,
    http: reqwest::Client,
}

impl Cluster {
    fn new(n: usize) -> Self {
        let root = TempDir::new("failover");
        let replicas = (0..n)
            .map(|i| Replica {
                dir: root.path().join(format!("r{i}")),
                port: gantry_tests::free_port(),
                child: None,
            })
            .collect();
        Self {
            root,
            replicas,
            agent: None,
            http: reqwest::Client::new(),
        }
    }

    fn cgroup_parent(&self) -> String {
        format!("/gantry-test-{}", self.replicas[0].port)
    }

    /// What every replica must share besides the store: the cluster CA (and its key) and
    /// the key of secrets at rest, copied from replica 0 (docs/ha.md).
    fn share_keys(&self, to: usize) {
        let (from, to) = (&self.replicas[0].dir, &self.replicas[to].dir);
        std::fs::create_dir_all(to.join("tls")).expect("tls dir");
        for f in ["tls/ca.pem", "tls/ca.key", "secret.key"] {
            if from.join(f).exists() {
                std::fs::copy(from.join(f), to.join(f)).expect("copy a shared key");
            }
        }
    }

    /// Starts replica `i` and waits until it answers (trusting the cluster CA).
    async fn start_replica(&mut self, i: usize, store: Option<&str>) {
        if i > 0 {
            self.share_keys(i);
        }
        self.replicas[i].start(self.root.path(), store);
        let ca = self.replicas[0].dir.join("tls").join("ca.pem");
        let pem = gantry_tests::wait_for("the cluster CA", T, || async {
            std::fs::read(&ca).ok().filter(|p| !p.is_empty())
        })
        .await;
        self.http = gantry_link::https_client(&pem).expect("the cluster CA is usable");
        let url = self.replicas[i].url();
        gantry_tests::wait_for(&format!("replica {i} to answer"), T, || async {
            self.call(&url, "ListClusters", json!({})).await.ok()
        })
        .await;
    }

    async fn call(&self, endpoint: &str, op: &str, body: Value) -> Result<Value, String> {
        let resp = gantry_tests::post_ecs(&self.http, endpoint, op, body.to_string().into_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if ok {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    }

    async fn ok(&self, endpoint: &str, op: &str, body: Value) -> Value {
        self.call(endpoint, op, body)
            .await
            .unwrap_or_else(|e| panic!("{op} at {endpoint}: {e}"))
    }

    /// Starts `gantry agent --server <every replica>` with a join token and the CA pin.
    async fn start_agent(&mut self) {
        let first = self.replicas[0].url();
        let (token, pin) = gantry_tests::join_token(&self.http, &first, "default", 1).await;
        let servers: Vec<String> = self.replicas.iter().map(Replica::url).collect();
        let log = log_file(self.root.path(), "agent.log");
        self.agent = Some(
            Command::new(gantry_tests::gantry_bin())
                .arg("agent")
                .arg("--state-dir")
                .arg(self.root.path())
                .arg("--server")
                .arg(servers.join(","))
                .args(["--stop-timeout", "2", "--task-cleanup-wait", "3600"])
                .arg("--image-layout")
                .arg(gantry_tests::images::layouts())
                .arg("--cgroup-parent")
                .arg(self.cgroup_parent())
                .env("GANTRY_JOIN_TOKEN", token)
                .env("GANTRY_CA_SHA256", pin)
                .envs(gantry_tests::key_env())
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .expect("start gantry agent"),
        );
    }

    /// The server the agent's status file names (it is rewritten on a failover).
    fn agent_server(&self) -> Option<String> {
        let path = self.root.path().join("agent").join("status.json");
        let v: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        v["server"].as_str().map(String::from)
    }

    /// The agent's log without colour codes (fields read `key=value`).
    fn agent_log(&self) -> String {
        let raw = std::fs::read_to_string(self.root.path().join("agent.log")).unwrap_or_default();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(ch) = chars.next() {
            if ch == '\x1b' {
                // CSI: ESC [ ... final byte in @..~
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) && c != '[' {
                        break;
                    }
                }
                continue;
            }
            out.push(ch);
        }
        out
    }

    /// Waits until the agent's status names `url` and its log shows a session there.
    async fn wait_agent_on(&self, url: &str, timeout: Duration) {
        let line = format!("connected to the control plane server={url}");
        gantry_tests::wait_for(
            &format!("the agent to connect to {url}"),
            timeout,
            || async {
                (self.agent_server().as_deref() == Some(url) && self.agent_log().contains(&line))
                    .then_some(())
            },
        )
        .await;
    }

    /// `agentConnected` of `instance` as the replica at `endpoint` describes it.
    async fn agent_connected(&self, endpoint: &str, instance: &str) -> Option<bool> {
        let v = self
            .ok(
                endpoint,
                "DescribeContainerInstances",
                json!({"containerInstances": [instance]}),
            )
            .await;
        v["containerInstances"][0]["agentConnected"].as_bool()
    }

    async fn register_sleeper(&self, endpoint: &str) {
        self.ok(
            endpoint,
            "RegisterTaskDefinition",
            json!({
                "family": "failover",
                "networkMode": "none",
                "containerDefinitions": [{
                    "name": "main", "image": "busybox:latest", "essential": true,
                    "memory": 16, "command": ["sleep", "600"],
                }],
            }),
        )
        .await;
    }

    /// RunTask at `endpoint` until it places (the replica that leads may be a moment away),
    /// then waits until the task is RUNNING there; returns the task.
    async fn run_running(&self, endpoint: &str) -> Value {
        let arn = gantry_tests::wait_for("RunTask to place a task", T, || async {
            let out = self
                .call(endpoint, "RunTask", json!({ "taskDefinition": "failover" }))
                .await
                .ok()?;
            out["tasks"][0]["taskArn"].as_str().map(String::from)
        })
        .await;
        self.wait_running(endpoint, &arn).await
    }

    async fn wait_running(&self, endpoint: &str, arn: &str) -> Value {
        gantry_tests::wait_for(&format!("{arn} to be RUNNING"), T, || async {
            let d = self
                .call(endpoint, "DescribeTasks", json!({ "tasks": [arn] }))
                .await
                .ok()?;
            let t = d["tasks"][0].clone();
            assert_ne!(t["lastStatus"], "STOPPED", "the task stopped: {t}");
            (t["lastStatus"] == "RUNNING").then_some(t)
        })
        .await
    }

    /// The host pids of the task's containers, from its journal on the node.
    fn container_pids(&self, arn: &str) -> Vec<i32> {
        let id = arn.rsplit('/').next().unwrap_or(arn);
        let path = self
            .root
            .path()
            .join("agent")
            .join("tasks")
            .join(id)
            .join("events.jsonl");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["event"] == "Started")
            .filter_map(|e| e["pid"].as_i64().and_then(|p| i32::try_from(p).ok()))
            .collect()
    }

    /// Stops `arns` through `endpoint`, ends every process, and returns the leaks found.
    async fn shutdown(mut self, endpoint: &str, arns: &[String]) -> Vec<String> {
        for a in arns {
            let _ = self
                .call(
                    endpoint,
                    "StopTask",
                    json!({ "task": a, "reason": "test cleanup" }),
                )
                .await;
        }
        for a in arns {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                match self
                    .call(endpoint, "DescribeTasks", json!({ "tasks": [a] }))
                    .await
                {
                    Ok(v) if v["tasks"][0]["lastStatus"] == "STOPPED" => break,
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
        gantry_tests::dev::terminate(self.agent.take(), Duration::from_secs(10));
        for r in &mut self.replicas {
            r.terminate();
        }
        let parent = self.cgroup_parent();
        let mut leaks = gantry_tests::leaks::find(self.root.path(), &parent);
        if !leaks.is_empty() {
            gantry_tests::leaks::force_cleanup(self.root.path(), &parent);
        }
        leaks.extend(gantry_tests::leaks::remove_cgroup_parent(&parent));
        leaks
    }
}

impl Drop for Cluster {
    // A test that failed half way still ends what it started.
    fn drop(&mut self) {
        if let Some(mut a) = self.agent.take() {
            let _ = a.kill();
            let _ = a.wait();
        }
        for r in &mut self.replicas {
            r.kill9();
        }
        let parent = self.cgroup_parent();
        if !gantry_tests::leaks::find(self.root.path(), &parent).is_empty() {
            gantry_tests::leaks::force_cleanup(self.root.path(), &parent);
        }
        let _ = gantry_tests::leaks::remove_cgroup_parent(&parent);
    }
}

/// What a failover must keep: the task's containers (same pids, alive), RUNNING as the
/// surviving server sees it, and a new task placed there runs on the same agent.
async fn assert_failed_over_without_restart(
    c: &Cluster,
    survivor: &str,
    task: &Value,
    pids: &[i32],
) -> Value {
    let arn = task["taskArn"].as_str().expect("taskArn");
    assert_eq!(
        c.container_pids(arn),
        pids,
        "the task's container was started again"
    );
    assert!(
        pids.iter().all(|p| alive(*p)),
        "the container {pids:?} died"
    );
    let seen = c.wait_running(survivor, arn).await;
    assert_eq!(seen["containerInstanceArn"], task["containerInstanceArn"]);
    let new = c.run_running(survivor).await;
    assert_eq!(
        new["containerInstanceArn"], task["containerInstanceArn"],
        "the new task runs on the agent that failed over"
    );
    // Still no restart after the new desired set.
    assert_eq!(c.container_pids(arn), pids);
    new
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_fails_over_to_its_other_address_and_restarts_nothing() {
    // One server and its SQLite store, reachable first at A, then (killed and started
    // again) only at B: to the agent, exactly a replica dying and another serving.
    let mut c = Cluster::new(2);
    let (a, b) = (c.replicas[0].url(), c.replicas[1].url());
    c.start_replica(0, None).await;
    c.start_agent().await;
    c.wait_agent_on(&a, T).await;
    c.register_sleeper(&a).await;
    let task = c.run_running(&a).await;
    let arn = task["taskArn"].as_str().expect("taskArn").to_string();
    let pids = c.container_pids(&arn);
    assert!(!pids.is_empty(), "no container pid recorded");

    c.replicas[0].kill9();
    // The same store and CA at B (the agent's second address).
    std::fs::rename(&c.replicas[0].dir, &c.replicas[1].dir).expect("move the server's state");
    let started = Instant::now();
    c.replicas[1].start(c.root.path(), None);
    c.wait_agent_on(&b, T).await;
    let took = started.elapsed();
    assert!(
        c.agent_log().contains(&format!("server={a} next={b}")),
        "the agent said nothing of the failover:\n{}",
        c.agent_log()
    );
    let new = assert_failed_over_without_restart(&c, &b, &task, &pids).await;
    eprintln!("failover to the other address took {took:?} (server start included)");
    let arns = [arn, new["taskArn"].as_str().unwrap_or_default().to_string()];
    let leaks = c.shutdown(&b, &arns).await;
    assert!(leaks.is_empty(), "leaks: {leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn an_agent_whose_replica_dies_reconnects_to_another_and_no_task_restarts() {
    let etcd = gantry_store::etcd_process::EtcdCluster::start(1).expect("etcd");
    let store = etcd.store_url();
    let mut c = Cluster::new(2);
    let (a, b) = (c.replicas[0].url(), c.replicas[1].url());
    c.start_replica(0, Some(&store)).await;
    c.start_replica(1, Some(&store)).await;
    c.start_agent().await;
    // The agent starts on its first address.
    c.wait_agent_on(&a, T).await;
    c.register_sleeper(&a).await;
    let task = c.run_running(&a).await;
    let arn = task["taskArn"].as_str().expect("taskArn").to_string();
    let pids = c.container_pids(&arn);
    assert!(!pids.is_empty(), "no container pid recorded");
    let instance = task["containerInstanceArn"]
        .as_str()
        .expect("instance")
        .to_string();
    // Both replicas say the agent is connected, the one without its session too.
    for r in [&a, &b] {
        assert_eq!(c.agent_connected(r, &instance).await, Some(true), "at {r}");
    }
    // The last write before the kill is not a task's: B's task index has no task change
    // at the store's revision, and its first set for the agent must still not wait for one.
    c.register_sleeper(&a).await;

    let killed = Instant::now();
    c.replicas[0].kill9();
    c.wait_agent_on(&b, FAILOVER).await;
    let took = killed.elapsed();
    let new = assert_failed_over_without_restart(&c, &b, &task, &pids).await;
    eprintln!("the agent was on the surviving replica {took:?} after kill -9 of its own");
    assert_eq!(c.agent_connected(&b, &instance).await, Some(true));
    let log = std::fs::read_to_string(
        c.root
            .path()
            .join(format!("server-{}.log", c.replicas[1].port)),
    )
    .unwrap_or_default();
    let first_set = log
        .lines()
        .find(|l| l.contains("task index caught up for the first set"))
        .unwrap_or_else(|| panic!("replica B sent no first set known to be current:\n{log}"));
    eprintln!("replica B's first set: {first_set}");
    assert!(
        !log.contains("task index not caught up"),
        "replica B sent a set it did not know to be current:\n{log}"
    );
    let arns = [arn, new["taskArn"].as_str().unwrap_or_default().to_string()];
    let leaks = c.shutdown(&b, &arns).await;
    drop(etcd);
    assert!(leaks.is_empty(), "leaks: {leaks:?}");
}
