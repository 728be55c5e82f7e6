//! Services with real containers through the AWS CLI: create, wait services-stable, a task
//! killed is replaced, a rolling deployment to a new revision completes, an unhealthy task is
//! replaced.

use std::time::Duration;

use gantry_tests::aws::ecs;
use gantry_tests::dev::Dev;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_replaces_tasks_and_rolls_a_deployment() {
    let dev = Dev::start().await;
    let ep = dev.endpoint.clone();
    for rev in 1..=2 {
        dev.register_busybox("svc", &["sleep", &format!("{}", 600 + rev)], json!({}))
            .await;
    }
    let created = ecs(
        &ep,
        &[
            "create-service",
            "--service-name",
            "web",
            "--task-definition",
            "svc:1",
            "--desired-count",
            "2",
        ],
    )
    .unwrap();
    assert_eq!(created["service"]["status"], "ACTIVE", "{created}");
    ecs(&ep, &["wait", "services-stable", "--services", "web"]).unwrap();
    let d = ecs(&ep, &["describe-services", "--services", "web"]).unwrap();
    assert_eq!(d["services"][0]["runningCount"], 2, "{d}");

    // A task that dies is replaced.
    let tasks = dev.ok("ListTasks", json!({"serviceName": "web"})).await;
    let victim = tasks["taskArns"][0].as_str().unwrap().to_string();
    dev.ok("StopTask", json!({"task": victim, "reason": "chaos"}))
        .await;
    gantry_tests::wait_for("a replacement task", Duration::from_secs(60), || async {
        let l = dev.ok("ListTasks", json!({"serviceName": "web"})).await;
        let arns: Vec<String> = l["taskArns"]
            .as_array()?
            .iter()
            .filter_map(|a| a.as_str().map(String::from))
            .collect();
        (!arns.contains(&victim) && arns.len() == 2).then_some(())
    })
    .await;
    ecs(&ep, &["wait", "services-stable", "--services", "web"]).unwrap();

    // Rolling deployment to revision 2.
    ecs(
        &ep,
        &[
            "update-service",
            "--service",
            "web",
            "--task-definition",
            "svc:2",
        ],
    )
    .unwrap();
    gantry_tests::wait_for(
        "the deployment to complete",
        Duration::from_secs(90),
        || async {
            let d = ecs(&dev.endpoint, &["describe-services", "--services", "web"]).ok()?;
            let s = &d["services"][0];
            let deps = s["deployments"].as_array()?;
            (deps.len() == 1
                && deps[0]["rolloutState"] == "COMPLETED"
                && deps[0]["taskDefinition"].as_str()?.ends_with("svc:2")
                && s["runningCount"] == 2)
                .then_some(())
        },
    )
    .await;
    let d = ecs(&ep, &["describe-services", "--services", "web"]).unwrap();
    let events = d["services"][0]["events"].to_string();
    assert!(events.contains("has reached a steady state"), "{events}");

    let del = ecs(&ep, &["delete-service", "--service", "web", "--force"]).unwrap();
    assert_eq!(del["service"]["status"], "DRAINING", "{del}");
    shut_down_after_tasks_of(dev, "web").await;
}

/// A task whose essential container fails its health check is replaced: the replacement is
/// started before the unhealthy task is stopped (with ECS's reason), and the service gets
/// back to its desired count. Only the first task goes unhealthy: it leaves a marker in a
/// host directory shared by every task of the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_task_is_replaced_first_then_stopped() {
    let dev = Dev::start().await;
    let shared = gantry_tests::TempDir::new("unhealthy");
    let script = "if [ -e /shared/first ]; then touch /tmp/ok; exec sleep 600; fi; \
                  touch /shared/first /tmp/ok; sleep 7; rm /tmp/ok; exec sleep 600";
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "sick",
            "networkMode": "none",
            "volumes": [{ "name": "shared", "host": { "sourcePath": shared.path() } }],
            "containerDefinitions": [{
                "name": "main", "image": "busybox:latest", "essential": true, "memory": 64,
                "command": ["sh", "-c", script],
                "mountPoints": [{ "sourceVolume": "shared", "containerPath": "/shared" }],
                "healthCheck": { "command": ["CMD-SHELL", "test -f /tmp/ok"],
                                 "interval": 5, "retries": 1 },
            }],
        }),
    )
    .await;
    dev.ok(
        "CreateService",
        json!({ "serviceName": "sick", "taskDefinition": "sick", "desiredCount": 1 }),
    )
    .await;
    let first = gantry_tests::wait_for(
        "the first task to be HEALTHY",
        Duration::from_secs(60),
        || async {
            let l = dev.ok("ListTasks", json!({"serviceName": "sick"})).await;
            let arn = l["taskArns"].as_array()?.first()?.as_str()?.to_string();
            (dev.describe(&arn).await["healthStatus"] == "HEALTHY").then_some(arn)
        },
    )
    .await;

    // It goes UNHEALTHY, is stopped by the scheduler with ECS's reason, and a replacement
    // that was created before the stop began runs and is HEALTHY.
    let old = gantry_tests::wait_for(
        "the first task to be STOPPED",
        Duration::from_secs(90),
        || async {
            let t = dev.describe(&first).await;
            (t["lastStatus"] == "STOPPED").then_some(t)
        },
    )
    .await;
    assert_eq!(old["healthStatus"], "UNHEALTHY", "{old}");
    assert_eq!(old["containers"][0]["healthStatus"], "UNHEALTHY", "{old}");
    assert_eq!(old["stopCode"], "ServiceSchedulerInitiated", "{old}");
    assert_eq!(
        old["stoppedReason"], "Task failed container health checks",
        "{old}"
    );
    let (replacement, new) =
        gantry_tests::wait_for("a HEALTHY replacement", Duration::from_secs(60), || async {
            let l = dev.ok("ListTasks", json!({"serviceName": "sick"})).await;
            let arns = l["taskArns"].as_array()?;
            let arn = arns
                .iter()
                .filter_map(|a| a.as_str())
                .find(|a| *a != first)?;
            let t = dev.describe(arn).await;
            (t["lastStatus"] == "RUNNING" && t["healthStatus"] == "HEALTHY")
                .then(|| (arn.to_string(), t))
        })
        .await;
    let created = new["createdAt"].as_f64().expect("createdAt");
    let stopping = old["stoppingAt"].as_f64().expect("stoppingAt");
    assert!(
        created <= stopping,
        "the replacement {replacement} (created {created}) must exist before the old task \
         stops (stopping {stopping})"
    );
    gantry_tests::wait_for(
        "the service to be steady again",
        Duration::from_secs(60),
        || async {
            let d = dev
                .ok("DescribeServices", json!({"services": ["sick"]}))
                .await;
            let s = &d["services"][0];
            (s["runningCount"] == 1 && s["desiredCount"] == 1 && s["pendingCount"] == 0)
                .then_some(())
        },
    )
    .await;

    let d = dev
        .ok("DescribeServices", json!({"services": ["sick"]}))
        .await;
    let events = d["services"][0]["events"].to_string();
    let task_id = first.rsplit('/').next().unwrap_or_default();
    assert!(
        events.contains(&format!("(task {task_id}) failed container health checks")),
        "{events}"
    );

    dev.ok("DeleteService", json!({"service": "sick", "force": true}))
        .await;
    shut_down_after_tasks_of(dev, "sick").await;
}

/// Waits until the (deleted) service has no task left, then shuts the cluster down and
/// checks that nothing leaked.
async fn shut_down_after_tasks_of(dev: Dev, service: &str) {
    gantry_tests::wait_for(
        "the service's tasks to stop",
        Duration::from_secs(60),
        || async {
            let l = dev.ok("ListTasks", json!({ "serviceName": service })).await;
            l["taskArns"].as_array()?.is_empty().then_some(())
        },
    )
    .await;
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}

/// `gantry service …` drives the same service as the AWS CLI: create, ls until it is
/// stable, scale, events, describe, and delete (refused while scaled above 0, as ECS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gantry_cli_manages_a_service() {
    let dev = Dev::start().await;
    dev.register_busybox("clisvc", &["sleep", "600"], json!({}))
        .await;
    let run = |args: &[&str]| {
        let out = dev
            .cli()
            .arg("service")
            .args(args)
            .output()
            .expect("gantry service");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    // A row of `gantry service ls` for `web`, split into its columns.
    let row = |text: &str| -> Option<Vec<String>> {
        text.lines()
            .find(|l| l.starts_with("web "))
            .map(|l| l.split_whitespace().map(String::from).collect())
    };

    let (ok, out) = run(&[
        "create",
        "web",
        "--task-definition",
        "clisvc",
        "--desired-count",
        "2",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.lines().next().unwrap_or("").starts_with("SERVICE"),
        "{out}"
    );
    assert_eq!(
        row(&out).map(|r| r[1].clone()),
        Some("ACTIVE".into()),
        "{out}"
    );

    gantry_tests::wait_for(
        "2 tasks RUNNING and the rollout COMPLETED",
        Duration::from_secs(60),
        || async {
            let (ok, out) = run(&["ls"]);
            let r = row(&out)?;
            // SERVICE STATUS DESIRED RUNNING PENDING LAUNCH DEFINITION ROLLOUT
            (ok && r[2] == "2" && r[3] == "2" && r[7] == "COMPLETED").then_some(())
        },
    )
    .await;

    let (ok, out) = run(&["scale", "web", "1"]);
    assert!(ok, "{out}");
    gantry_tests::wait_for(
        "the service scaled in to 1",
        Duration::from_secs(60),
        || async {
            let (_, out) = run(&["ls"]);
            let r = row(&out)?;
            (r[2] == "1" && r[3] == "1").then_some(())
        },
    )
    .await;
    let l = dev.ok("ListTasks", json!({ "serviceName": "web" })).await;
    assert_eq!(l["taskArns"].as_array().map(Vec::len), Some(1), "{l}");

    let (ok, out) = run(&["events", "web"]);
    assert!(ok, "{out}");
    assert!(out.contains("has reached a steady state"), "{out}");

    let (ok, out) = run(&["describe", "web"]);
    assert!(ok, "{out}");
    let d: serde_json::Value = serde_json::from_str(&out).expect("describe prints JSON");
    assert_eq!(d["services"][0]["desiredCount"], 1, "{d}");

    let (ok, out) = run(&["delete", "web"]);
    assert!(
        !ok,
        "a service scaled above 0 is not deleted without --force: {out}"
    );
    assert!(
        out.contains("The service cannot be stopped while it is scaled above 0.")
            && out.contains("--force"),
        "ECS's message, and what to do: {out}"
    );
    let (ok, out) = run(&["delete", "web", "--force"]);
    assert!(ok, "{out}");
    assert_eq!(
        row(&out).map(|r| r[1].clone()),
        Some("DRAINING".into()),
        "{out}"
    );
    shut_down_after_tasks_of(dev, "web").await;
}
