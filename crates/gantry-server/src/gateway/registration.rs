//! `POST /agent/v1/register`: an agent registers its host as a container instance (or
//! refreshes the registration it had).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::BTreeSet;

use gantry_api::protocol::{RegisterRequest, RegisterResponse};
use gantry_api::ApiError;
use gantry_store::Store;

use super::task_slices;
use crate::auth::gate::{Gated, Wire};
use crate::auth::Access;
use crate::aws::json as protocol;
use crate::ecs::clusters::{self, cluster_name, DEFAULT_CLUSTER};
use crate::error::{invalid, Error, Result};
use crate::persistence::db;
use crate::persistence::records::{instance_key, Allocation, InstanceRecord, InstanceStatus};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

pub fn error_response(e: &Error) -> Response {
    protocol::error_response(&e.to_api())
}

/// `POST /agent/v1/register`: signed for `ecs` and authorized as
/// `ecs:RegisterContainerInstance` on the cluster's ARN.
pub async fn register<S: Store>(State(st): State<Arc<AppState<S>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let wire = Wire::of(&parts);
    let mut gated = Gated::begin(&st, &wire, "ecs", "RegisterContainerInstance");
    let bytes = match crate::aws::body::read(st.config.max_body_bytes, &parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return gated.finish(&st, protocol::error_response(&e)),
    };
    let caller = match gated.check(&st, &wire, &bytes, "ecs").await {
        Ok(c) => c,
        Err(r) => return gated.refused(&st, &r),
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
    let access = Access::new("ecs:RegisterContainerInstance", cluster);
    if let Err(r) = gated.allow(&st, &caller, &[access]).await {
        return gated.refused(&st, &r);
    }
    let resp = match register_instance(&st, req).await {
        Ok(resp) => (StatusCode::OK, Json(resp)).into_response(),
        Err(e) => error_response(&e),
    };
    gated.finish(&st, resp)
}

/// Registers an agent's host, or refreshes the registration of one it had before.
pub async fn register_instance<S: Store>(
    st: &AppState<S>,
    req: RegisterRequest,
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
            let known = match &req.instance_id {
                Some(id) => db::get::<S, InstanceRecord>(&st.store, &instance_key(cluster, id))
                    .await?
                    .filter(|i| i.value.status != InstanceStatus::Inactive),
                None => None,
            };
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
                        agent_attributes: Vec::new(),
                        custom_attributes: Default::default(),
                        task_slice: None,
                        node_address: None,
                        launch_type: Default::default(),
                        node_id: None,
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
