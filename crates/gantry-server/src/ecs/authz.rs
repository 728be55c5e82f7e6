//! What each ECS operation is authorized on, after AWS's Service Authorization Reference
//! ("Actions, resources, and condition keys for Amazon Elastic Container Service"): the
//! action `ecs:<Operation>`, the resource ARNs it lists for the operation (`*` where it
//! lists none), and the condition keys: `ecs:cluster` (the cluster's ARN),
//! `ecs:task-definition`, `ecs:container-instances`, `aws:RequestTag/*` and `aws:TagKeys`
//! for tags a request attaches, and `ecs:ResourceTag/*` (with `aws:ResourceTag/*`) from the
//! stored tags of clusters, services, tasks and task definitions. Container instances carry
//! no tags in Gantry, so their ARNs come without `ecs:ResourceTag/*`.
//!
//! The `ecs:TagResource` check AWS adds for tag-on-create is added by
//! [`super::tag_authorization`] (it depends on the caller's `tagResourceAuthorization`
//! account setting). Not modelled: `ecs:capacity-provider`.

use gantry_api::arn;
use gantry_store::Store;
use serde_json::Value;

use super::clusters::cluster_name;
use super::{tags, task_definitions};
use crate::auth::Access;
use crate::error::Result;
use crate::state::AppState;

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `tags: [{key, value}]` of a request.
fn request_tags(body: &Value) -> Vec<(&str, &str)> {
    body["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| Some((t["key"].as_str()?, t["value"].as_str().unwrap_or(""))))
                .collect()
        })
        .unwrap_or_default()
}

/// The ARN of the task definition a request names (`family`, `family:revision` or an ARN).
/// A bare family is its latest ACTIVE revision, as the operation will use; one that does not
/// resolve stays `task-definition/<family>` so the caller learns nothing of what exists.
async fn taskdef_arn<S: Store>(st: &AppState<S>, reference: &str) -> Result<String> {
    if arn::parse(reference).is_some() {
        return Ok(reference.to_string());
    }
    if reference.contains(':') {
        return Ok(format!(
            "arn:aws:ecs:{}:{}:task-definition/{reference}",
            st.config.region, st.config.account_id
        ));
    }
    Ok(match task_definitions::resolve(st, reference).await {
        Ok(d) => st
            .arns
            .task_definition(&d.value.family, i64::from(d.value.revision)),
        Err(_) => format!(
            "arn:aws:ecs:{}:{}:task-definition/{reference}",
            st.config.region, st.config.account_id
        ),
    })
}

/// Adds the stored tags of the resource `a` is on.
async fn tagged<S: Store>(st: &AppState<S>, a: Access) -> Result<Access> {
    if a.resource == "*" {
        return Ok(a);
    }
    let t = tags::read(st, &a.resource).await?;
    Ok(a.with_resource_tags(
        "ecs",
        t.iter().map(|t| {
            (
                t.key.as_deref().unwrap_or(""),
                t.value.as_deref().unwrap_or(""),
            )
        }),
    ))
}

/// The accesses ECS operation `op` with (validated) body `body` needs, with the stored tags
/// of each resource as `ecs:ResourceTag/*` keys when `resource_tags` (see
/// [`crate::auth::authorize::mention_resource_tags`]).
pub async fn accesses<S: Store>(
    st: &AppState<S>,
    op: &str,
    body: &Value,
    resource_tags: bool,
) -> Result<Vec<Access>> {
    let arns = &st.arns;
    let action = format!("ecs:{op}");
    let cluster = cluster_name(body["cluster"].as_str()).to_string();
    let cluster_arn = arns.cluster(&cluster);
    let on = |resource: String| Access::new(action.clone(), resource);
    let in_cluster = |resource: String| on(resource).with("ecs:cluster", [cluster_arn.clone()]);
    let instance = |id: &str| arns.container_instance(&cluster, arn::short_id(id));
    let mut out = match op {
        "ListClusters"
        | "DescribeTaskDefinition"
        | "DeregisterTaskDefinition"
        | "ListTaskDefinitions"
        | "ListTaskDefinitionFamilies" => vec![on("*".into())],
        "UpdateCapacityProvider" | "DeleteCapacityProvider" => {
            let name = body["name"]
                .as_str()
                .or_else(|| body["capacityProvider"].as_str())
                .unwrap_or("");
            vec![on(format!(
                "arn:aws:ecs:{}:{}:capacity-provider/{}",
                st.config.region,
                st.config.account_id,
                arn::short_id(name)
            ))]
        }
        "CreateCluster" | "RegisterTaskDefinition" | "CreateCapacityProvider" => {
            vec![on("*".into()).with_request_tags(request_tags(body))]
        }
        "DeleteCluster"
        | "UpdateCluster"
        | "UpdateClusterSettings"
        | "PutClusterCapacityProviders"
        | "ListContainerInstances"
        | "DeregisterContainerInstance"
        | "ListAttributes" => vec![on(cluster_arn.clone())],
        "DescribeClusters" => {
            let named = strs(&body["clusters"]);
            let names = if named.is_empty() {
                vec!["default"]
            } else {
                named
            };
            names
                .into_iter()
                .map(|c| on(arns.cluster(cluster_name(Some(c)))))
                .collect()
        }
        "DescribeContainerInstances" | "UpdateContainerInstancesState" => {
            strs(&body["containerInstances"])
                .into_iter()
                .map(|i| in_cluster(instance(i)))
                .collect()
        }
        "PutAttributes" | "DeleteAttributes" => {
            let mut targets: Vec<String> = Vec::new();
            for a in body["attributes"].as_array().into_iter().flatten() {
                if let Some(t) = a["targetId"].as_str() {
                    let arn = instance(t);
                    if !targets.contains(&arn) {
                        targets.push(arn);
                    }
                }
            }
            if targets.is_empty() {
                vec![in_cluster(cluster_arn.clone())]
            } else {
                targets.into_iter().map(in_cluster).collect()
            }
        }
        "TagResource" | "UntagResource" | "ListTagsForResource" => {
            let resource = body["resourceArn"].as_str().unwrap_or("*").to_string();
            let a = on(resource);
            vec![match op {
                "TagResource" => a.with_request_tags(request_tags(body)),
                "UntagResource" => a.with("aws:TagKeys", strs(&body["tagKeys"])),
                _ => a,
            }]
        }
        "RunTask" | "StartTask" => {
            let td = taskdef_arn(st, body["taskDefinition"].as_str().unwrap_or("")).await?;
            let mut a = in_cluster(td).with_request_tags(request_tags(body));
            if op == "StartTask" {
                let ids: Vec<String> = strs(&body["containerInstances"])
                    .into_iter()
                    .map(instance)
                    .collect();
                a = a.with("ecs:container-instances", ids);
            }
            vec![a]
        }
        "StopTask" => vec![in_cluster(
            arns.task(&cluster, arn::short_id(body["task"].as_str().unwrap_or(""))),
        )],
        "DescribeTasks" => strs(&body["tasks"])
            .into_iter()
            .map(|t| in_cluster(arns.task(&cluster, arn::short_id(t))))
            .collect(),
        "ListTasks" => vec![in_cluster(
            body["containerInstance"]
                .as_str()
                .map_or_else(|| "*".to_string(), instance),
        )],
        "ListServices" => vec![in_cluster("*".into())],
        "CreateService" | "UpdateService" => {
            let name = body["serviceName"]
                .as_str()
                .or_else(|| body["service"].as_str())
                .unwrap_or("");
            let mut a = in_cluster(arns.service(&cluster, arn::short_id(name)));
            if let Some(td) = body["taskDefinition"].as_str() {
                a = a.with("ecs:task-definition", [taskdef_arn(st, td).await?]);
            }
            vec![a.with_request_tags(request_tags(body))]
        }
        "DeleteService" => vec![in_cluster(arns.service(
            &cluster,
            arn::short_id(body["service"].as_str().unwrap_or("")),
        ))],
        "ListServiceDeployments" => vec![in_cluster(arns.service(
            &cluster,
            arn::short_id(body["service"].as_str().unwrap_or("")),
        ))],
        // The ARNs name their cluster, which is the `ecs:cluster` key.
        "DescribeServiceDeployments" | "DescribeServiceRevisions" | "StopServiceDeployment" => {
            let mut named = strs(&body["serviceDeploymentArns"]);
            named.extend(strs(&body["serviceRevisionArns"]));
            named.extend(body["serviceDeploymentArn"].as_str());
            named
                .into_iter()
                .map(|a| {
                    let cluster = arn::parse(a)
                        .and_then(|p| p.resource.split('/').next())
                        .unwrap_or("default");
                    on(a.to_string()).with("ecs:cluster", [arns.cluster(cluster)])
                })
                .collect()
        }
        "DescribeServices" => strs(&body["services"])
            .into_iter()
            .map(|s| in_cluster(arns.service(&cluster, arn::short_id(s))))
            .collect(),
        // ops13: task definition deletion, task protection, the agent-facing operations.
        "DeleteTaskDefinitions" => {
            let mut out = Vec::new();
            for td in strs(&body["taskDefinitions"]) {
                out.push(on(taskdef_arn(st, td).await?));
            }
            out
        }
        "GetTaskProtection" | "UpdateTaskProtection" => strs(&body["tasks"])
            .into_iter()
            .map(|t| in_cluster(arns.task(&cluster, arn::short_id(t))))
            .collect(),
        "ExecuteCommand" => vec![
            on(cluster_arn.clone()),
            in_cluster(arns.task(&cluster, arn::short_id(body["task"].as_str().unwrap_or("")))),
        ],
        "UpdateContainerAgent" => vec![in_cluster(instance(
            body["containerInstance"].as_str().unwrap_or(""),
        ))],
        "RegisterContainerInstance"
        | "SubmitTaskStateChange"
        | "SubmitContainerStateChange"
        | "SubmitAttachmentStateChanges" => vec![on(cluster_arn.clone())],
        // An operation this table does not know is authorized on `*`, never let through.
        _ => vec![on("*".into())],
    };
    if out.is_empty() {
        // A request naming no resource (an empty list the model allows) still needs the action.
        out.push(in_cluster("*".into()));
    }
    if !resource_tags {
        return Ok(out);
    }
    let mut with_tags = Vec::with_capacity(out.len());
    for a in out {
        let is_instance = a.resource.contains(":container-instance/");
        with_tags.push(if is_instance { a } else { tagged(st, a).await? });
    }
    Ok(with_tags)
}
