//! ECS operations answered as ECS answers them, table by table: DeleteTaskDefinitions,
//! Get/UpdateTaskProtection (and the service controller keeping a protected task through a
//! scale-in), the agent-facing operations (DiscoverPollEndpoint, the node-only Submit* and
//! RegisterContainerInstance, UpdateContainerAgent, ExecuteCommand, ListServicesByNamespace)
//! and the refused daemon, gateway and express gateway service groups, checked against the
//! exceptions botocore's model lists for each operation. The real AWS CLI reads
//! delete-task-definitions, discover-poll-endpoint and the refusals.

mod aws_cli;
mod common;
mod iam_support;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{eventually_within, Server};
use gantry_link::sim::{Behaviour, Fleet};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);
const ARN: &str = "arn:aws:ecs:us-east-1:123456789012";

fn failures(v: &Value) -> Vec<(String, String)> {
    v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(f.get("detail").is_none(), "ECS gives no detail here: {f}");
            (
                f["arn"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn status_of(s: &Server, td: &str) -> Option<String> {
    let r = s
        .call("DescribeTaskDefinition", json!({"taskDefinition": td}))
        .await;
    (r.status == 200).then(|| {
        r.body["taskDefinition"]["status"]
            .as_str()
            .unwrap()
            .to_string()
    })
}

#[tokio::test]
async fn delete_task_definitions_answers_as_ecs_and_forgets_unused_revisions() {
    let s = Server::start_with(|c| c.stopped_task_retention = Duration::from_secs(1)).await;
    let reg = s.register_agent("default", 1024, 1024).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    for _ in 0..3 {
        s.register_taskdef("web", 128, 64).await;
    }
    // web:1 runs a task; web:1 and web:3 are deregistered; web:2 stays ACTIVE.
    let run = s
        .ok(
            "StartTask",
            json!({"taskDefinition": "web:1", "containerInstances": [reg.instance_id]}),
        )
        .await;
    let task = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    for td in ["web:1", "web:3"] {
        s.ok("DeregisterTaskDefinition", json!({"taskDefinition": td}))
            .await;
    }

    let before = s.revision().await;
    let r = s
        .call(
            "DeleteTaskDefinitions",
            json!({"taskDefinitions": (0..11).map(|_| "web:1").collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(
        (r.status, r.kind()),
        (400, "InvalidParameterException"),
        "{}",
        r.body
    );
    assert_eq!(s.revision().await, before, "a refused call changes nothing");

    let d = s
        .ok(
            "DeleteTaskDefinitions",
            json!({"taskDefinitions": ["web:1", format!("{ARN}:task-definition/web:3"),
                                        "web:2", "web", "nope:1"]}),
        )
        .await;
    let deleted: Vec<(&str, &str)> = d["taskDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["taskDefinitionArn"].as_str().unwrap(),
                t["status"].as_str().unwrap(),
            )
        })
        .collect();
    let web1 = format!("{ARN}:task-definition/web:1");
    let web3 = format!("{ARN}:task-definition/web:3");
    assert_eq!(
        deleted,
        [
            (web1.as_str(), "DELETE_IN_PROGRESS"),
            (web3.as_str(), "DELETE_IN_PROGRESS")
        ]
    );
    assert_eq!(
        failures(&d),
        [
            (
                format!("{ARN}:task-definition/web:2"),
                "The specified task definition is still in ACTIVE status. Please deregister the target and try again.".to_string()
            ),
            (
                "web".to_string(),
                "The specified task definition identifier is invalid. Specify a valid name or ARN and try again.".to_string()
            ),
            (
                "nope:1".to_string(),
                "The specified task definition does not exist. Specify a valid account, family, revision and try again.".to_string()
            ),
        ]
    );
    assert_eq!(status_of(&s, "web:2").await.as_deref(), Some("ACTIVE"));

    // Nothing new starts from a deleted revision.
    let r = s
        .call(
            "StartTask",
            json!({"taskDefinition": "web:1", "containerInstances": [reg.instance_id]}),
        )
        .await;
    assert_eq!(r.kind(), "ClientException", "{}", r.body);

    // web:3 is used by nothing and goes; web:1 stays while its task lives.
    eventually_within("the unused revision to be removed", WAIT, || async {
        status_of(&s, "web:3").await.is_none()
    })
    .await;
    assert_eq!(
        status_of(&s, "web:1").await.as_deref(),
        Some("DELETE_IN_PROGRESS")
    );
    let listed = s
        .ok(
            "ListTaskDefinitions",
            json!({"status": "DELETE_IN_PROGRESS"}),
        )
        .await;
    assert_eq!(listed["taskDefinitionArns"], json!([web1]), "{listed}");

    // Its task stops: then it goes too, with its family's counter kept.
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
    let stop = s.ok("StopTask", json!({"task": task})).await;
    assert_eq!(stop["task"]["lastStatus"], "STOPPED", "{stop}");
    eventually_within(
        "the revision of the stopped task to be removed",
        WAIT,
        || async { status_of(&s, "web:1").await.is_none() },
    )
    .await;
    let r = s
        .call("DescribeTaskDefinition", json!({"taskDefinition": "web:1"}))
        .await;
    assert_eq!(r.kind(), "ClientException");
    let next = s.register_taskdef("web", 128, 64).await;
    assert_eq!(next["taskDefinition"]["revision"], 4);
}

async fn fleet(s: &Server, n: usize) -> Fleet {
    Fleet::start_on(&s.link(), "default", n, 1024, 1024, Behaviour::Healthy)
        .await
        .unwrap()
}

async fn running(s: &Server, service: &str) -> Vec<Value> {
    let l = s
        .ok(
            "ListTasks",
            json!({"serviceName": service, "desiredStatus": "RUNNING"}),
        )
        .await;
    let arns = l["taskArns"].as_array().unwrap().clone();
    if arns.is_empty() {
        return Vec::new();
    }
    let d = s.ok("DescribeTasks", json!({"tasks": arns})).await;
    d["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["lastStatus"] == "RUNNING")
        .cloned()
        .collect()
}

async fn service_of(s: &Server, name: &str, count: usize) -> Vec<Value> {
    s.ok(
        "CreateService",
        json!({"serviceName": name, "taskDefinition": "web", "desiredCount": count}),
    )
    .await;
    eventually_within("the service's tasks to run", WAIT, || async {
        running(s, name).await.len() == count
    })
    .await;
    running(s, name).await
}

#[tokio::test]
async fn task_protection_answers_as_ecs() {
    let s = Server::start_open().await;
    let f = fleet(&s, 1).await;
    s.register_taskdef("web", 128, 64).await;
    let tasks = service_of(&s, "web", 1).await;
    let svc_task = tasks[0]["taskArn"].as_str().unwrap().to_string();
    let lone = s.ok("RunTask", json!({"taskDefinition": "web"})).await["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    let missing = format!("{ARN}:task/default/0123456789abcdef0123456789abcdef");

    // Unprotected to begin with; standalone and unknown tasks are failures.
    let g = s
        .ok(
            "GetTaskProtection",
            json!({"cluster": "default", "tasks": [svc_task, lone, missing]}),
        )
        .await;
    assert_eq!(
        g["protectedTasks"],
        json!([{"taskArn": svc_task, "protectionEnabled": false}])
    );
    assert_eq!(
        failures(&g),
        [
            (lone.clone(), "TASK_NOT_VALID".to_string()),
            (missing.clone(), "MISSING".to_string())
        ]
    );

    // Refusals change nothing.
    for (body, kind) in [
        (
            json!({"cluster": "nope", "tasks": [svc_task], "protectionEnabled": true}),
            "ClusterNotFoundException",
        ),
        (
            json!({"cluster": "default", "tasks": [svc_task], "protectionEnabled": true, "expiresInMinutes": 0}),
            "InvalidParameterException",
        ),
        (
            json!({"cluster": "default", "tasks": [svc_task], "protectionEnabled": true, "expiresInMinutes": 2881}),
            "InvalidParameterException",
        ),
        (
            json!({"cluster": "default", "tasks": vec![svc_task.clone(); 11], "protectionEnabled": true}),
            "InvalidParameterException",
        ),
    ] {
        let r = s.call("UpdateTaskProtection", body.clone()).await;
        assert_eq!((r.status, r.kind()), (400, kind), "{body}: {}", r.body);
    }
    let g = s
        .ok(
            "GetTaskProtection",
            json!({"cluster": "default", "tasks": [svc_task]}),
        )
        .await;
    assert_eq!(g["protectedTasks"][0]["protectionEnabled"], false, "{g}");

    // Default 120 minutes from now; 2880 at most; false clears it.
    let now = s.state.clock.now();
    let u = s
        .ok(
            "UpdateTaskProtection",
            json!({"cluster": "default", "tasks": [svc_task, lone], "protectionEnabled": true}),
        )
        .await;
    let p = &u["protectedTasks"][0];
    assert_eq!(p["protectionEnabled"], true, "{u}");
    let expires = p["expirationDate"].as_f64().unwrap();
    assert!((expires - (now + 7200.0)).abs() < 60.0, "{u}");
    assert_eq!(failures(&u), [(lone.clone(), "TASK_NOT_VALID".to_string())]);
    let u = s
        .ok(
            "UpdateTaskProtection",
            json!({"cluster": "default", "tasks": [svc_task], "protectionEnabled": true, "expiresInMinutes": 2880}),
        )
        .await;
    let expires = u["protectedTasks"][0]["expirationDate"].as_f64().unwrap();
    assert!((expires - (now + 2880.0 * 60.0)).abs() < 60.0, "{u}");
    let g = s
        .ok(
            "GetTaskProtection",
            json!({"cluster": "default", "tasks": [svc_task]}),
        )
        .await;
    assert_eq!(
        g["protectedTasks"][0]["expirationDate"].as_f64(),
        Some(expires)
    );
    let u = s
        .ok(
            "UpdateTaskProtection",
            json!({"cluster": "default", "tasks": [svc_task], "protectionEnabled": false}),
        )
        .await;
    assert_eq!(
        u["protectedTasks"],
        json!([{"taskArn": svc_task, "protectionEnabled": false}])
    );
    f.stop().await;
}

/// The task the controller would stop first when scaling in: ranks sort by (created, id),
/// the newest goes.
fn newest(tasks: &[Value]) -> String {
    tasks
        .iter()
        .map(|t| {
            (
                t["createdAt"].as_f64().unwrap().to_bits(),
                t["taskArn"].as_str().unwrap().to_string(),
            )
        })
        .max()
        .unwrap()
        .1
}

#[tokio::test]
async fn a_protected_task_survives_scale_in_and_an_unprotected_one_goes() {
    let s = Server::start_open().await;
    let f = fleet(&s, 2).await;
    s.register_taskdef("web", 128, 64).await;
    let tasks = service_of(&s, "web", 3).await;
    let protected = newest(&tasks);
    s.ok(
        "UpdateTaskProtection",
        json!({"cluster": "default", "tasks": [protected], "protectionEnabled": true}),
    )
    .await;
    s.ok(
        "UpdateService",
        json!({"service": "web", "desiredCount": 1}),
    )
    .await;
    eventually_within("the service to scale in to one task", WAIT, || async {
        let svc = s.ok("DescribeServices", json!({"services": ["web"]})).await;
        svc["services"][0]["runningCount"] == 1 && running(&s, "web").await.len() == 1
    })
    .await;
    let left = running(&s, "web").await;
    assert_eq!(left[0]["taskArn"], protected.as_str());

    // Unprotected, it goes when the service scales to zero; a protected one would not.
    s.ok(
        "UpdateTaskProtection",
        json!({"cluster": "default", "tasks": [protected], "protectionEnabled": false}),
    )
    .await;
    s.ok(
        "UpdateService",
        json!({"service": "web", "desiredCount": 0}),
    )
    .await;
    eventually_within("the last task to stop", WAIT, || async {
        running(&s, "web").await.is_empty()
    })
    .await;
    f.stop().await;
}

#[tokio::test]
async fn the_agent_facing_operations_answer_as_ecs() {
    let s = Server::start().await;
    // The administrator key's first use is recorded once; after that only the calls write.
    s.ok("ListClusters", json!({})).await;
    let before = s.revision().await;
    for op in [
        "RegisterContainerInstance",
        "SubmitTaskStateChange",
        "SubmitContainerStateChange",
        "SubmitAttachmentStateChanges",
    ] {
        let r = s
            .call(
                op,
                json!({"cluster": "default",
                       "attachments": [{"attachmentArn": "x", "status": "ATTACHED"}]}),
            )
            .await;
        assert_eq!((r.status, r.kind()), (400, "AccessDeniedException"), "{op}");
        assert_eq!(
            r.body["message"],
            format!("User: arn:aws:iam::123456789012:user/admin is not authorized to perform: ecs:{op} on resource: {ARN}:cluster/default"),
            "{op}"
        );
    }
    assert_eq!(
        s.revision().await,
        before,
        "nothing was registered or reported"
    );

    let d = s.ok("DiscoverPollEndpoint", json!({})).await;
    let base = format!("http://{}/", s.addr);
    assert_eq!(
        d,
        json!({"endpoint": base, "telemetryEndpoint": base, "serviceConnectEndpoint": base})
    );

    let reg = s.register_agent("default", 1024, 1024).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    let r = s
        .call(
            "UpdateContainerAgent",
            json!({"containerInstance": reg.instance_id}),
        )
        .await;
    assert_eq!(
        (r.kind(), r.body["message"].as_str()),
        (
            "NoUpdateAvailableException",
            Some("There is no update available for your container agent.")
        )
    );
    let r = s
        .call("UpdateContainerAgent", json!({"containerInstance": "nope"}))
        .await;
    assert_eq!(r.kind(), "InvalidParameterException", "{}", r.body);
    let r = s
        .call(
            "UpdateContainerAgent",
            json!({"cluster": "nope", "containerInstance": reg.instance_id}),
        )
        .await;
    assert_eq!(r.kind(), "ClusterNotFoundException");

    s.register_taskdef("web", 128, 64).await;
    let run = s
        .ok(
            "StartTask",
            json!({"taskDefinition": "web", "containerInstances": [reg.instance_id]}),
        )
        .await;
    let task = run["tasks"][0]["taskArn"].as_str().unwrap();
    let r = s
        .call(
            "ExecuteCommand",
            json!({"task": task, "command": "/bin/sh", "interactive": true}),
        )
        .await;
    assert_eq!((r.status, r.kind()), (400, "InvalidParameterException"));
    assert_eq!(r.body["message"], "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn\u{2019}t running. Wait and try again or run a new task with execute command enabled and try again.");

    let r = s
        .call("ListServicesByNamespace", json!({"namespace": "shop"}))
        .await;
    assert_eq!(
        (r.kind(), r.body["message"].as_str()),
        (
            "NamespaceNotFoundException",
            Some("The specified namespace wasn't found.")
        )
    );
    s.ok(
        "UpdateCluster",
        json!({"cluster": "default", "serviceConnectDefaults": {"namespace": "shop"}}),
    )
    .await;
    let l = s
        .ok("ListServicesByNamespace", json!({"namespace": "shop"}))
        .await;
    assert_eq!(l, json!({"serviceArns": []}));
}

/// For each operation: a body with its required members only, and the exceptions its model
/// lists, from botocore's model.
fn model_bodies(ops: &[&str]) -> BTreeMap<String, (Value, Vec<String>)> {
    const GEN: &str = r#"
import json, sys, botocore.session
m = botocore.session.get_session().get_service_model('ecs')
def gen(s):
    t = s.type_name
    if t == 'structure':
        return {k: gen(s.members[k]) for k in s.required_members}
    if t == 'list':
        return [gen(s.member)]
    if t == 'map':
        return {'k': gen(s.value)}
    if t == 'string':
        return s.enum[0] if s.enum else 'x' * max(int(s.metadata.get('min', 1)), 1)
    if t in ('integer', 'long'):
        return int(s.metadata.get('min', 1))
    if t == 'boolean':
        return True
    if t in ('double', 'float'):
        return 1.0
    return 0
out = {}
for op in sys.argv[1:]:
    o = m.operation_model(op)
    out[op] = [gen(o.input_shape) if o.input_shape else {}, [e.name for e in o.error_shapes]]
print(json.dumps(out))
"#;
    let out = std::process::Command::new("/opt/gantry-venv/bin/python")
        .arg("-c")
        .arg(GEN)
        .args(ops)
        .output()
        .expect("botocore's python (bash tests/install-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: BTreeMap<String, (Value, Vec<String>)> = serde_json::from_slice(&out.stdout).unwrap();
    v
}

#[tokio::test]
async fn daemons_gateways_and_express_services_are_refused_with_their_own_exceptions() {
    let s = Server::start().await;
    let ops: Vec<&str> = gantry_server::ECS_REFUSED.iter().map(|(n, _)| *n).collect();
    for group in ["Daemon", "Gateway", "ExpressGatewayService"] {
        assert!(ops.iter().any(|o| o.contains(group)), "{group}");
    }
    // Every operation of those groups in the model is refused, none left "not yet".
    for op in gantry_api::ecs::OPERATIONS {
        if op.name.contains("Daemon") || op.name.contains("Gateway") {
            assert!(ops.contains(&op.name), "{} is not refused", op.name);
        }
    }
    let bodies = model_bodies(&ops);
    s.ok("ListClusters", json!({})).await;
    let before = s.revision().await;
    for op in &ops {
        let (body, errors) = &bodies[*op];
        let want = if errors.iter().any(|e| e == "UnsupportedFeatureException") {
            "UnsupportedFeatureException"
        } else {
            "ClientException"
        };
        let r = s.call(op, body.clone()).await;
        assert_eq!((r.status, r.kind()), (400, want), "{op} {body}: {}", r.body);
        assert!(
            errors.iter().any(|e| e == want),
            "{op}: {want} is not in its model"
        );
        assert_eq!(
            r.body["message"], "This operation isn't supported in this Region.",
            "{op}"
        );
    }
    assert_eq!(s.revision().await, before);
}

#[tokio::test]
async fn the_aws_cli_deletes_task_definitions_and_reads_the_refusals() {
    let s = iam_support::start().await;
    let url = s.url();
    s.register_taskdef("web", 128, 64).await;
    s.register_taskdef("web", 128, 64).await;
    aws_cli::aws(
        &url,
        &[
            "ecs",
            "deregister-task-definition",
            "--task-definition",
            "web:1",
        ],
    )
    .await
    .unwrap();
    let r = aws_cli::aws(
        &url,
        &[
            "ecs",
            "delete-task-definitions",
            "--task-definitions",
            "web:1",
            "web:2",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r["taskDefinitions"][0]["status"], "DELETE_IN_PROGRESS",
        "{r}"
    );
    assert_eq!(
        r["failures"][0]["reason"],
        "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
    );
    let r = aws_cli::aws(
        &url,
        &[
            "ecs",
            "list-task-definitions",
            "--status",
            "DELETE_IN_PROGRESS",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r["taskDefinitionArns"],
        json!([format!("{ARN}:task-definition/web:1")])
    );

    let r = aws_cli::aws(&url, &["ecs", "discover-poll-endpoint"])
        .await
        .unwrap();
    assert_eq!(r["endpoint"], format!("{url}/"));

    let e = aws_cli::aws(&url, &["ecs", "list-daemons"])
        .await
        .unwrap_err();
    assert!(
        e.contains("(UnsupportedFeatureException) when calling the ListDaemons operation: This operation isn't supported in this Region."),
        "{e}"
    );
    let e = aws_cli::aws(
        &url,
        &[
            "ecs",
            "submit-task-state-change",
            "--cluster",
            "default",
            "--status",
            "RUNNING",
        ],
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("(AccessDeniedException) when calling the SubmitTaskStateChange operation: User: arn:aws:iam::123456789012:user/admin is not authorized to perform: ecs:SubmitTaskStateChange"),
        "{e}"
    );
}
