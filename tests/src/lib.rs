//! Shared helpers for the privileged integration suites: the `gantry` binary, the test images
//! built by rootfs-tools, a real registry on loopback, a `gantry dev` cluster per test, the
//! AWS CLI, and the leak checks every suite runs when it ends.
//!
//! Every helper that starts something returns a guard that stops and removes it on drop, so a
//! failing test cleans up too.

pub mod aws;
pub mod bench;
pub mod churn;
pub mod dev;
pub mod ha;
pub mod images;
pub mod leaks;
pub mod nodes;
pub mod procs;
pub mod registry;
pub mod split;
pub mod vm;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The administrator key every test cluster is started with, and that every client the
/// tests run (the AWS CLI, the Rust SDK, `gantry`, the harness's own calls) signs with.
pub const ACCESS_KEY_ID: &str = "AKIAGANTRYTESTKEY001";
pub const SECRET_ACCESS_KEY: &str = "GantryTestSecretKey0123456789abcdefghijk";
/// The region test clusters serve (`gantry server`'s default) and clients sign for.
pub const REGION: &str = "us-east-1";

/// The environment that gives a `gantry` process the test key: the administrator's for
/// `gantry server`/`gantry dev`, the signing key for the CLI and `gantry agent`.
pub fn key_env() -> [(&'static str, &'static str); 5] {
    [
        ("GANTRY_ADMIN_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("GANTRY_ADMIN_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ("AWS_REGION", REGION),
    ]
}

/// The signer of the harness's own API calls.
pub fn signer() -> gantry_link::Signer {
    gantry_link::Signer::new(
        gantry_link::Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        REGION,
    )
}

/// Posts `body` to the ECS operation `op` at `endpoint` as it is (valid JSON or not),
/// signed with the test key.
pub async fn post_ecs(
    http: &reqwest::Client,
    endpoint: &str,
    op: &str,
    body: Vec<u8>,
) -> reqwest::Result<reqwest::Response> {
    let mut req = http
        .post(format!("{}/", endpoint.trim_end_matches('/')))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "X-Amz-Target",
            format!("AmazonEC2ContainerServiceV20141113.{op}"),
        )
        .body(body)
        .build()?;
    // A body in memory on a URL with a host always signs.
    if let Err(e) = signer().sign_reqwest(&mut req) {
        panic!("could not sign {op}: {e}");
    }
    http.execute(req).await
}

/// Calls an operation of the join-token API (`GantryNodes_20261201.<op>`, signed for the
/// service `gantry` with the test key); `Err` carries the status and the body.
pub async fn call_nodes_api(
    http: &reqwest::Client,
    endpoint: &str,
    op: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let mut req = http
        .post(format!("{}/", endpoint.trim_end_matches('/')))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", format!("GantryNodes_20261201.{op}"))
        .body(body.to_string())
        .build()
        .map_err(|e| e.to_string())?;
    signer()
        .with_service("gantry")
        .sign_reqwest(&mut req)
        .map_err(|e| e.to_string())?;
    let resp = http.execute(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{op}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{op}: {e}: {text}"))
}

/// A join token for `limit` hosts of `cluster` (CreateJoinToken with the test key): the
/// answer's `token` and `caSha256`.
pub async fn join_token(
    http: &reqwest::Client,
    endpoint: &str,
    cluster: &str,
    limit: u32,
) -> (String, String) {
    let out = call_nodes_api(
        http,
        endpoint,
        "CreateJoinToken",
        serde_json::json!({ "cluster": cluster, "ttlSeconds": 3600, "registrationLimit": limit }),
    )
    .await
    .unwrap_or_else(|e| panic!("could not make a join token: {e}"));
    let field = |k: &str| out[k].as_str().unwrap_or_default().to_string();
    (field("token"), field("caSha256"))
}

/// `gantry` (the CLI) against `endpoint`, signing with the test key whatever the
/// environment of the test run holds.
pub fn gantry_cli(endpoint: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(gantry_bin());
    cmd.arg("--endpoint")
        .arg(endpoint)
        .envs(key_env())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    cmd
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The `gantry` binary under test: `$GANTRY_BIN`, else the workspace's debug build.
pub fn gantry_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("GANTRY_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    // Benchmarks (built with optimisations) measure the release binary.
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let bin = target.join(profile).join("gantry");
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo build --bin gantry` first (with --release for benchmarks; the README's test command builds the debug one)",
        bin.display()
    );
    bin
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A fresh directory under the system temp dir, removed by the returned guard.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "gantry-test-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /` over HTTP/1.0 to `addr` (host:port) with 2 s timeouts: the whole response, or
/// `None` when nothing answers.
pub fn http_get(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
