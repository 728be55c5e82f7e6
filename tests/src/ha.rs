//! Several `gantry server` replicas on one real etcd cluster, with split-mode agents that
//! know every replica: the harness of the HA suite (tests/tests/ha.rs).
//!
//! Every replica serves HTTPS under one cluster CA and one secret-encryption key, as an
//! operator distributes them (docs/ha.md): the harness writes the secret key into every state
//! dir before any replica starts, and copies the CA replica 0 made to the others before they
//! start. Replica 0 starts first and is waited on until it leads, so a test knows who leads
//! at the start. With [`HaOptions::isolate_first`] replica 0 runs in a network namespace of
//! its own ([`netns::Isolation`]), so a test can cut it off from etcd and nothing else.
//!
//! Dropping an [`HaCluster`] kills what is left and removes what it made, even on panic;
//! [`HaCluster::shutdown`] does the same in order and returns what it found left behind.

pub mod netns;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::TempDir;
pub use gantry_store::etcd_process::EtcdCluster;

/// How long a replica or an agent may take to come up.
const START: Duration = Duration::from_secs(60);
/// One API call or health probe; longer is a hang, reported as a transport error.
const CALL: Duration = Duration::from_secs(15);

/// What [`HaCluster::start_with`] starts.
#[derive(Debug, Clone)]
pub struct HaOptions {
    pub replicas: usize,
    pub etcd_members: usize,
    /// Split-mode agents (each a real `gantry agent` running containers), given every
    /// replica's URL.
    pub agents: usize,
    /// Run replica 0 in its own network namespace; the etcd members then listen on the host
    /// end of its veth.
    pub isolate_first: bool,
    /// Extra flags of every `gantry server`.
    pub server_args: Vec<String>,
}

impl HaOptions {
    pub fn new(replicas: usize, etcd_members: usize) -> Self {
        Self {
            replicas,
            etcd_members,
            agents: 1,
            isolate_first: false,
            server_args: Vec::new(),
        }
    }
}

/// One `gantry server`. Its replica id is the server's default (`<hostname>:<port>`), as
/// `/healthz` reports it.
pub struct Replica {
    pub state: TempDir,
    pub listen: SocketAddr,
    pub url: String,
    /// The namespace it runs in (`ip netns exec`), if isolated.
    pub netns: Option<String>,
    /// Behind a lock so a test can kill and restart replicas while clients share the cluster.
    child: Mutex<Option<Child>>,
}

impl Replica {
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("server.log")).unwrap_or_default()
    }
    pub fn running(&self) -> bool {
        self.lock().is_some()
    }
    pub fn pid(&self) -> Option<u32> {
        self.lock().as_ref().map(Child::id)
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn take(&self) -> Option<Child> {
        self.lock().take()
    }
}

/// One `gantry agent` on the host.
pub struct Agent {
    pub state: TempDir,
    child: Option<Child>,
}

pub struct HaCluster {
    pub etcd: EtcdCluster,
    pub replicas: Vec<Replica>,
    pub agents: Vec<Agent>,
    /// Trusts the cluster CA.
    pub http: reqwest::Client,
    pub ca_pem: Vec<u8>,
    pub isolation: Option<netns::Isolation>,
    opts: HaOptions,
    /// The cgroup every agent's tasks live under.
    cgroup_parent: String,
}

impl HaCluster {
    /// `replicas` servers on `etcd_members` etcd members, and one agent.
    pub async fn start(replicas: usize, etcd_members: usize) -> Self {
        Self::start_with(HaOptions::new(replicas, etcd_members)).await
    }

    pub async fn start_with(opts: HaOptions) -> Self {
        assert!(opts.replicas >= 1 && opts.etcd_members >= 1);
        let isolation = opts.isolate_first.then(netns::Isolation::create);
        let etcd_ip = isolation
            .as_ref()
            .map_or(Ipv4Addr::LOCALHOST, |n| n.host_ip);
        let etcd = EtcdCluster::start_on(opts.etcd_members, &etcd_ip.to_string())
            .unwrap_or_else(|e| panic!("could not start {} etcd members: {e}", opts.etcd_members));
        let key = secret_key();
        let mut replicas = Vec::with_capacity(opts.replicas);
        for i in 0..opts.replicas {
            let state = TempDir::new(&format!("ha-r{i}"));
            write_private(&state.path().join("secret.key"), &key);
            let ip = match (&isolation, i) {
                (Some(n), 0) => IpAddr::V4(n.ns_ip),
                _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
            };
            let listen = SocketAddr::new(ip, free_port_on(ip, isolation.as_ref(), i));
            replicas.push(Replica {
                url: format!("https://{listen}"),
                netns: (i == 0)
                    .then(|| isolation.as_ref().map(|n| n.name.clone()))
                    .flatten(),
                state,
                listen,
                child: Mutex::new(None),
            });
        }
        let cgroup_parent = format!("/gantry-test-ha-{}-{}", std::process::id(), next_id());
        let mut ha = Self {
            etcd,
            replicas,
            agents: Vec::new(),
            http: reqwest::Client::new(),
            ca_pem: Vec::new(),
            isolation,
            opts,
            cgroup_parent,
        };
        // Replica 0 makes the cluster CA; the others get a copy, as an operator adds one.
        ha.start_first(0).await;
        let tls0 = ha.replicas[0].state.path().join("tls");
        for r in &ha.replicas[1..] {
            let dir = r.state.path().join("tls");
            std::fs::create_dir_all(&dir).expect("tls dir");
            for f in ["ca.pem", "ca.key"] {
                let bytes = std::fs::read(tls0.join(f)).expect("replica 0's CA");
                write_private(&dir.join(f), &bytes);
            }
        }
        ha.wait_leader_is(0, START).await;
        for i in 1..ha.replicas.len() {
            ha.start_first(i).await;
        }
        for _ in 0..ha.opts.agents {
            ha.start_agent().await;
        }
        ha
    }

    /// Starts replica `i` for the first time; the first one started also gives the harness
    /// the cluster CA to trust.
    async fn start_first(&mut self, i: usize) {
        self.spawn(i);
        if self.ca_pem.is_empty() {
            let ca = self.replicas[i].state.path().join("tls").join("ca.pem");
            let pem = crate::wait_for("the cluster CA", START, || async {
                std::fs::read(&ca).ok().filter(|p| !p.is_empty())
            })
            .await;
            self.http = gantry_link::https_client(&pem).expect("the cluster CA is usable");
            self.ca_pem = pem;
        }
        self.wait_answers(i).await;
    }

    /// Starts replica `i` again (after [`kill9`](Self::kill9)) on its state dir and waits
    /// until it answers the API; usable while clients share the cluster.
    pub async fn restart(&self, i: usize) {
        self.spawn(i);
        self.wait_answers(i).await;
    }

    fn spawn(&self, i: usize) {
        let mut slot = self.replicas[i].lock();
        assert!(slot.is_none(), "replica {i} is running");
        *slot = Some(self.spawn_replica(i));
    }

    async fn wait_answers(&self, i: usize) {
        let what = format!("replica {i} to answer");
        crate::wait_for(&what, START, || async {
            self.call(i, "ListClusters", json!({}))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
    }

    fn spawn_replica(&self, i: usize) -> Child {
        let r = &self.replicas[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(r.state.path().join("server.log"))
            .expect("server.log");
        let mut cmd = match &r.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(crate::gantry_bin());
                c
            }
            None => Command::new(crate::gantry_bin()),
        };
        cmd.arg("server")
            .arg("--state-dir")
            .arg(r.state.path())
            .arg("--listen")
            .arg(r.listen.to_string())
            .arg("--tls")
            .arg("--store")
            .arg(self.store_url())
            .args(&self.opts.server_args)
            .envs(crate::key_env())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start replica {i}: {e}"))
    }

    /// `etcd://` with every member's client endpoint.
    pub fn store_url(&self) -> String {
        self.etcd.store_url()
    }

    /// `kill -9` replica `i` and reap it.
    pub fn kill9(&self, i: usize) {
        crate::dev::kill9(self.replicas[i].take());
    }

    /// The replica's `/healthz` JSON, `None` when it does not answer 200 with JSON in time.
    pub async fn healthz(&self, i: usize) -> Option<Value> {
        let r = &self.replicas[i];
        if !r.running() {
            return None;
        }
        let get = self.http.get(format!("{}/healthz", r.url)).send();
        let resp = tokio::time::timeout(Duration::from_secs(2), get)
            .await
            .ok()?
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.json().await.ok()
    }

    /// The replica id `/healthz` reports for replica `i`.
    pub async fn replica_id(&self, i: usize) -> Option<String> {
        self.healthz(i).await?["replica"].as_str().map(String::from)
    }

    /// The replicas that say they lead, polled together.
    pub async fn claimed_leaders(&self, among: &[usize]) -> Vec<usize> {
        let probes = among.iter().map(|&i| async move {
            let h = self.healthz(i).await?;
            (h["leader"] == true).then_some(i)
        });
        futures_util::future::join_all(probes)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// The one replica that leads, waited for (up to 60 s): exactly one running replica says
    /// `"leader": true`.
    pub async fn leader(&self) -> usize {
        let all: Vec<usize> = (0..self.replicas.len()).collect();
        crate::wait_for("exactly one replica to lead", START, || async {
            let l = self.claimed_leaders(&all).await;
            (l.len() == 1).then(|| l[0])
        })
        .await
    }

    /// Waits until replica `i` says it leads.
    pub async fn wait_leader_is(&self, i: usize, timeout: Duration) {
        let what = format!("replica {i} to lead");
        crate::wait_for(&what, timeout, || async {
            (self.claimed_leaders(&[i]).await == [i]).then_some(())
        })
        .await;
    }

    /// The first of `among` to say it leads, and when (from `since`), polled every 20 ms
    /// until `timeout`; `None` if none did.
    pub async fn first_leader_among(
        &self,
        among: &[usize],
        since: Instant,
        timeout: Duration,
    ) -> Option<(usize, Duration)> {
        while since.elapsed() < timeout {
            if let Some(&i) = self.claimed_leaders(among).await.first() {
                return Some((i, since.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// The running replicas other than `i`.
    pub fn others(&self, i: usize) -> Vec<usize> {
        (0..self.replicas.len())
            .filter(|&j| j != i && self.replicas[j].running())
            .collect()
    }

    /// Posts the ECS operation `op` to replica `i`, signed with the test key; `Err` carries
    /// the `__type` (`Transport` when nothing answered in time) and the body.
    pub async fn call(&self, i: usize, op: &str, body: Value) -> Result<Value, (String, Value)> {
        let url = &self.replicas[i].url;
        let post = crate::post_ecs(&self.http, url, op, body.to_string().into_bytes());
        let resp = match tokio::time::timeout(CALL, post).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(("Transport".into(), json!(e.to_string()))),
            Err(_) => return Err(("Transport".into(), json!("no answer in time"))),
        };
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if ok {
            Ok(v)
        } else {
            Err((v["__type"].as_str().unwrap_or("?").to_string(), v))
        }
    }

    /// A call that must succeed.
    pub async fn ok(&self, i: usize, op: &str, body: Value) -> Value {
        match self.call(i, op, body.clone()).await {
            Ok(v) => v,
            Err((t, v)) => panic!(
                "{op} {body} on replica {i} failed: {t} {v}\n{}",
                self.logs()
            ),
        }
    }

    /// Every replica's log, for assertion messages (the tail of each).
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for r in &self.replicas {
            let log = r.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            out.push_str(&format!("--- replica {} log (tail) ---\n", r.url));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Every replica's URL, for agents and clients that fail over.
    pub fn urls(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.url.clone()).collect()
    }

    /// Starts one more agent with every replica's URL and waits until it is connected.
    pub async fn start_agent(&mut self) {
        let i = self.leader().await;
        let (token, ca_sha256) =
            crate::join_token(&self.http, &self.replicas[i].url, "default", 1).await;
        let state = TempDir::new(&format!("ha-agent{}", self.agents.len()));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(state.path().join("agent.log"))
            .expect("agent.log");
        let child = Command::new(crate::gantry_bin())
            .arg("agent")
            .arg("--state-dir")
            .arg(state.path())
            .args(agent_server_args(&self.urls()))
            .args(["--stop-timeout", "2", "--task-cleanup-wait", "3600"])
            .arg("--image-layout")
            .arg(crate::images::layouts())
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .env("GANTRY_JOIN_TOKEN", token)
            .env("GANTRY_CA_SHA256", ca_sha256)
            .envs(crate::key_env())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start gantry agent: {e}"));
        self.agents.push(Agent {
            state,
            child: Some(child),
        });
        let want = self.agents.len();
        crate::wait_for("the agents to connect", START, || async {
            let l = self
                .call(i, "ListContainerInstances", json!({}))
                .await
                .ok()?;
            let arns = l["containerInstanceArns"].as_array()?.clone();
            let d = self
                .call(
                    i,
                    "DescribeContainerInstances",
                    json!({ "containerInstances": arns }),
                )
                .await
                .ok()?;
            let all = d["containerInstances"].as_array()?;
            let up = all.iter().filter(|c| c["agentConnected"] == true).count();
            (up >= want).then_some(())
        })
        .await;
    }

    /// Stops every task through a running replica and waits until they are STOPPED.
    pub async fn stop_all_tasks(&self) {
        let mut answering = None;
        for i in (0..self.replicas.len()).filter(|&i| self.replicas[i].running()) {
            if self.call(i, "ListClusters", json!({})).await.is_ok() {
                answering = Some(i);
                break;
            }
        }
        let Some(i) = answering else { return };
        // Services first, or they would replace the tasks stopped below.
        if let Ok(l) = self.call(i, "ListServices", json!({})).await {
            for s in l["serviceArns"].as_array().into_iter().flatten() {
                let body = json!({ "service": s, "force": true });
                let _ = self.call(i, "DeleteService", body).await;
            }
        }
        let running = self
            .list_tasks(i, json!({ "desiredStatus": "RUNNING" }))
            .await;
        for a in &running {
            let _ = self
                .call(
                    i,
                    "StopTask",
                    json!({ "task": a, "reason": "test cleanup" }),
                )
                .await;
        }
        let mut arns = running;
        arns.extend(
            self.list_tasks(i, json!({ "desiredStatus": "STOPPED" }))
                .await,
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        for chunk in arns.chunks(100) {
            while Instant::now() < deadline {
                match self
                    .call(i, "DescribeTasks", json!({ "tasks": chunk }))
                    .await
                {
                    Ok(v) if all_stopped(&v) => break,
                    Err(_) => break,
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    }

    /// Every task ARN ListTasks returns for `filter` on replica `i`, all pages.
    pub async fn list_tasks(&self, i: usize, filter: Value) -> Vec<String> {
        let mut arns = Vec::new();
        let mut token = Value::Null;
        loop {
            let mut body = filter.clone();
            if !token.is_null() {
                body["nextToken"] = token.clone();
            }
            let Ok(l) = self.call(i, "ListTasks", body).await else {
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
    }

    /// Stops the tasks, the agents and the replicas, then etcd and the namespace; returns
    /// what was left behind (empty when clean): processes, task cgroups and mounts, state
    /// dirs, the namespace and its links.
    pub async fn shutdown(mut self) -> Vec<String> {
        self.stop_all_tasks().await;
        let mut leaks = Vec::new();
        for a in &mut self.agents {
            crate::dev::terminate(a.child.take(), Duration::from_secs(15));
            leaks.extend(crate::leaks::find(a.state.path(), &self.cgroup_parent));
            crate::leaks::force_cleanup(a.state.path(), &self.cgroup_parent);
        }
        leaks.extend(crate::leaks::remove_cgroup_parent(&self.cgroup_parent));
        for r in &self.replicas {
            crate::dev::terminate(r.take(), Duration::from_secs(15));
        }
        let dirs = self.dirs();
        for d in &dirs {
            for pid in crate::procs::pids_matching(&[&d.display().to_string()]) {
                leaks.push(format!("process {pid} still runs on {}", d.display()));
            }
        }
        if let Some(mut n) = self.isolation.take() {
            leaks.extend(n.remove());
        }
        let replicas = std::mem::take(&mut self.replicas);
        let agents = std::mem::take(&mut self.agents);
        drop((replicas, agents));
        for d in &dirs {
            if d.exists() {
                leaks.push(format!("directory left: {}", d.display()));
            }
        }
        leaks
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let r = self.replicas.iter().map(|r| r.state.path().to_path_buf());
        r.chain(self.agents.iter().map(|a| a.state.path().to_path_buf()))
            .collect()
    }
}

impl Drop for HaCluster {
    fn drop(&mut self) {
        for a in &mut self.agents {
            if a.child.is_some() {
                crate::dev::kill9(a.child.take());
                crate::leaks::force_cleanup(a.state.path(), &self.cgroup_parent);
            }
        }
        let _ = crate::leaks::remove_cgroup_parent(&self.cgroup_parent);
        for r in &self.replicas {
            crate::dev::kill9(r.take());
        }
        if let Some(mut n) = self.isolation.take() {
            let _ = n.remove();
        }
    }
}

/// The flags that give an agent every replica.
fn agent_server_args(urls: &[String]) -> Vec<String> {
    vec!["--server".into(), urls.join(",")]
}

fn all_stopped(v: &Value) -> bool {
    v["tasks"]
        .as_array()
        .is_some_and(|ts| ts.iter().all(|t| t["lastStatus"] == "STOPPED"))
}

/// A free port on `ip`: bound from the host for a host address, from inside the namespace
/// for the isolated replica's (the host cannot bind the namespace's address).
fn free_port_on(ip: IpAddr, isolation: Option<&netns::Isolation>, i: usize) -> u16 {
    match (isolation, i) {
        (Some(n), 0) => n.free_port(),
        _ => std::net::TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free port"),
    }
}

/// 32 random bytes: the secret-encryption key every replica shares.
fn secret_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .expect("read /dev/urandom");
    key
}

fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    f.write_all(bytes).expect("write key");
}

pub(crate) fn next_id() -> u32 {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
