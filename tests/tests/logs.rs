//! `gantry logs`: container output served by the server from the task's agent.

use std::process::Command;
use std::time::Duration;

use gantry_tests::dev::Dev;
use serde_json::json;

fn gantry_logs(dev: &Dev, args: &[&str]) -> (String, String) {
    let out = Command::new(gantry_tests::gantry_bin())
        .args(["--endpoint", &dev.endpoint, "logs"])
        .args(args)
        .output()
        .expect("gantry logs");
    assert!(
        out.status.success(),
        "gantry logs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_tail_container_and_follow() {
    let dev = Dev::start().await;
    dev.register_busybox(
        "chatty",
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; sleep 2; echo late",
        ],
        json!({}),
    )
    .await;
    let arn = dev.run_one("chatty").await;
    let id = arn.rsplit('/').next().unwrap().to_string();
    // --follow returns once the task has stopped, with every line including the late one.
    let (out, err) = gantry_logs(&dev, &[&id, "--follow"]);
    for i in 1..=5 {
        assert!(out.contains(&format!("main | line {i}\n")), "{out}");
    }
    assert!(out.contains("late"), "{out}");
    assert!(err.contains("oops"), "stderr lines go to stderr: {err}");
    let t = dev
        .wait_status(&arn, "STOPPED", Duration::from_secs(30))
        .await;
    assert_eq!(t["containers"][0]["exitCode"], 0);

    let (out, _) = gantry_logs(&dev, &[&id, "--container", "main", "--tail", "2"]);
    assert_eq!(
        out,
        "oops\nlate\n".replace("oops\n", ""),
        "tail 2 of stdout+stderr, stdout part: {out}"
    );
    let (out, _) = gantry_logs(&dev, &[&id, "--since", "1h", "--timestamps"]);
    assert!(out.lines().all(|l| l.starts_with("20")), "{out}");

    let missing = Command::new(gantry_tests::gantry_bin())
        .args(["--endpoint", &dev.endpoint, "logs", "no-such-task"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("InvalidParameterException"));
    assert!(dev.shutdown().await.is_empty());
}
