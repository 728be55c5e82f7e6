//! ECS's tagging authorization on create (the `tagResourceAuthorization` account setting,
//! on by ECS's default): a create request that carries tags needs `ecs:TagResource` on the
//! resource it creates as well as the create action, with the request's tags as
//! `aws:RequestTag/*` and `aws:TagKeys` and the create action as `ecs:CreateAction`
//! (AWS's "Grant permission to tag resources on creation"). With the setting `off` for the
//! caller, the create action alone decides, as before ECS introduced it.

use gantry_api::arn;
use gantry_store::Store;
use serde_json::Value;

use super::account_settings;
use super::clusters::cluster_name;
use crate::auth::{Access, Caller};
use crate::error::Result;
use crate::state::AppState;

/// The resource ECS create operation `op` makes, as an ARN (a pattern where its id is not
/// known before it runs); `None` for an operation that creates nothing taggable.
fn created<S>(st: &AppState<S>, op: &str, body: &Value) -> Option<String> {
    let arns = &st.arns;
    let cluster = cluster_name(body["cluster"].as_str());
    let prefix = format!("arn:aws:ecs:{}:{}", st.config.region, st.config.account_id);
    match op {
        "CreateCluster" => Some(arns.cluster(cluster_name(body["clusterName"].as_str()))),
        "CreateService" => Some(arns.service(
            cluster,
            arn::short_id(body["serviceName"].as_str().unwrap_or("")),
        )),
        "RegisterTaskDefinition" => Some(format!(
            "{prefix}:task-definition/{}:*",
            body["family"].as_str().unwrap_or("")
        )),
        "RunTask" | "StartTask" => Some(format!("{prefix}:task/{cluster}/*")),
        "CreateCapacityProvider" => Some(format!(
            "{prefix}:capacity-provider/{}",
            body["name"].as_str().unwrap_or("")
        )),
        "CreateTaskSet" => Some(format!(
            "{prefix}:task-set/{cluster}/{}/*",
            arn::short_id(body["service"].as_str().unwrap_or(""))
        )),
        "RegisterContainerInstance" => Some(format!("{prefix}:container-instance/{cluster}/*")),
        _ => None,
    }
}

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

/// The `ecs:TagResource` access a tagged create needs beyond its own, when
/// `tagResourceAuthorization` is on for `caller`.
pub async fn on_create<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    op: &str,
    body: &Value,
) -> Result<Option<Access>> {
    let tags = request_tags(body);
    if tags.is_empty() {
        return Ok(None);
    }
    let Some(resource) = created(st, op, body) else {
        return Ok(None);
    };
    let on = account_settings::effective_for(st, caller, "tagResourceAuthorization").await?;
    if on.as_deref() != Some("on") {
        return Ok(None);
    }
    Ok(Some(
        Access::new("ecs:TagResource", resource)
            .with_request_tags(tags)
            .with("ecs:CreateAction", [op]),
    ))
}
