//! The node-identity endpoints of the agent gateway: `POST /agent/v1/join` (a grant and a
//! CSR for a node certificate), `GET /agent/v1/ca` (the cluster CA, which the host checks
//! against the hash in its join command before trusting it) and `POST /agent/v1/rotate`
//! (a node-signed request for a fresh certificate).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gantry_api::node::{JoinGrant, JoinRequest, NodeCredential, RotateRequest};
use gantry_api::{ApiError, Timestamp};
use gantry_store::Store;

use super::authority::{Authority, CsrError};
use super::records::{node_key, principal_arn, token_key, NodeRecord, Via};
use super::{gate, tokens};
use crate::auth::gate::{Gated, Wire};
use crate::aws::json as protocol;
use crate::ecs::clusters::{self, cluster_name, DEFAULT_CLUSTER};
use crate::error::{invalid, Error, Result};
use crate::persistence::db;
use crate::persistence::records::InstanceLaunchType;
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// `GET`: the cluster CA certificate (PEM). Unauthenticated: the host trusts it only if
/// its SHA-256 is the one in the join command.
pub const CA_PATH: &str = "/agent/v1/ca";

fn fail<S>(st: &AppState<S>, gated: Gated, e: &Error) -> Response {
    let resp = protocol::error_response_with(&e.to_api(), &gated.rid);
    gated.finish(st, resp)
}

fn csr_error(e: CsrError) -> Error {
    match e {
        CsrError::Sign(_) => {
            Error::Api(ApiError::new(gantry_api::ErrorKind::Server, e.to_string()))
        }
        _ => invalid(e.to_string()),
    }
}

fn system_time(t: Timestamp) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t.max(0.0))
}

/// `POST /agent/v1/join`.
pub async fn join<S: Store>(State(st): State<Arc<AppState<S>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let wire = Wire::of(&parts);
    let mut gated = Gated::begin(&st, &wire, "gantry", "JoinNode");
    let bytes = match crate::aws::body::read(st.config.max_body_bytes, &parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return gated.finish(&st, protocol::error_response(&e)),
    };
    let req: JoinRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let e = invalid(format!("The join request is not a valid JoinRequest: {e}"));
            return fail(&st, gated, &e);
        }
    };
    let cluster = cluster_name(Some(&req.cluster)).to_string();
    gated.audit.resources.push(st.arns.cluster(&cluster));
    match join_node(&st, &cluster, &req).await {
        Ok(cred) => {
            gated.audit.principal_arn = Some(principal_arn(
                &st.config.region,
                &st.config.account_id,
                &cred.node_id,
            ));
            gate::allowed(&mut gated, &[]);
            tracing::info!(node = %cred.node_id, cluster = %cluster, launch_type = %cred.launch_type, "a host joined");
            gated.finish(&st, (StatusCode::OK, Json(cred)).into_response())
        }
        Err(e) => {
            tracing::info!(cluster = %cluster, error = %e, "a join was refused");
            fail(&st, gated, &e)
        }
    }
}

async fn join_node<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    req: &JoinRequest,
) -> Result<NodeCredential> {
    Authority::check_csr(&req.csr_pem).map_err(csr_error)?;
    // The cluster must be there to register into (ECS makes `default` on first use).
    if cluster == DEFAULT_CLUSTER {
        clusters::ensure(st, cluster, None).await?;
    } else {
        clusters::active(st, cluster).await?;
    }
    let authority = st
        .nodes
        .authority()
        .map_err(|e| Error::Api(ApiError::new(gantry_api::ErrorKind::Server, e.to_string())))?;
    let now = st.clock.now();
    let (node_id, launch_type) = match &req.grant {
        JoinGrant::Token { token } => {
            let node_id = super::records::new_ec2_id();
            redeem_token(st, token, cluster, &node_id, &req.hostname).await?;
            (node_id, InstanceLaunchType::Ec2)
        }
        JoinGrant::Activation {
            activation_id,
            activation_code,
        } => {
            let r =
                crate::ssm::activations::redeem(st, activation_id, activation_code, &req.hostname)
                    .await?;
            let node_id = r.managed_instance_id;
            let rec = new_node(
                &node_id,
                cluster,
                InstanceLaunchType::External,
                Via::Activation(activation_id.clone()),
                &req.hostname,
                now,
            );
            let key = node_key(&node_id);
            let ok = db::commit(
                &st.store,
                vec![db::unchanged(&key, 0)],
                vec![db::put(&key, &rec)?],
            )
            .await?;
            if !ok {
                return Err(Error::Contention {
                    what: format!("node {node_id}"),
                });
            }
            (node_id, InstanceLaunchType::External)
        }
    };
    let issued = authority
        .issue(
            &req.csr_pem,
            &node_id,
            system_time(now),
            st.config.node_credential_ttl,
        )
        .map_err(csr_error)?;
    Ok(NodeCredential {
        node_id,
        launch_type: launch_type.as_str().to_string(),
        certificate_pem: issued.pem,
        expires_at: issued.expires_at,
    })
}

fn new_node(
    node_id: &str,
    cluster: &str,
    launch_type: InstanceLaunchType,
    via: Via,
    hostname: &str,
    now: Timestamp,
) -> NodeRecord {
    NodeRecord {
        node_id: node_id.to_string(),
        cluster: cluster.to_string(),
        launch_type,
        via,
        hostname: hostname.to_string(),
        container_instance_id: None,
        created_at: now,
        revoked_at: None,
        revoked_reason: None,
    }
}

/// Checks `token` and, in one transaction, counts the registration and writes the node
/// record of `node_id`. Says the token's id.
async fn redeem_token<S: Store>(
    st: &AppState<S>,
    token: &str,
    cluster: &str,
    node_id: &str,
    hostname: &str,
) -> Result<String> {
    retry(
        || "the join token".to_string(),
        || async move {
            let now = st.clock.now();
            let t = tokens::check(st, token, cluster, now).await?;
            let mut counted = t.value.clone();
            counted.registrations_count += 1;
            let rec = new_node(
                node_id,
                cluster,
                InstanceLaunchType::Ec2,
                Via::Token(t.value.id.clone()),
                hostname,
                now,
            );
            let nkey = node_key(node_id);
            let ok = db::commit(
                &st.store,
                vec![db::unchanged(&t.key, t.revision), db::unchanged(&nkey, 0)],
                vec![
                    db::put(&token_key(&t.value.id), &counted)?,
                    db::put(&nkey, &rec)?,
                ],
            )
            .await?;
            Ok(if ok {
                Attempt::Done(t.value.id)
            } else {
                Attempt::Conflict
            })
        },
    )
    .await
}

/// `GET /agent/v1/ca`.
pub async fn ca<S: Store>(State(st): State<Arc<AppState<S>>>) -> Response {
    match st.nodes.authority() {
        Ok(a) => {
            let mut resp = (StatusCode::OK, a.ca_pem().to_string()).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            );
            resp
        }
        Err(e) => protocol::error_response(&ApiError::new(
            gantry_api::ErrorKind::Server,
            format!("The cluster CA is not available: {e}"),
        )),
    }
}

/// `POST /agent/v1/rotate`: node-signed, even on a server that does not authenticate
/// (a certificate is issued only to whoever holds one).
pub async fn rotate<S: Store>(State(st): State<Arc<AppState<S>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let wire = Wire::of(&parts);
    let mut gated = Gated::begin(&st, &wire, "gantry", "RotateNodeCredential");
    let bytes = match crate::aws::body::read(st.config.max_body_bytes, &parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return gated.finish(&st, protocol::error_response(&e)),
    };
    let v = match super::verify::verify(&st, &parts, &bytes).await {
        Ok(v) => v,
        Err(r) => return gate::refused(&st, gated, &r),
    };
    gated.audit.principal_arn = Some(v.principal_arn.clone());
    let req: RotateRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let e = invalid(format!(
                "The rotation request is not a valid RotateRequest: {e}"
            ));
            return fail(&st, gated, &e);
        }
    };
    let issued = st
        .nodes
        .authority()
        .map_err(|e| Error::Api(ApiError::new(gantry_api::ErrorKind::Server, e.to_string())))
        .and_then(|a| {
            a.issue(
                &req.csr_pem,
                &v.node.node_id,
                system_time(st.clock.now()),
                st.config.node_credential_ttl,
            )
            .map_err(csr_error)
        });
    match issued {
        Ok(i) => {
            gate::allowed(&mut gated, &[st.arns.cluster(&v.node.cluster)]);
            tracing::info!(node = %v.node.node_id, "node credential rotated");
            let cred = NodeCredential {
                node_id: v.node.node_id.clone(),
                launch_type: v.node.launch_type.as_str().to_string(),
                certificate_pem: i.pem,
                expires_at: i.expires_at,
            };
            gated.finish(&st, (StatusCode::OK, Json(cred)).into_response())
        }
        Err(e) => fail(&st, gated, &e),
    }
}
