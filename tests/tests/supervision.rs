//! Supervision guarantees: a task whose supervisor dies (a crash between "container
//! created" and "state recorded", `kill -9`, or vanished while the agent was down) ends
//! STOPPED with a reason saying so, with exactly the one container it had, never RUNNING.

use std::time::Duration;

use gantry_tests::dev::{Dev, DevOptions};
use gantry_tests::split::{alive, kill9_pid};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(60);

fn split(env: &[(&str, &str)]) -> DevOptions {
    DevOptions {
        split: true,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// The pid named in "found still running as pid N" in the container's reason.
fn pid_in_reason(c: &Value) -> i32 {
    let reason = c["reason"].as_str().unwrap_or_default();
    let (_, rest) = reason
        .split_once("as pid ")
        .unwrap_or_else(|| panic!("no pid in the container reason: {c}"));
    rest.split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in the container reason: {c}"))
}

/// libcontainer's state directories left for the task (none once it has been cleaned up).
fn container_states(dev: &Dev, arn: &str) -> Vec<String> {
    std::fs::read_dir(dev.task_dir(arn).join("containers-state"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_create_and_record_ends_with_the_one_container_reported_stopped() {
    let mut dev = Dev::start_with(split(&[("GANTRY_FAILPOINT", "after-create")])).await;
    dev.register_busybox("crashy", &["sleep", "600"], json!({}))
        .await;
    let arn = dev.run_one("crashy").await;
    let id = arn.rsplit('/').next().unwrap().to_string();
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    assert_eq!(t["lastStatus"], "STOPPED", "{t}");
    let reason = t["stoppedReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("supervisor died") && reason.contains("killed by signal 9"),
        "{t}"
    );
    // Exactly the one container, found by its deterministic id, killed.
    let containers = t["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{t}");
    let c = &containers[0];
    assert_eq!(c["lastStatus"], "STOPPED", "{t}");
    assert!(
        c["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("(id {id}-main) was found still running")),
        "{t}"
    );
    let pid = pid_in_reason(c);
    assert!(!alive(pid), "container pid {pid} still running");
    // The journal never recorded a start: the crash came first.
    assert!(dev.container_pids(&arn).is_empty());
    assert!(container_states(&dev, &arn).is_empty());

    // Restart the agent without the failure point: the task stays as reported, is not run
    // again, and a new task runs.
    dev.kill9_agent();
    dev.set_env(Vec::new());
    dev.start_agent().await;
    let again = dev.describe(&arn).await;
    assert_eq!(again["stoppedReason"], t["stoppedReason"], "{again}");
    assert!(dev.container_pids(&arn).is_empty());
    let next = dev.run_one("crashy").await;
    let n = dev.wait_status(&next, "RUNNING", T).await;
    assert_eq!(n["lastStatus"], "RUNNING", "{n}");
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_supervisor_is_reported_stopped_never_running() {
    let dev = Dev::start().await;
    dev.register_busybox("victim", &["sleep", "600"], json!({}))
        .await;
    let arn = dev.run_one("victim").await;
    dev.wait_status(&arn, "RUNNING", T).await;
    let container = dev.container_pids(&arn)[0];
    kill9_pid(dev.supervisor_pid(&arn));
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    assert_eq!(t["lastStatus"], "STOPPED", "{t}");
    assert_eq!(t["stopCode"], "EssentialContainerExited", "{t}");
    let reason = t["stoppedReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("killed by signal 9 (SIGKILL)"),
        "the reason names the supervisor's death: {t}"
    );
    // The container it left behind was the one it started, and it is gone.
    assert_eq!(pid_in_reason(&t["containers"][0]), container, "{t}");
    assert!(!alive(container));
    assert!(container_states(&dev, &arn).is_empty());
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_vanished_while_the_agent_was_down_is_stopped_with_a_reason() {
    let mut dev = Dev::start_with(split(&[])).await;
    dev.register_busybox("vanish", &["sleep", "600"], json!({}))
        .await;
    let arn = dev.run_one("vanish").await;
    dev.wait_status(&arn, "RUNNING", T).await;
    let container = dev.container_pids(&arn)[0];
    let supervisor = dev.supervisor_pid(&arn);
    dev.kill9_agent();
    kill9_pid(supervisor);
    kill9_pid(container);
    gantry_tests::wait_for("supervisor and container to die", T, || async {
        (!alive(supervisor) && !alive(container)).then_some(())
    })
    .await;
    dev.start_agent().await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    assert_eq!(t["lastStatus"], "STOPPED", "{t}");
    let reason = t["stoppedReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "(pid {supervisor}) was gone when the agent started"
        )),
        "{t}"
    );
    assert!(
        t["containers"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("found already exited"),
        "{t}"
    );
    assert!(container_states(&dev, &arn).is_empty());
    assert!(dev.shutdown().await.is_empty());
}
