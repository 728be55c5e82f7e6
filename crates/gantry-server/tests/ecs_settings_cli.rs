//! The real AWS CLI against account settings and cluster updates: `aws ecs
//! put-account-setting[-default]`, `list-account-settings --effective-settings`,
//! `delete-account-setting`, `update-cluster`, `update-cluster-settings` and
//! `put-cluster-capacity-providers` read what Gantry answers, and ECS's refusals come back
//! under ECS's exception names and messages.

mod aws_cli;
mod common;
mod iam_support;

use aws_cli::aws;
use iam_support::start;

#[tokio::test]
async fn the_aws_cli_puts_lists_and_deletes_account_settings() {
    let s = start().await;
    let url = s.url();
    let r = aws(
        &url,
        &[
            "ecs",
            "put-account-setting",
            "--name",
            "containerInsights",
            "--value",
            "enhanced",
        ],
    )
    .await
    .unwrap();
    assert_eq!(r["setting"]["value"], "enhanced");
    assert_eq!(
        r["setting"]["principalArn"],
        "arn:aws:iam::123456789012:user/admin"
    );
    let r = aws(
        &url,
        &[
            "ecs",
            "put-account-setting-default",
            "--name",
            "awsvpcTrunking",
            "--value",
            "enabled",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r["setting"]["principalArn"],
        "arn:aws:iam::123456789012:root"
    );
    // The CLI pages through nextToken itself: all eleven settings.
    let r = aws(
        &url,
        &["ecs", "list-account-settings", "--effective-settings"],
    )
    .await
    .unwrap();
    let names: Vec<&str> = r["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 11, "{r}");
    assert!(names.contains(&"taskLongArnFormat"));
    let err = aws(
        &url,
        &[
            "ecs",
            "put-account-setting",
            "--name",
            "taskLongArnFormat",
            "--value",
            "disabled",
        ],
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("(InvalidParameterException) when calling the PutAccountSetting operation: You can no longer disable Long Arn settings"),
        "{err}"
    );
    let r = aws(
        &url,
        &[
            "ecs",
            "delete-account-setting",
            "--name",
            "containerInsights",
        ],
    )
    .await
    .unwrap();
    assert_eq!(r["setting"]["value"], "enhanced");
    let r = aws(&url, &["ecs", "list-account-settings"]).await.unwrap();
    assert_eq!(r["settings"], serde_json::json!([]));
}

#[tokio::test]
async fn the_aws_cli_updates_clusters() {
    let s = start().await;
    let url = s.url();
    aws(&url, &["ecs", "create-cluster", "--cluster-name", "c"])
        .await
        .unwrap();
    let r = aws(
        &url,
        &[
            "ecs",
            "update-cluster",
            "--cluster",
            "c",
            "--settings",
            "name=containerInsights,value=enabled",
            "--configuration",
            "executeCommandConfiguration={logging=DEFAULT,kmsKeyId=k1}",
            "--service-connect-defaults",
            "namespace=internal",
        ],
    )
    .await
    .unwrap();
    assert_eq!(r["cluster"]["settings"][0]["value"], "enabled");
    assert_eq!(
        r["cluster"]["configuration"]["executeCommandConfiguration"]["kmsKeyId"],
        "k1"
    );
    assert_eq!(
        r["cluster"]["serviceConnectDefaults"]["namespace"],
        "internal"
    );
    let r = aws(
        &url,
        &[
            "ecs",
            "update-cluster-settings",
            "--cluster",
            "c",
            "--settings",
            "name=containerInsights,value=enhanced",
        ],
    )
    .await
    .unwrap();
    assert_eq!(r["cluster"]["settings"][0]["value"], "enhanced");
    let r = aws(
        &url,
        &[
            "ecs",
            "describe-clusters",
            "--clusters",
            "c",
            "--include",
            "CONFIGURATIONS",
            "SETTINGS",
        ],
    )
    .await
    .unwrap();
    assert_eq!(r["clusters"][0]["settings"][0]["value"], "enhanced");
    assert_eq!(
        r["clusters"][0]["configuration"]["executeCommandConfiguration"]["logging"],
        "DEFAULT"
    );
    let err = aws(
        &url,
        &[
            "ecs",
            "put-cluster-capacity-providers",
            "--cluster",
            "c",
            "--capacity-providers",
            "ghost",
            "--default-capacity-provider-strategy",
            "capacityProvider=ghost,weight=1",
        ],
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("(InvalidParameterException) when calling the PutClusterCapacityProviders operation: The specified capacity provider does not exist."),
        "{err}"
    );
    // A capacity provider, on the cluster with a default strategy, then off and deleted.
    let asg =
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1:autoScalingGroupName/web";
    let r = aws(
        &url,
        &[
            "ecs",
            "create-capacity-provider",
            "--name",
            "web",
            "--auto-scaling-group-provider",
            &format!(
                "autoScalingGroupArn={asg},managedScaling={{status=ENABLED,targetCapacity=90}}"
            ),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r["capacityProvider"]["autoScalingGroupProvider"]["managedScaling"]
            ["maximumScalingStepSize"],
        10000
    );
    let r = aws(
        &url,
        &[
            "ecs",
            "put-cluster-capacity-providers",
            "--cluster",
            "c",
            "--capacity-providers",
            "web",
            "--default-capacity-provider-strategy",
            "capacityProvider=web,weight=1",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r["cluster"]["defaultCapacityProviderStrategy"][0],
        serde_json::json!({"capacityProvider": "web", "weight": 1, "base": 0})
    );
    let err = aws(
        &url,
        &[
            "ecs",
            "delete-capacity-provider",
            "--capacity-provider",
            "web",
        ],
    )
    .await
    .unwrap_err();
    assert!(err.contains("in use and cannot be removed"), "{err}");
    aws(
        &url,
        &[
            "ecs",
            "put-cluster-capacity-providers",
            "--cluster",
            "c",
            "--capacity-providers",
            "[]",
            "--default-capacity-provider-strategy",
            "[]",
        ],
    )
    .await
    .unwrap();
    let r = aws(
        &url,
        &[
            "ecs",
            "delete-capacity-provider",
            "--capacity-provider",
            "web",
        ],
    )
    .await
    .unwrap();
    assert_eq!(r["capacityProvider"]["status"], "INACTIVE");
    let r = aws(&url, &["ecs", "describe-capacity-providers"])
        .await
        .unwrap();
    assert_eq!(r["capacityProviders"], serde_json::json!([]));
    let err = aws(
        &url,
        &[
            "ecs",
            "update-cluster-settings",
            "--cluster",
            "ghost",
            "--settings",
            "name=containerInsights,value=enabled",
        ],
    )
    .await
    .unwrap_err();
    assert!(err.contains("(ClusterNotFoundException)"), "{err}");
}
