//! Managed instances: `DescribeInstanceInformation` and `DeregisterManagedInstance`. A managed
//! instance is made by [`super::activations::redeem`]; its ping status comes from the ECS
//! container instance that carries its id as `node_id`: Online exactly when ECS says that
//! instance's `agentConnected` (the same answer, [`crate::ha::presence`], on every replica).

use std::collections::HashMap;

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{invalid_filter_key, invalid_filter_value, invalid_instance_id};
use super::input::{decode, Checks};
use super::paging;
use super::records::{managed_instance_key, ManagedInstanceRecord, MANAGED_INSTANCES};
use crate::error::Result;
use crate::ha::presence;
use crate::persistence::db;
use crate::persistence::records::InstanceStatus;
use crate::persistence::update::{self, Edit};
use crate::state::AppState;

/// What the ECS side knows of a managed instance's host.
#[derive(Debug, Clone, Deserialize)]
struct EcsView {
    id: String,
    status: InstanceStatus,
    agent_connected: bool,
    agent_version: String,
    #[serde(default)]
    node_address: Option<String>,
    #[serde(default)]
    node_id: Option<String>,
}

async fn ecs_views<S: Store>(st: &AppState<S>) -> Result<HashMap<String, EcsView>> {
    let views: Vec<db::Versioned<EcsView>> =
        db::list_where(&st.store, "instances/", |v: &EcsView| {
            v.node_id.as_deref().is_some_and(|n| n.starts_with("mi-"))
        })
        .await?;
    // The record's flag is whichever replica saw the last session change: ask the presence
    // keys, as DescribeContainerInstances does for agentConnected (read once for all).
    let held = if views
        .iter()
        .all(|v| presence::connected_here(st, &v.value.id, v.value.agent_connected))
    {
        Default::default()
    } else {
        presence::held_sessions(st).await?
    };
    let mut out: HashMap<String, EcsView> = HashMap::new();
    for v in views {
        let Some(node) = v.value.node_id.clone() else {
            continue;
        };
        let mut e = v.value;
        e.agent_connected = e.status != InstanceStatus::Inactive
            && (presence::connected_here(st, &e.id, e.agent_connected) || held.contains(&e.id));
        // A host that registered again has an INACTIVE record beside its live one.
        match out.get(&node) {
            Some(o)
                if o.status != InstanceStatus::Inactive && e.status == InstanceStatus::Inactive => {
            }
            _ => {
                out.insert(node, e);
            }
        }
    }
    Ok(out)
}

/// The address part of `host:port` (or of a bare address).
fn ip_of(addr: &str) -> String {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(sa) => sa.ip().to_string(),
        Err(_) => addr.to_string(),
    }
}

fn ping_status(ecs: Option<&EcsView>) -> &'static str {
    match ecs {
        Some(e) if e.agent_connected => "Online",
        _ => "ConnectionLost",
    }
}

fn render<S>(st: &AppState<S>, m: &ManagedInstanceRecord, ecs: Option<&EcsView>) -> Value {
    let mut v = json!({
        "InstanceId": m.id,
        "PingStatus": ping_status(ecs),
        "PlatformType": "Linux",
        "ActivationId": m.activation_id,
        "IamRole": m.iam_role,
        "RegistrationDate": m.registered,
        "ResourceType": "ManagedInstance",
        "ComputerName": m.computer_name,
    });
    if let Some(n) = &m.name {
        v["Name"] = json!(n);
    }
    if let Some(e) = ecs {
        v["AgentVersion"] = json!(e.agent_version);
        if let Some(a) = &e.node_address {
            v["IPAddress"] = json!(ip_of(a));
        }
        if let Some(t) = st.sessions.last_seen(&e.id) {
            v["LastPingDateTime"] = json!(t);
        }
    }
    v
}

#[derive(Debug, Deserialize)]
struct LegacyFilter {
    key: Option<String>,
    #[serde(default, rename = "valueSet")]
    value_set: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StringFilter {
    key: Option<String>,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInstanceInformationRequest {
    #[serde(default)]
    instance_information_filter_list: Vec<LegacyFilter>,
    #[serde(default)]
    filters: Vec<StringFilter>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

const FILTER_KEYS: &[&str] = &[
    "InstanceIds",
    "AgentVersion",
    "PingStatus",
    "PlatformTypes",
    "ActivationIds",
    "IamRole",
    "ResourceType",
];

/// The value of filter `key` on an instance (`tag:K` and `tag-key` too).
fn field(m: &ManagedInstanceRecord, ecs: Option<&EcsView>, key: &str) -> Vec<String> {
    match key {
        "InstanceIds" => vec![m.id.clone()],
        "AgentVersion" => ecs.map(|e| e.agent_version.clone()).into_iter().collect(),
        "PingStatus" => vec![ping_status(ecs).to_string()],
        "PlatformTypes" => vec!["Linux".into()],
        "ActivationIds" => vec![m.activation_id.clone()],
        "IamRole" => vec![m.iam_role.clone()],
        "ResourceType" => vec!["ManagedInstance".into()],
        "tag-key" => m.tags.keys().cloned().collect(),
        k => k
            .strip_prefix("tag:")
            .and_then(|t| m.tags.get(t).cloned())
            .into_iter()
            .collect(),
    }
}

fn check_key(key: &str, tags_allowed: bool) -> Result<()> {
    let tag = tags_allowed && (key == "tag-key" || key.starts_with("tag:"));
    if key == "AssociationStatus" {
        return Err(invalid_filter_key(
            "Gantry runs no State Manager associations, so AssociationStatus cannot be filtered on.",
        ));
    }
    if FILTER_KEYS.contains(&key) || tag {
        Ok(())
    } else {
        Err(invalid_filter_key(format!(
            "The filter key {key} isn't valid; use one of {}{}.",
            FILTER_KEYS.join(", "),
            if tags_allowed {
                ", tag:<key>, tag-key"
            } else {
                ""
            }
        )))
    }
}

pub async fn describe_instance_information<S: Store>(
    st: &AppState<S>,
    body: Value,
) -> Result<Value> {
    let req: DescribeInstanceInformationRequest = decode(body)?;
    let mut c = Checks::default();
    c.range("MaxResults", req.max_results, 5, 50);
    c.done()?;
    if !req.instance_information_filter_list.is_empty() && !req.filters.is_empty() {
        return Err(invalid_filter_key(
            "Give Filters or InstanceInformationFilterList, not both.",
        ));
    }
    let mut filters: Vec<(String, Vec<String>)> = Vec::new();
    for f in req.instance_information_filter_list {
        let key = f.key.unwrap_or_default();
        check_key(&key, false)?;
        filters.push((key, f.value_set));
    }
    for f in req.filters {
        let key = f.key.unwrap_or_default();
        check_key(&key, true)?;
        filters.push((key, f.values));
    }
    for (k, vals) in &filters {
        if vals.is_empty() || vals.len() > 100 || vals.iter().any(String::is_empty) {
            return Err(invalid_filter_value(format!(
                "The filter {k} needs 1 to 100 values, none of them empty."
            )));
        }
    }
    let ecs = ecs_views(st).await?;
    let mut all: Vec<ManagedInstanceRecord> = db::list(&st.store, MANAGED_INSTANCES)
        .await?
        .into_iter()
        .map(|v: db::Versioned<ManagedInstanceRecord>| v.value)
        .filter(|m| m.deregistered.is_none())
        .collect();
    // Naming an instance that is not (or no longer) registered is an error, as in SSM.
    for (k, vals) in &filters {
        if k == "InstanceIds" {
            if let Some(unknown) = vals.iter().find(|v| !all.iter().any(|m| &m.id == *v)) {
                return Err(invalid_instance_id(unknown));
            }
        }
    }
    all.retain(|m| {
        filters.iter().all(|(k, vals)| {
            let have = field(m, ecs.get(&m.id), k);
            have.iter().any(|h| vals.contains(h))
        })
    });
    all.sort_by(|a, b| {
        a.registered
            .total_cmp(&b.registered)
            .then_with(|| a.id.cmp(&b.id))
    });
    let items = all
        .into_iter()
        .map(|m| (paging::cursor(m.registered, &m.id), m))
        .collect();
    let (page, next) = paging::page(items, req.next_token.as_deref(), req.max_results, 10)?;
    let mut out = json!({
        "InstanceInformationList": page.iter().map(|m| render(st, m, ecs.get(&m.id))).collect::<Vec<_>>(),
    });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeregisterManagedInstanceRequest {
    instance_id: Option<String>,
}

/// The registered (not deregistered) managed instance `id`.
pub async fn registered<S: Store>(st: &AppState<S>, id: &str) -> Result<ManagedInstanceRecord> {
    match db::get::<S, ManagedInstanceRecord>(&st.store, &managed_instance_key(id)).await? {
        Some(m) if m.value.deregistered.is_none() => Ok(m.value),
        _ => Err(invalid_instance_id(id)),
    }
}

/// Revokes the host's node credential (its session closes, its next reconnect is refused)
/// and marks the managed instance deregistered. Its ECS container instance stays until
/// DeregisterContainerInstance, as in ECS Anywhere.
pub async fn deregister_managed_instance<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: DeregisterManagedInstanceRequest = decode(body)?;
    let mut c = Checks::default();
    c.required("InstanceId", req.instance_id.as_ref());
    c.managed_instance_id("InstanceId", req.instance_id.as_deref());
    c.done()?;
    let id = req.instance_id.unwrap_or_default();
    registered(st, &id).await?;
    // Revocation first: once the record says deregistered, the credential must be dead.
    crate::nodes::revoke(st, &id, "deregistered with DeregisterManagedInstance").await?;
    let now = st.clock.now();
    update::update(
        &st.store,
        &managed_instance_key(&id),
        |cur: Option<ManagedInstanceRecord>| match cur {
            Some(mut m) if m.deregistered.is_none() => {
                m.deregistered = Some(now);
                Ok(Edit::put(m, ()))
            }
            _ => Err(invalid_instance_id(&id)),
        },
    )
    .await?;
    Ok(json!({}))
}
