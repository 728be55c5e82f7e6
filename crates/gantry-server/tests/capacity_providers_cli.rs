//! Capacity providers through the real AWS CLI and boto3: providers created, a cluster made
//! with them and a default strategy, instances put in the providers' groups with
//! `put-attributes`, and tasks run by the default strategy and by the call's own strategy,
//! split by base then weight, each on its provider's instances with `capacityProviderName`.

mod aws_cli;
mod common;
mod iam_support;

use std::collections::BTreeMap;

use aws_cli::aws;
use common::{Agent, Server};
use gantry_api::protocol::RegisterRequest;
use iam_support::{start, ADMIN_ID, ADMIN_SECRET};
use serde_json::Value;

const ASG: &str =
    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1:autoScalingGroupName/";

async fn host(s: &Server, cluster: &str, name: &str) -> (String, Agent) {
    let reg = s
        .register_agent_with(&RegisterRequest {
            cluster: cluster.into(),
            instance_id: None,
            hostname: name.into(),
            cpu: 4096,
            memory: 4096,
            reserved_ports: vec![],
            attributes: vec![],
            agent_version: "0.1.0".into(),
            node_address: None,
        })
        .await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    (reg.container_instance_arn, agent)
}

/// Tasks per provider, each checked to sit on an instance of its provider's group.
fn split_of(tasks: &Value, group: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in tasks.as_array().unwrap() {
        let p = t["capacityProviderName"].as_str().unwrap_or("(none)");
        let i = t["containerInstanceArn"].as_str().unwrap_or("");
        assert_eq!(group.get(i).map(String::as_str), Some(p), "{t}");
        *out.entry(p.to_string()).or_default() += 1;
    }
    out
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// boto3 runs `script` (Python reading `ecs`, a client for the server) and prints JSON.
async fn boto3(endpoint: &str, script: &str) -> Value {
    let python = std::env::var("GANTRY_PYTHON").unwrap_or("/opt/gantry-venv/bin/python".into());
    let program = format!(
        "import boto3, json, os\n\
         ecs = boto3.client('ecs', endpoint_url=os.environ['ENDPOINT'], region_name='us-east-1')\n\
         {script}\n"
    );
    let out = tokio::process::Command::new(&python)
        .args(["-c", &program])
        .env("ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", ADMIN_ID)
        .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot run {python} ({e}); install boto3 with tests/install-deps.sh")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "boto3 failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("boto3 printed non-JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn the_aws_cli_and_boto3_run_tasks_split_over_capacity_providers() {
    let s = start().await;
    let url = s.url();
    for name in ["spot", "ondemand"] {
        let r = aws(
            &url,
            &[
                "ecs",
                "create-capacity-provider",
                "--name",
                name,
                "--auto-scaling-group-provider",
                &format!("autoScalingGroupArn={ASG}{name},managedScaling={{status=ENABLED,targetCapacity=100}}"),
            ],
        )
        .await
        .unwrap();
        assert_eq!(r["capacityProvider"]["status"], "ACTIVE");
    }
    let r = aws(
        &url,
        &[
            "ecs",
            "create-cluster",
            "--cluster-name",
            "cp",
            "--capacity-providers",
            "spot",
            "ondemand",
            "--default-capacity-provider-strategy",
            "capacityProvider=ondemand,base=1,weight=1",
            "capacityProvider=spot,weight=3",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r["cluster"]["defaultCapacityProviderStrategy"][1],
        serde_json::json!({"capacityProvider": "spot", "weight": 3, "base": 0})
    );
    // Two hosts in each provider's group.
    let mut group = BTreeMap::new();
    let mut agents = Vec::new();
    for (i, provider) in ["spot", "spot", "ondemand", "ondemand"].iter().enumerate() {
        let (arn, agent) = host(&s, "cp", &format!("h{i}")).await;
        agents.push(agent);
        aws(
            &url,
            &[
                "ecs",
                "put-attributes",
                "--cluster",
                "cp",
                "--attributes",
                &format!("name=gantry.capacity-provider,value={provider},targetId={arn}"),
            ],
        )
        .await
        .unwrap();
        group.insert(arn, provider.to_string());
    }
    aws(
        &url,
        &[
            "ecs",
            "register-task-definition",
            "--family",
            "web",
            "--container-definitions",
            r#"[{"name":"app","image":"busybox","memory":64,"cpu":64,"essential":true}]"#,
        ],
    )
    .await
    .unwrap();

    // The AWS CLI, no launch type: the cluster's default strategy, 1 on the base then 1:3.
    let r = aws(
        &url,
        &[
            "ecs",
            "run-task",
            "--cluster",
            "cp",
            "--task-definition",
            "web",
            "--count",
            "5",
        ],
    )
    .await
    .unwrap();
    assert_eq!(r["failures"], serde_json::json!([]));
    assert_eq!(
        split_of(&r["tasks"], &group),
        counts(&[("ondemand", 2), ("spot", 3)])
    );
    // describe-tasks shows the provider too.
    let arns: Vec<String> = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect();
    let mut args = vec!["ecs", "describe-tasks", "--cluster", "cp", "--tasks"];
    args.extend(arns.iter().map(String::as_str));
    let d = aws(&url, &args).await.unwrap();
    assert_eq!(
        split_of(&d["tasks"], &group),
        counts(&[("ondemand", 2), ("spot", 3)])
    );

    // boto3 with its own strategy (spot takes its base of 2, then 1:1), and ECS's refusal of
    // a launch type beside a strategy.
    let out = boto3(
        &url,
        r#"
r = ecs.run_task(cluster='cp', taskDefinition='web', count=6, capacityProviderStrategy=[
    {'capacityProvider': 'spot', 'base': 2, 'weight': 1},
    {'capacityProvider': 'ondemand', 'weight': 1}])
try:
    ecs.run_task(cluster='cp', taskDefinition='web', launchType='EC2',
        capacityProviderStrategy=[{'capacityProvider': 'spot', 'weight': 1}])
    err = None
except ecs.exceptions.InvalidParameterException as e:
    err = {'code': e.response['Error']['Code'], 'message': e.response['Error']['Message']}
print(json.dumps({'tasks': r['tasks'], 'failures': r['failures'], 'error': err}, default=str))
"#,
    )
    .await;
    assert_eq!(out["failures"], serde_json::json!([]));
    assert_eq!(
        split_of(&out["tasks"], &group),
        counts(&[("ondemand", 2), ("spot", 4)])
    );
    assert_eq!(out["error"]["code"], "InvalidParameterException");
    assert_eq!(
        out["error"]["message"],
        "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."
    );
    drop(agents);
}
