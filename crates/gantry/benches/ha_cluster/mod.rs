//! A deployment for the HA bench: etcd members and `gantry server` replicas on loopback
//! (or one server on SQLite), started and killed by the bench, and the load it runs on them.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{call, dir_size, mib, running_tasks, spawn, wait_instances, Proc};

/// What `GET /healthz` answers (the fields the bench reads).
pub struct Health {
    pub leader: bool,
}

pub async fn healthz(http: &reqwest::Client, ep: &str) -> Option<Health> {
    let r = http
        .get(format!("{ep}/healthz"))
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    Some(Health {
        leader: v["leader"].as_bool()?,
    })
}

struct Member {
    proc: Proc,
    data: PathBuf,
    /// `http://127.0.0.1:PORT`, its client URL (etcd's JSON gateway answers there too).
    url: String,
}

/// etcd members (none: SQLite) and the replicas on them.
pub struct Deployment {
    dir: gantry_tests::TempDir,
    etcd: Vec<Member>,
    store: Option<String>,
    ports: Vec<u16>,
    replicas: Vec<Option<Proc>>,
    pub http: reqwest::Client,
}

impl Drop for Deployment {
    /// The replicas, then the etcd members, are killed and reaped before their directory
    /// (etcd data, state dirs, logs) is removed, so nothing writes into it afterwards.
    fn drop(&mut self) {
        self.replicas.clear();
        self.etcd.clear();
    }
}

/// etcd's own account of one member's backend (`/v3/maintenance/status`).
#[derive(Default, Clone, Copy)]
pub struct EtcdStatus {
    pub db_size: u64,
    pub db_size_in_use: u64,
    pub revision: u64,
}

/// What [`Deployment::load`] measured.
#[derive(Default)]
pub struct LoadReport {
    pub registered: Duration,
    pub placed: usize,
    pub placed_in: Duration,
    pub running_in: Duration,
    /// (VmRSS, VmHWM) of each replica, MiB.
    pub rss: Vec<(f64, f64)>,
    pub store_bytes: u64,
    pub describe: Vec<f64>,
    pub list: Vec<f64>,
    /// Probe calls that did not answer with tasks (errors, timeouts).
    pub probe_errors: usize,
    /// The 1-minute load average: at the start of the load and the highest seen during it.
    pub load_start: f64,
    pub load_max: f64,
    /// etcd: VmRSS / VmHWM of each member, MiB.
    pub etcd_rss: Vec<(f64, f64)>,
    /// etcd: the backend at the end, then after a compaction at the last revision and a
    /// defragmentation of every member.
    pub etcd_end: EtcdStatus,
    pub etcd_compacted: EtcdStatus,
    /// etcd: the WAL directory of the first member.
    pub wal_bytes: u64,
    pub problems: Vec<String>,
}

/// The 1-minute load average of the machine.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn gw_u64(v: &Value) -> u64 {
    // The gateway writes int64 fields as JSON strings.
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
        .unwrap_or(0)
}

fn start_etcd(dir: &std::path::Path, n: usize) -> (Vec<Member>, String) {
    let ports: Vec<(u16, u16)> = (0..n)
        .map(|_| (gantry_tests::free_port(), gantry_tests::free_port()))
        .collect();
    let cluster = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut members = Vec::new();
    for (i, (client, peer)) in ports.iter().enumerate() {
        let data = dir.join(format!("etcd{i}"));
        let mut cmd = Command::new("etcd");
        gantry_tests::vm::die_with_parent(&mut cmd);
        let proc = cmd
            .args([
                "--name",
                &format!("m{i}"),
                "--data-dir",
                &data.display().to_string(),
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
                "--initial-cluster",
                &cluster,
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "gantry-bench",
                // The bench's keys outgrow the default 2 GiB quota only at the scale.
                "--quota-backend-bytes",
                "8589934592",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join(format!("etcd{i}.log"))).expect("etcd log"),
            ))
            .spawn()
            .expect("spawn etcd (Debian's etcd-server package)");
        members.push(Member {
            proc: Proc(proc),
            data,
            url: format!("http://127.0.0.1:{client}"),
        });
    }
    let endpoints = ports
        .iter()
        .map(|(c, _)| format!("127.0.0.1:{c}"))
        .collect::<Vec<_>>()
        .join(",");
    (members, format!("etcd://{endpoints}"))
}

impl Deployment {
    /// `members` etcd members and `replicas` servers on them.
    pub async fn etcd(members: usize, replicas: usize) -> Self {
        let dir = gantry_tests::TempDir::new("bench-ha");
        let (etcd, store) = start_etcd(dir.path(), members);
        Self::start(dir, etcd, Some(store), replicas).await
    }

    /// One server on its SQLite file.
    pub async fn sqlite() -> Self {
        let dir = gantry_tests::TempDir::new("bench-ha-sqlite");
        Self::start(dir, Vec::new(), None, 1).await
    }

    async fn start(
        dir: gantry_tests::TempDir,
        etcd: Vec<Member>,
        store: Option<String>,
        n: usize,
    ) -> Self {
        let mut d = Self {
            ports: (0..n).map(|_| gantry_tests::free_port()).collect(),
            replicas: (0..n).map(|_| None).collect(),
            dir,
            etcd,
            store,
            // No call hangs the bench: an answer later than this counts as failed.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("http client"),
        };
        // Replica 0 makes the secrets the others share (docs/ha.md): the key that seals
        // secrets at rest and the cluster CA, copied before they start.
        d.restart(0).await;
        for i in 1..n {
            for f in ["secret.key", "tls/ca.pem", "tls/ca.key"] {
                let from = d.state(0).join(f);
                let to = d.state(i).join(f);
                if from.exists() {
                    let _ = std::fs::create_dir_all(to.parent().unwrap_or(&to));
                    let _ = std::fs::copy(&from, &to);
                }
            }
            d.restart(i).await;
        }
        d
    }

    pub fn label(&self) -> String {
        match &self.store {
            Some(_) => format!(
                "{} replicas, {} etcd members",
                self.replicas(),
                self.etcd.len()
            ),
            None => "1 server, SQLite".to_string(),
        }
    }

    pub fn replicas(&self) -> usize {
        self.replicas.len()
    }

    pub fn endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    fn state(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("replica{i}"))
    }

    /// `kill -9` of replica `i`.
    pub fn kill(&mut self, i: usize) {
        self.replicas[i] = None;
    }

    /// Starts replica `i` (again) and waits until it answers.
    pub async fn restart(&mut self, i: usize) {
        self.replicas[i] = None;
        let listen = format!("127.0.0.1:{}", self.ports[i]);
        let state = self.state(i).display().to_string();
        let replica_id = format!("r{i}");
        let mut args = vec!["server", "--listen", &listen, "--state-dir", &state];
        if let Some(s) = &self.store {
            args.extend(["--store", s, "--replica-id", &replica_id]);
        }
        let log = self.dir.path().join(format!("replica{i}.log"));
        self.replicas[i] = Some(crate::common::spawn_logged(&args, Some(&log)));
        let ep = self.endpoint(i);
        let http = &self.http;
        gantry_tests::wait_for("the replica", Duration::from_secs(60), || async {
            healthz(http, &ep).await.map(|_| ())
        })
        .await;
    }

    /// The replica whose /healthz says it leads.
    pub async fn wait_leader(&self, timeout: Duration) -> Option<usize> {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            for i in 0..self.replicas() {
                if self.replicas[i].is_some()
                    && healthz(&self.http, &self.endpoint(i))
                        .await
                        .is_some_and(|h| h.leader)
                {
                    return Some(i);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    fn pid(&self, i: usize) -> Option<u32> {
        self.replicas[i].as_ref().map(|p| p.0.id())
    }

    fn store_bytes(&self) -> u64 {
        if self.etcd.is_empty() {
            dir_size(&self.state(0).join("server"))
        } else {
            self.etcd
                .iter()
                .map(|m| dir_size(&m.data.join("member/snap")))
                .max()
                .unwrap_or(0)
        }
    }

    async fn etcd_status(&self, m: &Member) -> Option<EtcdStatus> {
        let v: Value = self
            .http
            .post(format!("{}/v3/maintenance/status", m.url))
            .json(&json!({}))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(EtcdStatus {
            db_size: gw_u64(&v["dbSize"]),
            db_size_in_use: gw_u64(&v["dbSizeInUse"]),
            revision: gw_u64(&v["header"]["revision"]),
        })
    }

    /// The largest member's backend.
    async fn etcd_max_status(&self) -> EtcdStatus {
        let mut best = EtcdStatus::default();
        for m in &self.etcd {
            if let Some(s) = self.etcd_status(m).await {
                if s.db_size >= best.db_size {
                    best = s;
                }
            }
        }
        best
    }

    /// Compacts the history up to the current revision and defragments every member, as
    /// an operator would (docs/ha.md), then measures again.
    async fn etcd_compact_defrag(&self, rev: u64) -> Result<EtcdStatus, String> {
        let m = self.etcd.first().ok_or("no etcd member")?;
        let r = self
            .http
            .post(format!("{}/v3/kv/compaction", m.url))
            .json(&json!({"revision": rev.to_string(), "physical": true}))
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .map_err(|e| format!("etcd compaction: {e}"))?;
        if !r.status().is_success() {
            return Err(format!(
                "etcd compaction: {}",
                r.text().await.unwrap_or_default()
            ));
        }
        for m in &self.etcd {
            let r = self
                .http
                .post(format!("{}/v3/maintenance/defragment", m.url))
                .json(&json!({}))
                .timeout(Duration::from_secs(600))
                .send()
                .await
                .map_err(|e| format!("etcd defragment: {e}"))?;
            if !r.status().is_success() {
                return Err(format!(
                    "etcd defragment: {}",
                    r.text().await.unwrap_or_default()
                ));
            }
        }
        Ok(self.etcd_max_status().await)
    }

    /// The last lines of every log of this deployment (replicas, etcd members), to stderr.
    pub fn tail_logs(&self, lines: usize) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let all: Vec<&str> = text.lines().collect();
                eprintln!("--- {} (last {lines} of {} lines)", p.display(), all.len());
                for l in &all[all.len().saturating_sub(lines)..] {
                    eprintln!("{l}");
                }
            }
        }
    }

    /// `instances` simulated instances spread over the replicas' gateways, then `tasks`
    /// tasks by RunTask (count 10) from `clients` clients spread over the replicas, with a
    /// prober timing DescribeTasks and ListTasks meanwhile.
    pub async fn load(&self, instances: usize, tasks: usize, clients: usize) -> LoadReport {
        let mut r = LoadReport {
            load_start: loadavg(),
            ..LoadReport::default()
        };
        let http = &self.http;
        let ep0 = self.endpoint(0);
        call(http, &ep0, "CreateCluster", json!({"clusterName": "ha"})).await;
        // A token admits at most 1,000 hosts: one simulated fleet per 1,000 instances, at
        // least one per replica.
        let fleets = instances
            .div_ceil(1000)
            .max(self.replicas())
            .min(instances.max(1));
        let per_task = 4;
        let room = ((tasks / instances.max(1)) + 1) * per_task;
        let t0 = Instant::now();
        let mut sims = Vec::new();
        for f in 0..fleets {
            let n = instances / fleets + usize::from(f < instances % fleets);
            let ep = self.endpoint(f % self.replicas());
            let (token, _) =
                gantry_tests::join_token(http, &ep0, "ha", u32::try_from(n).unwrap_or(1000)).await;
            sims.push(spawn(&[
                "sim-agents",
                "--server",
                &ep,
                "--join-token",
                &token,
                "--cluster",
                "ha",
                "--count",
                &n.to_string(),
                "--cpu",
                &room.to_string(),
                "--memory",
                &(room * 6).to_string(),
            ]));
        }
        wait_instances(http, &ep0, "ha", instances).await;
        r.registered = t0.elapsed();
        let def = call(http, &ep0, "RegisterTaskDefinition", json!({"family": "ha", "networkMode": "none",
            "containerDefinitions": [{"name": "a", "image": "busybox:latest", "memory": 6, "cpu": 1}]})).await;
        assert!(def["taskDefinition"].is_object(), "{def}");

        let arns: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let endpoints: Vec<String> = (0..self.replicas()).map(|i| self.endpoint(i)).collect();
        let prober = {
            let (http, arns, stop, endpoints) =
                (http.clone(), arns.clone(), stop.clone(), endpoints.clone());
            tokio::spawn(async move {
                let (mut describe, mut list) = (Vec::new(), Vec::new());
                let (mut errors, mut load_max) = (0usize, 0f64);
                let mut k = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    k += 1;
                    load_max = load_max.max(loadavg());
                    let ep = &endpoints[k % endpoints.len()];
                    let some: Vec<String> = {
                        let a = arns.lock().unwrap_or_else(|e| e.into_inner());
                        let start = if a.len() > 10 {
                            (k * 7919) % (a.len() - 10)
                        } else {
                            0
                        };
                        a.iter().skip(start).take(10).cloned().collect()
                    };
                    if !some.is_empty() {
                        let t = Instant::now();
                        let out = call(
                            &http,
                            ep,
                            "DescribeTasks",
                            json!({"cluster": "ha", "tasks": some}),
                        )
                        .await;
                        describe.push(t.elapsed().as_secs_f64() * 1000.0);
                        errors += usize::from(!out["tasks"].is_array());
                    }
                    let t = Instant::now();
                    let out = call(
                        &http,
                        ep,
                        "ListTasks",
                        json!({"cluster": "ha", "maxResults": 100}),
                    )
                    .await;
                    list.push(t.elapsed().as_secs_f64() * 1000.0);
                    errors += usize::from(!out["taskArns"].is_array());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                (describe, list, errors, load_max)
            })
        };
        let left = Arc::new(AtomicUsize::new(tasks.div_ceil(10)));
        let t0 = Instant::now();
        eprintln!(
            "{} instances registered in {:.1} s (load average {:.2})",
            instances,
            r.registered.as_secs_f64(),
            loadavg()
        );
        let progress = {
            let (left, arns, stop) = (left.clone(), arns.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    eprintln!(
                        "{:.0} s: {} RunTask calls left, {} ARNs kept, load average {:.2}",
                        t0.elapsed().as_secs_f64(),
                        left.load(Ordering::SeqCst),
                        arns.lock().map(|a| a.len()).unwrap_or(0),
                        loadavg()
                    );
                }
            })
        };
        let mut workers = Vec::new();
        for c in 0..clients {
            let (http, left, arns) = (http.clone(), left.clone(), arns.clone());
            let ep = endpoints[c % endpoints.len()].clone();
            workers.push(tokio::spawn(async move {
                let (mut placed, mut failed) = (0usize, Vec::new());
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let out = call(
                        &http,
                        &ep,
                        "RunTask",
                        json!({"cluster": "ha", "taskDefinition": "ha", "count": 10}),
                    )
                    .await;
                    let got = out["tasks"].as_array().cloned().unwrap_or_default();
                    placed += got.len();
                    {
                        let mut a = arns.lock().unwrap_or_else(|e| e.into_inner());
                        if a.len() < 10_000 {
                            a.extend(
                                got.iter()
                                    .filter_map(|t| t["taskArn"].as_str().map(String::from)),
                            );
                        }
                    }
                    if got.len() < 10 {
                        failed.push(out.to_string());
                    }
                }
                (placed, failed)
            }));
        }
        for w in workers {
            let (p, f) = w.await.unwrap_or_default();
            r.placed += p;
            if let Some(first) = f.first() {
                r.problems
                    .push(format!("{} RunTask calls short, first: {first}", f.len()));
            }
        }
        r.placed_in = t0.elapsed();
        let placed = r.placed;
        let deadline = Instant::now() + Duration::from_secs(1800);
        let mut done = false;
        while !done && Instant::now() < deadline {
            done = running_tasks(http, &ep0, "ha").await >= placed;
            if !done {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if !done {
            r.problems.push(format!(
                "not every one of {placed} tasks RUNNING after 30 min"
            ));
        }
        r.running_in = t0.elapsed();
        stop.store(true, Ordering::SeqCst);
        (r.describe, r.list, r.probe_errors, r.load_max) = prober.await.unwrap_or_default();
        progress.abort();
        r.describe.sort_by(f64::total_cmp);
        r.list.sort_by(f64::total_cmp);
        r.rss = (0..self.replicas())
            .filter_map(|i| self.pid(i))
            .map(|p| (mib(p, "VmRSS:"), mib(p, "VmHWM:")))
            .collect();
        r.store_bytes = self.store_bytes();
        r.etcd_rss = self
            .etcd
            .iter()
            .map(|m| m.proc.0.id())
            .map(|p| (mib(p, "VmRSS:"), mib(p, "VmHWM:")))
            .collect();
        if !self.etcd.is_empty() {
            r.wal_bytes = dir_size(&self.etcd[0].data.join("member/wal"));
            r.etcd_end = self.etcd_max_status().await;
            match self.etcd_compact_defrag(r.etcd_end.revision).await {
                Ok(s) => r.etcd_compacted = s,
                Err(e) => r.problems.push(e),
            }
        }
        drop(sims);
        r
    }
}
