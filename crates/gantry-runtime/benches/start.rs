//! Start latency: a one-container task (`true`) through the gantry supervisor, versus
//! `runc run` of an equivalent bundle. Needs root. `cargo bench -p gantry-runtime`;
//! `GANTRY_BENCH_RUNS` overrides N (default 50).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use common::Task;
use gantry_runtime::client;
use gantry_runtime::spec::{build_spec, ContainerConfig, NetworkMode};

struct Sample {
    started: Duration,
    total: Duration,
}

fn supervisor_run() -> Result<Sample> {
    let mut task = Task::new("bench")?;
    task.add("one", &["true"], true, 5, |_| {})?;
    task.plan().write(&task.dir)?;
    let t0 = Instant::now();
    let mut child =
        client::supervisor_command(Path::new(common::SUPERVISOR), &[], &task.dir).spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    task.child = Some(child);
    let mut started = None;
    let mut total = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        if started.is_none() && line.contains(r#""event":"Started""#) {
            started = Some(t0.elapsed());
        }
        if line.contains(r#""event":"TaskExited""#) {
            total = Some(t0.elapsed());
            break;
        }
    }
    let status = task.child.take().context("child")?.wait()?;
    if !status.success() {
        bail!("supervisor failed: {status}");
    }
    task.assert_clean()?;
    match (started, total) {
        (Some(started), Some(total)) => Ok(Sample { started, total }),
        _ => bail!("missing events: {:?}", task.events()?),
    }
}

fn runc_run(dir: &Path, rootfs: &Path, i: usize) -> Result<Duration> {
    let id = format!("gantry-bench-runc-{}-{i}", std::process::id());
    let bundle = dir.join(&id);
    std::fs::create_dir_all(&bundle)?;
    let cfg = ContainerConfig {
        rootfs: rootfs.to_path_buf(),
        args: vec!["true".into()],
        env: vec![],
        cwd: "/".into(),
        user: None,
        hostname: Some("one".into()),
        readonly_rootfs: false,
        ulimits: vec![],
        mounts: vec![],
        network: NetworkMode::New,
        cpu_shares: None,
        memory_limit: None,
        memory_reservation: None,
        pids_limit: Some(100),
        cgroups_path: format!("/gantry-bench-runc/{id}"),
        cap_add: vec![],
        cap_drop: vec![],
        privileged: false,
        user_namespace: None,
    };
    build_spec(&cfg)?.save(bundle.join("config.json"))?;
    let t0 = Instant::now();
    let status = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("run runc")?;
    let took = t0.elapsed();
    if !status.success() {
        bail!("runc run failed: {status}");
    }
    std::fs::remove_dir_all(&bundle)?;
    Ok(took)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn row(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {name:<40} | {:>8.1} | {:>8.1} | {:>8.1} |",
        ms(pct(&v, 50.0)),
        ms(pct(&v, 99.0)),
        ms(v[0])
    );
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too: run only under bench.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let n: usize = std::env::var("GANTRY_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut started = Vec::new();
    let mut total = Vec::new();
    for _ in 0..n {
        let s = supervisor_run()?;
        started.push(s.started);
        total.push(s.total);
    }
    let runc_dir = Task::new("bench-runc")?;
    let mut runc = Vec::new();
    for i in 0..n {
        runc.push(runc_run(&runc_dir.dir, &runc_dir.rootfs, i)?);
    }
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")?.flatten() {
        let _ = std::fs::remove_dir(hierarchy.path().join("gantry-bench-runc"));
    }
    println!("\nN = {n} runs each, one container running `true`\n");
    println!(
        "| {:<40} | {:>8} | {:>8} | {:>8} |",
        "measure", "p50 ms", "p99 ms", "min ms"
    );
    println!("|{:-<42}|{:->10}|{:->10}|{:->10}|", "", "", "", "");
    row("gantry supervisor: spawn -> Started", started);
    row("gantry supervisor: spawn -> TaskExited", total);
    row("runc run (create+start+wait+delete)", runc);
    Ok(())
}
