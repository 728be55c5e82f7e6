//! A one-machine Gantry cluster (`gantry dev`) per test, on its own port and state dir.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::TempDir;

/// A running `gantry dev` (or, with [`DevOptions::split`], `gantry server` and `gantry
/// agent` as two processes). Dropping it stops every task it runs, stops the processes,
/// checks that nothing was left behind and removes the state dir.
pub struct Dev {
    /// `gantry dev`, or `gantry server` in split mode.
    pub(crate) child: Option<Child>,
    /// `gantry agent`, in split mode.
    pub(crate) agent: Option<Child>,
    pub port: u16,
    pub endpoint: String,
    pub state: TempDir,
    pub(crate) http: reqwest::Client,
    pub(crate) opts: DevOptions,
    /// Node agents in their own namespaces (`--nodes`), 0 for the single in-process one.
    pub nodes: usize,
    /// Split mode: the join token the agent joined with (it keeps its node credential in
    /// its state dir, so a restarted agent comes back without it).
    pub(crate) join_token: Option<String>,
    /// Split mode with TLS: the CA hash the agent pins.
    pub(crate) ca_sha256: Option<String>,
}

/// Options for [`Dev::start_with`].
#[derive(Default, Clone)]
pub struct DevOptions {
    /// Extra flags for `gantry dev` (for the agent, in split mode).
    pub args: Vec<String>,
    /// Extra environment of the processes (e.g. `GANTRY_FAILPOINT`); supervisors inherit it.
    pub env: Vec<(String, String)>,
    /// Run `gantry server` and `gantry agent` as two processes, so each can be killed and
    /// restarted alone (`kill9_server`, `kill9_agent`, ...).
    pub split: bool,
    /// Split mode: `gantry server --tls` on loopback; the harness trusts its cluster CA and
    /// the agent pins it on first contact by the hash CreateJoinToken returns.
    pub tls: bool,
    /// Split mode: extra flags for `gantry server`.
    pub server_args: Vec<String>,
}

impl Dev {
    pub async fn start() -> Self {
        Self::start_with(DevOptions::default()).await
    }

    /// `gantry server` and `gantry agent` as two processes on one state dir, as on a real
    /// node, so each can be measured and killed on its own.
    pub async fn start_split(opts: DevOptions) -> Self {
        Self::start_with(DevOptions {
            split: true,
            ..opts
        })
        .await
    }

    /// The pids of the agent and the server (split mode), or of `gantry dev` twice.
    pub fn pids(&self) -> (u32, u32) {
        let server = self.child.as_ref().map(Child::id).unwrap_or_default();
        let agent = self.agent.as_ref().map(Child::id).unwrap_or(server);
        (agent, server)
    }

    /// Split mode: `kill -9` the agent alone (its tasks keep running) and start it again,
    /// without waiting for it to reconnect.
    pub fn kill9_and_restart_agent(&mut self) {
        kill9(self.agent.take());
        self.agent = Some(self.spawn("agent"));
    }

    pub async fn start_with(opts: DevOptions) -> Self {
        let state = TempDir::new("dev");
        let port = crate::free_port();
        let mut extra = opts.args;
        let nodes = extra
            .iter()
            .position(|a| a == "--nodes")
            .and_then(|i| extra.get(i + 1))
            .and_then(|n| n.parse().ok())
            .filter(|n: &usize| *n > 1)
            .unwrap_or(0);
        if nodes > 0 {
            extra.extend([
                "--node-net".to_string(),
                crate::nodes::node_net(port),
                "--node-subnet".to_string(),
                crate::nodes::node_subnet(port),
            ]);
        }
        let mut dev = Self {
            child: None,
            agent: None,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            state,
            http: reqwest::Client::new(),
            opts: DevOptions {
                args: extra,
                ..opts
            },
            nodes,
            join_token: None,
            ca_sha256: None,
        };
        if dev.opts.tls {
            assert!(dev.opts.split, "DevOptions::tls needs split");
            dev.endpoint = format!("https://127.0.0.1:{port}");
        }
        if dev.opts.split {
            dev.start_server().await;
            dev.start_agent().await;
        } else {
            dev.child = Some(dev.spawn("dev"));
            dev.wait_ready().await;
        }
        dev
    }

    /// Starts `gantry <what>` (dev, server or agent) with this cluster's flags, logging to
    /// `dev.log`.
    pub(crate) fn spawn(&self, what: &str) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.path().join("dev.log"))
            .expect("dev.log");
        let mut cmd = Command::new(crate::gantry_bin());
        cmd.arg(what).arg("--state-dir").arg(self.state.path());
        if what == "agent" {
            cmd.arg("--server").arg(&self.endpoint);
        } else {
            cmd.arg("--listen").arg(format!("127.0.0.1:{}", self.port));
        }
        if what == "server" && self.opts.tls {
            cmd.arg("--tls");
        }
        if what == "server" {
            cmd.args(&self.opts.server_args);
        }
        if what != "server" {
            // Test defaults, unless the options set them.
            for (flag, default) in [("--stop-timeout", "2"), ("--task-cleanup-wait", "3600")] {
                if !self.opts.args.iter().any(|a| a == flag) {
                    cmd.arg(flag).arg(default);
                }
            }
            cmd.arg("--image-layout")
                .arg(crate::images::layouts())
                .arg("--cgroup-parent")
                .arg(self.cgroup_parent())
                .args(&self.opts.args);
        }
        // The test key, as the administrator's (server, dev) and the agents' key; a test's
        // own environment comes after, so it can replace it.
        if let (true, Some(t)) = (what == "agent", &self.join_token) {
            cmd.env("GANTRY_JOIN_TOKEN", t);
        }
        if let (true, Some(h)) = (what == "agent", &self.ca_sha256) {
            cmd.env("GANTRY_CA_SHA256", h);
        }
        cmd.envs(crate::key_env())
            .envs(self.opts.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start gantry {what}: {e}"))
    }

    pub(crate) async fn wait_ready(&self) {
        // Registered is not enough: a task started before an agent's session is up fails
        // with reason AGENT.
        crate::wait_for(
            "gantry dev's agents to register and connect",
            Duration::from_secs(30),
            || async {
                let out = self.call("ListContainerInstances", json!({})).await.ok()?;
                let arns = out["containerInstanceArns"]
                    .as_array()
                    .filter(|a| a.len() >= self.nodes.max(1))?
                    .clone();
                let d = self
                    .call(
                        "DescribeContainerInstances",
                        json!({ "containerInstances": arns }),
                    )
                    .await
                    .ok()?;
                let all = d["containerInstances"].as_array()?;
                (all.len() == arns.len() && all.iter().all(|i| i["agentConnected"] == true))
                    .then_some(())
            },
        )
        .await;
    }

    /// The log of `gantry dev`, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("dev.log")).unwrap_or_default()
    }

    /// `kill -9` the process (both, in split mode; tasks keep running), then start it again
    /// on the same state dir.
    pub async fn kill9_and_restart(&mut self) {
        if self.opts.split {
            self.kill9_agent();
            self.kill9_server();
            self.start_server().await;
            self.start_agent().await;
            return;
        }
        kill9(self.child.take());
        self.child = Some(self.spawn("dev"));
        self.wait_ready().await;
    }

    /// `gantry` (the CLI) against this cluster, signing with the test key.
    pub fn cli(&self) -> Command {
        crate::gantry_cli(&self.endpoint)
    }

    /// Posts `body` to the ECS operation `op` as it is (valid JSON or not), signed with the
    /// test key.
    pub async fn post_raw(&self, op: &str, body: Vec<u8>) -> reqwest::Result<reqwest::Response> {
        crate::post_ecs(&self.http, &self.endpoint, op, body).await
    }

    /// Calls an ECS operation; `Err` carries the `__type` and the body.
    pub async fn call(&self, op: &str, body: Value) -> Result<Value, (String, Value)> {
        let resp = self
            .post_raw(op, body.to_string().into_bytes())
            .await
            .map_err(|e| ("Transport".to_string(), json!(e.to_string())))?;
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if ok {
            Ok(v)
        } else {
            Err((v["__type"].as_str().unwrap_or("?").to_string(), v))
        }
    }

    /// Calls an operation that must succeed.
    pub async fn ok(&self, op: &str, body: Value) -> Value {
        match self.call(op, body.clone()).await {
            Ok(v) => v,
            Err((t, v)) => panic!(
                "{op} {body} failed: {t} {v}\n--- gantry dev log ---\n{}",
                self.log()
            ),
        }
    }

    /// The container instance ARNs of the cluster, sorted.
    pub async fn instances(&self) -> Vec<String> {
        let out = self.ok("ListContainerInstances", json!({})).await;
        let mut arns: Vec<String> = out["containerInstanceArns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(String::from))
            .collect();
        arns.sort();
        arns
    }

    /// Starts one task of `td` on the given container instance and returns its ARN.
    pub async fn start_on(&self, td: &str, instance: &str) -> String {
        let out = self
            .ok(
                "StartTask",
                json!({ "taskDefinition": td, "containerInstances": [instance] }),
            )
            .await;
        out["tasks"][0]["taskArn"]
            .as_str()
            .unwrap_or_else(|| panic!("StartTask started nothing: {out}"))
            .to_string()
    }

    /// Registers a one-container task definition running `command` in the busybox image.
    pub async fn register_busybox(&self, family: &str, command: &[&str], extra: Value) -> Value {
        let mut cd = json!({
            "name": "main",
            "image": "busybox:latest",
            "essential": true,
            "memory": 64,
            "command": command,
        });
        if let (Some(dst), Some(src)) = (cd.as_object_mut(), extra.as_object()) {
            for (k, v) in src {
                dst.insert(k.clone(), v.clone());
            }
        }
        self.ok(
            "RegisterTaskDefinition",
            json!({ "family": family, "networkMode": "none", "containerDefinitions": [cd] }),
        )
        .await
    }

    /// Runs one task and returns its ARN.
    pub async fn run_one(&self, td: &str) -> String {
        let out = self.ok("RunTask", json!({ "taskDefinition": td })).await;
        out["tasks"][0]["taskArn"]
            .as_str()
            .unwrap_or_else(|| panic!("RunTask placed nothing: {out}"))
            .to_string()
    }

    pub async fn describe(&self, arn: &str) -> Value {
        self.ok("DescribeTasks", json!({ "tasks": [arn] })).await["tasks"][0].clone()
    }

    /// Waits until the task's lastStatus is `status` (or STOPPED, which ends any wait).
    pub async fn wait_status(&self, arn: &str, status: &str, timeout: Duration) -> Value {
        let what = format!("task {arn} to be {status}");
        crate::wait_for(&what, timeout, || async {
            let t = self.describe(arn).await;
            let last = t["lastStatus"].as_str().unwrap_or_default().to_string();
            (last == status || last == "STOPPED").then_some(t)
        })
        .await
    }

    /// The node bridge this test asked for with `--bridge`, if any.
    fn bridge(&self) -> Option<String> {
        let i = self.opts.args.iter().position(|a| a == "--bridge")?;
        self.opts.args.get(i + 1).cloned()
    }

    /// Removes the test's node bridges and nftables table (the agent keeps them across its
    /// own restarts, since tasks outlive it); reports task veths still attached as leaks.
    fn remove_bridge(&self) -> Vec<String> {
        let Some(br) = self.bridge() else {
            return Vec::new();
        };
        let mut leaks = Vec::new();
        let links = std::process::Command::new("ip")
            .args(["-o", "link", "show", "master", &br])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for l in links.lines() {
            leaks.push(format!("veth still on bridge {br}: {l}"));
        }
        for name in [br.clone(), format!("{br}v")] {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &name])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let table: String = format!("gt_{br}").chars().take(15).collect();
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &table])
            .stderr(std::process::Stdio::null())
            .status();
        leaks
    }

    /// The cgroup this cluster's tasks live under: one per test, removed at shutdown.
    pub fn cgroup_parent(&self) -> String {
        format!("/gantry-test-{}", self.port)
    }

    /// The agent's node credential directory (`<state>/agent/node`).
    pub fn node_dir(&self) -> PathBuf {
        self.state.path().join("agent").join("node")
    }

    /// The node id of the agent's stored credential.
    pub fn node_id(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.node_dir().join("node.json")).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        v["node_id"].as_str().map(String::from)
    }

    /// The state dir of the agent's task directories.
    pub fn tasks_dir(&self) -> PathBuf {
        self.state.path().join("agent").join("tasks")
    }

    /// Stops every task that is not STOPPED and waits until they are.
    pub async fn stop_all(&self) {
        // Every page: ListTasks returns at most 100 ARNs at a time.
        let list = |desired: &'static str| async move {
            let mut arns = Vec::new();
            let mut token = Value::Null;
            loop {
                let mut body = json!({ "desiredStatus": desired });
                if !token.is_null() {
                    body["nextToken"] = token.clone();
                }
                let Ok(l) = self.call("ListTasks", body).await else {
                    break;
                };
                arns.extend(
                    l["taskArns"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(String::from)),
                );
                token = l["nextToken"].clone();
                if token.is_null() {
                    break;
                }
            }
            arns
        };
        let running = list("RUNNING").await;
        for a in &running {
            let _ = self
                .call("StopTask", json!({ "task": a, "reason": "test cleanup" }))
                .await;
        }
        // Tasks already told to stop (by a service, say) may still be on their way down.
        let mut arns = running;
        arns.extend(list("STOPPED").await);
        for a in &arns {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                match self.call("DescribeTasks", json!({ "tasks": [a] })).await {
                    Ok(v) if v["tasks"][0]["lastStatus"] == "STOPPED" => break,
                    Err(_) => break,
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
    }

    /// Stops everything; returns the leaks found (empty when clean).
    pub async fn shutdown(self) -> Vec<String> {
        self.stop_all().await;
        self.terminate_and_check()
    }

    /// SIGTERM with tasks still running (a multi-node `gantry dev` must stop them and
    /// remove its nodes itself); returns the leaks found.
    pub fn terminate_and_check(mut self) -> Vec<String> {
        self.terminate();
        let mut leaks = crate::leaks::find(self.state.path(), &self.cgroup_parent());
        if !leaks.is_empty() {
            // Report them, but do not leave them on the machine for the next test.
            crate::leaks::force_cleanup(self.state.path(), &self.cgroup_parent());
        }
        leaks.extend(crate::leaks::remove_cgroup_parent(&self.cgroup_parent()));
        leaks.extend(self.remove_bridge());
        leaks.extend(self.node_leaks());
        leaks
    }

    fn terminate(&mut self) {
        // With --nodes, gantry dev stops the nodes' tasks before it removes the nodes.
        let grace = Duration::from_secs(if self.nodes > 0 { 40 } else { 10 });
        terminate(self.agent.take(), grace);
        terminate(self.child.take(), grace);
    }
}

/// `kill -9` and reap.
pub(crate) fn kill9(child: Option<Child>) {
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// SIGTERM, then SIGKILL after `grace`.
pub fn terminate(child: Option<Child>, grace: Duration) {
    {
        if let Some(mut c) = child {
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let deadline = std::time::Instant::now() + grace;
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    _ if std::time::Instant::now() > deadline => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if self.child.is_some() || self.agent.is_some() {
            // A test that failed before shutdown(): stop tasks the hard way, then clean up.
            self.terminate();
            crate::leaks::force_cleanup(self.state.path(), &self.cgroup_parent());
            let _ = crate::leaks::remove_cgroup_parent(&self.cgroup_parent());
            let _ = self.remove_bridge();
            let _ = self.node_leaks();
        }
    }
}

impl Dev {
    /// `lastStatus` of each task, by ARN, through DescribeTasks (100 at a time).
    pub async fn statuses(&self, arns: &[String]) -> Vec<(String, Value)> {
        let mut out = Vec::with_capacity(arns.len());
        for chunk in arns.chunks(100) {
            let v = self.ok("DescribeTasks", json!({ "tasks": chunk })).await;
            for t in v["tasks"].as_array().into_iter().flatten() {
                let arn = t["taskArn"].as_str().unwrap_or_default().to_string();
                out.push((arn, t.clone()));
            }
        }
        out
    }

    /// Waits until every task in `arns` is `status`; a task that stops on the way to
    /// RUNNING is a failure.
    pub async fn wait_all(&self, arns: &[String], status: &str, timeout: Duration) {
        let what = format!("{} tasks to be {status}", arns.len());
        crate::wait_for(&what, timeout, || async {
            let ts = self.statuses(arns).await;
            for (_, t) in &ts {
                assert!(
                    status == "STOPPED" || t["lastStatus"] != "STOPPED",
                    "a task stopped: {t}"
                );
            }
            (ts.len() == arns.len() && ts.iter().all(|(_, t)| t["lastStatus"] == status))
                .then_some(())
        })
        .await;
    }

    /// RunTask with `count` (at most 10 per call, as ECS allows) until `n` are placed.
    pub async fn run_many(&self, td: &str, n: usize) -> Vec<String> {
        let mut arns = Vec::with_capacity(n);
        while arns.len() < n {
            let count = (n - arns.len()).min(10);
            let out = self
                .ok("RunTask", json!({ "taskDefinition": td, "count": count }))
                .await;
            let placed: Vec<String> = out["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["taskArn"].as_str().map(String::from))
                .collect();
            assert_eq!(placed.len(), count, "RunTask placed too few: {out}");
            arns.extend(placed);
        }
        arns
    }
}
