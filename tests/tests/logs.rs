//! `gantry logs`: container output served by the server from the task's agent.

use std::time::Duration;

use gantry_tests::dev::Dev;
use serde_json::json;

fn gantry_logs(dev: &Dev, args: &[&str]) -> (String, String) {
    let out = dev
        .cli()
        .arg("logs")
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

    let missing = dev.cli().args(["logs", "no-such-task"]).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("InvalidParameterException"));
    assert!(dev.shutdown().await.is_empty());
}

fn gantry_logs_err(dev: &Dev, args: &[&str]) -> String {
    let out = dev
        .cli()
        .arg("logs")
        .args(args)
        .output()
        .expect("gantry logs");
    assert!(!out.status.success(), "gantry logs {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awslogs_streams_are_named_like_ecs_and_selectable() {
    use gantry_tests::aws::ecs;
    let dev = Dev::start().await;
    let def = |driver: &str, options: serde_json::Value| {
        json!([{
            "name": "main", "image": "busybox:latest", "memory": 32,
            "command": ["sh", "-c", "echo hello awslogs; sleep 600"],
            "logConfiguration": { "logDriver": driver, "options": options }
        }])
        .to_string()
    };
    let register = |family: &str, defs: String| {
        ecs(
            &dev.endpoint,
            &[
                "register-task-definition",
                "--family",
                family,
                "--network-mode",
                "none",
                "--container-definitions",
                &defs,
            ],
        )
    };
    let err = register("splunky", def("splunk", json!({}))).unwrap_err();
    assert!(
        err.contains("ClientException") && err.contains("\"splunk\"") && err.contains("awslogs"),
        "{err}"
    );
    let err = register("nogroup", def("awslogs", json!({}))).unwrap_err();
    assert!(
        err.contains("ClientException") && err.contains("awslogs-group"),
        "{err}"
    );
    let opts = json!({
        "awslogs-group": "/ecs/web",
        "awslogs-stream-prefix": "app",
        "awslogs-region": "us-east-1"
    });
    register("web", def("awslogs", opts)).expect("register awslogs");

    let arn = dev.run_one("web").await;
    dev.wait_status(&arn, "RUNNING", Duration::from_secs(60))
        .await;
    let id = arn.rsplit('/').next().unwrap().to_string();
    let stream = format!("app/main/{id}");
    let (out, _) = gantry_logs(&dev, &[&id, "--streams"]);
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        ["main", "awslogs", "/ecs/web", &stream, "us-east-1"],
        "{out}"
    );
    let lines = gantry_tests::wait_for(
        "the stream's first line",
        Duration::from_secs(30),
        || async {
            let (out, _) = gantry_logs(&dev, &["--log-group", "/ecs/web", "--log-stream", &stream]);
            out.contains("hello awslogs").then_some(out)
        },
    )
    .await;
    assert_eq!(lines, "hello awslogs\n", "one container, no prefix");
    let wrong_group = gantry_logs_err(&dev, &["--log-group", "/ecs/api", "--log-stream", &stream]);
    assert!(
        wrong_group.contains("ResourceNotFoundException") && wrong_group.contains("/ecs/web"),
        "{wrong_group}"
    );
    let other = format!("other/main/{id}");
    let wrong = gantry_logs_err(&dev, &["--log-stream", &other]);
    assert!(
        wrong.contains("ResourceNotFoundException") && wrong.contains(&stream),
        "{wrong}"
    );
    let bad = gantry_logs_err(&dev, &["--log-stream", "not-a-stream"]);
    assert!(bad.contains("prefix/container-name/task-id"), "{bad}");
    assert!(dev.shutdown().await.is_empty());
}
