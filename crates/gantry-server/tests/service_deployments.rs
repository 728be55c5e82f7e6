//! Service deployments and revisions (ListServiceDeployments, DescribeServiceDeployments,
//! DescribeServiceRevisions, StopServiceDeployment) over the real server, store and service
//! controller, with simulated agents: their shapes, their statuses as deployments go, and
//! ECS's errors.

mod common;

use std::time::Duration;

use common::{eventually_within, Server};
use gantry_link::sim::{Behaviour, Fleet};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);
const ARN: &str = "arn:aws:ecs:us-east-1:123456789012";

async fn fleet(s: &Server, b: Behaviour) -> Fleet {
    Fleet::start_on(&s.link(), "default", 2, 4096, 4096, b)
        .await
        .unwrap()
}

async fn list(s: &Server, body: Value) -> Vec<Value> {
    s.ok("ListServiceDeployments", body).await["serviceDeployments"]
        .as_array()
        .unwrap()
        .clone()
}

async fn describe(s: &Server, arn: &str) -> Value {
    let d = s
        .ok(
            "DescribeServiceDeployments",
            json!({"serviceDeploymentArns": [arn]}),
        )
        .await;
    assert_eq!(d["failures"], json!([]));
    d["serviceDeployments"][0].clone()
}

async fn wait_status(s: &Server, arn: &str, status: &str) -> Value {
    eventually_within(&format!("the deployment to be {status}"), WAIT, || async {
        describe(s, arn).await["status"] == status
    })
    .await;
    describe(s, arn).await
}

async fn broken_revision(s: &Server) {
    s.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "networkMode": "host",
               "containerDefinitions": [{"name": "app", "image": "broken:1", "memory": 128}]}),
    )
    .await;
}

#[tokio::test]
async fn deployments_are_listed_described_and_rolled_back_on_request() {
    let s = Server::start_open().await;
    let f = fleet(&s, Behaviour::FailImage("broken:1".to_string())).await;
    s.register_taskdef("web", 128, 128).await;
    s.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2,
               "deploymentConfiguration": {"alarms": {"alarmNames": ["cpu-high"], "enable": false, "rollback": false},
                                           "bakeTimeInMinutes": 5}}),
    )
    .await;
    let first = list(&s, json!({"service": "web"})).await;
    assert_eq!(first.len(), 1);
    let first_arn = first[0]["serviceDeploymentArn"]
        .as_str()
        .unwrap()
        .to_string();
    let id = first_arn
        .strip_prefix(&format!("{ARN}:service-deployment/default/web/"))
        .expect("a service deployment ARN");
    assert_eq!(id.len(), 21, "{id}");
    assert_eq!(first[0]["serviceArn"], format!("{ARN}:service/default/web"));
    assert_eq!(first[0]["clusterArn"], format!("{ARN}:cluster/default"));
    let rev1 = first[0]["targetServiceRevisionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let svc = s.ok("DescribeServices", json!({"services": ["web"]})).await["services"][0].clone();
    let ecs_id = svc["deployments"][0]["id"].as_str().unwrap();
    assert_eq!(
        rev1,
        format!(
            "{ARN}:service-revision/default/web/{}",
            ecs_id.strip_prefix("ecs-svc/").unwrap()
        )
    );
    assert_eq!(
        svc["deploymentConfiguration"]["alarms"],
        json!({"alarmNames": ["cpu-high"], "enable": false, "rollback": false})
    );
    assert_eq!(svc["deploymentConfiguration"]["bakeTimeInMinutes"], 5);

    let d = wait_status(&s, &first_arn, "SUCCESSFUL").await;
    assert_eq!(d["sourceServiceRevisions"], json!([]));
    assert_eq!(
        d["targetServiceRevision"],
        json!({"arn": rev1, "requestedTaskCount": 2, "runningTaskCount": 2, "pendingTaskCount": 0})
    );
    assert_eq!(d["deploymentCircuitBreaker"], json!({"status": "DISABLED"}));
    assert_eq!(d["alarms"], json!({"status": "DISABLED"}));
    assert_eq!(d["deploymentConfiguration"]["maximumPercent"], 200);
    assert_eq!(d["deploymentConfiguration"]["bakeTimeInMinutes"], 5);
    for k in ["createdAt", "startedAt", "finishedAt", "updatedAt"] {
        assert!(d[k].is_number(), "{k} in {d}");
    }
    assert!(
        d.get("stoppedAt").is_none() && d.get("rollback").is_none(),
        "{d}"
    );

    let r = s
        .ok(
            "DescribeServiceRevisions",
            json!({"serviceRevisionArns": [rev1, "nope"]}),
        )
        .await;
    let rev = &r["serviceRevisions"][0];
    assert_eq!(
        rev["taskDefinition"],
        format!("{ARN}:task-definition/web:1")
    );
    assert_eq!(rev["launchType"], "EC2");
    assert_eq!(
        rev["containerImages"],
        json!([{"containerName": "app", "image": "busybox:1.36"}])
    );
    assert_eq!(r["failures"], json!([{"arn": "nope", "reason": "MISSING"}]));

    // A deployment that cannot finish (its image fails, no circuit breaker), stopped with
    // a rollback: back to revision 1.
    broken_revision(&s).await;
    s.ok(
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:2"}),
    )
    .await;
    let both = list(&s, json!({"service": "web"})).await;
    assert_eq!(both.len(), 2);
    assert_eq!(both[1]["serviceDeploymentArn"], first_arn.as_str());
    let second_arn = both[0]["serviceDeploymentArn"]
        .as_str()
        .unwrap()
        .to_string();
    let d = wait_status(&s, &second_arn, "IN_PROGRESS").await;
    assert_eq!(d["sourceServiceRevisions"][0]["arn"], rev1.as_str());
    let rev2 = d["targetServiceRevision"]["arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(rev2, rev1);

    let stop = s
        .ok(
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": second_arn, "stopType": "ROLLBACK"}),
        )
        .await;
    assert_eq!(stop, json!({"serviceDeploymentArn": second_arn}));
    let d = wait_status(&s, &second_arn, "ROLLBACK_SUCCESSFUL").await;
    assert_eq!(d["rollback"]["serviceRevisionArn"], rev1.as_str());
    assert!(d["rollback"]["startedAt"].is_number());
    let svc = s.ok("DescribeServices", json!({"services": ["web"]})).await["services"][0].clone();
    assert_eq!(
        svc["taskDefinition"],
        format!("{ARN}:task-definition/web:1")
    );
    assert_eq!(svc["runningCount"], 2);

    // A finished deployment cannot be stopped.
    let again = s
        .call(
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": second_arn}),
        )
        .await;
    assert_eq!(again.kind(), "ConflictException", "{:?}", again.body);

    // Filters and pages.
    let ok = list(&s, json!({"service": "web", "status": ["SUCCESSFUL"]})).await;
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["serviceDeploymentArn"], first_arn.as_str());
    let after = first[0]["createdAt"].as_f64().unwrap() + 0.000_5;
    let newer = list(&s, json!({"service": "web", "createdAt": {"after": after}})).await;
    assert_eq!(newer.len(), 1);
    assert_eq!(newer[0]["serviceDeploymentArn"], second_arn.as_str());
    let p1 = s
        .ok(
            "ListServiceDeployments",
            json!({"service": "web", "maxResults": 1}),
        )
        .await;
    assert_eq!(
        p1["serviceDeployments"][0]["serviceDeploymentArn"],
        second_arn.as_str()
    );
    let token = p1["nextToken"].as_str().unwrap();
    let p2 = s
        .ok(
            "ListServiceDeployments",
            json!({"service": "web", "maxResults": 1, "nextToken": token}),
        )
        .await;
    assert_eq!(
        p2["serviceDeployments"][0]["serviceDeploymentArn"],
        first_arn.as_str()
    );
    assert!(p2.get("nextToken").is_none());
    f.stop().await;
}

#[tokio::test]
async fn the_circuit_breaker_rollback_and_a_superseded_deployment_are_recorded() {
    let s = Server::start_open().await;
    let f = fleet(&s, Behaviour::FailImage("broken:1".to_string())).await;
    s.register_taskdef("web", 128, 128).await;
    s.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2,
               "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}}}),
    )
    .await;
    let first = list(&s, json!({"service": "web"})).await[0]["serviceDeploymentArn"]
        .as_str()
        .unwrap()
        .to_string();
    let d = wait_status(&s, &first, "SUCCESSFUL").await;
    assert_eq!(
        d["deploymentCircuitBreaker"],
        json!({"status": "MONITORING_COMPLETE", "failureCount": 0, "threshold": 3})
    );
    broken_revision(&s).await;
    s.ok(
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:2"}),
    )
    .await;
    let failing = list(&s, json!({"service": "web"})).await[0]["serviceDeploymentArn"]
        .as_str()
        .unwrap()
        .to_string();
    let d = wait_status(&s, &failing, "ROLLBACK_SUCCESSFUL").await;
    assert_eq!(d["deploymentCircuitBreaker"]["status"], "TRIGGERED");
    assert!(
        d["deploymentCircuitBreaker"]["failureCount"]
            .as_i64()
            .unwrap()
            >= 3
    );
    assert!(d["rollback"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("ECS deployment circuit breaker"));

    // A deployment replaced by a newer one before it finished is STOPPED.
    s.ok("UpdateService", json!({"service": "web", "taskDefinition": "web:2",
               "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": false, "rollback": false}}}))
        .await;
    let replaced = list(&s, json!({"service": "web"})).await[0]["serviceDeploymentArn"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:1"}),
    )
    .await;
    let d = wait_status(&s, &replaced, "STOPPED").await;
    assert!(d["stoppedAt"].is_number());
    assert_eq!(
        list(&s, json!({"service": "web", "status": ["STOPPED"]}))
            .await
            .len(),
        1
    );
    f.stop().await;
}

#[tokio::test]
async fn errors_are_ecs_errors() {
    let s = Server::start_open().await;
    s.ok("CreateCluster", json!({"clusterName": "default"}))
        .await;
    s.register_taskdef("web", 128, 128).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "ListServiceDeployments",
            json!({"service": "ghost"}),
            "ServiceNotFoundException",
        ),
        (
            "ListServiceDeployments",
            json!({"service": "web", "cluster": "ghost"}),
            "ClusterNotFoundException",
        ),
        (
            "DescribeServiceDeployments",
            json!({"serviceDeploymentArns": []}),
            "InvalidParameterException",
        ),
        (
            "DescribeServiceRevisions",
            json!({"serviceRevisionArns": []}),
            "InvalidParameterException",
        ),
        (
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": format!("{ARN}:service-deployment/default/web/aaaaaaaaaaaaaaaaaaaaa")}),
            "ServiceDeploymentNotFoundException",
        ),
        (
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": "x", "stopType": "ABORT"}),
            "InvalidParameterException",
        ),
        (
            "CreateService",
            json!({"serviceName": "bg", "taskDefinition": "web", "desiredCount": 1,
                   "deploymentConfiguration": {"strategy": "BLUE_GREEN"}}),
            "InvalidParameterException",
        ),
        (
            "CreateService",
            json!({"serviceName": "al", "taskDefinition": "web", "desiredCount": 1,
                   "deploymentConfiguration": {"alarms": {"alarmNames": ["a"], "enable": true, "rollback": true}}}),
            "InvalidParameterException",
        ),
        (
            "CreateService",
            json!({"serviceName": "lh", "taskDefinition": "web", "desiredCount": 1,
                   "deploymentConfiguration": {"lifecycleHooks": [{"targetType": "PAUSE"}]}}),
            "InvalidParameterException",
        ),
    ];
    for (op, body, kind) in cases {
        let r = s.call(op, body.clone()).await;
        assert_eq!(r.kind(), kind, "{op} {body}: {:?}", r.body);
        assert!(!r.body["message"].as_str().unwrap_or("").is_empty());
    }
    let r = s
        .call(
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": "x"}),
        )
        .await;
    assert_eq!(r.body["message"], "Service deployment not found.");
    let r = s
        .call(
            "CreateService",
            json!({"serviceName": "bg", "taskDefinition": "web", "desiredCount": 1,
                                      "deploymentConfiguration": {"strategy": "CANARY"}}),
        )
        .await;
    assert!(
        r.body["message"].as_str().unwrap().contains("CANARY"),
        "{:?}",
        r.body
    );
    // Nothing refused was created.
    assert_eq!(
        s.ok("ListServices", json!({})).await["serviceArns"],
        json!([])
    );
    let d = s
        .ok(
            "DescribeServiceDeployments",
            json!({"serviceDeploymentArns": ["bogus"]}),
        )
        .await;
    assert_eq!(d["serviceDeployments"], json!([]));
    assert_eq!(
        d["failures"],
        json!([{"arn": "bogus", "reason": "MISSING"}])
    );
}
