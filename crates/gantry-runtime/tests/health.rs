//! Privileged tests: health checks run inside real containers through the supervisor.

mod common;

use std::time::Duration;

use anyhow::{ensure, Result};
use common::Task;
use gantry_runtime::event::SupervisorEvent;
use gantry_runtime::plan::HealthCheck;

fn health(events: &[SupervisorEvent], name: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            SupervisorEvent::Health {
                container, status, ..
            } if container == name => Some(status.clone()),
            _ => None,
        })
        .collect()
}

fn check(command: &[&str], retries: u32) -> HealthCheck {
    HealthCheck {
        command: command.iter().map(|s| s.to_string()).collect(),
        interval_secs: 1,
        timeout_secs: 2,
        retries,
        start_period_secs: 0,
    }
}

#[test]
fn health_checks_run_inside_the_container() -> Result<()> {
    let mut task = Task::new("health")?;
    // The containers share the test rootfs, so the file name is unique to this test.
    task.add(
        "late",
        &["sh", "-c", "sleep 2; touch /tmp/late-ok; sleep 1000"],
        true,
        1,
        |_| {},
    )?;
    task.add("bad", &["sleep", "1000"], false, 1, |_| {})?;
    task.add("slow", &["sleep", "1000"], false, 1, |_| {})?;
    task.containers[0].health_check = Some(check(
        &[
            "CMD-SHELL",
            "echo noise; echo noise >&2; test -f /tmp/late-ok",
        ],
        5,
    ));
    task.containers[1].health_check = Some(check(&["CMD", "false"], 2));
    // Timeouts: a check that never ends is killed after 2 s and counts as a failure.
    task.containers[2].health_check = Some(check(&["CMD", "sleep", "100"], 1));
    task.spawn()?;
    let events = task.wait_for(Duration::from_secs(30), |ev| {
        health(ev, "late").contains(&"HEALTHY".to_string())
            && !health(ev, "bad").is_empty()
            && !health(ev, "slow").is_empty()
    })?;
    ensure!(health(&events, "late") == ["HEALTHY"], "{events:#?}");
    ensure!(health(&events, "bad") == ["UNHEALTHY"], "{events:#?}");
    ensure!(health(&events, "slow") == ["UNHEALTHY"], "{events:#?}");
    // A few more rounds: statuses are only reported on change.
    std::thread::sleep(Duration::from_secs(3));
    let events = task.events()?;
    ensure!(health(&events, "late") == ["HEALTHY"], "{events:#?}");
    ensure!(health(&events, "bad") == ["UNHEALTHY"], "{events:#?}");
    gantry_runtime::client::request_stop(&task.dir)?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(
        matches!(events.last(), Some(SupervisorEvent::TaskExited { .. })),
        "{events:#?}"
    );
    // Check output goes nowhere: the supervisor's stdout carries exactly the events.
    let stdout: Vec<SupervisorEvent> = task
        .stdout_lines
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
        .map(|l| serde_json::from_str(l))
        .collect::<Result<_, _>>()?;
    ensure!(stdout == events, "stdout {stdout:#?} vs file {events:#?}");
    ensure!(!task.output("late", None).contains("noise"));
    task.assert_clean()
}

#[test]
fn check_runs_in_the_container_namespaces() -> Result<()> {
    let mut task = Task::new("healthns")?;
    // Healthy only if the check sees the container's hostname and pid namespace (the
    // init is pid 1 there) and runs with the container's user.
    task.add("ns", &["sleep", "1000"], true, 1, |c| {
        c.user = Some("app".into());
    })?;
    task.containers[0].health_check = Some(check(
        &[
            "CMD-SHELL",
            "test \"$(hostname)\" = ns && test \"$(readlink /proc/1/exe)\" = /bin/busybox && test \"$(id -u)\" = 1000",
        ],
        1,
    ));
    task.spawn()?;
    let events = task.wait_for(Duration::from_secs(20), |ev| !health(ev, "ns").is_empty())?;
    ensure!(health(&events, "ns") == ["HEALTHY"], "{events:#?}");
    gantry_runtime::client::request_stop(&task.dir)?;
    task.wait_exit(Duration::from_secs(30))?;
    task.assert_clean()
}
