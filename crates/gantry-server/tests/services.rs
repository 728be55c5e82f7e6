//! Services end to end: the real server and store, its service controller, and agents that
//! speak the real protocol (the simulated agents of gantry-link, which links no container
//! runtime, and the hand-driven fake agent).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually_within, Server};
use gantry_api::protocol::{ContainerReport, TaskReport};
use gantry_api::TaskStatus;
use gantry_link::sim::{Behaviour, Fleet};
use gantry_store::Store;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

async fn fleet(s: &Server, n: usize, cpu: i64, memory: i64, b: Behaviour) -> Fleet {
    Fleet::start_on(&s.link(), "default", n, cpu, memory, b)
        .await
        .unwrap()
}

async fn describe(s: &Server, name: &str) -> Value {
    s.ok("DescribeServices", json!({"services": [name]})).await["services"][0].clone()
}

fn messages(svc: &Value) -> Vec<String> {
    svc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

/// One deployment, all of it running: what `aws ecs wait services-stable` waits for.
fn stable(svc: &Value) -> bool {
    svc["deployments"].as_array().is_some_and(|d| d.len() == 1)
        && svc["runningCount"] == svc["desiredCount"]
        && svc["pendingCount"] == 0
}

async fn wait_stable(s: &Server, name: &str) -> Value {
    eventually_within("the service to be stable", WAIT, || async {
        stable(&describe(s, name).await)
    })
    .await;
    describe(s, name).await
}

async fn tasks(s: &Server, service: &str, desired: &str) -> Vec<Value> {
    let mut arns: Vec<Value> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({"serviceName": service, "desiredStatus": desired});
        if let Some(t) = &token {
            req["nextToken"] = json!(t);
        }
        let page = s.ok("ListTasks", req).await;
        arns.extend(page["taskArns"].as_array().unwrap().iter().cloned());
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let d = s.ok("DescribeTasks", json!({"tasks": chunk})).await;
        out.extend(d["tasks"].as_array().unwrap().iter().cloned());
    }
    out
}

#[tokio::test]
async fn create_service_runs_tasks_and_reaches_steady_state() {
    let s = Server::start_open().await;
    let f = fleet(&s, 2, 1024, 1024, Behaviour::Healthy).await;
    s.register_taskdef("web", 128, 128).await;
    let created = s
        .ok(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 3,
                   "tags": [{"key": "team", "value": "a"}]}),
        )
        .await["service"]
        .clone();
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(
        created["deploymentConfiguration"]["minimumHealthyPercent"],
        100
    );
    assert_eq!(created["deploymentConfiguration"]["maximumPercent"], 200);
    assert_eq!(created["deployments"][0]["status"], "PRIMARY");
    assert_eq!(created["deployments"][0]["rolloutState"], "IN_PROGRESS");
    let deployment = created["deployments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(deployment.starts_with("ecs-svc/"));

    let svc = wait_stable(&s, "web").await;
    assert_eq!(svc["runningCount"], 3);
    assert_eq!(svc["deployments"][0]["rolloutState"], "COMPLETED");
    assert_eq!(svc["deployments"][0]["runningCount"], 3);
    eventually_within("the steady-state event", WAIT, || async {
        messages(&describe(&s, "web").await)
            .first()
            .is_some_and(|m| m == "(service web) has reached a steady state.")
    })
    .await;
    let events = messages(&describe(&s, "web").await);
    assert!(
        events
            .iter()
            .any(|m| m.starts_with("(service web) has started 3 tasks: (task ")),
        "{events:?}"
    );
    let running = tasks(&s, "web", "RUNNING").await;
    assert_eq!(running.len(), 3);
    for t in &running {
        assert_eq!(t["startedBy"], deployment.as_str());
        assert_eq!(t["group"], "service:web");
        assert_eq!(t["lastStatus"], "RUNNING");
    }
    let list = s.ok("ListServices", json!({})).await;
    assert_eq!(
        list["serviceArns"],
        json!(["arn:aws:ecs:us-east-1:123456789012:service/default/web"])
    );
    let tagged = s
        .ok(
            "DescribeServices",
            json!({"services": ["web", "ghost"], "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(
        tagged["services"][0]["tags"],
        json!([{"key": "team", "value": "a"}])
    );
    assert_eq!(tagged["failures"][0]["reason"], "MISSING");

    // Scale down, then delete: DRAINING until its tasks stop, then INACTIVE.
    s.ok(
        "UpdateService",
        json!({"service": "web", "desiredCount": 1}),
    )
    .await;
    let svc = wait_stable(&s, "web").await;
    assert_eq!(svc["runningCount"], 1);
    let deleted = s
        .ok("DeleteService", json!({"service": "web", "force": true}))
        .await;
    assert_eq!(deleted["service"]["status"], "DRAINING");
    eventually_within("the service to be INACTIVE", WAIT, || async {
        describe(&s, "web").await["status"] == "INACTIVE"
    })
    .await;
    assert!(tasks(&s, "web", "RUNNING").await.is_empty());
    assert_eq!(
        s.ok("ListServices", json!({})).await["serviceArns"],
        json!([])
    );
    assert_eq!(
        s.call(
            "UpdateService",
            json!({"service": "web", "desiredCount": 1})
        )
        .await
        .kind(),
        "ServiceNotActiveException"
    );
    f.stop().await;
}

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
        stop_code: (s == TaskStatus::Stopped).then(|| "EssentialContainerExited".to_string()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_task_that_dies_is_replaced() {
    let s = Server::start_open().await;
    let reg = s.register_agent("default", 1024, 1024).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 128, 128).await;
    s.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}),
    )
    .await;
    let (_, first) = agent.desired_until(|t| t.len() == 1).await;
    let first = first[0].task_arn.clone();
    agent
        .report(report(1, &first, TaskStatus::Running, None))
        .await;
    // The essential container exits: the agent reports the task STOPPED.
    agent
        .report(report(2, &first, TaskStatus::Stopped, Some(1)))
        .await;
    let (_, now) = agent
        .desired_until(|t| t.iter().any(|t| t.task_arn != first))
        .await;
    let second = now
        .iter()
        .find(|t| t.task_arn != first)
        .unwrap()
        .task_arn
        .clone();
    assert_eq!(now[0].desired_status, TaskStatus::Running);
    agent
        .report(report(3, &second, TaskStatus::Running, None))
        .await;
    let svc = wait_stable(&s, "web").await;
    assert_eq!(svc["runningCount"], 1);
    let events = messages(&svc);
    let started = events
        .iter()
        .filter(|m| m.starts_with("(service web) has started 1 tasks"))
        .count();
    assert_eq!(started, 2, "{events:?}");
}

/// Watches the service's tasks in the store and records the most live and the fewest
/// healthy tasks seen after `armed` is set.
fn observe(s: &Server, armed: Arc<AtomicUsize>) -> Arc<std::sync::Mutex<(usize, usize)>> {
    let seen = Arc::new(std::sync::Mutex::new((0usize, usize::MAX)));
    let out = seen.clone();
    let store = s.state.clone();
    let mut watch = store.store.watch("tasks/");
    tokio::spawn(async move {
        while watch.recv().await.is_ok() {
            if armed.load(Ordering::SeqCst) == 0 {
                continue;
            }
            let all = store.store.list("tasks/default/").await.unwrap();
            let (mut live, mut healthy) = (0, 0);
            for r in all {
                let t: Value = serde_json::from_slice(&r.value).unwrap();
                if t["group"] != "service:web" || t["last_status"] == "STOPPED" {
                    continue;
                }
                live += 1;
                if t["last_status"] == "RUNNING" && t["desired_status"] == "RUNNING" {
                    healthy += 1;
                }
            }
            let mut g = seen.lock().unwrap();
            g.0 = g.0.max(live);
            g.1 = g.1.min(healthy);
        }
    });
    out
}

#[tokio::test]
async fn a_new_revision_rolls_out_within_min_and_max() {
    let s = Server::start_open().await;
    let f = fleet(&s, 3, 4096, 4096, Behaviour::Healthy).await;
    s.register_taskdef("web", 128, 128).await;
    s.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 4,
               "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 150}}),
    )
    .await;
    wait_stable(&s, "web").await;
    let armed = Arc::new(AtomicUsize::new(1));
    let seen = observe(&s, armed.clone());
    s.register_taskdef("web", 256, 128).await;
    let up = s
        .ok(
            "UpdateService",
            json!({"service": "web", "taskDefinition": "web:2"}),
        )
        .await["service"]
        .clone();
    assert_eq!(up["deployments"].as_array().unwrap().len(), 2);
    assert_eq!(up["deployments"][0]["status"], "PRIMARY");
    assert_eq!(up["deployments"][1]["status"], "ACTIVE");
    let new_id = up["deployments"][0]["id"].as_str().unwrap().to_string();
    eventually_within("the rollout to complete", WAIT, || async {
        let svc = describe(&s, "web").await;
        stable(&svc) && svc["deployments"][0]["rolloutState"] == "COMPLETED"
    })
    .await;
    armed.store(0, Ordering::SeqCst);
    let svc = describe(&s, "web").await;
    assert!(svc["taskDefinition"].as_str().unwrap().ends_with("web:2"));
    let running = tasks(&s, "web", "RUNNING").await;
    assert_eq!(running.len(), 4);
    assert!(running.iter().all(|t| t["startedBy"] == new_id.as_str()));
    let (max_live, min_healthy) = *seen.lock().unwrap();
    // ceil(4 × 50%) = 2 and floor(4 × 150%) = 6.
    assert!(max_live <= 6, "{max_live} live tasks, above maximumPercent");
    assert!(
        min_healthy >= 2,
        "{min_healthy} healthy tasks, below minimumHealthyPercent"
    );
    assert!(messages(&svc)
        .iter()
        .any(|m| *m == format!("(service web) (deployment {new_id}) deployment completed.")));

    // forceNewDeployment rolls the same revision again.
    s.ok(
        "UpdateService",
        json!({"service": "web", "forceNewDeployment": true}),
    )
    .await;
    eventually_within("the forced rollout to complete", WAIT, || async {
        let svc = describe(&s, "web").await;
        stable(&svc)
            && svc["deployments"][0]["rolloutState"] == "COMPLETED"
            && svc["deployments"][0]["id"] != new_id.as_str()
    })
    .await;
    f.stop().await;
}

#[tokio::test]
async fn the_circuit_breaker_trips_and_rolls_back() {
    let s = Server::start_open().await;
    let f = fleet(
        &s,
        2,
        4096,
        4096,
        Behaviour::FailImage("broken:1".to_string()),
    )
    .await;
    s.register_taskdef("web", 128, 128).await;
    s.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2,
               "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}}}),
    )
    .await;
    wait_stable(&s, "web").await;
    s.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "networkMode": "host",
               "containerDefinitions": [{"name": "app", "image": "broken:1", "memory": 128}]}),
    )
    .await;
    let up = s
        .ok(
            "UpdateService",
            json!({"service": "web", "taskDefinition": "web:2"}),
        )
        .await;
    let failed_id = up["service"]["deployments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually_within("the deployment to fail", WAIT, || async {
        messages(&describe(&s, "web").await).contains(&format!(
            "(service web) (deployment {failed_id}) deployment failed: tasks failed to start."
        ))
    })
    .await;
    let svc = wait_stable(&s, "web").await;
    assert!(svc["taskDefinition"].as_str().unwrap().ends_with("web:1"));
    assert_ne!(svc["deployments"][0]["id"], failed_id.as_str());
    let running = tasks(&s, "web", "RUNNING").await;
    assert_eq!(running.len(), 2);
    assert!(running
        .iter()
        .all(|t| t["taskDefinitionArn"].as_str().unwrap().ends_with("web:1")));
    let stopped = tasks(&s, "web", "STOPPED").await;
    let failed = stopped
        .iter()
        .filter(|t| t["stopCode"] == "TaskFailedToStart")
        .count();
    assert!(failed >= 3, "{failed} failed launches");
    f.stop().await;
}

#[tokio::test]
async fn a_daemon_runs_on_every_instance_including_new_ones() {
    let s = Server::start_open().await;
    let f = fleet(&s, 3, 1024, 1024, Behaviour::Healthy).await;
    s.register_taskdef("agent", 64, 64).await;
    s.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "agent", "schedulingStrategy": "DAEMON"}),
    )
    .await;
    let per_instance = || async {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for t in tasks(&s, "web", "RUNNING").await {
            *m.entry(t["containerInstanceArn"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        m
    };
    eventually_within("one task on each of 3 instances", WAIT, || async {
        let svc = describe(&s, "web").await;
        svc["desiredCount"] == 3 && stable(&svc) && per_instance().await.len() == 3
    })
    .await;
    let g = fleet(&s, 1, 1024, 1024, Behaviour::Healthy).await;
    eventually_within("a task on the instance that joined", WAIT, || async {
        let svc = describe(&s, "web").await;
        svc["desiredCount"] == 4 && stable(&svc) && per_instance().await.len() == 4
    })
    .await;
    assert!(per_instance().await.values().all(|n| *n == 1));
    let drained = f.instances[0].container_instance_arn.clone();
    s.ok(
        "UpdateContainerInstancesState",
        json!({"containerInstances": [drained], "status": "DRAINING"}),
    )
    .await;
    eventually_within("the drained instance to lose its task", WAIT, || async {
        let m = per_instance().await;
        let svc = describe(&s, "web").await;
        svc["desiredCount"] == 3 && stable(&svc) && m.len() == 3 && !m.contains_key(&drained)
    })
    .await;
    f.stop().await;
    g.stop().await;
}

#[tokio::test]
async fn tasks_of_a_lost_instance_are_replaced_elsewhere() {
    let lost_after = Duration::from_millis(800);
    let s = Server::start_with(|c| {
        c.agent_lost_after = lost_after;
        c.authenticate = false;
    })
    .await;
    let mut doomed = fleet(&s, 1, 1024, 1024, Behaviour::Healthy).await;
    s.register_taskdef("web", 256, 256).await;
    s.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2}),
    )
    .await;
    wait_stable(&s, "web").await;
    let before: BTreeSet<String> = tasks(&s, "web", "RUNNING")
        .await
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect();
    let survivor = fleet(&s, 1, 1024, 1024, Behaviour::Healthy).await;
    let started = Instant::now();
    doomed.kill(0);
    let lost_id = doomed.instances[0].instance_id.clone();
    eventually_within(
        "the service back at 2 on the other instance",
        WAIT,
        || async {
            let svc = describe(&s, "web").await;
            let running = tasks(&s, "web", "RUNNING").await;
            stable(&svc)
                && running.len() == 2
                && running.iter().all(|t| {
                    t["containerInstanceArn"]
                        == survivor.instances[0].container_instance_arn.as_str()
                })
        },
    )
    .await;
    let recovery = started.elapsed();
    eprintln!("lost instance: service back at desiredCount after {recovery:?} (lost_after {lost_after:?})");
    let d = s
        .ok(
            "DescribeTasks",
            json!({"tasks": before.iter().collect::<Vec<_>>()}),
        )
        .await;
    for t in d["tasks"].as_array().unwrap() {
        assert_eq!(t["lastStatus"], "STOPPED");
        assert_eq!(t["stopCode"], "InfrastructureHealth");
        assert_eq!(
            t["stoppedReason"],
            format!("Task stopped because the container instance {lost_id} was lost (no heartbeat for 0.8 s).")
        );
    }
    let ci = s
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [lost_id]}),
        )
        .await;
    assert_eq!(ci["containerInstances"][0]["agentConnected"], false);
    let cpu = ci["containerInstances"][0]["remainingResources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "CPU")
        .unwrap()["integerValue"]
        .clone();
    assert_eq!(cpu, 1024, "the lost tasks' resources are released");
    doomed.stop().await;
    survivor.stop().await;
}

#[tokio::test]
async fn five_hundred_tasks_on_fifty_simulated_instances() {
    let s = Server::start_open().await;
    let n_instances = 50;
    let n_tasks = 500;
    let f = fleet(&s, n_instances, 4096, 8192, Behaviour::Healthy).await;
    s.register_taskdef("web", 64, 64).await;
    eventually_within("every simulated agent connected", WAIT, || async {
        let all = s.state.store.list("instances/default/").await.unwrap();
        all.len() == n_instances
            && all.iter().all(|r| {
                serde_json::from_slice::<Value>(&r.value).unwrap()["agent_connected"] == true
            })
    })
    .await;
    let t0 = Instant::now();
    s.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": n_tasks,
               "placementStrategy": [{"type": "spread", "field": "instanceId"}]}),
    )
    .await;
    eventually_within("500 tasks RUNNING", Duration::from_secs(120), || async {
        let svc = describe(&s, "web").await;
        stable(&svc) && svc["runningCount"] == n_tasks
    })
    .await;
    let took = t0.elapsed();
    eprintln!(
        "sim: {n_tasks} tasks RUNNING on {n_instances} simulated instances in {took:?} ({:.0} tasks/s)",
        f64::from(n_tasks) / took.as_secs_f64()
    );
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks(&s, "web", "RUNNING").await {
        *per.entry(t["containerInstanceArn"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per.len(), n_instances, "{per:?}");
    assert!(per.values().all(|c| *c == 10), "spread evenly: {per:?}");
    f.stop().await;
}
