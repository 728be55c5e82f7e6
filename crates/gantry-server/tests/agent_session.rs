//! RunTask -> DesiredState push -> agent reports -> DescribeTasks, end to end over the real
//! router and a fake agent.

mod common;

use common::{eventually, Server};
use gantry_api::protocol::{AgentFrame, ContainerReport, ServerFrame, TaskReport};
use gantry_api::TaskStatus;
use serde_json::{json, Value};

fn report(id: u64, arn: &str, s: TaskStatus, exit: Option<i32>) -> TaskReport {
    TaskReport {
        report_id: id,
        task_arn: arn.into(),
        last_status: Some(s),
        containers: vec![ContainerReport {
            name: "app".into(),
            last_status: Some(s),
            exit_code: exit,
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn describe(s: &Server, arn: &str) -> Value {
    let r = s
        .ok(
            "DescribeTasks",
            json!({"cluster": "default", "tasks": [arn]}),
        )
        .await;
    r["tasks"][0].clone()
}

async fn remaining(s: &Server, instance_arn: &str, name: &str) -> Value {
    let r = s
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [instance_arn]}),
        )
        .await;
    let ci = &r["containerInstances"][0];
    ci["remainingResources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|res| res["name"] == name)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn run_push_report_describe_stop() {
    let s = Server::start().await;
    let reg = s.register_agent("default", 2048, 4096).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    let (seq0, tasks) = agent.desired().await;
    assert!(tasks.is_empty());

    let ci = s
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [reg.container_instance_arn]}),
        )
        .await;
    assert_eq!(ci["containerInstances"][0]["agentConnected"], true);
    assert_eq!(ci["containerInstances"][0]["status"], "ACTIVE");

    let td = s.register_taskdef("web", 256, 512).await;
    assert_eq!(td["taskDefinition"]["revision"], 1);
    let run = s
        .ok(
            "RunTask",
            json!({"taskDefinition": "web", "startedBy": "me"}),
        )
        .await;
    assert_eq!(run["failures"], json!([]));
    let task = &run["tasks"][0];
    let arn = task["taskArn"].as_str().unwrap().to_string();
    assert_eq!(task["desiredStatus"], "RUNNING");
    assert_eq!(task["group"], "family:web");
    assert_eq!(task["containers"][0]["lastStatus"], "PENDING");
    assert_eq!(
        task["containerInstanceArn"],
        reg.container_instance_arn.as_str()
    );
    assert_eq!(
        remaining(&s, &reg.container_instance_arn, "CPU").await["integerValue"],
        2048 - 256
    );

    let (seq1, tasks) = agent.desired_until(|t| !t.is_empty()).await;
    assert!(seq1 > seq0, "seq must grow");
    assert_eq!(tasks[0].task_arn, arn);
    assert_eq!(tasks[0].desired_status, TaskStatus::Running);

    agent
        .report(report(1, &arn, TaskStatus::Running, None))
        .await;
    let t = describe(&s, &arn).await;
    assert_eq!(t["lastStatus"], "RUNNING");
    assert_eq!(t["containers"][0]["lastStatus"], "RUNNING");
    assert!(t["startedAt"].is_f64());

    let list = s.ok("ListTasks", json!({"family": "web"})).await;
    assert_eq!(list["taskArns"], json!([arn]));

    // Heartbeats are answered.
    agent.send(&AgentFrame::Heartbeat { at: 1.0 }).await;

    let stop = s
        .ok("StopTask", json!({"task": arn, "reason": "done"}))
        .await;
    assert_eq!(stop["task"]["desiredStatus"], "STOPPED");
    assert_eq!(stop["task"]["lastStatus"], "RUNNING");
    let (_, tasks) = agent
        .desired_until(|t| {
            t.first()
                .is_some_and(|t| t.desired_status == TaskStatus::Stopped)
        })
        .await;
    assert_eq!(tasks[0].stop_code.as_deref(), Some("UserInitiated"));

    agent
        .report(report(2, &arn, TaskStatus::Stopped, Some(0)))
        .await;
    let t = describe(&s, &arn).await;
    assert_eq!(t["lastStatus"], "STOPPED");
    assert_eq!(t["stoppedReason"], "done");
    assert_eq!(t["stopCode"], "UserInitiated");
    assert_eq!(t["containers"][0]["exitCode"], 0);
    assert!(t["stoppedAt"].is_f64());
    assert_eq!(
        remaining(&s, &reg.container_instance_arn, "CPU").await["integerValue"],
        2048
    );
    assert_eq!(
        remaining(&s, &reg.container_instance_arn, "MEMORY").await["integerValue"],
        4096
    );

    // A stale report (RUNNING after STOPPED) is acknowledged and ignored.
    let before = s.revision().await;
    agent
        .report(report(3, &arn, TaskStatus::Running, None))
        .await;
    assert_eq!(describe(&s, &arn).await["lastStatus"], "STOPPED");
    assert_eq!(s.revision().await, before);

    let stopped = s.ok("ListTasks", json!({"desiredStatus": "STOPPED"})).await;
    assert_eq!(stopped["taskArns"], json!([arn]));
    drop(agent);
    eventually("agentConnected=false after the agent leaves", || async {
        let ci = s
            .ok(
                "DescribeContainerInstances",
                json!({"containerInstances": [reg.container_instance_arn]}),
            )
            .await;
        ci["containerInstances"][0]["agentConnected"] == false
    })
    .await;
}

#[tokio::test]
async fn a_report_for_another_instances_task_is_ignored() {
    let s = Server::start().await;
    let a = s.register_agent("default", 1024, 1024).await;
    let b = s.register_agent("default", 1024, 1024).await;
    let mut agent_a = s.connect_agent(&a.instance_id).await;
    let mut agent_b = s.connect_agent(&b.instance_id).await;
    agent_a.desired().await;
    agent_b.desired().await;
    s.register_taskdef("web", 128, 128).await;
    let run = s
        .ok(
            "StartTask",
            json!({"taskDefinition": "web", "containerInstances": [a.container_instance_arn]}),
        )
        .await;
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    agent_b
        .report(report(1, &arn, TaskStatus::Running, None))
        .await;
    assert_eq!(describe(&s, &arn).await["lastStatus"], "PROVISIONING");
}

#[tokio::test]
async fn reregistration_keeps_the_instance_and_its_tasks() {
    let s = Server::start().await;
    let reg = s.register_agent("default", 1024, 1024).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 128, 128).await;
    let run = s.ok("RunTask", json!({"taskDefinition": "web"})).await;
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    drop(agent);

    let again = s
        .register_agent_with(&gantry_api::protocol::RegisterRequest {
            cluster: "default".into(),
            instance_id: Some(reg.instance_id.clone()),
            hostname: "node-1".into(),
            cpu: 1024,
            memory: 1024,
            reserved_ports: vec![],
            attributes: vec![],
            agent_version: "0.1.1".into(),
            node_address: None,
        })
        .await;
    assert_eq!(again.instance_id, reg.instance_id);
    let mut agent = s.connect_agent(&reg.instance_id).await;
    let (_, tasks) = agent.desired_until(|t| !t.is_empty()).await;
    assert_eq!(tasks[0].task_arn, arn);
    agent.send(&AgentFrame::Heartbeat { at: 2.0 }).await;
    assert!(matches!(
        agent.next().await,
        ServerFrame::HeartbeatAck { .. }
    ));
}

#[tokio::test]
async fn awsvpc_tasks_render_their_eni_from_the_agents_report() {
    let s = Server::start().await;
    // A node that runs awsvpc says so (see tests/network_modes.rs for one that does not).
    let reg = s
        .register_agent_with(&gantry_api::protocol::RegisterRequest {
            cluster: "default".into(),
            instance_id: None,
            hostname: "node-1".into(),
            cpu: 2048,
            memory: 4096,
            reserved_ports: vec![22],
            attributes: vec![(
                gantry_api::protocol::TASK_ENI_ATTRIBUTE.into(),
                String::new(),
            )],
            agent_version: "0.1.0".into(),
            node_address: None,
        })
        .await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "vpc",
            "networkMode": "awsvpc",
            "containerDefinitions": [{"name": "app", "image": "busybox:1.36", "cpu": 128, "memory": 128,
                "portMappings": [{"containerPort": 80}]}]
        }),
    )
    .await;
    let run = s
        .ok(
            "RunTask",
            json!({"taskDefinition": "vpc", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s-1"]}}}),
        )
        .await;
    assert_eq!(run["failures"], json!([]));
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    assert_eq!(run["tasks"][0]["attachments"], json!([]));
    agent.desired_until(|t| !t.is_empty()).await;

    let mut r = report(1, &arn, TaskStatus::Running, None);
    r.network = Some(gantry_api::protocol::NetworkReport {
        private_ipv4_address: "10.88.0.7".into(),
        mac_address: "02:42:0a:58:00:07".into(),
        subnet: "10.88.0.0/16".into(),
    });
    agent.report(r.clone()).await;
    let t = describe(&s, &arn).await;
    let att = &t["attachments"][0];
    assert_eq!(att["type"], "ElasticNetworkInterface");
    assert_eq!(att["status"], "ATTACHED");
    let id = arn.rsplit('/').next().unwrap();
    assert_eq!(
        att["details"],
        json!([
            {"name": "subnetId", "value": "10.88.0.0/16"},
            {"name": "networkInterfaceId", "value": format!("eni-{}", &id[..17])},
            {"name": "macAddress", "value": "02:42:0a:58:00:07"},
            {"name": "privateIPv4Address", "value": "10.88.0.7"},
        ])
    );
    let att_id = att["id"].as_str().unwrap().to_string();
    assert_eq!(att_id.len(), 36);
    assert_eq!(
        t["containers"][0]["networkInterfaces"],
        json!([{"attachmentId": att_id, "privateIpv4Address": "10.88.0.7"}])
    );
    // The same id on every read.
    assert_eq!(describe(&s, &arn).await["attachments"][0]["id"], att_id);

    let mut stopped = report(2, &arn, TaskStatus::Stopped, Some(0));
    stopped.network = r.network.clone();
    agent.report(stopped).await;
    let t = describe(&s, &arn).await;
    assert_eq!(t["attachments"][0]["status"], "DELETED");
    assert_eq!(t["attachments"][0]["id"], att_id);
}

#[tokio::test]
async fn bridge_tasks_keep_the_network_report_but_show_no_attachment() {
    let s = Server::start().await;
    let reg = s.register_agent("default", 2048, 4096).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 128, 128).await;
    let run = s.ok("RunTask", json!({"taskDefinition": "web"})).await;
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let mut r = report(1, &arn, TaskStatus::Running, None);
    r.network = Some(gantry_api::protocol::NetworkReport {
        private_ipv4_address: "10.88.0.8".into(),
        mac_address: "02:42:0a:58:00:08".into(),
        subnet: "10.88.0.0/16".into(),
    });
    agent.report(r).await;
    let t = describe(&s, &arn).await;
    assert_eq!(t["attachments"], json!([]));
    assert_eq!(t["containers"][0]["networkInterfaces"], json!([]));
}

/// A session names only its instance: one in a second cluster is found (and gets that
/// cluster's tasks), one in no cluster is refused with what to do.
#[tokio::test]
async fn sessions_find_their_instance_in_any_cluster() {
    let s = Server::start().await;
    s.ok("CreateCluster", json!({"clusterName": "second"}))
        .await;
    let first = s.register_agent("default", 1024, 1024).await;
    let second = s.register_agent("second", 1024, 1024).await;
    let mut a = s.connect_agent(&first.instance_id).await;
    let (_, tasks) = a.desired().await;
    assert!(tasks.is_empty(), "{tasks:?}");
    let mut b = s.connect_agent(&second.instance_id).await;
    b.desired().await;
    s.register_taskdef("web", 128, 128).await;
    let run = s
        .ok(
            "RunTask",
            json!({"cluster": "second", "taskDefinition": "web"}),
        )
        .await;
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();

    let (_, tasks) = b.desired_until(|t| !t.is_empty()).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].task_arn, arn);

    let node = s.node_of(&first.instance_id);
    let refused = s
        .connect_as(node.as_deref(), "0a1b2c3d4e5f60718293a4b5c6d7e8f9")
        .await
        .err()
        .expect("a session for an instance registered nowhere was opened");
    assert!(
        refused.contains("Container instance 0a1b2c3d4e5f60718293a4b5c6d7e8f9 is not registered"),
        "{refused}"
    );
}

/// DescribeContainerInstances counts each instance's own tasks (from the task index and
/// the records, not a scan of the cluster): PENDING until the agent reports RUNNING, none
/// once STOPPED, and another instance's tasks never.
#[tokio::test]
async fn container_instances_count_their_own_running_and_pending_tasks() {
    let s = Server::start().await;
    let a = s.register_agent("default", 2048, 4096).await;
    let b = s.register_agent("default", 2048, 4096).await;
    let mut agent = s.connect_agent(&a.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 128, 128).await;
    let mut arns = Vec::new();
    for _ in 0..3 {
        let run = s
            .ok(
                "StartTask",
                json!({"taskDefinition": "web", "containerInstances": [a.container_instance_arn]}),
            )
            .await;
        arns.push(run["tasks"][0]["taskArn"].as_str().unwrap().to_string());
    }
    let describe_counts = || async {
        let d = s
            .ok(
                "DescribeContainerInstances",
                json!({"containerInstances": [a.container_instance_arn, b.container_instance_arn]}),
            )
            .await;
        let c = &d["containerInstances"];
        (
            (
                c[0]["runningTasksCount"].as_i64(),
                c[0]["pendingTasksCount"].as_i64(),
            ),
            (
                c[1]["runningTasksCount"].as_i64(),
                c[1]["pendingTasksCount"].as_i64(),
            ),
        )
    };
    let want = |a: (i64, i64)| (Some(a.0), Some(a.1));
    eventually(
        "3 pending tasks on the first instance, none on the second",
        || async { describe_counts().await == (want((0, 3)), want((0, 0))) },
    )
    .await;
    agent
        .report(report(1, &arns[0], TaskStatus::Running, None))
        .await;
    eventually("1 running, 2 pending", || async {
        describe_counts().await == (want((1, 2)), want((0, 0)))
    })
    .await;
    agent
        .report(report(2, &arns[0], TaskStatus::Stopped, Some(0)))
        .await;
    agent
        .report(report(3, &arns[1], TaskStatus::Running, None))
        .await;
    eventually("the stopped one gone, 1 running, 1 pending", || async {
        describe_counts().await == (want((1, 1)), want((0, 0)))
    })
    .await;
}
