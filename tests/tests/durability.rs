//! An acknowledged write survives `kill -9` of the server.

use gantry_tests::dev::Dev;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_register_survives_kill_9() {
    let mut dev = Dev::start().await;
    let r = dev.register_busybox("durable", &["true"], json!({})).await;
    let arn = r["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    dev.kill9_and_restart().await;
    let d = dev
        .ok(
            "DescribeTaskDefinition",
            json!({"taskDefinition": "durable"}),
        )
        .await;
    assert_eq!(d["taskDefinition"]["taskDefinitionArn"], arn.as_str());
    // The restarted agent comes back as the same instance.
    let l = dev.ok("ListContainerInstances", json!({})).await;
    assert_eq!(
        l["containerInstanceArns"].as_array().unwrap().len(),
        1,
        "{l}"
    );
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_task_survives_a_restart_and_is_not_run_twice() {
    let mut dev = Dev::start().await;
    dev.register_busybox("long", &["sleep", "600"], json!({}))
        .await;
    let arn = dev.run_one("long").await;
    let before = dev
        .wait_status(&arn, "RUNNING", std::time::Duration::from_secs(60))
        .await;
    dev.kill9_and_restart().await;
    let after = dev
        .wait_status(&arn, "RUNNING", std::time::Duration::from_secs(60))
        .await;
    assert_eq!(after["lastStatus"], "RUNNING", "{after}");
    assert_eq!(after["startedAt"], before["startedAt"]);
    // Exactly one supervisor for the task: one started for it names its directory, one that
    // was waiting when the task came works in it.
    let id = arn.rsplit('/').next().unwrap();
    let n = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let c = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let c = String::from_utf8_lossy(&c);
            let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
            c.contains("supervise") && (c.contains(id) || cwd.ends_with(id))
        })
        .count();
    assert_eq!(n, 1);
    assert!(dev.shutdown().await.is_empty());
}
