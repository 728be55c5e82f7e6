//! The same flows through the Rust AWS SDK (`aws-sdk-ecs`), with static credentials.

use std::time::Duration;

use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecs::types::{ContainerDefinition, DesiredStatus, NetworkMode};
use gantry_tests::dev::Dev;

fn client(endpoint: &str) -> aws_sdk_ecs::Client {
    let conf = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(gantry_tests::REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            gantry_tests::ACCESS_KEY_ID,
            gantry_tests::SECRET_ACCESS_KEY,
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_ecs::Client::from_conf(conf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_runs_and_stops_a_task() {
    let dev = Dev::start().await;
    let ecs = client(&dev.endpoint);

    let cl = ecs
        .create_cluster()
        .cluster_name("sdk")
        .send()
        .await
        .unwrap();
    assert_eq!(cl.cluster().and_then(|c| c.cluster_name()), Some("sdk"));
    let clusters = ecs.list_clusters().send().await.unwrap();
    assert!(clusters
        .cluster_arns()
        .iter()
        .any(|a| a.ends_with("cluster/sdk")));

    let td = ecs
        .register_task_definition()
        .family("sdk-sleep")
        .network_mode(NetworkMode::None)
        .container_definitions(
            ContainerDefinition::builder()
                .name("main")
                .image("busybox:latest")
                .memory(32)
                .essential(true)
                .command("sleep")
                .command("600")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(td.task_definition().map(|t| t.revision()), Some(1));
    let d = ecs
        .describe_task_definition()
        .task_definition("sdk-sleep:1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.task_definition().and_then(|t| t.family()),
        Some("sdk-sleep")
    );

    let run = ecs
        .run_task()
        .task_definition("sdk-sleep")
        .count(2)
        .send()
        .await
        .unwrap();
    assert_eq!(run.tasks().len(), 2, "{:?}", run.failures());
    let arns: Vec<String> = run
        .tasks()
        .iter()
        .filter_map(|t| t.task_arn().map(String::from))
        .collect();
    gantry_tests::wait_for("tasks RUNNING via the SDK", Duration::from_secs(60), || {
        let ecs = ecs.clone();
        let arns = arns.clone();
        async move {
            let d = ecs
                .describe_tasks()
                .set_tasks(Some(arns))
                .send()
                .await
                .ok()?;
            d.tasks()
                .iter()
                .all(|t| t.last_status() == Some("RUNNING"))
                .then_some(())
        }
    })
    .await;

    let ci = ecs.list_container_instances().send().await.unwrap();
    let ci_arn = ci.container_instance_arns()[0].clone();
    let dci = ecs
        .describe_container_instances()
        .container_instances(&ci_arn)
        .send()
        .await
        .unwrap();
    let inst = &dci.container_instances()[0];
    assert!(inst.agent_connected());
    assert_eq!(inst.running_tasks_count(), 2);
    let rem_mem = inst
        .remaining_resources()
        .iter()
        .find(|r| r.name() == Some("MEMORY"))
        .map(|r| r.integer_value());
    let reg_mem = inst
        .registered_resources()
        .iter()
        .find(|r| r.name() == Some("MEMORY"))
        .map(|r| r.integer_value());
    assert_eq!(
        reg_mem.unwrap() - rem_mem.unwrap(),
        64,
        "two tasks of 32 MiB are accounted"
    );

    ecs.stop_task()
        .task(&arns[0])
        .reason("sdk test")
        .send()
        .await
        .unwrap();
    let stopped = ecs
        .list_tasks()
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.task_arns(), &arns[..1]);

    let err = ecs
        .describe_clusters()
        .clusters("sdk")
        .send()
        .await
        .map(|_| ())
        .err();
    assert!(err.is_none());
    let err = ecs
        .run_task()
        .cluster("no-such-cluster")
        .task_definition("sdk-sleep")
        .send()
        .await
        .unwrap_err();
    let svc = err.into_service_error();
    assert!(svc.is_cluster_not_found_exception(), "{svc:?}");
    assert!(dev.shutdown().await.is_empty());
}
