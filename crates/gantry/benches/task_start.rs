//! Task start latency (issues 2 and 9), in one run on one machine:
//! - gantry RunTask -> RUNNING (and -> STOPPED) for a `true` container (cached image,
//!   networkMode none) through `gantry dev`, with the start broken down phase by phase from
//!   the task directory (file times and the supervisor's `start-timing` line);
//! - `runc run` of an equivalent bundle (busybox rootfs, `true`), the floor set by the kernel
//!   and an OCI runtime;
//! - `podman run --rm` of the same image (runc, no network), when podman is installed;
//! - idle RSS of `gantry server` and `gantry agent`, each its own process.
//!
//! Each of the three runs in two modes: back to back (GANTRY_BENCH_TASKS, default 200; the
//! next start follows the previous exit) and spaced (GANTRY_BENCH_SPACED_TASKS, default 50,
//! 200 ms of idle between one exit and the next start).
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench task_start`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use gantry_tests::bench::{count_from_env, percentile as pct};
use gantry_tests::dev::Dev;
use serde_json::json;

const GAP: Duration = Duration::from_millis(200);

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn row(name: &str, v: &[f64]) {
    let v = sorted(v.to_vec());
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        v.len(),
        pct(&v, 0.0),
        pct(&v, 50.0),
        pct(&v, 99.0),
        pct(&v, 100.0)
    );
}

fn p(v: &[f64], q: f64) -> f64 {
    pct(&sorted(v.to_vec()), q)
}

/// One gantry task, epoch seconds as the client saw them.
struct Sample {
    arn: String,
    sent: f64,
    answered: f64,
    running: f64,
    stopped: f64,
}

async fn gantry_tasks(dev: &Dev, n: usize, gap: Option<Duration>) -> Vec<Sample> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if let Some(g) = gap {
            tokio::time::sleep(g).await;
        }
        let t0 = Instant::now();
        let sent = epoch();
        let arn = dev.run_one("bench-true").await;
        let answered = epoch();
        let mut running = None;
        loop {
            let t = dev.describe(&arn).await;
            let last = t["lastStatus"].as_str().unwrap_or_default().to_string();
            if running.is_none() && (last == "RUNNING" || last == "STOPPED") {
                running = Some(epoch());
            }
            if last == "STOPPED" {
                assert_eq!(t["containers"][0]["exitCode"], 0, "{t}");
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "task did not stop: {t}"
            );
            // Poll gently: the server, agent and supervisor share this machine's two cores.
            tokio::time::sleep(Duration::from_millis(4)).await;
        }
        out.push(Sample {
            arn,
            sent,
            answered,
            running: running.unwrap_or_default(),
            stopped: epoch(),
        });
    }
    out
}

fn created(path: &Path) -> Option<f64> {
    let t = std::fs::metadata(path).ok()?.created().ok()?;
    Some(t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs_f64())
}

fn modified(path: &Path) -> Option<f64> {
    let m = std::fs::metadata(path).ok()?;
    Some(m.mtime() as f64 + m.mtime_nsec() as f64 * 1e-9)
}

/// The supervisor's `start-timing` line: key=value pairs.
fn start_timing(task_dir: &Path) -> Option<Vec<(String, f64)>> {
    let log = std::fs::read_to_string(task_dir.join("supervisor.log")).ok()?;
    let line = log.lines().find(|l| l.starts_with("start-timing "))?;
    Some(
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect(),
    )
}

/// Where each start went, from the task record, the task directory's file times and the
/// supervisor's own timestamps. Phases that cannot be read for a task are left out.
async fn phases(dev: &Dev, samples: &[Sample]) -> Vec<(&'static str, Vec<f64>)> {
    let names = [
        "client sends RunTask → createdAt (API up to the commit)",
        "createdAt → RunTask answered (commit, answer)",
        "createdAt → task directory made (push, agent picks the task up)",
        "task directory → plan.json written (agent prepare: network, image, rootfs, bundle)",
        "plan.json → supervisor has its task (spawn)",
        "supervisor: plan loaded, task cgroup made",
        "libcontainer create + start",
        "container started → RUNNING seen by the client (report, commit, poll)",
        "total RunTask → RUNNING seen",
    ];
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let tasks = dev.tasks_dir();
    for s in samples {
        let t = dev.describe(&s.arn).await;
        let created_at = t["createdAt"].as_f64();
        let dir: PathBuf = tasks.join(s.arn.rsplit('/').next().unwrap_or_default());
        let made = created(&dir);
        let plan = modified(&dir.join("plan.json"));
        let timing = start_timing(&dir).unwrap_or_default();
        let get = |k: &str| timing.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let points = [
            Some(s.sent),
            created_at,
            made,
            plan,
            get("main"),
            get("launch"),
            get("started"),
            Some(s.running),
        ];
        let mut push = |i: usize, a: Option<f64>, b: Option<f64>| {
            if let (Some(a), Some(b)) = (a, b) {
                cols[i].push((b - a) * 1e3);
            }
        };
        push(0, points[0], points[1]);
        push(1, points[1], Some(s.answered));
        push(2, points[1], points[2]);
        push(3, points[2], points[3]);
        push(4, points[3], points[4]);
        push(5, points[4], points[5]);
        push(6, points[5], points[6]);
        push(7, points[6], points[7]);
        push(8, points[0], points[7]);
    }
    names.into_iter().zip(cols).collect()
}

/// An unpacked busybox bundle whose process is `true` without a terminal.
fn runc_bundle(dir: &Path) -> PathBuf {
    let layouts = gantry_tests::images::layouts();
    let bundle = dir.join("bundle");
    let st = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", layouts.join("busybox").display()))
        .arg(&bundle)
        .stdout(Stdio::null())
        .status()
        .expect("umoci");
    assert!(st.success(), "umoci unpack failed");
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).expect("config.json")).expect("json");
    cfg["process"]["args"] = json!(["true"]);
    cfg["process"]["terminal"] = json!(false);
    std::fs::write(&cfg_path, cfg.to_string()).expect("write config.json");
    bundle
}

/// Times `cmd` (made fresh for run `i`) `n` times after one warm-up run.
fn timed_runs(
    n: usize,
    gap: Option<Duration>,
    what: &str,
    cmd: impl Fn(usize) -> Command,
) -> Vec<f64> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 1 {
        if let Some(g) = gap.filter(|_| i > 0) {
            std::thread::sleep(g);
        }
        let t0 = Instant::now();
        let st = cmd(i)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(st.success(), "{what} failed");
        if i > 0 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times
}

fn runc_runs(bundle: &Path, root: &Path, n: usize, gap: Option<Duration>) -> Vec<f64> {
    timed_runs(n, gap, "runc run", |i| {
        let mut c = Command::new("runc");
        c.arg("--root")
            .arg(root)
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(format!("bench-runc-{}-{}-{i}", std::process::id(), n));
        c
    })
}

/// The busybox image in podman's store, or `None` without podman.
fn podman_image() -> Option<String> {
    let layouts = gantry_tests::images::layouts();
    let out = Command::new("podman")
        .args(["pull", "-q"])
        .arg(format!("oci:{}:latest", layouts.join("busybox").display()))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !id.is_empty()).then_some(id)
}

fn podman_runs(image: &str, n: usize, gap: Option<Duration>) -> Vec<f64> {
    timed_runs(n, gap, "podman run", |_| {
        let mut c = Command::new("podman");
        c.args([
            "run",
            "--rm",
            "--runtime",
            "runc",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            image,
            "true",
        ]);
        c
    })
}

struct Mode {
    name: &'static str,
    gantry: Vec<Sample>,
    runc: Vec<f64>,
    podman: Option<Vec<f64>>,
}

fn print_mode(m: &Mode, phases: &[(&'static str, Vec<f64>)]) {
    let running: Vec<f64> = m
        .gantry
        .iter()
        .map(|s| (s.running - s.sent) * 1e3)
        .collect();
    let stopped: Vec<f64> = m
        .gantry
        .iter()
        .map(|s| (s.stopped - s.sent) * 1e3)
        .collect();
    println!();
    println!("### {}", m.name);
    println!();
    println!("| measure (ms) | n | min | p50 | p99 | max |");
    println!("| --- | --- | --- | --- | --- | --- |");
    row("gantry RunTask → RUNNING observed", &running);
    row("gantry RunTask → STOPPED observed (`true`)", &stopped);
    row("runc run (create+start+exit+delete, `true`)", &m.runc);
    if let Some(pm) = &m.podman {
        row("podman run --rm (runc, no network, `true`)", pm);
    }
    println!();
    println!("| ratio | p50 | p99 |");
    println!("| --- | --- | --- |");
    let ratio = |a: &[f64], b: &[f64], q| p(a, q) / p(b, q);
    println!(
        "| gantry RUNNING / runc run | {:.2} | {:.2} |",
        ratio(&running, &m.runc, 50.0),
        ratio(&running, &m.runc, 99.0)
    );
    if let Some(pm) = &m.podman {
        println!(
            "| gantry RUNNING / podman run | {:.2} | {:.2} |",
            ratio(&running, pm, 50.0),
            ratio(&running, pm, 99.0)
        );
        println!(
            "| podman run / runc run | {:.2} | {:.2} |",
            ratio(pm, &m.runc, 50.0),
            ratio(pm, &m.runc, 99.0)
        );
    }
    println!();
    println!("| gantry phase (ms) | n | min | p50 | p99 | max |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, v) in phases {
        row(name, v);
    }
}

async fn idle_rss() -> (u64, u64) {
    let dir = gantry_tests::TempDir::new("bench-rss");
    let port = gantry_tests::free_port();
    let bin = gantry_tests::gantry_bin();
    let mut server = Command::new(&bin)
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
        ])
        .arg(dir.path())
        .envs(gantry_tests::key_env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gantry server");
    // The agent joins with a join token made once the server answers.
    let http = reqwest::Client::new();
    let ep = format!("http://127.0.0.1:{port}");
    let made = gantry_tests::wait_for("a join token", Duration::from_secs(30), || async {
        gantry_tests::call_nodes_api(
            &http,
            &ep,
            "CreateJoinToken",
            serde_json::json!({ "cluster": "default" }),
        )
        .await
        .ok()
    })
    .await;
    let token = made["token"].as_str().unwrap_or_default().to_string();
    let mut agent = Command::new(&bin)
        .args([
            "agent",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--state-dir",
        ])
        .arg(dir.path())
        .args(["--cgroup-parent", &format!("/gantry-bench-{port}")])
        .envs(gantry_tests::key_env())
        .env("GANTRY_JOIN_TOKEN", &token)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gantry agent");
    gantry_tests::wait_for("the agent to register", Duration::from_secs(30), || async {
        let r = gantry_tests::post_ecs(
            &http,
            &format!("http://127.0.0.1:{port}"),
            "ListContainerInstances",
            b"{}".to_vec(),
        )
        .await
        .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        v["containerInstanceArns"]
            .as_array()
            .filter(|a| !a.is_empty())
            .map(|_| ())
    })
    .await;
    // Idle: a few heartbeats later.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let out = (
        gantry_tests::procs::rss_kib(server.id()),
        gantry_tests::procs::rss_kib(agent.id()),
    );
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = server.kill();
    let _ = server.wait();
    out
}

async fn bench() -> Vec<String> {
    let n = count_from_env("GANTRY_BENCH_TASKS", 200);
    let spaced = count_from_env("GANTRY_BENCH_SPACED_TASKS", 50);
    let dir = gantry_tests::TempDir::new("bench-runc");
    let bundle = runc_bundle(dir.path());
    let root = dir.path().join("runc-state");
    let podman = podman_image();
    if podman.is_none() {
        println!("podman is not installed (apt-get install podman): its rows are left out");
    }

    let dev = Dev::start().await;
    dev.register_busybox("bench-true", &["true"], json!({}))
        .await;
    // Warm the image cache and the page cache.
    let warm = dev.run_one("bench-true").await;
    dev.wait_status(&warm, "STOPPED", Duration::from_secs(30))
        .await;

    let mut modes = Vec::new();
    for (name, count, gap) in [
        ("back to back", n, None),
        ("spaced (200 ms idle between tasks)", spaced, Some(GAP)),
    ] {
        let gantry = gantry_tasks(&dev, count, gap).await;
        let runc = runc_runs(&bundle, &root, count, gap);
        let pm = podman.as_deref().map(|img| podman_runs(img, count, gap));
        modes.push(Mode {
            name,
            gantry,
            runc,
            podman: pm,
        });
    }
    let mut broken = Vec::new();
    for m in &modes {
        broken.push(phases(&dev, &m.gantry).await);
    }
    let leaks = dev.shutdown().await;
    if let Some(img) = &podman {
        let _ = Command::new("podman")
            .args(["rmi", "-f", img])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    for (m, ph) in modes.iter().zip(&broken) {
        print_mode(m, ph);
    }
    let (server, agent) = idle_rss().await;
    println!();
    println!("| process | idle RSS (MiB) |");
    println!("| --- | --- |");
    println!("| gantry server | {:.1} |", server as f64 / 1024.0);
    println!("| gantry agent | {:.1} |", agent as f64 / 1024.0);
    leaks
}

fn main() {
    gantry_tests::bench::run_checked(bench());
}
