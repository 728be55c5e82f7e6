//! The auth gate alone, as the server runs it for a JSON request: `gate::authenticate`
//! (SigV4 parse, the cached key, verification), the caller's cached policies, the
//! operation's accesses, `authorize_with` and the key-use note, called in-process on a
//! prepared signed DescribeTasks, N times. Two callers: the administrator
//! (`AdministratorAccess`, no conditions) and a user whose only policy has 20 statements,
//! each with a condition (the figure). The same calls against a server with
//! `ServerConfig::authenticate` off are the baseline; on − off is what authentication adds
//! to a request. No network, no criterion: ns per call, the median of 7 batches.
//!
//! Run: `cargo bench -p gantry-server --bench gate` (GANTRY_BENCH_ITERS per batch, default
//! 20000).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use gantry_server::auth::gate::{self, Wire};
use gantry_server::auth::{authorize, ecs_accesses};
use gantry_server::{AccessKeyPair, AppState, ServerConfig};
use gantry_store::SqliteStore;
use serde_json::{json, Value};

const ADMIN: &str = "AKIAGANTRYBENCHKEY01";
const ADMIN_SECRET: &str = "GantryBenchSecretKey0123456789abcdefghijk";
const REGION: &str = "us-east-1";
const TARGET: &str = "AmazonEC2ContainerServiceV20141113.DescribeTasks";
const BATCHES: usize = 7;

type St = Arc<AppState<SqliteStore>>;

fn signed(
    (key, secret): (&str, &str),
    service: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    let identity = Credentials::new(key, secret, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(service)
        .time(SystemTime::now())
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

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Twenty statements, each with a condition, the allowing one last (as in the `auth` bench).
fn twenty_statement_policy() -> String {
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
    json!({"Version": "2012-10-17", "Statement": st}).to_string()
}

async fn post(
    addr: SocketAddr,
    who: (&str, &str),
    service: &str,
    ct: &str,
    target: Option<&str>,
    body: String,
) -> String {
    let url = format!("http://{addr}/");
    let mut base = vec![("content-type", ct)];
    if let Some(t) = target {
        base.push(("x-amz-target", t));
    }
    let mut rb = reqwest::Client::new().post(&url);
    for (k, v) in &base {
        rb = rb.header(*k, *v);
    }
    for (k, v) in signed(who, service, &url, &base, body.as_bytes()) {
        rb = rb.header(k, v);
    }
    let r = rb.body(body).send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{text}");
    text
}

async fn iam(addr: SocketAddr, action: &str, params: &[(&str, &str)]) -> String {
    let mut body = format!("Action={action}&Version=2010-05-08");
    for (k, v) in params {
        body.push_str(&format!("&{}={}", encode(k), encode(v)));
    }
    post(
        addr,
        (ADMIN, ADMIN_SECRET),
        "iam",
        "application/x-www-form-urlencoded; charset=utf-8",
        None,
        body,
    )
    .await
}

fn tag(xml: &str, t: &str) -> String {
    let open = format!("<{t}>");
    let i = xml.find(&open).expect("tag") + open.len();
    let j = xml[i..].find('<').expect("end");
    xml[i..i + j].to_string()
}

/// A server on loopback with `authenticate`, serving on this runtime; its state.
async fn server(authenticate: bool, dir: &std::path::Path) -> (St, SocketAddr) {
    let cfg = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        account_id: "123456789012".into(),
        region: REGION.into(),
        admin_key: Some(AccessKeyPair {
            access_key_id: ADMIN.into(),
            secret_access_key: ADMIN_SECRET.into(),
        }),
        state_dir: Some(dir.to_path_buf()),
        authenticate,
        ..ServerConfig::default()
    };
    let bound = gantry_server::bind(cfg, SqliteStore::open_in_memory().expect("store"))
        .await
        .expect("bind");
    let addr = bound.local_addr().expect("addr");
    let st = bound.state();
    tokio::spawn(bound.run(std::future::pending::<()>()));
    (st, addr)
}

/// The parts of a signed DescribeTasks as the router hands them to the handler.
fn describe_tasks(who: (&str, &str), body: &str) -> Parts {
    let url = "http://127.0.0.1:8080/";
    let base = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", TARGET),
    ];
    let mut b = axum::http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", "127.0.0.1:8080");
    for (k, v) in base {
        b = b.header(k, v);
    }
    for (k, v) in signed(who, "ecs", url, &base, body.as_bytes()) {
        b = b.header(k, v);
    }
    let (mut parts, ()) = b.body(()).expect("request").into_parts();
    let peer: SocketAddr = "127.0.0.1:50000".parse().expect("peer");
    parts.extensions.insert(ConnectInfo(peer));
    parts
}

/// One request through the gate, as `aws::json` runs it.
async fn gate_once(st: &St, parts: &Parts, body: &[u8], value: &Value) {
    let wire = Wire::of(parts);
    let caller = gate::authenticate(st, &wire, body, "ecs")
        .await
        .expect("authenticated");
    let pol = authorize::policies(st, &caller).await.expect("policies");
    let acc = ecs_accesses(st, "DescribeTasks", value, pol.resource_tags)
        .await
        .expect("accesses");
    authorize::authorize_with(st, &caller, &pol.policies, &acc).expect("allowed");
    gate::used(st, &caller, "ecs").await;
}

/// p50 ns of each step of the gate, timed apart.
async fn steps(
    st: &St,
    parts: &Parts,
    body: &[u8],
    value: &Value,
    iters: usize,
) -> [(f64, f64); 6] {
    let mut t: [Vec<f64>; 6] = Default::default();
    for _ in 0..iters {
        let t0 = Instant::now();
        let wire = Wire::of(parts);
        let caller = gate::authenticate(st, &wire, body, "ecs")
            .await
            .expect("authenticated");
        let t1 = Instant::now();
        let pol = authorize::policies(st, &caller).await.expect("policies");
        let t2 = Instant::now();
        let acc = ecs_accesses(st, "DescribeTasks", value, pol.resource_tags)
            .await
            .expect("accesses");
        let t3 = Instant::now();
        authorize::authorize_with(st, &caller, &pol.policies, &acc).expect("allowed");
        let t4 = Instant::now();
        gate::used(st, &caller, "ecs").await;
        let t5 = Instant::now();
        drop((caller, pol, acc));
        let t6 = Instant::now();
        for (i, (a, b)) in [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6)]
            .into_iter()
            .enumerate()
        {
            #[allow(clippy::cast_precision_loss)]
            t[i].push((b - a).as_nanos() as f64);
        }
    }
    t.map(|mut v| {
        v.sort_by(f64::total_cmp);
        #[allow(clippy::cast_precision_loss)]
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (v[v.len() / 2], mean)
    })
}

/// p50 ns of the SigV4 pieces on `parts`: parse, verify with the secret, verify with the
/// scope's signing key.
fn sigv4_steps(parts: &Parts, body: &[u8], iters: usize) {
    use gantry_aws::sigv4::{self, Expect, Request};
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body,
    };
    let claim = sigv4::parse(&req).expect("parse");
    let expect = Expect {
        now: claim.request_time,
        region: REGION,
        service: "ecs",
    };
    let key = sigv4::signing_key(ADMIN_SECRET, &claim.scope_date, REGION, "ecs");
    let mut t: [Vec<f64>; 3] = Default::default();
    for _ in 0..iters {
        let t0 = Instant::now();
        let c = sigv4::parse(&req).expect("parse");
        let t1 = Instant::now();
        sigv4::verify(&req, &c, ADMIN_SECRET, &expect).expect("verify");
        let t2 = Instant::now();
        sigv4::verify_with_key(&req, &c, &key, &expect).expect("verify");
        let t3 = Instant::now();
        for (i, (a, b)) in [(t0, t1), (t1, t2), (t2, t3)].into_iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            t[i].push((b - a).as_nanos() as f64);
        }
    }
    let [p, v, k] = t.map(|mut v| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    });
    println!(
        "SigV4, p50 ns: parse {p:.0}, verify with the secret {v:.0}, with the signing key {k:.0}"
    );
}

/// ns per gated request: the median of the batches' means.
async fn measure(st: &St, parts: &Parts, body: &[u8], value: &Value, iters: usize) -> f64 {
    let mut batches = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let t0 = Instant::now();
        for _ in 0..iters {
            gate_once(st, parts, body, value).await;
        }
        #[allow(clippy::cast_precision_loss)]
        batches.push(t0.elapsed().as_nanos() as f64 / iters as f64);
    }
    batches.sort_by(f64::total_cmp);
    batches[BATCHES / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let iters = std::env::var("GANTRY_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000usize);
    let root = std::env::temp_dir().join(format!("gantry-gate-bench-{}", std::process::id()));
    let (on, addr) = server(true, &root.join("on")).await;
    let (off, _) = server(false, &root.join("off")).await;

    iam(
        addr,
        "CreateUser",
        &[
            ("UserName", "bench"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "prod"),
        ],
    )
    .await;
    iam(
        addr,
        "PutUserPolicy",
        &[
            ("UserName", "bench"),
            ("PolicyName", "twenty"),
            ("PolicyDocument", &twenty_statement_policy()),
        ],
    )
    .await;
    let k = iam(addr, "CreateAccessKey", &[("UserName", "bench")]).await;
    let (uid, usecret) = (tag(&k, "AccessKeyId"), tag(&k, "SecretAccessKey"));
    post(
        addr,
        (ADMIN, ADMIN_SECRET),
        "ecs",
        "application/x-amz-json-1.1",
        Some("AmazonEC2ContainerServiceV20141113.CreateCluster"),
        json!({"clusterName": "prod"}).to_string(),
    )
    .await;

    let body =
        json!({"cluster": "prod", "tasks": ["0123456789abcdef0123456789abcdef"]}).to_string();
    let value: Value = serde_json::from_str(&body).expect("json");
    let admin = describe_tasks((ADMIN, ADMIN_SECRET), &body);
    let user = describe_tasks((&uid, &usecret), &body);

    // Warm the caches (and check every path allows).
    for (st, parts) in [(&on, &admin), (&on, &user), (&off, &admin)] {
        for _ in 0..1000 {
            gate_once(st, parts, body.as_bytes(), &value).await;
        }
    }
    let b = body.as_bytes();
    let off_ns = measure(&off, &admin, b, &value, iters).await;
    let admin_ns = measure(&on, &admin, b, &value, iters).await;
    let user_ns = measure(&on, &user, b, &value, iters).await;
    println!("auth gate per DescribeTasks (1 task), in-process, median of {BATCHES} x {iters}:");
    println!("  auth off (baseline: accesses, key-use note)     {off_ns:>8.0} ns");
    println!(
        "  auth on, administrator (AdministratorAccess)    {admin_ns:>8.0} ns   (+{:.0} ns)",
        admin_ns - off_ns
    );
    println!(
        "  auth on, user with a 20-statement policy        {user_ns:>8.0} ns   (+{:.0} ns)",
        user_ns - off_ns
    );
    sigv4_steps(&admin, b, iters);
    println!("steps, p50/mean ns (authenticate / policies / accesses / authorize / key-use note / drop):");
    for (what, st, parts) in [
        ("off", &off, &admin),
        ("administrator", &on, &admin),
        ("20-statement user", &on, &user),
    ] {
        let s = steps(st, parts, b, &value, iters).await;
        let cells: Vec<String> = s
            .iter()
            .map(|(p, m)| format!("{p:>5.0}/{m:<5.0}"))
            .collect();
        println!("  {what:<18} {}", cells.join(" "));
    }
    let _ = std::fs::remove_dir_all(&root);
}
