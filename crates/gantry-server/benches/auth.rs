//! Issue 10's figures for the auth gate:
//! 1. per-request cost, direct calls (no network): SigV4 parse + verify of a signed
//!    DescribeTasks, its accesses (`ecs_accesses`, one tags read from the store) and their
//!    evaluation over a 20-statement policy; p50/p99 in µs;
//! 2. API throughput on loopback, DescribeTasks, signed by the client in both cases, against
//!    a server with `ServerConfig::authenticate` on and one with it off, phases interleaved
//!    (off, on, off, on, …) in one run. Both servers write the audit log. Each server runs on
//!    its own thread and one-thread runtime, the clients on another; a client signs once per
//!    phase, so what is compared is the server's work.
//!
//! Run: `cargo bench -p gantry-server --bench auth` (GANTRY_BENCH_SECS per phase, default 5;
//! GANTRY_BENCH_ROUNDS, default 4; GANTRY_BENCH_CLIENTS, default 16; GANTRY_BENCH_ITERS,
//! default 20000).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use gantry_aws::policy::Policy;
use gantry_aws::sigv4::{self, Expect, Request};
use gantry_server::auth::authorize::decide;
use gantry_server::auth::{ecs_accesses, Caller, Principal, PrincipalKind};
use gantry_server::{AccessKeyPair, AppState, ServerConfig};
use gantry_store::SqliteStore;
use serde_json::{json, Value};

const KEY: &str = "AKIAGANTRYBENCHKEY01";
const SECRET: &str = "GantryBenchSecretKey0123456789abcdefghijk";
const REGION: &str = "us-east-1";
const TARGET: &str = "AmazonEC2ContainerServiceV20141113.DescribeTasks";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn signed(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    at: SystemTime,
) -> Vec<(String, String)> {
    let identity = Credentials::new(KEY, SECRET, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("ecs")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    let req = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (ins, _) = sign(req, &params).expect("sign").into_parts();
    ins.headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Twenty statements, the allowing one last, so evaluation walks them all.
fn twenty_statement_policy() -> Policy {
    let mut st: Vec<Value> = (0..19)
        .map(|n| {
            json!({"Sid": format!("S{n}"), "Effect": "Allow",
                   "Action": [format!("ecs:Describe{n}*"), "ecs:List*"],
                   "Resource": format!("arn:aws:ecs:us-east-1:123456789012:cluster/team-{n}"),
                   "Condition": {"StringEquals": {"aws:PrincipalTag/team": format!("team-{n}")}}})
        })
        .collect();
    st.push(json!({"Sid": "Tasks", "Effect": "Allow", "Action": "ecs:DescribeTasks",
                   "Resource": "arn:aws:ecs:us-east-1:123456789012:task/prod/*",
                   "Condition": {"ArnEquals": {"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"},
                                 "IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}));
    Policy::parse(&json!({"Version": "2012-10-17", "Statement": st}).to_string()).expect("policy")
}

fn caller() -> Caller {
    Caller {
        principal: Principal {
            arn: "arn:aws:iam::123456789012:user/bench".into(),
            user_id: "AIDABENCH0000000000".into(),
            account: "123456789012".into(),
            kind: PrincipalKind::User {
                name: "bench".into(),
            },
            tags: [("team".to_string(), "prod".to_string())].into(),
        }
        .into(),
        access_key_id: KEY.into(),
        source_ip: [127, 0, 0, 1].into(),
        secure: false,
    }
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn report(what: &str, samples: Vec<f64>) {
    println!(
        "  {what:<44} p50 {:>7.2} µs   p99 {:>7.2} µs",
        pct(samples.clone(), 0.5),
        pct(samples, 0.99)
    );
}

fn config(authenticate: bool, dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        account_id: "123456789012".into(),
        region: REGION.into(),
        admin_key: Some(AccessKeyPair {
            access_key_id: KEY.into(),
            secret_access_key: SECRET.into(),
        }),
        state_dir: Some(dir.to_path_buf()),
        authenticate,
        ..ServerConfig::default()
    }
}

async fn direct(iters: usize) {
    let dir = std::env::temp_dir().join(format!("gantry-auth-bench-direct-{}", std::process::id()));
    let st = AppState::new(
        config(true, &dir),
        SqliteStore::open_in_memory().expect("store"),
    );
    let body =
        json!({"cluster": "prod", "tasks": ["0123456789abcdef0123456789abcdef"]}).to_string();
    let url = "http://127.0.0.1:8080/";
    let base = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", TARGET),
    ];
    let now = SystemTime::now();
    let sig = signed(url, &base, body.as_bytes(), now);
    let mut headers: Vec<(&str, &str)> = vec![("host", "127.0.0.1:8080")];
    headers.extend(base.iter().copied());
    headers.extend(sig.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: body.as_bytes(),
    };
    #[allow(clippy::cast_possible_wrap)]
    let secs = now.duration_since(UNIX_EPOCH).expect("time").as_secs() as i64;
    let expect = Expect {
        now: secs,
        region: REGION,
        service: "ecs",
    };
    let policy = [twenty_statement_policy()];
    let value: Value = serde_json::from_str(&body).expect("json");
    let who = caller();
    let t_now = st.clock.now();
    // Sanity: the request verifies and the policy allows it.
    let claim = sigv4::parse(&req).expect("parse");
    sigv4::verify(&req, &claim, SECRET, &expect).expect("verify");
    let acc = ecs_accesses(&st, "DescribeTasks", &value, true)
        .await
        .expect("accesses");
    decide(&policy, &who, t_now, &acc).expect("allowed");

    // The server reads stored tags only for policies that name ecs:ResourceTag keys; this
    // one does not, so its requests take the first path; the second is the cost with tags.
    let tags = gantry_server::auth::authorize::mention_resource_tags(&policy);
    assert!(!tags);
    let (mut tagged, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        let t0 = Instant::now();
        let _ = ecs_accesses(&st, "DescribeTasks", &value, true)
            .await
            .expect("accesses");
        let t1 = Instant::now();
        let _ = ecs_accesses(&st, "DescribeTasks", &value, false)
            .await
            .expect("accesses");
        let t2 = Instant::now();
        tagged.push((t1 - t0).as_secs_f64() * 1e6);
        plain.push((t2 - t1).as_secs_f64() * 1e6);
    }
    let (mut v, mut a, mut d, mut all) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iters {
        let t0 = Instant::now();
        let claim = sigv4::parse(&req).expect("parse");
        sigv4::verify(&req, &claim, SECRET, &expect).expect("verify");
        let t1 = Instant::now();
        // The server keeps this flag with the cached policies; it is not paid per request.
        let acc = ecs_accesses(&st, "DescribeTasks", &value, tags)
            .await
            .expect("accesses");
        let t2 = Instant::now();
        decide(&policy, &who, t_now, &acc).expect("allowed");
        let t3 = Instant::now();
        v.push((t1 - t0).as_secs_f64() * 1e6);
        a.push((t2 - t1).as_secs_f64() * 1e6);
        d.push((t3 - t2).as_secs_f64() * 1e6);
        all.push((t3 - t0).as_secs_f64() * 1e6);
    }
    println!("per request, DescribeTasks (1 task), {iters} iterations:");
    report("SigV4 parse + verify", v);
    report("accesses (as served)", a);
    report("policy evaluation (20 statements)", d);
    report("verification + authorization, total", all);
    report("accesses when a policy names ResourceTag", tagged);
    report("accesses without the tags read", plain);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn load(addr: std::net::SocketAddr, clients: usize, secs: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(secs);
    let url = format!("http://{addr}/");
    let body =
        json!({"cluster": "prod", "tasks": ["0123456789abcdef0123456789abcdef"]}).to_string();
    let mut joins = Vec::new();
    for _ in 0..clients {
        let (done, url, body) = (done.clone(), url.clone(), body.clone());
        joins.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let base = [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", TARGET),
            ];
            // Signed once per phase (a signature stays valid for 5 minutes), so the
            // client's own signing does not compete with the server for CPU.
            let auth = signed(&url, &base, body.as_bytes(), SystemTime::now());
            while Instant::now() < stop {
                let mut rb = http.post(&url);
                for (k, v) in base {
                    rb = rb.header(k, v);
                }
                for (k, v) in &auth {
                    rb = rb.header(k, v);
                }
                let r = rb.body(body.clone()).send().await.expect("request");
                assert_eq!(
                    r.status().as_u16(),
                    200,
                    "{}",
                    r.text().await.unwrap_or_default()
                );
                let _ = r.bytes().await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let t0 = Instant::now();
    for j in joins {
        j.await.expect("client");
    }
    #[allow(clippy::cast_precision_loss)]
    let n = done.load(Ordering::Relaxed) as f64;
    n / t0.elapsed().as_secs_f64()
}

async fn start(
    authenticate: bool,
    dir: &std::path::Path,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let store = SqliteStore::open_in_memory().expect("store");
    let bound = gantry_server::bind(config(authenticate, dir), store)
        .await
        .expect("bind");
    let addr = bound.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.run(async move {
        let _ = rx.await;
    }));
    create_cluster(addr).await;
    (addr, tx)
}

/// Runs a server on its own thread with a one-thread runtime, as the clients run on theirs:
/// the two compete for the 2 cores only as two processes would.
fn start_apart(authenticate: bool, dir: std::path::PathBuf) -> std::net::SocketAddr {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let name = thread_name(authenticate);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(name)
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let (addr, stop) = start(authenticate, &dir).await;
                addr_tx.send(addr).expect("send the address");
                // Serves until the process ends.
                std::future::pending::<()>().await;
                drop(stop);
            });
        })
        .expect("server thread");
    addr_rx.recv().expect("the server's address")
}

/// The name of a server's threads (its runtime thread and its blocking pool).
fn thread_name(authenticate: bool) -> &'static str {
    if authenticate {
        "srv-auth-on"
    } else {
        "srv-auth-off"
    }
}

/// CPU seconds (user + system) spent so far by this process's threads named `name`: a
/// server's own work, which the machine's load does not change the way it changes
/// throughput.
fn cpu_secs(name: &str) -> f64 {
    let mut ticks = 0u64;
    for t in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised command: state is 3rd, utime 14th, stime 15th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        for i in [11, 12] {
            ticks += f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    // USER_HZ is 100 on Linux.
    #[allow(clippy::cast_precision_loss)]
    let secs = ticks as f64 / 100.0;
    secs
}

/// Creates the cluster the requests name.
async fn create_cluster(addr: std::net::SocketAddr) {
    // The cluster the requests name.
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/");
    let body = json!({"clusterName": "prod"}).to_string();
    let base = [
        ("content-type", "application/x-amz-json-1.1"),
        (
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.CreateCluster",
        ),
    ];
    let mut rb = http.post(&url);
    for (k, v) in base {
        rb = rb.header(k, v);
    }
    for (k, v) in signed(&url, &base, body.as_bytes(), SystemTime::now()) {
        rb = rb.header(k, v);
    }
    assert_eq!(
        rb.body(body)
            .send()
            .await
            .expect("create")
            .status()
            .as_u16(),
        200
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let iters = usize::try_from(env("GANTRY_BENCH_ITERS", 20_000)).unwrap_or(20_000);
    let secs = env("GANTRY_BENCH_SECS", 5);
    let clients = usize::try_from(env("GANTRY_BENCH_CLIENTS", 16)).unwrap_or(16);
    direct(iters).await;

    let root = std::env::temp_dir().join(format!("gantry-auth-bench-{}", std::process::id()));
    let on = start_apart(true, root.join("on"));
    let off = start_apart(false, root.join("off"));
    // Warm both up, then interleave so drift in the machine's load hits both alike.
    load(on, clients, 1).await;
    load(off, clients, 1).await;
    let rounds = env("GANTRY_BENCH_ROUNDS", 4);
    let (mut r_on, mut r_off) = (Vec::new(), Vec::new());
    // Server CPU µs per request, per phase.
    let (mut c_on, mut c_off) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (auth, addr, rate, cpu) in [
            (false, off, &mut r_off, &mut c_off),
            (true, on, &mut r_on, &mut c_on),
        ] {
            let c0 = cpu_secs(thread_name(auth));
            let t0 = Instant::now();
            let r = load(addr, clients, secs).await;
            let n = r * t0.elapsed().as_secs_f64();
            rate.push(r);
            cpu.push((cpu_secs(thread_name(auth)) - c0) / n * 1e6);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (m_on, m_off) = (mean(&r_on), mean(&r_off));
    println!(
        "throughput, DescribeTasks on loopback, {clients} clients, {rounds} x {secs} s per side:"
    );
    println!("  auth off: {m_off:>9.0} req/s  (phases {r_off:.0?})");
    println!("  auth on:  {m_on:>9.0} req/s  (phases {r_on:.0?})");
    println!(
        "  auth on serves {:.1}% fewer requests per second",
        (1.0 - m_on / m_off) * 100.0
    );
    let (cpu_on, cpu_off) = (mean(&c_on), mean(&c_off));
    println!("server CPU per request (user + system, all its threads):");
    println!("  auth off: {cpu_off:>6.1} µs  (phases {c_off:.1?})");
    println!("  auth on:  {cpu_on:>6.1} µs  (phases {c_on:.1?})");
    println!(
        "  auth on costs {:.1}% more server CPU per request (+{:.1} µs)",
        (cpu_on / cpu_off - 1.0) * 100.0,
        cpu_on - cpu_off
    );
    let _ = std::fs::remove_dir_all(&root);
}
