//! The real AWS CLI against service deployments: `aws ecs list-service-deployments`,
//! `describe-service-deployments`, `describe-service-revisions` and
//! `stop-service-deployment` after an `update-service`, with simulated agents running the
//! tasks, and ECS's exception names on the CLI's error output.

mod aws_cli;
mod common;
mod iam_support;

use std::time::Duration;

use aws_cli::aws;
use common::{eventually_within, Server};
use gantry_link::sim::{Behaviour, Fleet};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

async fn status(url: &str, arn: &str) -> Value {
    aws(
        url,
        &[
            "ecs",
            "describe-service-deployments",
            "--service-deployment-arns",
            arn,
        ],
    )
    .await
    .unwrap()["serviceDeployments"][0]
        .clone()
}

#[tokio::test]
async fn the_aws_cli_lists_describes_and_rolls_back_a_deployment() {
    // Simulated agents sign with a key of their own, so the gateway does not authenticate.
    let s = Server::start_open().await;
    let url = s.url();
    let f = Fleet::start_on(
        &s.link(),
        "default",
        2,
        4096,
        4096,
        Behaviour::FailImage("broken:1".into()),
    )
    .await
    .unwrap();
    s.register_taskdef("web", 128, 128).await;
    aws(
        &url,
        &[
            "ecs",
            "create-service",
            "--service-name",
            "web",
            "--task-definition",
            "web",
            "--desired-count",
            "2",
        ],
    )
    .await
    .unwrap();
    let first = aws(
        &url,
        &["ecs", "list-service-deployments", "--service", "web"],
    )
    .await
    .unwrap()["serviceDeployments"][0]
        .clone();
    let first_arn = first["serviceDeploymentArn"].as_str().unwrap().to_string();
    assert!(
        first_arn.starts_with("arn:aws:ecs:us-east-1:123456789012:service-deployment/default/web/")
    );
    eventually_within("the first deployment to succeed", WAIT, || async {
        status(&url, &first_arn).await["status"] == "SUCCESSFUL"
    })
    .await;

    s.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "networkMode": "host",
               "containerDefinitions": [{"name": "app", "image": "broken:1", "memory": 128}]}),
    )
    .await;
    aws(
        &url,
        &[
            "ecs",
            "update-service",
            "--service",
            "web",
            "--task-definition",
            "web:2",
        ],
    )
    .await
    .unwrap();
    let listed = aws(
        &url,
        &["ecs", "list-service-deployments", "--service", "web"],
    )
    .await
    .unwrap();
    let all = listed["serviceDeployments"].as_array().unwrap();
    assert_eq!(all.len(), 2, "{listed}");
    let second_arn = all[0]["serviceDeploymentArn"].as_str().unwrap().to_string();
    let d = status(&url, &second_arn).await;
    assert!(
        ["PENDING", "IN_PROGRESS"].contains(&d["status"].as_str().unwrap()),
        "{d}"
    );
    assert_eq!(
        d["sourceServiceRevisions"][0]["arn"],
        first["targetServiceRevisionArn"]
    );

    let stopped = aws(
        &url,
        &[
            "ecs",
            "stop-service-deployment",
            "--service-deployment-arn",
            &second_arn,
            "--stop-type",
            "ROLLBACK",
        ],
    )
    .await
    .unwrap();
    assert_eq!(stopped["serviceDeploymentArn"], second_arn.as_str());
    eventually_within("the rollback to succeed", WAIT, || async {
        status(&url, &second_arn).await["status"] == "ROLLBACK_SUCCESSFUL"
    })
    .await;
    let d = status(&url, &second_arn).await;
    assert_eq!(
        d["rollback"]["serviceRevisionArn"],
        first["targetServiceRevisionArn"]
    );
    let rev = first["targetServiceRevisionArn"].as_str().unwrap();
    let r = aws(
        &url,
        &[
            "ecs",
            "describe-service-revisions",
            "--service-revision-arns",
            rev,
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r["serviceRevisions"][0]["taskDefinition"],
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
    );
    let only = aws(
        &url,
        &[
            "ecs",
            "list-service-deployments",
            "--service",
            "web",
            "--status",
            "ROLLBACK_SUCCESSFUL",
        ],
    )
    .await
    .unwrap();
    assert_eq!(only["serviceDeployments"].as_array().unwrap().len(), 1);

    let err = aws(
        &url,
        &[
            "ecs",
            "stop-service-deployment",
            "--service-deployment-arn",
            &first_arn.replace("/web/", "/ghost/"),
        ],
    )
    .await
    .unwrap_err();
    assert!(err.contains("ServiceDeploymentNotFoundException"), "{err}");
    f.stop().await;
}
