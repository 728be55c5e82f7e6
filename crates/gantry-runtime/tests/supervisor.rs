//! Privileged tests: real containers through the supervisor binary, on the real kernel.
//! Each test uses its own task id and cleans up through `common::Task`'s Drop.

mod common;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::{exit_code, stop_code, Task};
use gantry_runtime::client;
use gantry_runtime::event::SupervisorEvent;
use gantry_runtime::logs::Stream;

const POLITE: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 143' TERM; while :; do sleep 0.1; done",
];
const STUBBORN: &[&str] = &["sh", "-c", "trap '' TERM; sleep 1000"];

#[test]
fn exit_codes_are_reported() -> Result<()> {
    let mut task = Task::new("codes")?;
    task.add("ok", &["true"], false, 5, |_| {})?;
    task.add("three", &["sh", "-c", "exit 3"], false, 5, |_| {})?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "ok") == Some(0), "{events:#?}");
    ensure!(exit_code(&events, "three") == Some(3), "{events:#?}");
    ensure!(
        stop_code(&events).is_none(),
        "no stop for non-essential exits"
    );
    ensure!(matches!(
        events.last(),
        Some(SupervisorEvent::TaskExited { .. })
    ));
    // stdout carries the same events as the durable file.
    let stdout: Vec<SupervisorEvent> = task
        .stdout_lines
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
        .map(|l| serde_json::from_str(l))
        .collect::<Result<_, _>>()?;
    ensure!(stdout == events, "stdout {stdout:#?} vs file {events:#?}");
    ensure!(client::supervisor_pid(&task.dir).is_some_and(|p| !p.alive));
    task.assert_clean()
}

#[test]
fn stop_escalates_to_sigkill_after_timeout() -> Result<()> {
    let mut task = Task::new("kill")?;
    task.add("stubborn", STUBBORN, true, 1, |_| {})?;
    task.spawn()?;
    task.wait_started("stubborn")?;
    ensure!(client::supervisor_pid(&task.dir).is_some_and(|p| p.alive));
    let t0 = Instant::now();
    client::request_stop(&task.dir)?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    let took = t0.elapsed();
    ensure!(exit_code(&events, "stubborn") == Some(137), "{events:#?}");
    ensure!(stop_code(&events).as_deref() == Some("UserInitiated"));
    ensure!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "SIGKILL after the 1 s stop timeout, took {took:?}"
    );
    // Stopping a task that has gone is fine.
    client::request_stop(&task.dir)?;
    task.assert_clean()
}

#[test]
fn polite_container_stops_on_sigterm() -> Result<()> {
    let mut task = Task::new("polite")?;
    task.add("polite", POLITE, true, 30, |_| {})?;
    task.spawn()?;
    task.wait_started("polite")?;
    // Give the shell time to install its trap.
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    client::request_stop(&task.dir)?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "polite") == Some(143), "{events:#?}");
    ensure!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );
    task.assert_clean()
}

#[test]
fn essential_exit_stops_the_task() -> Result<()> {
    let mut task = Task::new("essential")?;
    task.add("sidecar", POLITE, false, 10, |_| {})?;
    task.add("main", &["sh", "-c", "sleep 0.5; exit 7"], true, 10, |_| {})?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "main") == Some(7), "{events:#?}");
    ensure!(exit_code(&events, "sidecar") == Some(143), "{events:#?}");
    ensure!(
        stop_code(&events).as_deref() == Some("EssentialContainerExited"),
        "{events:#?}"
    );
    task.assert_clean()
}

#[test]
fn container_sees_env_cwd_and_user() -> Result<()> {
    let mut task = Task::new("env")?;
    task.add(
        "show",
        &["sh", "-c", "echo $FOO; pwd; id -u; id -g; echo err >&2"],
        true,
        5,
        |c| {
            c.env = vec!["FOO=bar baz".into()];
            c.cwd = "/home/app".into();
            c.user = Some("app".into());
        },
    )?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "show") == Some(0), "{events:#?}");
    let out = task.stdout("show");
    ensure!(out == "bar baz\n/home/app\n1000\n1000\n", "stdout: {out:?}");
    let err = task.output("show", Some(Stream::Stderr));
    ensure!(err == "err\n", "stderr: {err:?}");
    task.assert_clean()
}

#[test]
fn failed_start_is_reported_and_cleaned_up() -> Result<()> {
    let mut task = Task::new("fail")?;
    task.add("first", POLITE, false, 5, |_| {})?;
    task.add("broken", &["/bin/no-such-binary"], true, 5, |_| {})?;
    task.add("never", &["true"], true, 5, |_| {})?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(
        events.iter().any(
            |e| matches!(e, SupervisorEvent::Failed { container, .. } if container == "broken")
        ),
        "{events:#?}"
    );
    ensure!(stop_code(&events).as_deref() == Some("TaskFailedToStart"));
    ensure!(exit_code(&events, "first") == Some(143), "{events:#?}");
    ensure!(!events
        .iter()
        .any(|e| matches!(e, SupervisorEvent::Started { container, .. } if container == "never")));
    task.assert_clean()
}

fn read(path: &str) -> Result<String> {
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("read {path}"))?
        .trim()
        .to_string())
}

#[test]
fn cgroup_limits_reach_the_kernel() -> Result<()> {
    let mut task = Task::new("limits")?;
    task.task_cpu = Some(512);
    task.task_memory = Some(256 << 20);
    task.add("limited", POLITE, true, 5, |c| {
        c.memory_limit = Some(64 << 20);
        c.memory_reservation = Some(32 << 20);
        c.cpu_shares = Some(512);
        c.pids_limit = Some(50);
    })?;
    task.spawn()?;
    let pid = task.wait_started("limited")?;
    let t = task.cgroup_parent().trim_start_matches('/').to_string();
    let c = format!("{t}/limited");
    let procs = if gantry_runtime::cgroup::is_v2()? {
        let root = "/sys/fs/cgroup";
        ensure!(read(&format!("{root}/{c}/memory.max"))? == (64u64 << 20).to_string());
        ensure!(read(&format!("{root}/{c}/memory.low"))? == (32u64 << 20).to_string());
        // libcgroups maps shares 512 to weight 1 + (512-2)*9999/262142.
        ensure!(read(&format!("{root}/{c}/cpu.weight"))? == "20");
        ensure!(read(&format!("{root}/{c}/pids.max"))? == "50");
        ensure!(read(&format!("{root}/{t}/cpu.max"))? == "50000 100000");
        ensure!(read(&format!("{root}/{t}/memory.max"))? == (256u64 << 20).to_string());
        read(&format!("{root}/{c}/cgroup.procs"))?
    } else {
        let r = "/sys/fs/cgroup";
        ensure!(
            read(&format!("{r}/memory/{c}/memory.limit_in_bytes"))? == (64u64 << 20).to_string()
        );
        ensure!(
            read(&format!("{r}/memory/{c}/memory.soft_limit_in_bytes"))?
                == (32u64 << 20).to_string()
        );
        ensure!(read(&format!("{r}/cpu/{c}/cpu.shares"))? == "512");
        ensure!(read(&format!("{r}/pids/{c}/pids.max"))? == "50");
        ensure!(read(&format!("{r}/cpu/{t}/cpu.cfs_quota_us"))? == "50000");
        ensure!(read(&format!("{r}/cpu/{t}/cpu.cfs_period_us"))? == "100000");
        ensure!(
            read(&format!("{r}/memory/{t}/memory.limit_in_bytes"))? == (256u64 << 20).to_string()
        );
        read(&format!("{r}/memory/{c}/cgroup.procs"))?
    };
    ensure!(
        procs.lines().any(|l| l == pid.to_string()),
        "init {pid} not in its cgroup: {procs}"
    );
    client::request_stop(&task.dir)?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "limited") == Some(143), "{events:#?}");
    task.assert_clean()
}

#[test]
fn failure_reason_names_the_problem() -> Result<()> {
    let mut task = Task::new("reason")?;
    task.add("broken", &["/bin/no-such-binary"], true, 5, |_| {})?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    let reason = events
        .iter()
        .find_map(|e| match e {
            SupervisorEvent::Failed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .context("no Failed event")?;
    eprintln!("failure reason: {reason}");
    ensure!(reason.contains("no-such-binary"), "reason: {reason}");
    task.assert_clean()
}

/// The supervisor blocks SIGCHLD/SIGTERM/SIGINT and ignores SIGPIPE; none of that may
/// leak into the workload (both survive execve).
#[test]
fn workload_starts_with_clean_signal_state() -> Result<()> {
    let mut task = Task::new("sigs")?;
    task.add("sigs", &["cat", "/proc/self/status"], true, 5, |_| {})?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "sigs") == Some(0), "{events:#?}");
    let log = task.stdout("sigs");
    let field = |name: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .with_context(|| format!("no {name} in {log}"))
    };
    ensure!(field("SigBlk:")? == "0000000000000000", "{log}");
    let ignored = u64::from_str_radix(&field("SigIgn:")?, 16)?;
    ensure!(
        ignored & (1 << (13 - 1)) == 0,
        "SIGPIPE ignored: {ignored:x}"
    );
    ensure!(field("NoNewPrivs:")? == "1", "{log}");
    // Docker's 14 capabilities: 0x00000000a80425fb.
    ensure!(field("CapEff:")? == "00000000a80425fb", "{log}");
    task.assert_clean()
}

#[test]
fn readonly_rootfs_bind_mounts_and_hostname() -> Result<()> {
    let mut task = Task::new("mounts")?;
    let volume = task.dir.join("volume");
    std::fs::create_dir_all(&volume)?;
    std::fs::write(volume.join("f"), "from host\n")?;
    task.add(
        "m",
        &[
            "sh",
            "-c",
            "hostname; touch /x 2>/dev/null || echo rootfs-ro; cat /data/f; \
             touch /data/g 2>/dev/null || echo data-ro; touch /scratch/ok && echo scratch-rw",
        ],
        true,
        5,
        |c| {
            c.readonly_rootfs = true;
            c.hostname = Some("web-1".into());
            c.mounts = vec![
                gantry_runtime::spec::BindMount {
                    source: volume.clone(),
                    destination: "/data".into(),
                    readonly: true,
                },
                gantry_runtime::spec::BindMount {
                    source: volume.clone(),
                    destination: "/scratch".into(),
                    readonly: false,
                },
            ];
        },
    )?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "m") == Some(0), "{events:#?}");
    let log = task.stdout("m");
    ensure!(
        log == "web-1\nrootfs-ro\nfrom host\ndata-ro\nscratch-rw\n",
        "log: {log:?}"
    );
    task.assert_clean()
}

#[test]
fn a_waiting_supervisor_takes_its_task_and_is_known_as_its_supervisor() -> Result<()> {
    let mut task = Task::new("prespawn")?;
    task.add("main", &["sh", "-c", "sleep 0.5"], true, 5, |_| {})?;
    task.plan().write(&task.dir)?;
    let waiting = gantry_runtime::prespawn::Prespawned::new(|dir| {
        client::supervisor_command(std::path::Path::new(common::SUPERVISOR), &[], dir)
    });
    // The first one starts in the background; take it once it is there.
    let deadline = Instant::now() + Duration::from_secs(10);
    let child = loop {
        if let Some(c) = waiting.hand_over(&task.dir, &[]) {
            break c;
        }
        ensure!(Instant::now() < deadline, "no supervisor ever waited");
        std::thread::sleep(Duration::from_millis(20));
    };
    task.child = Some(child);
    task.wait_started("main")?;
    // Its command line names no task: the pid file and its working directory do.
    ensure!(
        client::supervisor_pid(&task.dir).is_some_and(|p| p.alive),
        "a handed-over supervisor is not recognised as alive"
    );
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "main") == Some(0), "{events:#?}");
    let log = std::fs::read_to_string(task.dir.join("supervisor.log"))?;
    ensure!(log.contains("start-timing container=main"), "{log}");
    // Dropping the last handle ends the next waiting supervisor (EOF on its stdin).
    drop(waiting);
    task.assert_clean()
}
