//! Real etcd clusters for tests and benchmarks: N members of Debian's `etcd` (package
//! `etcd-server`, 3.4) on free ports, each with its own data directory under one temporary
//! directory. Members can be stopped, killed and started again on the same data (they rejoin
//! the cluster), and the HA tests put nftables rules on their ports.
//!
//! Plain process code, no client library: health is etcd's `GET /health` over a bare
//! HTTP/1.0 request. Dropping the cluster kills every member and removes the directory.
//! The binary is `etcd` on `PATH`, or `GANTRY_ETCD_BIN`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long [`EtcdCluster::start`] waits for every member to report healthy.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long [`EtcdCluster::stop`] waits after SIGTERM before it kills.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum EtcdProcessError {
    #[error("could not start {bin}: {source} (install Debian's etcd-server package, or set GANTRY_ETCD_BIN)")]
    Spawn { bin: String, source: std::io::Error },
    #[error("etcd cluster: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "etcd member {member} did not become healthy within {deadline:?}; its log {log}:\n{tail}"
    )]
    NotHealthy {
        member: usize,
        deadline: Duration,
        log: String,
        tail: String,
    },
    #[error("etcd member {0} does not exist")]
    NoSuchMember(usize),
}

pub type Result<T> = std::result::Result<T, EtcdProcessError>;

/// What to start. [`EtcdCluster::start`] and [`EtcdCluster::start_on`] cover most uses.
#[derive(Debug, Clone)]
pub struct EtcdSpec {
    pub members: usize,
    /// The address every member binds and advertises (client and peer URLs).
    pub listen_host: String,
    /// Extra flags for every member, e.g. `--auto-compaction-retention=1`,
    /// `--quota-backend-bytes=...`.
    pub extra_args: Vec<String>,
}

/// Server-side TLS of the members' client URLs (`https`), with client-certificate auth.
#[derive(Debug, Clone)]
pub struct EtcdServerTls {
    /// The CA that signed `cert_file` and the clients' certificates.
    pub ca_file: PathBuf,
    /// The members' certificate (its names must include the listen host) and key.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    /// Plain-HTTP `/health` when the client URL is TLS (`--listen-metrics-urls`).
    health_port: Option<u16>,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// A running etcd cluster. Members are numbered `0..n`.
#[derive(Debug)]
pub struct EtcdCluster {
    dir: PathBuf,
    host: String,
    initial_cluster: String,
    token: String,
    extra_args: Vec<String>,
    tls: Option<EtcdServerTls>,
    members: Vec<Member>,
}

impl EtcdCluster {
    /// `n` members on 127.0.0.1, healthy when this returns.
    pub fn start(n: usize) -> Result<EtcdCluster> {
        Self::start_on(n, "127.0.0.1")
    }

    /// `n` members on `host` (an address of this machine, e.g. a bridge the test made).
    pub fn start_on(n: usize, host: &str) -> Result<EtcdCluster> {
        Self::start_with(EtcdSpec {
            members: n,
            listen_host: host.to_string(),
            extra_args: Vec::new(),
        })
    }

    pub fn start_with(spec: EtcdSpec) -> Result<EtcdCluster> {
        Self::start_inner(spec, None)
    }

    /// Like [`start_with`](Self::start_with), with `https` client URLs that require a
    /// client certificate signed by `tls.ca_file`. [`client_url`](Self::client_url) says
    /// `https://`.
    pub fn start_tls(spec: EtcdSpec, tls: EtcdServerTls) -> Result<EtcdCluster> {
        Self::start_inner(spec, Some(tls))
    }

    fn start_inner(spec: EtcdSpec, tls: Option<EtcdServerTls>) -> Result<EtcdCluster> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let token = format!("gantry-{}-{seq}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(format!("{token}-etcd"));
        std::fs::create_dir_all(&dir)?;
        let mut cluster = EtcdCluster {
            dir,
            host: spec.listen_host.clone(),
            initial_cluster: String::new(),
            token,
            extra_args: spec.extra_args,
            tls,
            members: Vec::new(),
        };
        // All ports are picked while every probe listener is still open, so no two collide.
        let mut probes = Vec::new();
        for i in 0..spec.members {
            let client = free_port(&spec.listen_host)?;
            let peer = free_port(&spec.listen_host)?;
            let (client_port, peer_port) = (client.local_addr()?.port(), peer.local_addr()?.port());
            probes.push(client);
            probes.push(peer);
            let health_port = match &cluster.tls {
                Some(_) => {
                    let health = free_port(&spec.listen_host)?;
                    let port = health.local_addr()?.port();
                    probes.push(health);
                    Some(port)
                }
                None => None,
            };
            let member_dir = cluster.dir.join(format!("m{i}"));
            cluster.members.push(Member {
                name: format!("m{i}"),
                client_port,
                peer_port,
                health_port,
                data_dir: member_dir.join("data"),
                log: member_dir.join("etcd.log"),
                child: None,
            });
        }
        drop(probes);
        cluster.initial_cluster = cluster
            .members
            .iter()
            .map(|m| format!("{}=http://{}:{}", m.name, spec.listen_host, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        for i in 0..spec.members {
            cluster.spawn(i)?;
        }
        let deadline = Instant::now() + START_DEADLINE;
        for i in 0..spec.members {
            cluster.wait_healthy(i, deadline)?;
        }
        Ok(cluster)
    }

    /// How many members the cluster has (running or not).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every member's client address, `host:port`, for a client's endpoint list.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len())
            .map(|i| format!("{}:{}", self.host, self.members[i].client_port))
            .collect()
    }

    /// `etcd://h1:p1,h2:p2` for `--store`.
    pub fn store_url(&self) -> String {
        format!("etcd://{}", self.endpoints().join(","))
    }

    /// Member `i`'s client URL, `http://host:port`.
    pub fn client_url(&self, i: usize) -> String {
        format!(
            "{}://{}:{}",
            self.scheme(),
            self.host,
            self.members[i].client_port
        )
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Every member's client port, in member order.
    pub fn client_ports(&self) -> Vec<u16> {
        self.members.iter().map(|m| m.client_port).collect()
    }

    /// Every member's peer port, in member order.
    pub fn peer_ports(&self) -> Vec<u16> {
        self.members.iter().map(|m| m.peer_port).collect()
    }

    pub fn client_port(&self, i: usize) -> u16 {
        self.members[i].client_port
    }

    pub fn peer_port(&self, i: usize) -> u16 {
        self.members[i].peer_port
    }

    /// Member `i`'s data directory (it holds `member/snap/db`, the database size figure).
    pub fn data_dir(&self, i: usize) -> &Path {
        &self.members[i].data_dir
    }

    /// Whether member `i`'s process is running (it has not exited).
    pub fn is_running(&mut self, i: usize) -> bool {
        match self.members.get_mut(i).and_then(|m| m.child.as_mut()) {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Member `i`'s process id, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members.get(i)?.child.as_ref().map(Child::id)
    }

    /// Stops member `i` cleanly: SIGTERM, then waits for it to exit (SIGKILL after a grace).
    pub fn stop(&mut self, i: usize) -> Result<()> {
        let member = self
            .members
            .get_mut(i)
            .ok_or(EtcdProcessError::NoSuchMember(i))?;
        let Some(mut child) = member.child.take() else {
            return Ok(());
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait()?;
        Ok(())
    }

    /// Kills member `i` (SIGKILL) and reaps it.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        let member = self
            .members
            .get_mut(i)
            .ok_or(EtcdProcessError::NoSuchMember(i))?;
        if let Some(mut child) = member.child.take() {
            let _ = child.kill();
            child.wait()?;
        }
        Ok(())
    }

    /// Starts member `i` again on its data directory (it rejoins the cluster) and waits until
    /// it accepts client connections. It is healthy only once a quorum is up: see
    /// [`wait_healthy`](Self::wait_healthy).
    pub fn start_member(&mut self, i: usize) -> Result<()> {
        if self
            .members
            .get(i)
            .ok_or(EtcdProcessError::NoSuchMember(i))?
            .child
            .is_some()
        {
            return Ok(());
        }
        self.spawn(i)?;
        let deadline = Instant::now() + START_DEADLINE;
        let addr = self.addr(i)?;
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if !self.is_running(i) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(self.not_healthy(i, START_DEADLINE))
    }

    /// Waits until member `i` answers `GET /health` with `"health":"true"` (it has a leader).
    pub fn wait_healthy(&mut self, i: usize, deadline: Instant) -> Result<()> {
        let addr = self.health_addr(i)?;
        let started = Instant::now();
        while Instant::now() < deadline {
            if health(&addr, &self.host) {
                return Ok(());
            }
            if !self.is_running(i) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(self.not_healthy(i, deadline.saturating_duration_since(started)))
    }

    /// Whether member `i` answers healthy now.
    pub fn is_healthy(&self, i: usize) -> bool {
        self.health_addr(i)
            .is_ok_and(|addr| health(&addr, &self.host))
    }

    fn addr(&self, i: usize) -> Result<SocketAddr> {
        self.socket(i, false)
    }

    /// Where member `i` answers plain-HTTP `/health`.
    fn health_addr(&self, i: usize) -> Result<SocketAddr> {
        self.socket(i, true)
    }

    fn socket(&self, i: usize, health: bool) -> Result<SocketAddr> {
        let m = self
            .members
            .get(i)
            .ok_or(EtcdProcessError::NoSuchMember(i))?;
        let ip = self
            .host
            .parse()
            .map_err(|_| std::io::Error::other(format!("not an IP address: {}", self.host)))?;
        let port = match (health, m.health_port) {
            (true, Some(port)) => port,
            _ => m.client_port,
        };
        Ok(SocketAddr::new(ip, port))
    }

    fn not_healthy(&self, i: usize, deadline: Duration) -> EtcdProcessError {
        let log = &self.members[i].log;
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        EtcdProcessError::NotHealthy {
            member: i,
            deadline,
            log: log.display().to_string(),
            tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        }
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let bin = std::env::var("GANTRY_ETCD_BIN").unwrap_or_else(|_| "etcd".to_string());
        let host = self.host.clone();
        let scheme = self.scheme();
        let m = &mut self.members[i];
        std::fs::create_dir_all(&m.data_dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)?;
        let client = format!("{scheme}://{host}:{}", m.client_port);
        let peer = format!("http://{host}:{}", m.peer_port);
        let mut cmd = Command::new(&bin);
        cmd.arg(format!("--name={}", m.name))
            .arg(format!("--data-dir={}", m.data_dir.display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", self.initial_cluster))
            .arg(format!("--initial-cluster-token={}", self.token))
            // Ignored by a member that restarts on its data directory.
            .arg("--initial-cluster-state=new")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .args(&self.extra_args);
        if let Some(tls) = &self.tls {
            cmd.arg(format!("--cert-file={}", tls.cert_file.display()))
                .arg(format!("--key-file={}", tls.key_file.display()))
                .arg(format!("--trusted-ca-file={}", tls.ca_file.display()))
                .arg("--client-cert-auth");
        }
        if let Some(port) = m.health_port {
            cmd.arg(format!("--listen-metrics-urls=http://{host}:{port}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().map_err(|source| EtcdProcessError::Spawn {
            bin: bin.clone(),
            source,
        })?;
        m.child = Some(child);
        Ok(())
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A listener on a free port of `host`; its port is free once it is dropped.
fn free_port(host: &str) -> Result<TcpListener> {
    Ok(TcpListener::bind((host, 0))?)
}

/// `GET /health` on a member: `{"health":"true"}` when it has a leader and can serve.
fn health(addr: &SocketAddr, host: &str) -> bool {
    let Ok(mut conn) = TcpStream::connect_timeout(addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.0\r\nHost: {host}\r\n\r\n");
    if conn.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut body = String::new();
    let _ = conn.read_to_string(&mut body);
    body.starts_with("HTTP/1.") && body.contains("200") && body.contains("\"health\":\"true\"")
}
