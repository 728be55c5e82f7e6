//! `gantry store migrate` as an operator runs it: a real `gantry server` on SQLite fills its
//! store through the API (clusters, thousands of task definitions, IAM users) and stops;
//! the store moves to a real etcd; `--verify` passes, a tampered destination fails verify
//! naming the key, and a `gantry server` on etcd answers with the same data.
//!
//! Needs `etcd` (Debian's etcd-server) and the AWS CLI; binds loopback ports only. Run with
//! `GANTRY_BIN` set to a copy of this branch's binary (target/debug/gantry is shared).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use gantry_store::etcd_process::EtcdCluster;
use gantry_store::{EtcdOptions, EtcdStore, Store};
use gantry_tests::aws::aws_bin;
use gantry_tests::{free_port, gantry_bin, key_env, post_ecs, wait_for, TempDir};
use serde_json::{json, Value};

/// Task definitions registered: with the clusters and users, a few thousand records.
const TASK_DEFINITIONS: usize = 2400;
const FAMILIES: usize = 40;
const CLUSTERS: usize = 25;
const USERS: usize = 12;

/// A `gantry server` process, stopped on drop.
struct Server {
    child: Child,
    log: PathBuf,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and waits for the exit (the store is closed then).
    fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "server exit {status}: {}", self.log());
    }
}

/// `gantry server --state-dir <state> <args>` on a free loopback port, once ready.
async fn start_server(state: &Path, logs: &Path, name: &str, args: &[&str]) -> Server {
    let port = free_port();
    let log = logs.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(gantry_bin())
        .arg("server")
        .arg("--state-dir")
        .arg(state)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .envs(key_env())
        .env_remove("GANTRY_STORE")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .spawn()
        .expect("start gantry server");
    let mut server = Server {
        child,
        log,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    wait_for("the server's ready line", Duration::from_secs(60), || {
        let exited = server.child.try_wait().ok().flatten();
        let log = server.log();
        async move {
            if let Some(status) = exited {
                panic!("gantry server exited ({status}): {log}");
            }
            log.contains("gantry server ready on").then_some(())
        }
    })
    .await;
    server
}

/// `gantry store <args>`.
fn gantry_store(args: &[&str]) -> Output {
    Command::new(gantry_bin())
        .arg("store")
        .args(args)
        .env_remove("GANTRY_STORE")
        .output()
        .expect("run gantry store")
}

fn text(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `aws <service> <args> --endpoint-url <endpoint>` with the test key: the JSON output.
fn aws(endpoint: &str, service: &str, args: &[&str]) -> Value {
    let out = Command::new(aws_bin())
        .arg(service)
        .args(args)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", gantry_tests::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", gantry_tests::SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", gantry_tests::REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_REGION")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("run the AWS CLI");
    assert!(
        out.status.success(),
        "aws {service} {args:?}: {}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&stdout).expect("aws output is JSON")
}

/// Fills the server's store through the API.
async fn fill(endpoint: &str) {
    let http = reqwest::Client::new();
    for i in 0..CLUSTERS {
        let body = json!({ "clusterName": format!("migrate-{i:02}"), "tags": [{"key": "n", "value": i.to_string()}] });
        let resp = post_ecs(
            &http,
            endpoint,
            "CreateCluster",
            body.to_string().into_bytes(),
        )
        .await
        .expect("CreateCluster");
        assert!(
            resp.status().is_success(),
            "CreateCluster: {}",
            resp.status()
        );
    }
    // Sixteen at a time: thousands of records in a few seconds.
    let mut pending = futures_util::stream::iter(0..TASK_DEFINITIONS)
        .map(|i| {
            let http = http.clone();
            async move {
                let body = json!({
                    "family": format!("fam-{:02}", i % FAMILIES),
                    "containerDefinitions": [{
                        "name": "app",
                        "image": format!("registry.example/app:{i}"),
                        "memory": 64 + (i % 7) * 16,
                        "environment": [{"name": "N", "value": i.to_string()}],
                        "command": ["sh", "-c", "echo ü & exit 0"]
                    }]
                });
                let resp = post_ecs(
                    &http,
                    endpoint,
                    "RegisterTaskDefinition",
                    body.to_string().into_bytes(),
                )
                .await
                .expect("RegisterTaskDefinition");
                assert!(
                    resp.status().is_success(),
                    "RegisterTaskDefinition: {}",
                    resp.status()
                );
            }
        })
        .buffer_unordered(16);
    while pending.next().await.is_some() {}
    for i in 0..USERS {
        aws(
            endpoint,
            "iam",
            &["create-user", "--user-name", &format!("user-{i:02}")],
        );
    }
}

/// What a user sees of the installation: clusters, task definitions, families, users.
fn snapshot(endpoint: &str) -> Value {
    let names: Vec<String> = (0..CLUSTERS).map(|i| format!("migrate-{i:02}")).collect();
    let mut describe = vec!["describe-clusters", "--include", "TAGS", "--clusters"];
    describe.extend(names.iter().map(String::as_str));
    let mut clusters = aws(endpoint, "ecs", &describe);
    // Counts of running things may legitimately differ; the records may not.
    if let Some(list) = clusters["clusters"].as_array_mut() {
        list.sort_by_key(|c| c["clusterName"].as_str().unwrap_or_default().to_string());
    }
    let mut users = aws(endpoint, "iam", &["list-users"]);
    if let Some(list) = users["Users"].as_array_mut() {
        list.sort_by_key(|u| u["UserName"].as_str().unwrap_or_default().to_string());
    }
    json!({
        "clusters": clusters,
        "taskDefinitions": aws(endpoint, "ecs", &["list-task-definitions"]),
        "families": aws(endpoint, "ecs", &["list-task-definition-families"]),
        "one": aws(endpoint, "ecs", &["describe-task-definition", "--task-definition", "fam-07:3"]),
        "users": users,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_moves_from_sqlite_to_etcd_unchanged() {
    let dir = TempDir::new("store-migrate");
    let state = dir.path().join("state");
    let db = state.join("server").join("gantry.db");
    let sqlite_url = format!("sqlite://{}", db.display());

    let server = start_server(&state, dir.path(), "sqlite", &[]).await;
    assert!(
        server
            .log()
            .contains(&format!("store: sqlite {}", db.display())),
        "the ready line names the store: {}",
        server.log()
    );
    fill(&server.endpoint).await;
    let before = snapshot(&server.endpoint);
    assert_eq!(
        before["taskDefinitions"]["taskDefinitionArns"]
            .as_array()
            .map(Vec::len),
        Some(TASK_DEFINITIONS)
    );

    let etcd = tokio::task::spawn_blocking(|| EtcdCluster::start(1))
        .await
        .expect("join")
        .expect("start etcd");
    let etcd_url = etcd.store_url();

    // A running server holds its file: the migration refuses to copy under it.
    let out = gantry_store(&["migrate", "--from", &sqlite_url, "--to", &etcd_url]);
    assert!(!out.status.success(), "{}", text(&out));
    let pid = server.child.id().to_string();
    assert!(
        text(&out).contains(&format!("in use by process {pid}")),
        "{}",
        text(&out)
    );
    server.stop();

    let out = gantry_store(&[
        "migrate",
        "--from",
        &sqlite_url,
        "--to",
        &etcd_url,
        "--verify",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let copied: usize = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stdout}"));
    assert!(copied >= TASK_DEFINITIONS + CLUSTERS + USERS, "{stdout}");
    assert!(stdout.contains("verified:"), "{stdout}");

    // Byte for byte: every SQLite record is in etcd with the same value.
    let sqlite = gantry_store::SqliteStore::open(&db).expect("open sqlite");
    let source = sqlite.list("").await.expect("list sqlite");
    drop(sqlite);
    let options = EtcdOptions {
        endpoints: etcd.endpoints(),
        ..EtcdOptions::default()
    };
    let dest = EtcdStore::connect(&options).await.expect("connect etcd");
    let copy = dest.list("").await.expect("list etcd");
    assert_eq!(source.len(), copy.len());
    for (a, b) in source.iter().zip(&copy) {
        assert_eq!((&a.key, &a.value), (&b.key, &b.value));
    }

    // A second migration into the now full store is refused, and says how to clear it.
    let out = gantry_store(&["migrate", "--from", &sqlite_url, "--to", &etcd_url]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("is not empty"), "{}", text(&out));
    assert!(
        text(&out).contains("etcdctl del --prefix"),
        "{}",
        text(&out)
    );

    // One changed value: verify fails and names the key; put back, it passes again.
    let victim = copy
        .iter()
        .find(|r| r.key.contains("fam-07"))
        .unwrap_or_else(|| panic!("no fam-07 record among {} keys", copy.len()))
        .clone();
    let mut tampered = victim.value.clone();
    tampered.push(b' ');
    let rev = dest
        .put(&victim.key, tampered, victim.revision)
        .await
        .expect("tamper");
    let out = gantry_store(&["verify", "--from", &sqlite_url, "--to", &etcd_url]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("{}: the values differ", victim.key)),
        "{}",
        text(&out)
    );
    dest.put(&victim.key, victim.value.clone(), rev)
        .await
        .expect("restore");
    let out = gantry_store(&["verify", "--from", &sqlite_url, "--to", &etcd_url]);
    assert!(out.status.success(), "{}", text(&out));

    let out = gantry_store(&["status", "--store", &etcd_url]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("keys:      {}", copy.len())),
        "{}",
        text(&out)
    );

    // The installation runs on etcd now, with the same state directory (credentials).
    let server = start_server(&state, dir.path(), "etcd", &["--store", &etcd_url]).await;
    assert!(
        server
            .log()
            .contains(&format!("store: etcd {}", etcd.endpoints().join(","))),
        "{}",
        server.log()
    );
    let after = snapshot(&server.endpoint);
    assert_eq!(before, after);
    server.stop();
}

#[test]
fn a_bad_store_fails_the_start_and_creates_nothing() {
    let dir = TempDir::new("store-bad-url");
    let state = dir.path().join("state");
    for (url, says) in [
        ("etcd://", "names no"),
        ("mysql://x", "unknown store kind"),
        ("etcd://h1", "HOST:PORT"),
    ] {
        let out = Command::new(gantry_bin())
            .args(["server", "--listen", "127.0.0.1:0", "--store", url])
            .arg("--state-dir")
            .arg(&state)
            .envs(key_env())
            .output()
            .expect("run gantry server");
        assert!(!out.status.success(), "{url}: {}", text(&out));
        assert!(text(&out).contains(says), "{url}: {}", text(&out));
        assert!(!state.exists(), "{url}: {} was created", state.display());
    }
    // etcd flags on the default SQLite store are refused by name, not ignored.
    let out = Command::new(gantry_bin())
        .args(["server", "--listen", "127.0.0.1:0", "--etcd-prefix", "/x/"])
        .arg("--state-dir")
        .arg(&state)
        .envs(key_env())
        .output()
        .expect("run gantry server");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("--etcd-prefix applies only to an etcd:// store"),
        "{}",
        text(&out)
    );
    assert!(!state.exists());
}
