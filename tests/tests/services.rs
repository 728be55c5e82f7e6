//! Services with real containers through the AWS CLI: create, wait services-stable, a task
//! killed is replaced, a rolling deployment to a new revision completes.

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
    gantry_tests::wait_for(
        "the service's tasks to stop",
        Duration::from_secs(60),
        || async {
            let l = dev.ok("ListTasks", json!({"serviceName": "web"})).await;
            l["taskArns"].as_array()?.is_empty().then_some(())
        },
    )
    .await;
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}
