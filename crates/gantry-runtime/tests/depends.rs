//! Privileged tests: container `dependsOn` with real containers through the supervisor.
//! Order is read from the supervisor's event log, which it writes in the order things
//! happen (one thread, one append per event).

mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{exit_code, stop_code, Task};
use gantry_runtime::client;
use gantry_runtime::event::SupervisorEvent;
use gantry_runtime::plan::{Condition, Dependency, HealthCheck};

fn dep(container: &str, condition: Condition) -> Dependency {
    Dependency {
        container: container.into(),
        condition,
    }
}

fn check(script: &str) -> HealthCheck {
    HealthCheck {
        command: vec!["CMD-SHELL".into(), script.into()],
        interval_secs: 1,
        timeout_secs: 2,
        retries: 1,
        start_period_secs: 0,
    }
}

/// Position in the event log of the first event `what` matches.
fn at(events: &[SupervisorEvent], what: impl Fn(&SupervisorEvent) -> bool) -> Result<usize> {
    events
        .iter()
        .position(what)
        .with_context(|| format!("event not found in {events:#?}"))
}

fn started(events: &[SupervisorEvent], name: &str) -> Result<usize> {
    at(
        events,
        |e| matches!(e, SupervisorEvent::Started { container, .. } if container == name),
    )
}

fn exited(events: &[SupervisorEvent], name: &str) -> Result<usize> {
    at(
        events,
        |e| matches!(e, SupervisorEvent::Exited { container, .. } if container == name),
    )
}

fn never_started(events: &[SupervisorEvent], name: &str) -> bool {
    started(events, name).is_err()
}

fn stop_reason(events: &[SupervisorEvent]) -> String {
    events
        .iter()
        .find_map(|e| match e {
            SupervisorEvent::Stopping { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn containers_start_when_their_conditions_hold_and_stop_in_reverse() -> Result<()> {
    let mut task = Task::new("deps-order")?;
    // `main` comes first in the plan: only its dependencies hold it back.
    task.add(
        "main",
        &[
            "sh",
            "-c",
            "trap 'sleep 1; exit 0' TERM; echo trap-set; while :; do sleep 0.1; done",
        ],
        true,
        5,
        |_| {},
    )?;
    task.add("init", &["sh", "-c", "sleep 1; exit 0"], false, 5, |_| {})?;
    task.add("tidy", &["sh", "-c", "sleep 1; exit 4"], false, 5, |_| {})?;
    task.add("side", &["sleep", "1000"], false, 1, |_| {})?;
    task.add(
        "db",
        &[
            "sh",
            "-c",
            "sleep 2; touch /tmp/deps-db-ok; exec sleep 1000",
        ],
        false,
        1,
        |_| {},
    )?;
    task.containers[0].depends_on = vec![
        dep("init", Condition::Success),
        dep("tidy", Condition::Complete),
        dep("side", Condition::Start),
        dep("db", Condition::Healthy),
    ];
    task.containers[4].health_check = Some(check("test -f /tmp/deps-db-ok"));
    task.spawn()?;
    task.wait_started("main")?;
    let events = task.events()?;
    let main = started(&events, "main")?;
    ensure!(exited(&events, "init")? < main, "SUCCESS: {events:#?}");
    ensure!(exited(&events, "tidy")? < main, "COMPLETE: {events:#?}");
    ensure!(exit_code(&events, "tidy") == Some(4), "{events:#?}");
    ensure!(started(&events, "side")? < main, "START: {events:#?}");
    let healthy = at(&events, |e| {
        matches!(e, SupervisorEvent::Health { container, status, .. }
            if container == "db" && status == "HEALTHY")
    })?;
    ensure!(healthy < main, "HEALTHY: {events:#?}");

    // Stop: main (the dependent) is signalled and waited for (its trap takes a second)
    // before db and side, its dependencies, are signalled. Its shell must have set the
    // trap first, or SIGTERM finds it without one.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !task.stdout("main").contains("trap-set") {
        ensure!(
            std::time::Instant::now() < deadline,
            "main never set its trap: {:#?}",
            task.events()?
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    client::request_stop(&task.dir)?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    let main_exit = exited(&events, "main")?;
    ensure!(
        exit_code(&events, "main") == Some(0),
        "main got SIGTERM first: {events:#?}"
    );
    ensure!(exited(&events, "db")? > main_exit, "{events:#?}");
    ensure!(exited(&events, "side")? > main_exit, "{events:#?}");
    task.assert_clean()
}

#[test]
fn a_dependency_that_fails_stops_the_task_before_its_dependent_starts() -> Result<()> {
    let mut task = Task::new("deps-fail")?;
    task.add("init", &["sh", "-c", "sleep 0.5; exit 3"], false, 1, |_| {})?;
    task.add("side", &["sleep", "1000"], false, 1, |_| {})?;
    task.add("main", &["sleep", "1000"], true, 1, |_| {})?;
    task.containers[2].depends_on = vec![dep("init", Condition::Success)];
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(never_started(&events, "main"), "{events:#?}");
    ensure!(exit_code(&events, "init") == Some(3), "{events:#?}");
    ensure!(
        stop_code(&events).as_deref() == Some("TaskFailedToStart"),
        "{events:#?}"
    );
    ensure!(
        stop_reason(&events)
            == "Container main was not started: its dependency init did not exit \
                successfully (exit code 3) (dependsOn condition SUCCESS)",
        "{events:#?}"
    );
    // The rest of the task was stopped.
    ensure!(exited(&events, "side").is_ok(), "{events:#?}");
    task.assert_clean()
}

#[test]
fn a_dependency_that_exits_before_it_is_healthy_stops_the_task() -> Result<()> {
    let mut task = Task::new("deps-unhealthy")?;
    task.add("db", &["sh", "-c", "sleep 0.5; exit 1"], false, 1, |_| {})?;
    task.add("main", &["sleep", "1000"], true, 1, |_| {})?;
    // Its first check would pass, but only after it has exited.
    task.containers[0].health_check = Some(HealthCheck {
        interval_secs: 5,
        ..check("true")
    });
    task.containers[1].depends_on = vec![dep("db", Condition::Healthy)];
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(never_started(&events, "main"), "{events:#?}");
    let reason = stop_reason(&events);
    ensure!(
        reason.contains("Container main")
            && reason.contains("db exited (exit code 1) before it became HEALTHY")
            && reason.contains("HEALTHY"),
        "{events:#?}"
    );
    task.assert_clean()
}

#[test]
fn a_dependency_that_cannot_start_stops_the_task() -> Result<()> {
    let mut task = Task::new("deps-nostart")?;
    task.add("init", &["/no/such/program"], false, 1, |_| {})?;
    task.add("main", &["sleep", "1000"], true, 1, |_| {})?;
    task.containers[1].depends_on = vec![dep("init", Condition::Start)];
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(never_started(&events, "main"), "{events:#?}");
    ensure!(
        stop_code(&events).as_deref() == Some("TaskFailedToStart"),
        "{events:#?}"
    );
    ensure!(stop_reason(&events).contains("init"), "{events:#?}");
    task.assert_clean()
}

#[test]
fn dependents_give_up_on_a_dependency_at_its_start_timeout() -> Result<()> {
    let mut task = Task::new("deps-timeout")?;
    task.add("db", &["sleep", "1000"], false, 1, |_| {})?;
    task.add("main", &["sleep", "1000"], true, 1, |_| {})?;
    task.containers[0].health_check = Some(check("false"));
    task.containers[0].start_timeout_secs = Some(3);
    task.containers[1].depends_on = vec![dep("db", Condition::Healthy)];
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(never_started(&events, "main"), "{events:#?}");
    let (started_at, stopping_at) = events.iter().fold((0.0, 0.0), |acc, e| match e {
        SupervisorEvent::Started { container, at, .. } if container == "db" => (*at, acc.1),
        SupervisorEvent::Stopping { at, .. } => (acc.0, *at),
        _ => acc,
    });
    ensure!(
        stopping_at - started_at >= 3.0 && stopping_at - started_at < 10.0,
        "gave up {}s after db started: {events:#?}",
        stopping_at - started_at
    );
    ensure!(
        stop_reason(&events)
            == "Container main was not started: its dependency db did not meet the condition \
                within its startTimeout (dependsOn condition HEALTHY)",
        "{events:#?}"
    );
    task.assert_clean()
}
