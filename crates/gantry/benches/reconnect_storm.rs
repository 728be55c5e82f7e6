//! Issue 11's figures for the agent gateway, with simulated agents (`gantry sim-agents`: the
//! real agent protocol, each with its own node credential, no containers), against a real `gantry server` over
//! TLS on loopback:
//! - server memory per connected session: RSS with N sessions open minus RSS before;
//! - reconnect storm: the server is `kill -9`ed with N sessions open and started again; the
//!   time until every agent has its session back (counted from the server's own
//!   "agent session open" log lines), the new server's CPU seconds and RSS until then, and the
//!   authentications refused meanwhile (the audit log's `Deny` lines).
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench reconnect_storm`
//! (GANTRY_BENCH_AGENTS, default 1000).

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], log: Option<&Path>) -> Proc {
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
    Proc(
        Command::new(gantry_tests::gantry_bin())
            .args(args)
            .envs(gantry_tests::key_env())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn gantry"),
    )
}

fn sessions_opened(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("agent session open")
        .count()
}

fn denied(state: &Path) -> usize {
    std::fs::read_to_string(state.join("audit/audit.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"decision\":\"Deny\""))
        .count()
}

/// User + system CPU seconds of `pid` (clock ticks of 1/100 s).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| f.get(*i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    ticks as f64 / 100.0
}

fn mib(pid: u32, key: &str) -> f64 {
    gantry_tests::procs::kib(pid, "status", key) as f64 / 1024.0
}

async fn call(http: &reqwest::Client, ep: &str, op: &str, body: Value) -> Value {
    let r = gantry_tests::post_ecs(http, ep, op, body.to_string().into_bytes())
        .await
        .expect("request");
    r.json().await.unwrap_or(Value::Null)
}

async fn wait_sessions(log: &Path, from: usize, n: usize, what: &str) -> Duration {
    let t0 = Instant::now();
    gantry_tests::wait_for(what, Duration::from_secs(600), || async {
        (sessions_opened(log) - from >= n).then_some(())
    })
    .await;
    t0.elapsed()
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

async fn run() {
    let n: usize = std::env::var("GANTRY_BENCH_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = gantry_tests::TempDir::new("bench-storm");
    let state = dir.path().join("state");
    let log = dir.path().join("server.log");
    let port = gantry_tests::free_port();
    let listen = format!("127.0.0.1:{port}");
    let ep = format!("https://127.0.0.1:{port}");
    let state_s = state.display().to_string();
    let server_args = [
        "server",
        "--listen",
        &listen,
        "--state-dir",
        &state_s,
        "--tls",
    ];
    let mut server = spawn(&server_args, Some(&log));
    let ca = state.join("tls/ca.pem");
    gantry_tests::wait_for("the server's CA", Duration::from_secs(30), || async {
        ca.exists().then_some(())
    })
    .await;
    let pem = std::fs::read(&ca).expect("read the CA");
    let http = gantry_link::https_client(&pem).expect("https client");
    gantry_tests::wait_for("the server", Duration::from_secs(30), || async {
        http.post(format!("{ep}/")).send().await.ok().map(|_| ())
    })
    .await;
    call(&http, &ep, "CreateCluster", json!({"clusterName": "storm"})).await;
    let idle_rss = mib(server.0.id(), "VmRSS:");
    let ca_s = ca.display().to_string();
    let count = n.to_string();
    // One token for the whole fleet: each simulated agent joins once with its own key pair and
    // keeps its node credential across the storm (the server allows up to 1,000 per token).
    let (token, _) = gantry_tests::join_token(&http, &ep, "storm", n as u32).await;
    let sims = spawn(
        &[
            "sim-agents",
            "--server",
            &ep,
            "--cluster",
            "storm",
            "--count",
            &count,
            "--ca-bundle",
            &ca_s,
            "--join-token",
            &token,
        ],
        Some(&dir.path().join("sims.log")),
    );
    let joined = wait_sessions(&log, 0, n, "every simulated agent's first session").await;
    // Two heartbeat rounds, so every session holds what it holds in steady state.
    tokio::time::sleep(Duration::from_millis(
        2 * gantry_api::protocol::HEARTBEAT_INTERVAL_MS,
    ))
    .await;
    let busy_rss = mib(server.0.id(), "VmRSS:");
    let denied_before = denied(&state);

    // The storm: every agent loses its server at once and redials when it is back.
    drop(server);
    let before = sessions_opened(&log);
    server = spawn(&server_args, Some(&log));
    let storm = wait_sessions(&log, before, n, "every simulated agent's session back").await;
    let cpu = cpu_secs(server.0.id());
    let rss = mib(server.0.id(), "VmRSS:");
    let hwm = mib(server.0.id(), "VmHWM:");
    let refused = denied(&state).saturating_sub(denied_before);
    drop(sims);

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("agents: {n}; load: {}", load.trim());
    println!("| measure | result |");
    println!("| --- | --- |");
    println!(
        "| first connection of {n} agents (join, register, session) | {:.2} s |",
        joined.as_secs_f64()
    );
    println!(
        "| server RSS idle / with {n} sessions | {idle_rss:.1} MiB / {busy_rss:.1} MiB ({:.1} KiB a session) |",
        (busy_rss - idle_rss) * 1024.0 / n as f64
    );
    println!(
        "| reconnect storm after kill -9: all {n} sessions back | {:.2} s |",
        storm.as_secs_f64()
    );
    println!("| new server's CPU until then | {cpu:.2} s |");
    println!("| new server's RSS then / peak | {rss:.1} MiB / {hwm:.1} MiB |");
    println!("| authentications refused during the storm | {refused} |");
}
