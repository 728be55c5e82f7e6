//! The ECS flows of issue 2 through the real AWS CLI, against `gantry dev`.

use std::time::Duration;

use gantry_tests::aws::ecs;
use gantry_tests::dev::Dev;
use serde_json::Value;

fn td_file(dir: &std::path::Path, family: &str, cmd: &[&str]) -> String {
    let td = serde_json::json!({
        "family": family,
        "networkMode": "none",
        "containerDefinitions": [{
            "name": "main", "image": "busybox:latest", "essential": true, "memory": 32,
            "command": cmd
        }]
    });
    let p = dir.join(format!("{family}.json"));
    std::fs::write(&p, td.to_string()).unwrap();
    format!("file://{}", p.display())
}

fn arns(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_through_the_aws_cli() {
    let dev = Dev::start().await;
    let ep = dev.endpoint.clone();
    let created = ecs(&ep, &["create-cluster", "--cluster-name", "blue"]).unwrap();
    assert_eq!(created["cluster"]["clusterName"], "blue");
    assert_eq!(created["cluster"]["status"], "ACTIVE");
    let arn = created["cluster"]["clusterArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        arn.starts_with("arn:aws:ecs:us-east-1:000000000000:cluster/blue"),
        "{arn}"
    );

    let list = ecs(&ep, &["list-clusters"]).unwrap();
    assert!(arns(&list, "clusterArns").contains(&arn));
    let d = ecs(&ep, &["describe-clusters", "--clusters", "blue", "nope"]).unwrap();
    assert_eq!(d["clusters"][0]["clusterName"], "blue");
    assert_eq!(d["failures"][0]["reason"], "MISSING");

    // The default cluster holds the dev agent: deleting it is refused.
    let err = ecs(&ep, &["delete-cluster", "--cluster", "default"]).unwrap_err();
    assert!(
        err.contains("ClusterContainsContainerInstancesException"),
        "{err}"
    );

    let del = ecs(&ep, &["delete-cluster", "--cluster", "blue"]).unwrap();
    assert_eq!(del["cluster"]["status"], "INACTIVE");
    let err = ecs(&ep, &["describe-clusters", "--clusters", "blue"]).unwrap();
    assert_eq!(err["clusters"][0]["status"], "INACTIVE");
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_definitions_through_the_aws_cli() {
    let dev = Dev::start().await;
    let ep = dev.endpoint.clone();
    let f = td_file(dev.state.path(), "web", &["sleep", "1"]);
    let r1 = ecs(&ep, &["register-task-definition", "--cli-input-json", &f]).unwrap();
    assert_eq!(r1["taskDefinition"]["revision"], 1);
    let r2 = ecs(&ep, &["register-task-definition", "--cli-input-json", &f]).unwrap();
    assert_eq!(r2["taskDefinition"]["revision"], 2);
    let arn2 = r2["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();

    for key in ["web", "web:2", arn2.as_str()] {
        let d = ecs(&ep, &["describe-task-definition", "--task-definition", key]).unwrap();
        assert_eq!(d["taskDefinition"]["revision"], 2, "{key}");
    }
    let d = ecs(
        &ep,
        &["describe-task-definition", "--task-definition", "web:1"],
    )
    .unwrap();
    assert_eq!(d["taskDefinition"]["revision"], 1);

    let l = ecs(&ep, &["list-task-definitions", "--family-prefix", "web"]).unwrap();
    assert_eq!(arns(&l, "taskDefinitionArns").len(), 2);
    let fams = ecs(&ep, &["list-task-definition-families"]).unwrap();
    assert!(arns(&fams, "families").contains(&"web".to_string()));

    let dr = ecs(
        &ep,
        &["deregister-task-definition", "--task-definition", "web:1"],
    )
    .unwrap();
    assert_eq!(dr["taskDefinition"]["status"], "INACTIVE");
    let active = ecs(
        &ep,
        &[
            "list-task-definitions",
            "--status",
            "ACTIVE",
            "--family-prefix",
            "web",
        ],
    )
    .unwrap();
    assert_eq!(arns(&active, "taskDefinitionArns"), vec![arn2.clone()]);
    let inactive = ecs(&ep, &["list-task-definitions", "--status", "INACTIVE"]).unwrap();
    assert_eq!(arns(&inactive, "taskDefinitionArns").len(), 1);
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_through_the_aws_cli_with_waiters() {
    let dev = Dev::start().await;
    let ep = dev.endpoint.clone();
    let f = td_file(dev.state.path(), "sleeper", &["sleep", "600"]);
    ecs(&ep, &["register-task-definition", "--cli-input-json", &f]).unwrap();
    let run = ecs(
        &ep,
        &[
            "run-task",
            "--task-definition",
            "sleeper",
            "--count",
            "3",
            "--started-by",
            "ci",
        ],
    )
    .unwrap();
    let tasks = arns(
        &serde_json::json!({"t": run["tasks"].as_array().unwrap().iter().map(|t| t["taskArn"].clone()).collect::<Vec<_>>()}),
        "t",
    );
    assert_eq!(tasks.len(), 3, "{run}");

    let mut wait = vec!["wait", "tasks-running", "--tasks"];
    wait.extend(tasks.iter().map(String::as_str));
    ecs(&ep, &wait).unwrap();
    let d = ecs(
        &ep,
        &[
            &["describe-tasks", "--tasks"][..],
            &tasks.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
    )
    .unwrap();
    for t in d["tasks"].as_array().unwrap() {
        assert_eq!(t["lastStatus"], "RUNNING");
        assert!(
            t["startedAt"].is_number() || t["startedAt"].is_string(),
            "{t}"
        );
        assert!(
            t["pullStartedAt"].is_number() || t["pullStartedAt"].is_string(),
            "{t}"
        );
    }

    let by = ecs(&ep, &["list-tasks", "--started-by", "ci"]).unwrap();
    assert_eq!(arns(&by, "taskArns").len(), 3);
    let fam = ecs(&ep, &["list-tasks", "--family", "sleeper"]).unwrap();
    assert_eq!(arns(&fam, "taskArns").len(), 3);
    let inst = ecs(&ep, &["list-container-instances"]).unwrap();
    let ci = arns(&inst, "containerInstanceArns")[0].clone();
    let on = ecs(&ep, &["list-tasks", "--container-instance", &ci]).unwrap();
    assert_eq!(arns(&on, "taskArns").len(), 3);

    let stopped = ecs(
        &ep,
        &["stop-task", "--task", &tasks[0], "--reason", "done testing"],
    )
    .unwrap();
    assert_eq!(stopped["task"]["desiredStatus"], "STOPPED");
    ecs(&ep, &["wait", "tasks-stopped", "--tasks", &tasks[0]]).unwrap();
    let t = &ecs(&ep, &["describe-tasks", "--tasks", &tasks[0]]).unwrap()["tasks"][0];
    assert_eq!(t["stoppedReason"], "done testing");
    assert_eq!(t["stopCode"], "UserInitiated");
    let sleep_ignores_term = t["containers"][0]["exitCode"].as_i64();
    assert!(matches!(sleep_ignores_term, Some(137) | Some(143)), "{t}");
    let st = ecs(&ep, &["list-tasks", "--desired-status", "STOPPED"]).unwrap();
    assert_eq!(arns(&st, "taskArns"), vec![tasks[0].clone()]);

    // start-task places on the named instance.
    let s = ecs(
        &ep,
        &[
            "start-task",
            "--task-definition",
            "sleeper",
            "--container-instances",
            &ci,
        ],
    )
    .unwrap();
    assert_eq!(s["tasks"][0]["containerInstanceArn"], ci.as_str());
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_instances_attributes_and_tags_through_the_aws_cli() {
    let dev = Dev::start().await;
    let ep = dev.endpoint.clone();
    let inst = ecs(&ep, &["list-container-instances"]).unwrap();
    let ci = arns(&inst, "containerInstanceArns")[0].clone();
    let d = ecs(
        &ep,
        &["describe-container-instances", "--container-instances", &ci],
    )
    .unwrap();
    let c = &d["containerInstances"][0];
    assert_eq!(c["agentConnected"], true);
    assert_eq!(c["status"], "ACTIVE");
    let res = |which: &str, name: &str| -> Value {
        c[which]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let cpu = res("registeredResources", "CPU")["integerValue"]
        .as_i64()
        .unwrap();
    assert_eq!(
        cpu,
        1024 * std::thread::available_parallelism().unwrap().get() as i64
    );
    assert!(
        res("registeredResources", "MEMORY")["integerValue"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert!(!res("registeredResources", "PORTS").is_null());
    let attrs = c["attributes"].to_string();
    assert!(
        attrs.contains("ecs.os-type") && attrs.contains("linux"),
        "{attrs}"
    );

    let dr = ecs(
        &ep,
        &[
            "update-container-instances-state",
            "--container-instances",
            &ci,
            "--status",
            "DRAINING",
        ],
    )
    .unwrap();
    assert_eq!(dr["containerInstances"][0]["status"], "DRAINING");
    ecs(
        &ep,
        &[
            "update-container-instances-state",
            "--container-instances",
            &ci,
            "--status",
            "ACTIVE",
        ],
    )
    .unwrap();

    let id = ci.rsplit('/').next().unwrap().to_string();
    ecs(
        &ep,
        &[
            "put-attributes",
            "--attributes",
            &format!("name=stack,value=prod,targetId={id}"),
        ],
    )
    .unwrap();
    let la = ecs(
        &ep,
        &[
            "list-attributes",
            "--target-type",
            "container-instance",
            "--attribute-name",
            "stack",
        ],
    )
    .unwrap();
    assert_eq!(la["attributes"][0]["value"], "prod", "{la}");
    ecs(
        &ep,
        &[
            "delete-attributes",
            "--attributes",
            &format!("name=stack,targetId={id}"),
        ],
    )
    .unwrap();
    let la = ecs(
        &ep,
        &[
            "list-attributes",
            "--target-type",
            "container-instance",
            "--attribute-name",
            "stack",
        ],
    )
    .unwrap();
    assert!(
        la["attributes"].as_array().is_none_or(|a| a.is_empty()),
        "{la}"
    );

    let cl = ecs(&ep, &["create-cluster", "--cluster-name", "tagged"]).unwrap();
    let carn = cl["cluster"]["clusterArn"].as_str().unwrap().to_string();
    ecs(
        &ep,
        &[
            "tag-resource",
            "--resource-arn",
            &carn,
            "--tags",
            "key=team,value=infra",
            "key=env,value=dev",
        ],
    )
    .unwrap();
    let tags = ecs(&ep, &["list-tags-for-resource", "--resource-arn", &carn]).unwrap();
    assert_eq!(tags["tags"].as_array().unwrap().len(), 2, "{tags}");
    ecs(
        &ep,
        &[
            "untag-resource",
            "--resource-arn",
            &carn,
            "--tag-keys",
            "env",
        ],
    )
    .unwrap();
    let tags = ecs(&ep, &["list-tags-for-resource", "--resource-arn", &carn]).unwrap();
    assert_eq!(tags["tags"][0]["key"], "team");
    assert_eq!(tags["tags"].as_array().unwrap().len(), 1);
    let _ = Duration::from_secs(0);
    assert!(dev.shutdown().await.is_empty());
}
