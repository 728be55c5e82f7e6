//! Container `dependsOn` end to end: an init container that must succeed before the main
//! one, through the AWS CLI and the API against a real `gantry dev`.

use std::time::Duration;

use gantry_tests::aws::ecs;
use gantry_tests::dev::Dev;
use serde_json::{json, Value};

/// `init` writes a file into a task volume and exits with `init_exit`; `main` needs it to
/// have succeeded, and exits at once (failing the task) if the file is not there.
fn init_then_main(family: &str, init_exit: i32) -> Value {
    let c = |name: &str, essential: bool, script: String| {
        json!({ "name": name, "image": "busybox:latest", "memory": 32, "essential": essential,
                "command": ["sh", "-c", script],
                "mountPoints": [{ "sourceVolume": "work", "containerPath": "/work" }] })
    };
    let mut main = c(
        "main",
        true,
        "test -f /work/ready || exit 9; exec sleep 600".into(),
    );
    main["dependsOn"] = json!([{ "containerName": "init", "condition": "SUCCESS" }]);
    json!({
        "family": family,
        "networkMode": "none",
        "volumes": [{ "name": "work" }],
        // main comes first: only dependsOn makes init run before it.
        "containerDefinitions": [
            main,
            c("init", false, format!("sleep 1; touch /work/ready; exit {init_exit}")),
        ],
    })
}

fn container<'a>(task: &'a Value, name: &str) -> &'a Value {
    task["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no container {name} in {task}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_container_must_succeed_before_the_main_one_starts() {
    let dev = Dev::start().await;
    let ep = dev.endpoint.clone();
    let td = init_then_main("init-ok", 0).to_string();
    let reg = ecs(&ep, &["register-task-definition", "--cli-input-json", &td]).unwrap();
    let deps = &reg["taskDefinition"]["containerDefinitions"][0]["dependsOn"];
    assert_eq!(
        deps,
        &json!([{ "containerName": "init", "condition": "SUCCESS" }]),
        "{reg}"
    );
    let arn = dev.run_one("init-ok").await;
    let t = dev
        .wait_status(&arn, "RUNNING", Duration::from_secs(60))
        .await;
    assert_eq!(t["lastStatus"], "RUNNING", "{t}");
    let init = container(&t, "init");
    assert_eq!(init["lastStatus"], "STOPPED", "{t}");
    assert_eq!(init["exitCode"], 0, "{t}");
    assert_eq!(container(&t, "main")["lastStatus"], "RUNNING", "{t}");

    dev.ok("StopTask", json!({ "task": arn })).await;
    let t = dev
        .wait_status(&arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(t["stopCode"], "UserInitiated", "{t}");
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_init_container_stops_the_task_with_the_reason() {
    let dev = Dev::start().await;
    dev.ok("RegisterTaskDefinition", init_then_main("init-bad", 3))
        .await;
    let arn = dev.run_one("init-bad").await;
    let t = dev
        .wait_status(&arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(t["lastStatus"], "STOPPED", "{t}");
    assert_eq!(t["stopCode"], "TaskFailedToStart", "{t}");
    assert_eq!(
        t["stoppedReason"],
        "Container main was not started: its dependency init did not exit successfully \
         (exit code 3) (dependsOn condition SUCCESS)",
        "{t}"
    );
    assert_eq!(container(&t, "init")["exitCode"], 3, "{t}");
    let main = container(&t, "main");
    assert_eq!(main["lastStatus"], "STOPPED", "{t}");
    assert!(
        main.get("exitCode").is_none_or(Value::is_null),
        "main never ran: {t}"
    );
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_dependencies_are_refused_at_registration() {
    let dev = Dev::start().await;
    let c = |name: &str, extra: Value| {
        let mut c = json!({ "name": name, "image": "busybox:latest", "memory": 32 });
        for (k, v) in extra.as_object().into_iter().flatten() {
            c[k] = v.clone();
        }
        c
    };
    let on = |name: &str, condition: &str| json!({ "dependsOn": [{ "containerName": name, "condition": condition }] });
    let cases = [
        (
            vec![c("main", on("ghost", "START"))],
            "'ghost' because it does not exist",
        ),
        (
            vec![c("a", on("b", "START")), c("b", on("a", "START"))],
            "cycle (a -> b -> a)",
        ),
        (
            vec![c("init", json!({})), c("main", on("init", "SUCCESS"))],
            "cannot be an essential container",
        ),
        (
            vec![c("db", json!({})), c("main", on("db", "HEALTHY"))],
            "db has no healthCheck",
        ),
    ];
    for (containers, want) in cases {
        let body = json!({ "family": "bad-deps", "networkMode": "none",
                           "containerDefinitions": containers });
        let (kind, err) = dev
            .call("RegisterTaskDefinition", body)
            .await
            .expect_err("refused");
        assert_eq!(kind, "ClientException", "{err}");
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
    let fams = dev.ok("ListTaskDefinitionFamilies", json!({})).await;
    assert_eq!(fams["families"], json!([]), "nothing registered: {fams}");
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}
