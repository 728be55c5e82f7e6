//! EXTERNAL instances as ECS Anywhere shows them: `ec2InstanceId` is the managed-instance id,
//! `ecs.capability.external` is among the attributes (and the cluster query language finds
//! it); `launchType EXTERNAL` tasks and services land only on them and EC2 tasks never do;
//! awsvpc on EXTERNAL is refused with ECS's text. SSM's DescribeInstanceInformation shows the
//! host Online while its agent is connected; DeregisterManagedInstance removes it.
//! The instances are written to the store directly, as the join would register them.

mod common;
mod ssm_support;

use common::Server;
use gantry_server::ssm::activations::redeem;
use gantry_store::{Op, Store};
use serde_json::{json, Value};
use ssm_support::{activation, err, ok, put_instance};

async fn cluster_with_both(s: &Server) -> String {
    s.ok("CreateCluster", json!({"clusterName": "edge"})).await;
    let (id, code) = activation(
        s,
        json!({"IamRole": "gantry-external-node", "DefaultInstanceName": "lab"}),
    )
    .await;
    let mi = redeem(&s.state, &id, &code, "lab-host")
        .await
        .unwrap()
        .managed_instance_id;
    put_instance(s, "edge", "ec2one", "EC2", Some("i-0123456789abcdef0")).await;
    put_instance(s, "edge", "extone", "EXTERNAL", Some(&mi)).await;
    mi
}

fn instance_ids(tasks: &Value) -> Vec<String> {
    tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let arn = t["containerInstanceArn"].as_str().unwrap();
            arn.rsplit('/').next().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn external_tasks_land_only_on_external_instances() {
    let s = Server::start().await;
    cluster_with_both(&s).await;
    s.register_taskdef("web", 128, 128).await;

    let r = s
        .ok(
            "RunTask",
            json!({"cluster": "edge", "taskDefinition": "web", "count": 4, "launchType": "EXTERNAL"}),
        )
        .await;
    assert_eq!(instance_ids(&r["tasks"]), vec!["extone"; 4], "{r}");
    assert!(r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["launchType"] == "EXTERNAL"));

    let r = s
        .ok(
            "RunTask",
            json!({"cluster": "edge", "taskDefinition": "web", "count": 4}),
        )
        .await;
    assert_eq!(
        instance_ids(&r["tasks"]),
        vec!["ec2one"; 4],
        "EC2 tasks never land on EXTERNAL"
    );
    assert!(r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["launchType"] == "EC2"));

    // Filling the one EXTERNAL host: its own reason, not the EC2 host's.
    let r = s
        .ok(
            "RunTask",
            json!({"cluster": "edge", "taskDefinition": "web", "count": 1, "launchType": "EXTERNAL",
                   "overrides": {"memory": "9000"}}),
        )
        .await;
    let f = &r["failures"];
    assert!(
        f.as_array()
            .unwrap()
            .iter()
            .all(|f| f["reason"] != "MISSING" || f["arn"].is_null()),
        "{f}"
    );

    // A service of launch type EXTERNAL places on the EXTERNAL host only.
    s.ok(
        "CreateService",
        json!({"cluster": "edge", "serviceName": "svc", "taskDefinition": "web",
               "desiredCount": 2, "launchType": "EXTERNAL"}),
    )
    .await;
    common::eventually("the service's two tasks", || async {
        let l = s
            .ok(
                "ListTasks",
                json!({"cluster": "edge", "serviceName": "svc"}),
            )
            .await;
        l["taskArns"].as_array().unwrap().len() == 2
    })
    .await;
    let l = s
        .ok(
            "ListTasks",
            json!({"cluster": "edge", "serviceName": "svc"}),
        )
        .await;
    let d = s
        .ok(
            "DescribeTasks",
            json!({"cluster": "edge", "tasks": l["taskArns"]}),
        )
        .await;
    assert_eq!(instance_ids(&d["tasks"]), vec!["extone"; 2]);
    let svc = s
        .ok(
            "DescribeServices",
            json!({"cluster": "edge", "services": ["svc"]}),
        )
        .await;
    assert_eq!(svc["services"][0]["launchType"], "EXTERNAL");
}

#[tokio::test]
async fn awsvpc_is_refused_on_external() {
    let s = Server::start().await;
    cluster_with_both(&s).await;
    s.ok(
        "RegisterTaskDefinition",
        json!({"family": "vpc", "networkMode": "awsvpc",
               "containerDefinitions": [{"name": "app", "image": "busybox:1.36", "memory": 64}]}),
    )
    .await;
    let text = "Tasks that run on external instances must use the bridge, host, or none network modes. The awsvpc network mode isn't supported.";
    let r = s
        .call(
            "RunTask",
            json!({"cluster": "edge", "taskDefinition": "vpc", "launchType": "EXTERNAL"}),
        )
        .await;
    assert_eq!((r.status, r.kind()), (400, "InvalidParameterException"));
    assert_eq!(r.body["message"], text);
    let r = s
        .call(
            "CreateService",
            json!({"cluster": "edge", "serviceName": "v", "taskDefinition": "vpc",
                   "desiredCount": 1, "launchType": "EXTERNAL"}),
        )
        .await;
    assert_eq!((r.status, r.kind()), (400, "InvalidParameterException"));
    assert_eq!(r.body["message"], text);
    // An EXTERNAL service switched to an awsvpc task definition: refused, nothing changed.
    s.ok(
        "RegisterTaskDefinition",
        json!({"family": "plain", "networkMode": "bridge",
               "containerDefinitions": [{"name": "app", "image": "busybox:1.36", "memory": 64}]}),
    )
    .await;
    s.ok(
        "CreateService",
        json!({"cluster": "edge", "serviceName": "ext", "taskDefinition": "plain",
               "desiredCount": 0, "launchType": "EXTERNAL"}),
    )
    .await;
    let r = s
        .call(
            "UpdateService",
            json!({"cluster": "edge", "service": "ext", "taskDefinition": "vpc"}),
        )
        .await;
    assert_eq!((r.status, r.kind()), (400, "InvalidParameterException"));
    assert_eq!(r.body["message"], text);
    let d = s
        .ok(
            "DescribeServices",
            json!({"cluster": "edge", "services": ["ext"]}),
        )
        .await;
    let td = d["services"][0]["taskDefinition"]
        .as_str()
        .unwrap_or_default();
    assert!(td.ends_with("task-definition/plain:1"), "{td}");
    let r = s
        .call(
            "RunTask",
            json!({"cluster": "edge", "taskDefinition": "vpc", "launchType": "FARGATE"}),
        )
        .await;
    assert_eq!(r.kind(), "InvalidParameterException");
}

#[tokio::test]
async fn external_instances_show_their_managed_instance_id_and_attribute() {
    let s = Server::start().await;
    let mi = cluster_with_both(&s).await;
    let d = s
        .ok(
            "DescribeContainerInstances",
            json!({"cluster": "edge", "containerInstances": ["extone", "ec2one"]}),
        )
        .await;
    let ci = d["containerInstances"].as_array().unwrap();
    let ext = ci
        .iter()
        .find(|c| {
            c["containerInstanceArn"]
                .as_str()
                .unwrap()
                .ends_with("/extone")
        })
        .unwrap();
    let ec2 = ci
        .iter()
        .find(|c| {
            c["containerInstanceArn"]
                .as_str()
                .unwrap()
                .ends_with("/ec2one")
        })
        .unwrap();
    assert_eq!(ext["ec2InstanceId"], mi.as_str());
    assert_eq!(ec2["ec2InstanceId"], "i-0123456789abcdef0");
    let has_external = |c: &Value| {
        c["attributes"].as_array().unwrap().iter().any(|a| {
            a["name"] == "ecs.capability.external" && a.get("value").is_none_or(Value::is_null)
        })
    };
    assert!(has_external(ext), "{ext}");
    assert!(!has_external(ec2));

    let l = s
        .ok(
            "ListContainerInstances",
            json!({"cluster": "edge", "filter": "attribute:ecs.capability.external exists"}),
        )
        .await;
    let arns = l["containerInstanceArns"].as_array().unwrap();
    assert_eq!(arns.len(), 1);
    assert!(arns[0].as_str().unwrap().ends_with("/extone"));
}

#[tokio::test]
async fn instance_information_follows_the_agent_and_deregistration() {
    let s = Server::start().await;
    let mi = cluster_with_both(&s).await;
    let v = ok(&s, "DescribeInstanceInformation", json!({})).await;
    let i = &v["InstanceInformationList"][0];
    assert_eq!(i["InstanceId"], mi.as_str());
    assert_eq!(i["PingStatus"], "Online");
    assert_eq!(i["AgentVersion"], "0.1.0");
    assert_eq!(i["IPAddress"], "192.0.2.7");
    assert_eq!(i["ComputerName"], "lab-host");
    assert_eq!(i["Name"], "lab");

    let by_id = ok(
        &s,
        "DescribeInstanceInformation",
        json!({"Filters": [{"Key": "InstanceIds", "Values": [mi]}]}),
    )
    .await;
    assert_eq!(
        by_id["InstanceInformationList"].as_array().unwrap().len(),
        1
    );
    let none = ok(
        &s,
        "DescribeInstanceInformation",
        json!({"Filters": [{"Key": "PingStatus", "Values": ["ConnectionLost"]}]}),
    )
    .await;
    assert!(none["InstanceInformationList"]
        .as_array()
        .unwrap()
        .is_empty());
    err(
        &s,
        "DescribeInstanceInformation",
        json!({"Filters": [{"Key": "Colour", "Values": ["x"]}]}),
        "InvalidFilterKey",
    )
    .await;
    err(
        &s,
        "DescribeInstanceInformation",
        json!({"MaxResults": 4}),
        "ValidationException",
    )
    .await;

    // Tags on the managed instance.
    ok(
        &s,
        "AddTagsToResource",
        json!({"ResourceType": "ManagedInstance", "ResourceId": mi, "Tags": [{"Key": "rack", "Value": "b2"}]}),
    )
    .await;
    let t = ok(
        &s,
        "ListTagsForResource",
        json!({"ResourceType": "ManagedInstance", "ResourceId": mi}),
    )
    .await;
    assert_eq!(t["TagList"], json!([{"Key": "rack", "Value": "b2"}]));
    let tagged = ok(
        &s,
        "DescribeInstanceInformation",
        json!({"Filters": [{"Key": "tag:rack", "Values": ["b2"]}]}),
    )
    .await;
    assert_eq!(
        tagged["InstanceInformationList"].as_array().unwrap().len(),
        1
    );
    ok(
        &s,
        "RemoveTagsFromResource",
        json!({"ResourceType": "ManagedInstance", "ResourceId": mi, "TagKeys": ["rack"]}),
    )
    .await;
    err(
        &s,
        "AddTagsToResource",
        json!({"ResourceType": "Document", "ResourceId": "d", "Tags": []}),
        "InvalidResourceType",
    )
    .await;

    ok(&s, "DeregisterManagedInstance", json!({"InstanceId": mi})).await;
    let v = ok(&s, "DescribeInstanceInformation", json!({})).await;
    assert!(v["InstanceInformationList"].as_array().unwrap().is_empty());
    let m = err(
        &s,
        "DeregisterManagedInstance",
        json!({"InstanceId": mi}),
        "InvalidInstanceId",
    )
    .await;
    assert!(m.contains(&mi), "{m}");
    err(
        &s,
        "DeregisterManagedInstance",
        json!({"InstanceId": "i-0123"}),
        "ValidationException",
    )
    .await;
}

/// PingStatus and the ECS instance's agentConnected are one answer: an agent whose session
/// another replica holds (its presence key, `ha/sessions/<id>`) is Online even though this
/// replica's copy of the instance record says disconnected, and ConnectionLost once no
/// replica holds it.
#[tokio::test]
async fn ping_status_agrees_with_agent_connected_across_replicas() {
    let s = Server::start().await;
    let mi = cluster_with_both(&s).await;
    // The record as a replica that saw the session end last would have left it.
    let key = "instances/edge/extone";
    let mut rec: Value =
        serde_json::from_slice(&s.state.store.get(key).await.unwrap().unwrap().value).unwrap();
    rec["agent_connected"] = json!(false);
    let put = |k: &str, v: Vec<u8>| Op::Put {
        key: k.to_string(),
        value: v,
    };
    let commit = |ops: Vec<Op>| async {
        assert!(s.state.store.txn(vec![], ops).await.unwrap().succeeded);
    };
    commit(vec![put(key, serde_json::to_vec(&rec).unwrap())]).await;
    let both = || async {
        let ping = ok(
            &s,
            "DescribeInstanceInformation",
            json!({"Filters": [{"Key": "InstanceIds", "Values": [mi]}]}),
        )
        .await["InstanceInformationList"][0]["PingStatus"]
            .clone();
        let d = s
            .ok(
                "DescribeContainerInstances",
                json!({"cluster": "edge", "containerInstances": ["extone"]}),
            )
            .await;
        (ping, d["containerInstances"][0]["agentConnected"].clone())
    };
    assert_eq!(both().await, (json!("ConnectionLost"), json!(false)));
    // Another replica holds the session.
    commit(vec![put("ha/sessions/extone", b"replica-b".to_vec())]).await;
    assert_eq!(both().await, (json!("Online"), json!(true)));
    // That replica closed it for silence: nobody holds it.
    commit(vec![put(
        "ha/sessions/extone",
        b"silent:replica-b".to_vec(),
    )])
    .await;
    assert_eq!(both().await, (json!("ConnectionLost"), json!(false)));
}
