//! `POST /agent/v1/register`: an agent registers its host as a container instance (or
//! refreshes the registration it had).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::BTreeSet;

use gantry_api::protocol::{RegisterRequest, RegisterResponse};
use gantry_api::{ApiError, ErrorKind};
use gantry_store::Store;

use super::task_slices;
use crate::auth::gate::{Gated, Wire};
use crate::auth::Access;
use crate::aws::json as protocol;
use crate::ecs::clusters::{self, cluster_name, DEFAULT_CLUSTER};
use crate::error::{invalid, Error, Result};
use crate::nodes::gate as node_gate;
use crate::nodes::records::{node_key, NodeRecord};
use crate::nodes::refusal::NodeRefusal;
use crate::persistence::db::{self, Versioned};
use crate::persistence::records::{instance_key, Allocation, InstanceRecord, InstanceStatus};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

pub fn error_response(e: &Error) -> Response {
    protocol::error_response(&e.to_api())
}

/// `POST /agent/v1/register`: signed by the node (its certificate from the cluster CA) and
/// bound to it: the first registration records the container instance on the node's
/// record, later ones may refresh only that instance, in the node's own cluster. A server
/// that does not authenticate takes any registration, as before node identities.
pub async fn register<S: Store>(State(st): State<Arc<AppState<S>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let wire = Wire::of(&parts);
    let mut gated = Gated::begin(&st, &wire, "ecs", "RegisterContainerInstance");
    let bytes = match crate::aws::body::read(st.config.max_body_bytes, &parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return gated.finish(&st, protocol::error_response(&e)),
    };
    let node = match node_gate::check(&st, &mut gated, &parts, &bytes).await {
        Ok(n) => n,
        Err(r) => return node_gate::refused(&st, gated, &r),
    };
    let req: RegisterRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let resp = protocol::error_response(&ApiError::client(format!(
                "The registration request is not a valid RegisterRequest: {e}"
            )));
            return gated.finish(&st, resp);
        }
    };
    let cluster = st.arns.cluster(cluster_name(Some(&req.cluster)));
    if node.is_none() {
        // Authentication is off: the gate lets everything through, as it always did.
        let caller = match gated.check(&st, &wire, &bytes, "ecs").await {
            Ok(c) => c,
            Err(r) => return gated.refused(&st, &r),
        };
        let access = Access::new("ecs:RegisterContainerInstance", cluster.clone());
        if let Err(r) = gated.allow(&st, &caller, &[access]).await {
            return gated.refused(&st, &r);
        }
    }
    let node_id = node.as_ref().map(|v| v.node.node_id.clone());
    let resp = match register_instance(&st, req, node_id.as_deref()).await {
        Ok(resp) => {
            if node.is_some() {
                node_gate::allowed(&mut gated, &[cluster, resp.container_instance_arn.clone()]);
            }
            (StatusCode::OK, Json(resp)).into_response()
        }
        Err(Error::Api(e)) if e.kind == ErrorKind::AccessDenied => {
            tracing::warn!(node = ?node_id, reason = %e.message, "registration refused");
            return node_gate::refused(&st, gated, &NodeRefusal::Forbidden(e.message));
        }
        Err(e) => error_response(&e),
    };
    gated.finish(&st, resp)
}

fn denied(message: String) -> Error {
    Error::Api(ApiError::new(ErrorKind::AccessDenied, message))
}

/// The node's record, checked against what it asks to register as: its own cluster, and
/// the container instance it registered before (or none, the first time).
async fn node_binding<S: Store>(
    st: &AppState<S>,
    node_id: &str,
    cluster: &str,
    asked: Option<&str>,
) -> Result<Versioned<NodeRecord>> {
    let Some(n) = db::get::<S, NodeRecord>(&st.store, &node_key(node_id)).await? else {
        return Err(denied(format!(
            "The node {node_id} is not known to this server: join the host again."
        )));
    };
    if n.value.revoked_at.is_some() {
        return Err(denied(format!(
            "The node credential of {node_id} was revoked: join the host again with a new token or activation."
        )));
    }
    if n.value.cluster != cluster {
        return Err(denied(format!(
            "The node {node_id} joined cluster {}; it cannot register in cluster {cluster}.",
            n.value.cluster
        )));
    }
    match (&n.value.container_instance_id, asked) {
        (_, None) => {}
        (Some(mine), Some(a)) if mine == a => {}
        (Some(mine), Some(a)) => {
            return Err(denied(format!(
                "The node {node_id} is container instance {mine}; it cannot register as container instance {a}."
            )))
        }
        (None, Some(a)) => {
            return Err(denied(format!(
                "The node {node_id} has not registered yet; it cannot register as container instance {a}: register without an instance id."
            )))
        }
    }
    Ok(n)
}

/// Registers an agent's host, or refreshes the registration of one it had before.
/// With `node_id`, the registration is bound to that node ([`node_binding`]) and recorded
/// on its record in the same transaction.
pub async fn register_instance<S: Store>(
    st: &AppState<S>,
    req: RegisterRequest,
    node_id: Option<&str>,
) -> Result<RegisterResponse> {
    if req.cpu <= 0 || req.memory <= 0 {
        return Err(invalid(format!(
            "The agent registered cpu {} and memory {}; both must be positive. Check the agent's resource configuration.",
            req.cpu, req.memory
        )));
    }
    let cluster = cluster_name(Some(&req.cluster)).to_string();
    let cluster = &cluster;
    let req = &req;
    retry(
        || format!("registration in cluster {cluster}"),
        || async move {
            // ECS creates the default cluster on first use; any other cluster must exist.
            let c = if cluster == DEFAULT_CLUSTER {
                clusters::ensure(st, cluster, None).await?
            } else {
                clusters::active(st, cluster).await?
            };
            let node = match node_id {
                Some(n) => Some(node_binding(st, n, cluster, req.instance_id.as_deref()).await?),
                None => None,
            };
            // A node registers again as the instance it registered as, whatever it sends.
            let asked = node
                .as_ref()
                .and_then(|n| n.value.container_instance_id.clone())
                .or_else(|| req.instance_id.clone());
            let known = match &asked {
                Some(id) => db::get::<S, InstanceRecord>(&st.store, &instance_key(cluster, id))
                    .await?
                    .filter(|i| i.value.status != InstanceStatus::Inactive),
                None => None,
            };
            if let (Some(n), Some(i)) = (&node, &known) {
                if i.value.node_id.as_deref() != Some(n.value.node_id.as_str()) {
                    return Err(denied(format!(
                        "Container instance {} belongs to another node; node {} cannot register as it.",
                        i.value.id, n.value.node_id
                    )));
                }
            }
            if let (Some(n), Some(id), None) = (&node, &asked, &known) {
                return Err(denied(format!(
                    "Container instance {id} of node {} was deregistered: join the host again.",
                    n.value.node_id
                )));
            }
            let (mut rec, revision) = match known {
                Some(i) => (i.value, i.revision),
                None => (
                    InstanceRecord {
                        id: uuid::Uuid::new_v4().simple().to_string(),
                        cluster: cluster.clone(),
                        hostname: String::new(),
                        status: InstanceStatus::Active,
                        agent_connected: false,
                        agent_version: String::new(),
                        registered_at: st.clock.now(),
                        cpu: 0,
                        memory: 0,
                        reserved_ports: BTreeSet::new(),
                        used: Allocation::default(),
                        groups: Some(Default::default()),
                        agent_attributes: Vec::new(),
                        custom_attributes: Default::default(),
                        task_slice: None,
                        node_address: None,
                        launch_type: node.as_ref().map(|n| n.value.launch_type).unwrap_or_default(),
                        node_id: node.as_ref().map(|n| n.value.node_id.clone()),
                    },
                    0,
                ),
            };
            rec.hostname = req.hostname.clone();
            rec.cpu = req.cpu;
            rec.memory = req.memory;
            rec.reserved_ports = req.reserved_ports.iter().copied().collect();
            rec.agent_version = req.agent_version.clone();
            rec.agent_attributes = req.attributes.clone();
            if !rec.agent_attributes.iter().any(|(k, _)| k == "ecs.os-type") {
                rec.agent_attributes
                    .push(("ecs.os-type".to_string(), "linux".to_string()));
            }
            if req.node_address.is_some() {
                rec.node_address = req.node_address.clone();
            }
            let key = instance_key(cluster, &rec.id);
            // Comparing the cluster record keeps a concurrent DeleteCluster from missing us.
            let mut compares = vec![
                db::unchanged(&c.key, c.revision),
                db::unchanged(&key, revision),
            ];
            let mut ops = Vec::new();
            if let Some(net) = &st.task_network {
                if let Some((cmp, op)) = task_slices::claim(st, net, &mut rec).await? {
                    compares.push(cmp);
                    ops.push(op);
                }
                // The agent takes its awsvpc addresses from the slice it is given, so a node
                // with a slice runs awsvpc tasks: say so the way ECS agents do.
                let eni = gantry_scheduler::TASK_ENI;
                if rec.task_slice.is_some() && !rec.agent_attributes.iter().any(|(k, _)| k == eni)
                {
                    rec.agent_attributes.push((eni.to_string(), String::new()));
                }
            }
            ops.push(db::put(&key, &rec)?);
            if let Some(n) = &node {
                compares.push(db::unchanged(&n.key, n.revision));
                if n.value.container_instance_id.as_deref() != Some(rec.id.as_str()) {
                    let mut bound = n.value.clone();
                    bound.container_instance_id = Some(rec.id.clone());
                    ops.push(db::put(&n.key, &bound)?);
                }
            }
            let ok = db::commit(&st.store, compares, ops).await?;
            if ok {
                tracing::info!(cluster = %cluster, instance = %rec.id, task_slice = ?rec.task_slice, "container instance registered");
                return Ok(Attempt::Done(RegisterResponse {
                    container_instance_arn: st.arns.container_instance(cluster, &rec.id),
                    instance_id: rec.id,
                    task_network: st.task_network.map(|n| n.cidr()),
                    task_slice: rec.task_slice,
                }));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await
}
