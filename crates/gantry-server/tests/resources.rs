//! Clusters, task definitions, placement failures and concurrency, tags and attributes.

mod common;

use std::time::Duration;

use common::Server;
use gantry_store::Store;
use serde_json::json;

#[tokio::test]
async fn cluster_lifecycle() {
    let s = Server::start().await;
    let a = s
        .ok(
            "CreateCluster",
            json!({"clusterName": "c1", "tags": [{"key": "team", "value": "web"}]}),
        )
        .await;
    let b = s.ok("CreateCluster", json!({"clusterName": "c1"})).await;
    assert_eq!(a["cluster"]["clusterArn"], b["cluster"]["clusterArn"]);
    assert_eq!(a["cluster"]["status"], "ACTIVE");
    let d = s
        .ok(
            "DescribeClusters",
            json!({"clusters": ["c1", "ghost"], "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(
        d["clusters"][0]["tags"],
        json!([{"key": "team", "value": "web"}])
    );
    assert_eq!(d["failures"][0]["reason"], "MISSING");
    let list = s.ok("ListClusters", json!({})).await;
    assert_eq!(
        list["clusterArns"],
        json!(["arn:aws:ecs:us-east-1:123456789012:cluster/c1"])
    );

    let reg = s.register_agent("c1", 1024, 1024).await;
    let d = s.ok("DescribeClusters", json!({"clusters": ["c1"]})).await;
    assert_eq!(d["clusters"][0]["registeredContainerInstancesCount"], 1);
    let before = s.revision().await;
    let r = s.call("DeleteCluster", json!({"cluster": "c1"})).await;
    assert_eq!(r.kind(), "ClusterContainsContainerInstancesException");
    assert_eq!(s.revision().await, before);

    s.ok(
        "DeregisterContainerInstance",
        json!({"cluster": "c1", "containerInstance": reg.container_instance_arn}),
    )
    .await;
    let del = s.ok("DeleteCluster", json!({"cluster": "c1"})).await;
    assert_eq!(del["cluster"]["status"], "INACTIVE");
    let d = s.ok("DescribeClusters", json!({"clusters": ["c1"]})).await;
    assert_eq!(d["clusters"][0]["status"], "INACTIVE");
    assert_eq!(
        s.call("ListTasks", json!({"cluster": "c1"})).await.kind(),
        "ClusterNotFoundException"
    );
}

#[tokio::test]
async fn delete_cluster_refused_while_tasks_run() {
    let s = Server::start().await;
    let reg = s.register_agent("default", 1024, 1024).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 128, 128).await;
    s.ok("RunTask", json!({"taskDefinition": "web"})).await;
    let before = s.revision().await;
    let r = s
        .call(
            "DeregisterContainerInstance",
            json!({"containerInstance": reg.instance_id}),
        )
        .await;
    assert_eq!(r.kind(), "InvalidParameterException");
    let r = s.call("DeleteCluster", json!({"cluster": "default"})).await;
    assert_eq!(r.kind(), "ClusterContainsContainerInstancesException");
    assert_eq!(s.revision().await, before);
    // Forced deregistration stops the tasks; then only stopped tasks remain.
    s.ok(
        "DeregisterContainerInstance",
        json!({"containerInstance": reg.instance_id, "force": true}),
    )
    .await;
    let stopped = s.ok("ListTasks", json!({"desiredStatus": "STOPPED"})).await;
    assert_eq!(stopped["taskArns"].as_array().unwrap().len(), 1);
    s.ok("DeleteCluster", json!({"cluster": "default"})).await;
}

#[tokio::test]
async fn task_definition_revisions() {
    let s = Server::start().await;
    let one = s.register_taskdef("web", 128, 64).await;
    let two = s.register_taskdef("web", 256, 64).await;
    assert_eq!(one["taskDefinition"]["revision"], 1);
    assert_eq!(two["taskDefinition"]["revision"], 2);
    assert_eq!(two["taskDefinition"]["status"], "ACTIVE");
    assert_eq!(
        two["taskDefinition"]["containerDefinitions"][0]["essential"],
        true
    );
    assert_eq!(
        two["taskDefinition"]["taskDefinitionArn"],
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"
    );
    let d = s
        .ok("DescribeTaskDefinition", json!({"taskDefinition": "web"}))
        .await;
    assert_eq!(d["taskDefinition"]["revision"], 2);
    s.ok(
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "web:2"}),
    )
    .await;
    let d = s
        .ok("DescribeTaskDefinition", json!({"taskDefinition": "web"}))
        .await;
    assert_eq!(d["taskDefinition"]["revision"], 1);
    let d = s
        .ok(
            "DescribeTaskDefinition",
            json!({"taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"}),
        )
        .await;
    assert_eq!(d["taskDefinition"]["status"], "INACTIVE");

    let l = s.ok("ListTaskDefinitions", json!({})).await;
    assert_eq!(l["taskDefinitionArns"].as_array().unwrap().len(), 1);
    let l = s
        .ok("ListTaskDefinitions", json!({"status": "INACTIVE"}))
        .await;
    assert_eq!(l["taskDefinitionArns"].as_array().unwrap().len(), 1);
    let f = s
        .ok("ListTaskDefinitionFamilies", json!({"familyPrefix": "w"}))
        .await;
    assert_eq!(f["families"], json!(["web"]));

    // Inactive revisions cannot run.
    s.register_agent("default", 1024, 1024).await;
    let r = s.call("RunTask", json!({"taskDefinition": "web:2"})).await;
    assert_eq!(r.kind(), "ClientException");
    assert!(r.body["message"].as_str().unwrap().contains("inactive"));

    // Concurrent registrations get distinct revisions.
    let mut handles = Vec::new();
    let s = std::sync::Arc::new(s);
    for _ in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            s.register_taskdef("api", 128, 64).await
        }));
    }
    let mut revs = Vec::new();
    for h in handles {
        revs.push(
            h.await.unwrap()["taskDefinition"]["revision"]
                .as_i64()
                .unwrap(),
        );
    }
    revs.sort();
    assert_eq!(revs, (1..=8).collect::<Vec<_>>());

    // Paging.
    let p1 = s
        .ok(
            "ListTaskDefinitions",
            json!({"familyPrefix": "api", "maxResults": 5}),
        )
        .await;
    assert_eq!(p1["taskDefinitionArns"].as_array().unwrap().len(), 5);
    let p2 = s
        .ok(
            "ListTaskDefinitions",
            json!({"familyPrefix": "api", "maxResults": 5, "nextToken": p1["nextToken"]}),
        )
        .await;
    assert_eq!(p2["taskDefinitionArns"].as_array().unwrap().len(), 3);
    assert!(p2.get("nextToken").is_none());
}

#[tokio::test]
async fn placement_failures_name_the_resource() {
    let s = Server::start().await;
    let reg = s.register_agent("default", 512, 512).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("cpu-hog", 1024, 64).await;
    s.register_taskdef("mem-hog", 128, 1024).await;
    let before = s.revision().await;
    let r = s.ok("RunTask", json!({"taskDefinition": "cpu-hog"})).await;
    assert_eq!(r["tasks"], json!([]));
    assert_eq!(r["failures"][0]["reason"], "RESOURCE:CPU");
    assert_eq!(r["failures"][0]["arn"], reg.container_instance_arn.as_str());
    let r = s.ok("RunTask", json!({"taskDefinition": "mem-hog"})).await;
    assert_eq!(r["failures"][0]["reason"], "RESOURCE:MEMORY");
    assert_eq!(s.revision().await, before);

    // count 3 of which only 2 fit: 2 tasks, one failure.
    s.register_taskdef("half", 256, 64).await;
    let r = s
        .ok("RunTask", json!({"taskDefinition": "half", "count": 3}))
        .await;
    assert_eq!(r["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(r["failures"][0]["reason"], "RESOURCE:CPU");

    // A DRAINING instance takes nothing.
    s.ok(
        "UpdateContainerInstancesState",
        json!({"containerInstances": [reg.instance_id], "status": "DRAINING"}),
    )
    .await;
    s.register_taskdef("tiny", 1, 8).await;
    let r = s.ok("RunTask", json!({"taskDefinition": "tiny"})).await;
    assert_eq!(r["tasks"], json!([]));
}

#[tokio::test]
async fn a_disconnected_agent_takes_no_tasks() {
    let s = Server::start().await;
    let reg = s.register_agent("default", 1024, 1024).await;
    s.register_taskdef("web", 128, 64).await;
    let r = s.ok("RunTask", json!({"taskDefinition": "web"})).await;
    assert_eq!(r["failures"][0]["reason"], "AGENT");
    assert_eq!(r["failures"][0]["arn"], reg.container_instance_arn.as_str());
}

#[tokio::test]
async fn concurrent_run_tasks_never_over_commit() {
    let s = std::sync::Arc::new(Server::start().await);
    let reg = s.register_agent("default", 1024, 4096).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 256, 64).await;
    let mut handles = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            s.ok("RunTask", json!({"taskDefinition": "web"})).await
        }));
    }
    let mut placed = 0;
    for h in handles {
        placed += h.await.unwrap()["tasks"].as_array().unwrap().len();
    }
    assert_eq!(placed, 4);
    let list = s.ok("ListTasks", json!({})).await;
    assert_eq!(list["taskArns"].as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_run_tasks_with_room_for_all_are_all_placed() {
    // Sixteen callers racing for one instance collide on its record; they must back off and
    // retry until placed, never answer RESOURCE:CONTENTION while there is room.
    let s = std::sync::Arc::new(Server::start().await);
    let reg = s.register_agent("default", 4096, 4096).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 64, 64).await;
    let mut handles = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            s.ok("RunTask", json!({"taskDefinition": "web", "count": 2}))
                .await
        }));
    }
    let mut placed = 0;
    for h in handles {
        let out = h.await.unwrap();
        assert_eq!(out["failures"], json!([]), "{out}");
        placed += out["tasks"].as_array().unwrap().len();
    }
    assert_eq!(placed, 32);
}

#[tokio::test]
async fn run_task_racing_a_service_never_over_commits() {
    let s = std::sync::Arc::new(Server::start().await);
    let reg = s.register_agent("default", 1024, 4096).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 256, 64).await;
    // The service wants 3 of the 4 slots while 8 RunTasks race for them.
    let svc = {
        let s = s.clone();
        tokio::spawn(async move {
            s.ok(
                "CreateService",
                json!({"serviceName": "svc", "taskDefinition": "web", "desiredCount": 3}),
            )
            .await
        })
    };
    let mut handles = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            s.ok("RunTask", json!({"taskDefinition": "web"})).await
        }));
    }
    let mut standalone = 0;
    for h in handles {
        standalone += h.await.unwrap()["tasks"].as_array().unwrap().len();
    }
    svc.await.unwrap();
    // Let the controller place what it can.
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let all = s.ok("ListTasks", json!({})).await["taskArns"]
            .as_array()
            .unwrap()
            .len();
        assert!(all <= 4, "{all} tasks of 256 CPU on a 1024 CPU instance");
    }
    let service_tasks = s.ok("ListTasks", json!({"serviceName": "svc"})).await["taskArns"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(standalone + service_tasks, 4, "every slot used, none twice");
    let ci = s
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [reg.container_instance_arn]}),
        )
        .await;
    let cpu = ci["containerInstances"][0]["remainingResources"][0]["integerValue"]
        .as_i64()
        .unwrap();
    assert_eq!(cpu, 0);
}

#[tokio::test]
async fn host_ports_are_exclusive() {
    let s = Server::start().await;
    let reg = s.register_agent("default", 4096, 4096).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "networkMode": "host", "containerDefinitions": [
            {"name": "app", "image": "nginx", "memory": 64, "portMappings": [{"containerPort": 8080}]}
        ]}),
    )
    .await;
    let r = s
        .ok("RunTask", json!({"taskDefinition": "web", "count": 2}))
        .await;
    assert_eq!(r["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(r["failures"][0]["reason"], "RESOURCE:PORTS");
    let d = s
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [reg.instance_id]}),
        )
        .await;
    let ports = d["containerInstances"][0]["remainingResources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "PORTS")
        .unwrap()["stringSetValue"]
        .clone();
    assert_eq!(ports, json!(["22", "8080"]));
}

#[tokio::test]
async fn stop_task_never_acknowledged_by_a_gone_agent_stops_directly() {
    let s = Server::start().await;
    let reg = s.register_agent("default", 1024, 1024).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 128, 64).await;
    let r = s
        .ok(
            "StartTask",
            json!({"taskDefinition": "web", "containerInstances": [reg.instance_id]}),
        )
        .await;
    assert_eq!(r["tasks"].as_array().unwrap().len(), 1, "{r}");
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap();
    drop(agent);
    common::eventually("the agent to be marked disconnected", || async {
        let d = s
            .ok(
                "DescribeContainerInstances",
                json!({"containerInstances": [reg.instance_id]}),
            )
            .await;
        d["containerInstances"][0]["agentConnected"] == false
    })
    .await;
    let stop = s.ok("StopTask", json!({"task": arn})).await;
    assert_eq!(stop["task"]["lastStatus"], "STOPPED");
    let d = s.ok("DescribeClusters", json!({})).await;
    assert_eq!(d["clusters"][0]["pendingTasksCount"], 0);
    s.ok(
        "DeregisterContainerInstance",
        json!({"containerInstance": reg.instance_id}),
    )
    .await;
    s.ok("DeleteCluster", json!({"cluster": "default"})).await;
}

#[tokio::test]
async fn tags_and_attributes() {
    let s = Server::start().await;
    let reg = s.register_agent("default", 1024, 1024).await;
    let arn = reg.container_instance_arn.clone();
    s.ok("TagResource", json!({"resourceArn": arn, "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]})).await;
    s.ok(
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["a"]}),
    )
    .await;
    let t = s
        .ok("ListTagsForResource", json!({"resourceArn": arn}))
        .await;
    assert_eq!(t["tags"], json!([{"key": "b", "value": "2"}]));

    s.ok(
        "PutAttributes",
        json!({"attributes": [{"name": "stack", "value": "prod", "targetId": arn}]}),
    )
    .await;
    let l = s
        .ok(
            "ListAttributes",
            json!({"targetType": "container-instance", "attributeName": "stack"}),
        )
        .await;
    assert_eq!(l["attributes"][0]["value"], "prod");
    assert_eq!(l["attributes"][0]["targetId"], arn.as_str());
    let l = s
        .ok(
            "ListAttributes",
            json!({"targetType": "container-instance"}),
        )
        .await;
    let names: Vec<&str> = l["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(names.contains(&"ecs.os-type"), "{names:?}");
    s.ok(
        "DeleteAttributes",
        json!({"attributes": [{"name": "stack", "targetId": arn}]}),
    )
    .await;
    let l = s
        .ok(
            "ListAttributes",
            json!({"targetType": "container-instance", "attributeName": "stack"}),
        )
        .await;
    assert_eq!(l["attributes"], json!([]));
    let before = s.revision().await;
    let r = s
        .call(
            "PutAttributes",
            json!({"attributes": [{"name": "x", "value": "y", "targetId": "nope"}]}),
        )
        .await;
    assert_eq!(r.kind(), "TargetNotFoundException");
    assert_eq!(s.revision().await, before);
}

#[tokio::test]
async fn stopped_tasks_expire_after_the_retention_with_their_tags() {
    let s = Server::start_with(|c| c.stopped_task_retention = Duration::from_secs(1)).await;
    let reg = s.register_agent("default", 1024, 1024).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 128, 64).await;
    let r = s
        .ok(
            "StartTask",
            json!({"taskDefinition": "web", "containerInstances": [reg.instance_id],
                   "tags": [{"key": "team", "value": "a"}]}),
        )
        .await;
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let tags = s
        .ok("ListTagsForResource", json!({"resourceArn": arn}))
        .await;
    assert_eq!(
        tags["tags"],
        json!([{"key": "team", "value": "a"}]),
        "{tags}"
    );
    drop(agent);
    common::eventually("the agent to be marked disconnected", || async {
        let d = s
            .ok(
                "DescribeContainerInstances",
                json!({"containerInstances": [reg.instance_id]}),
            )
            .await;
        d["containerInstances"][0]["agentConnected"] == false
    })
    .await;
    let stop = s.ok("StopTask", json!({"task": arn})).await;
    assert_eq!(stop["task"]["lastStatus"], "STOPPED", "{stop}");

    // Gone from DescribeTasks (ECS's MISSING failure), ListTasks and its tags.
    common::eventually_within(
        "the stopped task to expire",
        Duration::from_secs(10),
        || async {
            let d = s.ok("DescribeTasks", json!({"tasks": [arn]})).await;
            d["tasks"] == json!([]) && d["failures"][0]["reason"] == "MISSING"
        },
    )
    .await;
    let l = s.ok("ListTasks", json!({"desiredStatus": "STOPPED"})).await;
    assert_eq!(l["taskArns"], json!([]), "{l}");
    let keys: Vec<String> = s
        .state
        .store
        .list("tags/")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert!(!keys.iter().any(|k| k.contains(&arn)), "{keys:?}");
    // Its resources went back to the instance before it was forgotten.
    let d = s
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [reg.instance_id]}),
        )
        .await;
    let mem = d["containerInstances"][0]["remainingResources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "MEMORY")
        .cloned();
    assert_eq!(
        mem.map(|m| m["integerValue"].clone()),
        Some(json!(1024)),
        "{d}"
    );
}
