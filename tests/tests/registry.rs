//! Pulls from a real registry on loopback: anonymous, with basic auth, and a missing tag.

use std::time::Duration;

use gantry_tests::dev::{Dev, DevOptions};
use gantry_tests::registry::Registry;
use serde_json::json;

const T: Duration = Duration::from_secs(90);

async fn run_image(dev: &Dev, family: &str, image: &str) -> serde_json::Value {
    dev.ok(
        "RegisterTaskDefinition",
        json!({"family": family, "networkMode": "none", "containerDefinitions": [
            {"name": "main", "image": image, "memory": 32, "command": ["echo", "pulled"]}]}),
    )
    .await;
    let arn = dev.run_one(family).await;
    dev.wait_status(&arn, "STOPPED", T).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_anonymously_and_reports_a_missing_tag() {
    let reg = Registry::start(None);
    // No layouts for these images: the agent must pull. A layout dir that lacks them is fine.
    let dev = Dev::start_with(DevOptions::default()).await;
    let t = run_image(&dev, "pulled", &format!("{}/busybox:latest", reg.addr)).await;
    assert_eq!(t["containers"][0]["exitCode"], 0, "{t}");
    assert!(
        t["pullStartedAt"].is_number() && t["pullStoppedAt"].is_number(),
        "{t}"
    );
    assert!(
        t["containers"][0]["imageDigest"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sha256:"),
        "{t}"
    );

    let t = run_image(
        &dev,
        "missing",
        &format!("{}/busybox:no-such-tag", reg.addr),
    )
    .await;
    assert_eq!(t["stopCode"], "TaskFailedToStart", "{t}");
    let reason = t["stoppedReason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("CannotPullContainerError:"), "{reason}");
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_with_basic_auth_only_with_the_right_credentials() {
    let reg = Registry::start(Some(("gantry", "s3cret")));
    let image = format!("{}/busybox:latest", reg.addr);
    let anon = Dev::start().await;
    let t = run_image(&anon, "noauth", &image).await;
    assert!(
        t["stoppedReason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("CannotPullContainerError:"),
        "{t}"
    );
    assert!(anon.shutdown().await.is_empty());

    let authed = Dev::start_with(DevOptions {
        args: vec![
            "--registry-auth".into(),
            format!("{}=gantry:s3cret", reg.addr),
        ],
        ..Default::default()
    })
    .await;
    let t = run_image(&authed, "withauth", &image).await;
    assert_eq!(t["containers"][0]["exitCode"], 0, "{t}");
    assert!(authed.shutdown().await.is_empty());
}
