//! Privileged tests of enforced limits: the memory limit OOM-kills, the pids limit
//! contains a fork bomb.

mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{exit_code, Task};
use gantry_runtime::client;
use gantry_runtime::event::SupervisorEvent;

fn oom_killed(events: &[SupervisorEvent], name: &str) -> Option<bool> {
    events.iter().find_map(|e| match e {
        SupervisorEvent::Exited {
            container,
            oom_killed,
            ..
        } if container == name => Some(*oom_killed),
        _ => None,
    })
}

#[test]
fn container_over_its_memory_limit_is_oom_killed() -> Result<()> {
    let mut task = Task::new("oom")?;
    // The shell doubles a string until the 16 MiB limit is hit; it is pid 1, so the
    // kernel's SIGKILL is its exit status.
    task.add(
        "hog",
        &["sh", "-c", "x=a; while :; do x=$x$x; done"],
        true,
        5,
        |c| c.memory_limit = Some(16 << 20),
    )?;
    // A neighbour under no pressure is not reported as OOM-killed.
    task.add("calm", &["sleep", "1000"], false, 1, |c| {
        c.memory_limit = Some(16 << 20)
    })?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(60))?;
    ensure!(exit_code(&events, "hog") == Some(137), "{events:#?}");
    ensure!(oom_killed(&events, "hog") == Some(true), "{events:#?}");
    ensure!(oom_killed(&events, "calm") == Some(false), "{events:#?}");
    task.assert_clean()
}

/// The OOM kill hits a child of the container's init: init survives it and exits with
/// 137 itself (as a shell reports a killed child); still an OOM kill.
#[test]
fn oom_kill_of_a_child_process_is_reported() -> Result<()> {
    let mut task = Task::new("oomchild")?;
    task.add(
        "hog",
        &["sh", "-c", "sh -c 'x=a; while :; do x=$x$x; done'; exit $?"],
        true,
        5,
        |c| c.memory_limit = Some(16 << 20),
    )?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(60))?;
    ensure!(exit_code(&events, "hog") == Some(137), "{events:#?}");
    ensure!(oom_killed(&events, "hog") == Some(true), "{events:#?}");
    task.assert_clean()
}

fn pids_events_max(task: &Task, name: &str) -> Result<u64> {
    let rel = format!("{}/{name}", task.cgroup_parent().trim_start_matches('/'));
    let path = if gantry_runtime::cgroup::is_v2()? {
        format!("/sys/fs/cgroup/{rel}/pids.events")
    } else {
        format!("/sys/fs/cgroup/pids/{rel}/pids.events")
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("max "))
        .context("no max in pids.events")?
        .trim()
        .parse()
        .context("pids.events max")
}

#[test]
fn fork_bomb_is_contained_by_the_pids_limit() -> Result<()> {
    let mut bomb = Task::new("bomb")?;
    // A real fork bomb; busybox prints "can't fork: Resource temporarily unavailable"
    // (EAGAIN) when the pids controller refuses.
    bomb.add(
        "bomb",
        &["sh", "-c", "f() { f | f & }; f; sleep 1000"],
        true,
        1,
        |c| c.pids_limit = Some(64),
    )?;
    bomb.spawn()?;
    bomb.wait_started("bomb")?;
    let t0 = std::time::Instant::now();
    while pids_events_max(&bomb, "bomb")? == 0 {
        ensure!(
            t0.elapsed() < Duration::from_secs(20),
            "the bomb never hit the limit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The task next to it still forks 20 processes while the bomb is at its limit.
    let mut neighbour = Task::new("neighbour")?;
    neighbour.add(
        "n",
        &[
            "sh",
            "-c",
            "for i in $(seq 20); do sleep 0.2 & done; wait && echo forked-20",
        ],
        true,
        5,
        |c| c.pids_limit = Some(64),
    )?;
    neighbour.spawn()?;
    let events = neighbour.wait_exit(Duration::from_secs(60))?;
    ensure!(exit_code(&events, "n") == Some(0), "{events:#?}");
    ensure!(
        neighbour.stdout("n") == "forked-20\n",
        "{}",
        neighbour.stdout("n")
    );
    neighbour.assert_clean()?;

    let limited = pids_events_max(&bomb, "bomb")?;
    let err = bomb.output("bomb", Some(gantry_runtime::logs::Stream::Stderr));
    ensure!(
        err.contains("Resource temporarily unavailable"),
        "no EAGAIN seen inside: {}",
        &err[..err.len().min(500)]
    );
    client::request_stop(&bomb.dir)?;
    let events = bomb.wait_exit(Duration::from_secs(60))?;
    ensure!(exit_code(&events, "bomb") == Some(137), "{events:#?}");
    eprintln!("fork refused {limited} times by the pids limit");
    bomb.assert_clean()
}
