//! Behind NAT, and roaming: an agent in a network namespace of its own reaches `gantry
//! server` only through a router namespace that masquerades it (an nftables table of the
//! test's own), so the server never sees, and cannot dial, the agent's real address. The
//! agent joins with a join token, runs a task, and then its address changes under it (the
//! old one removed, a new one added, the route fixed): the agent notices the dead session by
//! the server's silence, redials by itself and is connected again within seconds, and its
//! task runs on with the same processes, never marked lost. The test sends only to the
//! addresses and namespaces it creates, and removes all of them, also when it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gantry_tests::TempDir;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(60);

/// Runs `ip`/`nft`/`sysctl` (optionally in netns `ns`); panics with its stderr on failure.
fn sh(ns: Option<&str>, args: &[&str]) {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).args(args);
            c
        }
        None => {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        }
    };
    let out = cmd.output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{ns:?} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn quiet(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The test's network: `agent` ns (eth `<p>e`, 10.217.N.2/24, later .3) — `router` ns
/// (`<p>d` 10.217.N.1/24, `<p>u` 10.218.N.2/30, masquerading out of `<p>u`) — the host
/// (`<p>h` 10.218.N.1/30, where the server listens). The host has no route to 10.217.N.0/24.
struct Fabric {
    prefix: String,
    n: u16,
}

impl Fabric {
    fn new(port: u16) -> Self {
        let f = Self {
            prefix: format!("gr{port:04x}"),
            n: port % 200 + 20,
        };
        f.remove();
        let (a, r) = (f.agent_ns(), f.router_ns());
        let (h, u, d, e) = (f.link('h'), f.link('u'), f.link('d'), f.link('e'));
        sh(None, &["ip", "netns", "add", &a]);
        sh(None, &["ip", "netns", "add", &r]);
        sh(
            None,
            &["ip", "link", "add", &h, "type", "veth", "peer", "name", &u],
        );
        sh(None, &["ip", "link", "set", &u, "netns", &r]);
        sh(
            None,
            &["ip", "link", "add", &d, "type", "veth", "peer", "name", &e],
        );
        sh(None, &["ip", "link", "set", &d, "netns", &r]);
        sh(None, &["ip", "link", "set", &e, "netns", &a]);
        sh(
            None,
            &[
                "ip",
                "addr",
                "add",
                &format!("{}/30", f.server_addr()),
                "dev",
                &h,
            ],
        );
        sh(None, &["ip", "link", "set", &h, "up"]);
        let (up_cidr, down_cidr) = (
            format!("{}/30", f.router_up()),
            format!("{}/24", f.gateway()),
        );
        let router = [
            vec!["ip", "link", "set", "lo", "up"],
            vec!["ip", "addr", "add", &up_cidr, "dev", &u],
            vec!["ip", "link", "set", &u, "up"],
            vec!["ip", "addr", "add", &down_cidr, "dev", &d],
            vec!["ip", "link", "set", &d, "up"],
            vec!["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
            vec!["nft", "add", "table", "ip", "gantry_roam"],
        ];
        for c in router {
            sh(Some(&r), &c);
        }
        let chain = "add chain ip gantry_roam post { type nat hook postrouting priority 100 ; }";
        sh(Some(&r), &["nft", chain]);
        let rule = format!("add rule ip gantry_roam post oifname \"{u}\" masquerade");
        sh(Some(&r), &["nft", &rule]);
        sh(Some(&a), &["ip", "link", "set", "lo", "up"]);
        sh(Some(&a), &["ip", "link", "set", &e, "up"]);
        f.set_agent_addr(2, None);
        f
    }

    fn agent_ns(&self) -> String {
        format!("{}-a", self.prefix)
    }
    fn router_ns(&self) -> String {
        format!("{}-r", self.prefix)
    }
    fn link(&self, end: char) -> String {
        format!("{}{end}", self.prefix)
    }
    fn server_addr(&self) -> String {
        format!("10.218.{}.1", self.n)
    }
    fn router_up(&self) -> String {
        format!("10.218.{}.2", self.n)
    }
    fn gateway(&self) -> String {
        format!("10.217.{}.1", self.n)
    }
    fn agent_addr(&self, host: u8) -> String {
        format!("10.217.{}.{host}", self.n)
    }

    /// Gives the agent's interface the address `.host` (removing `.old` first, which also
    /// takes the default route with it) and its default route.
    fn set_agent_addr(&self, host: u8, old: Option<u8>) {
        let (a, e) = (self.agent_ns(), self.link('e'));
        if let Some(old) = old {
            let cidr = format!("{}/24", self.agent_addr(old));
            sh(Some(&a), &["ip", "addr", "del", &cidr, "dev", &e]);
        }
        let cidr = format!("{}/24", self.agent_addr(host));
        sh(Some(&a), &["ip", "addr", "add", &cidr, "dev", &e]);
        sh(
            Some(&a),
            &["ip", "route", "replace", "default", "via", &self.gateway()],
        );
    }

    /// Removes the namespaces (their links and the nft table go with them) and the host's
    /// end of the uplink; the leaks: processes still in a namespace, anything not removed.
    fn remove(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        for ns in [self.agent_ns(), self.router_ns()] {
            let path = Path::new("/run/netns").join(&ns);
            if !path.exists() {
                continue;
            }
            let pids = Command::new("ip")
                .args(["netns", "pids", &ns])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for p in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                leaks.push(format!("process {p} still in netns {ns}"));
                gantry_tests::split::kill9_pid(p);
            }
            quiet(&["ip", "netns", "del", &ns]);
            if path.exists() {
                leaks.push(format!("netns {ns} could not be removed"));
            }
        }
        let host = Path::new("/sys/class/net").join(self.link('h'));
        if host.exists() {
            quiet(&["ip", "link", "del", &self.link('h')]);
        }
        // Deleting a namespace removes its links in the background.
        let gone = wait_until(Duration::from_secs(10), || !host.exists());
        if !gone {
            leaks.push(format!("link {} still there", self.link('h')));
        }
        leaks
    }
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

impl Drop for Fabric {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `gantry server` on the host end of the uplink (TLS) and `gantry agent` in the agent
/// namespace (`nsenter --net`: only the network is the namespace's, so its cgroups and
/// mounts are the host's, where the leak checks look). Dropped: agent, tasks, server.
struct Cluster {
    server: Option<Child>,
    agent: Option<Child>,
    state: TempDir,
    port: u16,
    endpoint: String,
    http: reqwest::Client,
    cgroup_parent: String,
}

impl Cluster {
    fn log_file(&self, name: &str) -> std::fs::File {
        std::fs::File::create(self.state.path().join(name)).expect("log file")
    }

    fn agent_state(&self) -> PathBuf {
        self.state.path().join("agent-host")
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.state.path().join(name)).unwrap_or_default()
    }

    fn logs(&self) -> String {
        format!(
            "--- server ---\n{}\n--- agent ---\n{}",
            self.log("server.log"),
            self.log("agent.log")
        )
    }

    async fn start(fabric: &Fabric, port: u16) -> Self {
        let state = TempDir::new("roaming");
        let mut c = Self {
            server: None,
            agent: None,
            endpoint: format!("https://{}:{port}", fabric.server_addr()),
            port,
            http: reqwest::Client::new(),
            cgroup_parent: format!("/gantry-test-{port}"),
            state,
        };
        let log = c.log_file("server.log");
        let server = Command::new(gantry_tests::gantry_bin())
            .arg("server")
            .args(["--listen", &format!("{}:{port}", fabric.server_addr())])
            .args(["--tls", "--tls-san", &fabric.server_addr(), "--state-dir"])
            .arg(c.state.path().join("server"))
            .envs(gantry_tests::key_env())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start gantry server");
        c.server = Some(server);
        let ca = c.state.path().join("server/tls/ca.pem");
        let pem = gantry_tests::wait_for("the cluster CA", T, || async {
            std::fs::read(&ca).ok().filter(|p| !p.is_empty())
        })
        .await;
        c.http = gantry_link::https_client(&pem).expect("the cluster CA is usable");
        gantry_tests::wait_for("gantry server to answer", T, || async {
            c.call("ListClusters", json!({})).await.ok()
        })
        .await;
        c.ok("CreateCluster", json!({ "clusterName": "default" }))
            .await;
        let (token, pin) = gantry_tests::join_token(&c.http, &c.endpoint, "default", 1).await;

        let log = c.log_file("agent.log");
        let agent = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", fabric.agent_ns()))
            .arg("--")
            .arg(gantry_tests::gantry_bin())
            .arg("agent")
            .args(["--server", &c.endpoint, "--cluster", "default"])
            .args(["--join-token", &token, "--ca-sha256", &pin])
            .arg("--state-dir")
            .arg(c.agent_state())
            .arg("--image-layout")
            .arg(gantry_tests::images::layouts())
            .args(["--cgroup-parent", &c.cgroup_parent])
            .args(["--stop-timeout", "2", "--task-cleanup-wait", "3600"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start gantry agent in its namespace");
        c.agent = Some(agent);
        c
    }

    async fn call(&self, op: &str, body: Value) -> Result<Value, Value> {
        let resp = gantry_tests::post_ecs(&self.http, &self.endpoint, op, body.to_string().into())
            .await
            .map_err(|e| json!(e.to_string()))?;
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if ok {
            Ok(v)
        } else {
            Err(v)
        }
    }

    async fn ok(&self, op: &str, body: Value) -> Value {
        match self.call(op, body.clone()).await {
            Ok(v) => v,
            Err(v) => panic!("{op} {body} failed: {v}\n{}", self.logs()),
        }
    }

    /// The one container instance, once it registered.
    async fn instance(&self) -> Option<Value> {
        let l = self.call("ListContainerInstances", json!({})).await.ok()?;
        let arns = l["containerInstanceArns"].as_array()?.clone();
        if arns.is_empty() {
            return None;
        }
        let d = self
            .call(
                "DescribeContainerInstances",
                json!({ "containerInstances": arns }),
            )
            .await
            .ok()?;
        Some(d["containerInstances"][0].clone())
    }

    async fn wait_connected(&self, what: &str) -> Value {
        let start = Instant::now();
        loop {
            if let Some(i) = self.instance().await {
                if i["agentConnected"] == true {
                    return i;
                }
            }
            assert!(
                start.elapsed() < T,
                "{what}: the agent is not connected\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn task(&self, arn: &str) -> Value {
        self.ok("DescribeTasks", json!({ "tasks": [arn] })).await["tasks"][0].clone()
    }

    fn task_dir(&self, arn: &str) -> PathBuf {
        self.agent_state()
            .join("agent/tasks")
            .join(arn.rsplit('/').next().unwrap_or(arn))
    }

    /// The task's supervisor and container pids.
    fn task_pids(&self, arn: &str) -> Vec<i32> {
        let dir = self.task_dir(arn);
        let sup = std::fs::read_to_string(dir.join("supervisor.pid")).unwrap_or_default();
        let mut pids: Vec<i32> = sup.trim().parse().into_iter().collect();
        pids.extend(
            std::fs::read_to_string(dir.join("events.jsonl"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|e| e["event"] == "Started")
                .filter_map(|e| e["pid"].as_i64().and_then(|p| i32::try_from(p).ok())),
        );
        pids
    }

    /// The peers of the server's established connections on its port, as the host sees
    /// them, but the harness's own (from the server's address itself).
    fn server_peers(&self, own: &str) -> Vec<String> {
        let out = Command::new("ss")
            .args(["-Htn", "state", "established"])
            .arg(format!("( sport = :{} )", self.port))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.lines()
            .filter_map(|l| l.split_whitespace().last())
            .filter_map(|peer| peer.rsplit_once(':').map(|(a, _)| a.to_string()))
            .filter(|a| a != own)
            .collect()
    }

    fn stop_processes(&mut self) {
        gantry_tests::dev::terminate(self.agent.take(), Duration::from_secs(10));
        gantry_tests::dev::terminate(self.server.take(), Duration::from_secs(10));
    }

    /// Stops everything; the leaks found.
    fn shutdown(mut self) -> Vec<String> {
        self.stop_processes();
        let mut leaks = gantry_tests::leaks::find(&self.agent_state(), &self.cgroup_parent);
        if !leaks.is_empty() {
            gantry_tests::leaks::force_cleanup(&self.agent_state(), &self.cgroup_parent);
        }
        leaks.extend(gantry_tests::leaks::remove_cgroup_parent(
            &self.cgroup_parent,
        ));
        leaks
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.server.is_some() || self.agent.is_some() {
            self.stop_processes();
            gantry_tests::leaks::force_cleanup(&self.agent_state(), &self.cgroup_parent);
            let _ = gantry_tests::leaks::remove_cgroup_parent(&self.cgroup_parent);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_behind_nat_keeps_its_task_when_its_address_changes() {
    let port = gantry_tests::free_port();
    let fabric = Fabric::new(port);
    let c = Cluster::start(&fabric, port).await;
    let inst = c.wait_connected("after the join").await;
    assert!(
        inst["ec2InstanceId"]
            .as_str()
            .is_some_and(|i| i.starts_with("i-")),
        "the agent joined with its token: {inst}"
    );
    // Behind NAT: the server's peer is the router, and the host has no way to the agent.
    let router = fabric.router_up();
    let peers = c.server_peers(&fabric.server_addr());
    assert!(
        !peers.is_empty() && peers.iter().all(|p| *p == router),
        "the server should see only the NAT's address {router}: {peers:?}"
    );
    let route = Command::new("ip")
        .args(["route", "get", &fabric.agent_addr(2)])
        .output()
        .expect("ip route get");
    let route = String::from_utf8_lossy(&route.stdout);
    assert!(
        !route.contains(&format!("dev {}", fabric.link('h'))),
        "the host must not reach the agent's address directly: {route}"
    );

    c.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "roamer", "networkMode": "none",
            "containerDefinitions": [{ "name": "main", "image": "busybox:latest",
                "memory": 32, "essential": true, "command": ["sleep", "3600"] }]
        }),
    )
    .await;
    let run = c.ok("RunTask", json!({ "taskDefinition": "roamer" })).await;
    let arn = run["tasks"][0]["taskArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!arn.is_empty(), "RunTask placed nothing: {run}");
    gantry_tests::wait_for("the task to run", T, || async {
        let t = c.task(&arn).await;
        assert_ne!(t["lastStatus"], "STOPPED", "{t}\n{}", c.logs());
        (t["lastStatus"] == "RUNNING").then_some(())
    })
    .await;
    let pids = c.task_pids(&arn);
    assert!(pids.len() >= 2, "supervisor and container pids: {pids:?}");
    let opened = |c: &Cluster| c.log("server.log").matches("agent session open").count();
    let sessions = opened(&c);

    // The address changes under the agent's open session.
    let moved = Instant::now();
    fabric.set_agent_addr(3, Some(2));
    gantry_tests::wait_for("the agent to redial from its new address", T, || async {
        (opened(&c) > sessions).then_some(())
    })
    .await;
    c.wait_connected("after the address change").await;
    let reconnect = moved.elapsed();
    let agent_log = c.log("agent.log");
    assert!(
        agent_log.contains("session to the control plane ended"),
        "the agent did not notice the dead session:\n{}",
        c.logs()
    );
    println!("ROAMING: address change to connected again: {reconnect:?}");

    // Past the time after which the server counts a silent agent lost: the task still runs
    // with the same processes and the server never stopped it.
    let lost_after = Duration::from_secs(30);
    while moved.elapsed() < lost_after + Duration::from_secs(5) {
        let t = c.task(&arn).await;
        assert_eq!(
            t["lastStatus"],
            "RUNNING",
            "the task was lost: {t}\n{}",
            c.logs()
        );
        assert_eq!(t["desiredStatus"], "RUNNING", "{t}");
        let i = c.instance().await.unwrap_or_default();
        assert_eq!(i["agentConnected"], true, "{i}\n{}", c.logs());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(c.task_pids(&arn), pids, "the task's processes changed");
    for p in &pids {
        assert!(gantry_tests::split::alive(*p), "task process {p} died");
    }
    let peers = c.server_peers(&fabric.server_addr());
    assert!(
        peers.iter().all(|p| *p == router),
        "after the move the server still sees only the NAT: {peers:?}"
    );

    c.ok("StopTask", json!({ "task": arn })).await;
    gantry_tests::wait_for("the task to stop", T, || async {
        (c.task(&arn).await["lastStatus"] == "STOPPED").then_some(())
    })
    .await;
    let mut leaks = c.shutdown();
    leaks.extend(fabric.remove());
    assert!(leaks.is_empty(), "left behind: {leaks:?}");
}
