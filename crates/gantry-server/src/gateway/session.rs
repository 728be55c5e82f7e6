//! The agent gateway: `POST /agent/v1/register` and the WebSocket session
//! `GET /agent/v1/session?instance=<id>` (DESIGN.md §4). The session pushes the instance's
//! whole desired task set on connect and again whenever one of its tasks changes, with the
//! store revision of the read as `seq`; it answers heartbeats and applies reports.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use gantry_api::protocol::{AgentFrame, ServerFrame};
use gantry_api::{ApiError, ErrorKind};
use gantry_store::{Event, Store};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, Notify};

use super::connection::set_connected;
use super::desired::{desired_state, first_desired_state, text};
use super::registration::error_response;
use super::reports;
use super::sessions::LogsPart;
use crate::auth::gate::{Gated, Wire};
use crate::auth::Access;
use crate::error::{Error, Result};
use crate::nodes::gate as node_gate;
use crate::nodes::refusal::NodeRefusal;
use crate::persistence::db::{self, Versioned};
use crate::persistence::records::{
    instance_key, instances_of, InstanceRecord, InstanceStatus, CLUSTERS,
};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct SessionQuery {
    instance: String,
}

/// The registered instance `id`. The session names the instance, not its cluster, so each
/// cluster's key for it is read (a few reads, not a decode of every instance of every
/// cluster: with 10,000 instances that scan made each session open cost O(instances) and a
/// fleet's registration O(instances²)). Only an id found under no cluster falls back to the
/// full scan, which also covers a record whose cluster record is gone.
async fn find_instance<S: Store>(st: &AppState<S>, id: &str) -> Result<Versioned<InstanceRecord>> {
    let live = |i: &Versioned<InstanceRecord>| {
        i.value.id == id && i.value.status != InstanceStatus::Inactive
    };
    for cluster in st.store.list(CLUSTERS).await? {
        let Some(name) = cluster.key.strip_prefix(CLUSTERS) else {
            continue;
        };
        if let Some(i) = db::get::<S, InstanceRecord>(&st.store, &instance_key(name, id)).await? {
            if live(&i) {
                return Ok(i);
            }
        }
    }
    db::list::<S, InstanceRecord>(&st.store, "instances/")
        .await?
        .into_iter()
        .find(live)
        .ok_or_else(|| {
            Error::Api(ApiError::new(
                ErrorKind::ClusterNotFound,
                format!("Container instance {id} is not registered; register again with POST /agent/v1/register."),
            ))
        })
}

/// `GET /agent/v1/session?instance=<id>`: signed by the node the instance is bound to,
/// before the upgrade. A server that does not authenticate takes any session, as before
/// node identities.
pub async fn session<S: Store>(
    State(st): State<Arc<AppState<S>>>,
    ws: WebSocketUpgrade,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let wire = Wire::of(&parts);
    let mut gated = Gated::begin(&st, &wire, "ecs", "Poll");
    let node = match node_gate::check(&st, &mut gated, &parts, b"").await {
        Ok(n) => n,
        Err(r) => return node_gate::refused(&st, gated, &r),
    };
    let caller = if node.is_none() {
        match gated.check(&st, &wire, b"", "ecs").await {
            Ok(c) => Some(c),
            Err(r) => return gated.refused(&st, &r),
        }
    } else {
        None
    };
    let q = match Query::<SessionQuery>::try_from_uri(&parts.uri) {
        Ok(Query(q)) => q,
        Err(e) => {
            let resp = error_response(&Error::Api(ApiError::invalid_parameter(format!(
                "The session query is not valid ({e}); send instance=<container instance id>."
            ))));
            return gated.finish(&st, resp);
        }
    };
    let inst = match find_instance(&st, &q.instance).await {
        Ok(i) => i.value,
        Err(e) => return gated.finish(&st, error_response(&e)),
    };
    let cluster = st.arns.cluster(&inst.cluster);
    let inst_arn = st.arns.container_instance(&inst.cluster, &inst.id);
    let audit_as = match (&node, caller) {
        (Some(v), _) => {
            if inst.node_id.as_deref() != Some(v.node.node_id.as_str()) {
                gated.audit.resources.push(inst_arn);
                let r = NodeRefusal::Forbidden(format!(
                    "The node {} cannot open a session for container instance {}: a node holds the session of its own instance only.",
                    v.node.node_id, inst.id
                ));
                tracing::warn!(node = %v.node.node_id, instance = %inst.id, "session for another instance refused");
                return node_gate::refused(&st, gated, &r);
            }
            node_gate::allowed(&mut gated, &[inst_arn, cluster]);
            Some(NodeSession {
                node_id: v.node.node_id.clone(),
                principal_arn: v.principal_arn.clone(),
                source_ip: wire.source_ip,
            })
        }
        (None, caller) => {
            let access = Access::new("ecs:Poll", inst_arn).with("ecs:cluster", [cluster]);
            if let Some(caller) = caller {
                if let Err(r) = gated.allow(&st, &caller, &[access]).await {
                    return gated.refused(&st, &r);
                }
            }
            None
        }
    };
    let session_st = st.clone();
    let resp = ws.on_upgrade(move |socket| async move {
        let id = inst.id.clone();
        if let Err(e) = run_session(session_st, inst.cluster, inst.id, audit_as, socket).await {
            tracing::warn!(instance = %id, error = %e, "agent session ended with an error");
        }
    });
    gated.finish(&st, resp)
}

/// The node a session belongs to, for the close on revocation and the audit of refused
/// reports.
#[derive(Debug, Clone)]
struct NodeSession {
    node_id: String,
    principal_arn: String,
    source_ip: std::net::IpAddr,
}

async fn run_session<S: Store>(
    st: Arc<AppState<S>>,
    cluster: String,
    id: String,
    node: Option<NodeSession>,
    socket: WebSocket,
) -> Result<()> {
    let (generation, kick, mut outbox) = st.sessions.connect(&id, st.clock.now());
    crate::ha::presence::mark(&st, &id).await;
    // Taken before the first read, so no change falls between the two.
    let changes = st.task_index.waker(&id);
    // Only a server that hands out slices pushes peer routes, so only it watches instances.
    let mut instances = st
        .task_network
        .is_some()
        .then(|| st.store.watch(&instances_of(&cluster)));
    let mut shutdown = st.shutdown.subscribe();
    let inputs = Inputs {
        changes: &changes,
        instances: &mut instances,
        kick: &kick,
        outbox: &mut outbox,
        shutdown: &mut shutdown,
        node: node.as_ref(),
    };
    let result = session_loop(&st, &cluster, &id, socket, inputs).await;
    st.sessions.end_logs(&id, generation);
    let current = st.sessions.disconnect(&id, generation);
    if !st.sessions.is_open(&id) {
        crate::ha::presence::clear(&st, &id).await;
    }
    if current {
        if let Err(e) = set_connected(&st, &cluster, &id, false).await {
            tracing::warn!(instance = %id, error = %e, "could not mark the agent disconnected");
        }
    }
    tracing::info!(instance = %id, "agent session closed");
    result
}

/// The close frame for a session kicked because its node was revoked (none: kicked for
/// another reason, a newer session or liveness).
async fn revoked_close<S: Store>(
    st: &AppState<S>,
    node: Option<&NodeSession>,
) -> Option<CloseFrame> {
    let n = node?;
    let rec = st.nodes.cache.node(st, &n.node_id).await.ok()??;
    rec.revoked_at?;
    Some(CloseFrame {
        code: REVOKED_CLOSE_CODE,
        reason: "node credential revoked".into(),
    })
}

/// The WebSocket close code a revoked node's session ends with (4000-4999: private use;
/// 4403 reads as HTTP's Forbidden).
pub const REVOKED_CLOSE_CODE: u16 = 4403;

/// Writes the audit record of a report the node may not make (about a task that is not on
/// its instance).
fn audit_foreign_report<S>(st: &AppState<S>, node: &NodeSession, task_arn: &str) {
    let now = st.clock.now();
    let rid = crate::aws::request_id::new();
    let mut rec = crate::auth::audit::Record::begin(now, &rid, node.source_ip, "ecs");
    rec.action = "SubmitTaskStateChange".into();
    rec.principal_arn = Some(node.principal_arn.clone());
    rec.resources = vec![task_arn.to_string()];
    rec.error_code = Some("AccessDeniedException".into());
    st.audit.record(rec);
}

/// What a session waits on besides its socket.
struct Inputs<'a> {
    /// One of this instance's tasks changed in what its agent is told (see
    /// [`crate::gateway::task_index`]).
    changes: &'a Notify,
    /// Store changes to the cluster's instances (their slices and node addresses).
    instances: &'a mut Option<broadcast::Receiver<Event>>,
    /// A newer session of the instance replaced this one, or liveness dropped it.
    kick: &'a Notify,
    /// Frames other handlers send down this session (logs requests).
    outbox: &'a mut mpsc::UnboundedReceiver<ServerFrame>,
    shutdown: &'a mut tokio::sync::watch::Receiver<bool>,
    /// The node the session belongs to (none: a server that does not authenticate).
    node: Option<&'a NodeSession>,
}

async fn session_loop<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
    socket: WebSocket,
    inputs: Inputs<'_>,
) -> Result<()> {
    let Inputs {
        changes,
        instances,
        kick,
        outbox,
        shutdown,
        node,
    } = inputs;
    set_connected(st, cluster, id, true).await?;
    tracing::info!(instance = id, cluster, "agent session open");
    let (mut tx, mut rx) = socket.split();
    let send_err = |e: axum::Error| tracing::debug!(instance = id, error = %e, "agent went away");
    if tx
        .send(text(&first_desired_state(st, cluster, id).await?)?)
        .await
        .is_err()
    {
        return Ok(());
    }
    let mut routes = crate::gateway::task_slices::PeerRoutes::default();
    if !routes.push(st, cluster, id, &mut tx).await? {
        return Ok(());
    }
    loop {
        tokio::select! {
            msg = rx.next() => {
                let msg = match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(_)) => continue,
                };
                st.sessions.seen(id, st.clock.now());
                let frame: AgentFrame = match serde_json::from_str(msg.as_str()) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(instance = id, error = %e, "undecodable agent frame ignored");
                        continue;
                    }
                };
                let reply = match frame {
                    AgentFrame::Heartbeat { .. } => Some(ServerFrame::HeartbeatAck { at: st.clock.now() }),
                    AgentFrame::Applied { seq } => {
                        tracing::debug!(instance = id, seq, "agent applied desired state");
                        None
                    }
                    AgentFrame::LogsChunk { request_id, lines, done, error } => {
                        st.sessions.route_logs(id, request_id, LogsPart { lines, done, error });
                        None
                    }
                    AgentFrame::SecretsRequest { request_id, task_arn } => Some(ServerFrame::Secrets(
                        crate::task_secrets::answer(st, cluster, id, request_id, &task_arn).await,
                    )),
                    AgentFrame::TaskStateChange(report) => {
                        match reports::apply(st, cluster, id, &report).await {
                            Ok(reports::Effect::Foreign) => {
                                if let Some(n) = node {
                                    audit_foreign_report(st, n, &report.task_arn);
                                }
                                // Acked: sending it again would not change the answer.
                                Some(ServerFrame::ReportAck { report_id: report.report_id })
                            }
                            Ok(_) => Some(ServerFrame::ReportAck { report_id: report.report_id }),
                            // No ack: the agent sends the report again.
                            Err(e) => {
                                tracing::warn!(instance = id, error = %e, "report not applied");
                                None
                            }
                        }
                    }
                };
                if let Some(r) = reply {
                    if let Err(e) = tx.send(text(&r)?).await {
                        send_err(e);
                        return Ok(());
                    }
                }
            }
            () = changes.notified() => {
                if let Err(e) = tx.send(text(&desired_state(st, cluster, id).await?)?).await {
                    send_err(e);
                    return Ok(());
                }
            }
            ev = crate::gateway::task_slices::next_change(instances) => {
                if let Err(broadcast::error::RecvError::Closed) = ev {
                    return Ok(());
                }
                if !routes.push(st, cluster, id, &mut tx).await? {
                    return Ok(());
                }
            }
            Some(frame) = outbox.recv() => {
                if let Err(e) = tx.send(text(&frame)?).await {
                    send_err(e);
                    return Ok(());
                }
            }
            _ = kick.notified() => {
                let _ = tx.send(Message::Close(revoked_close(st, node).await)).await;
                return Ok(());
            }
            _ = shutdown.changed() => {
                let _ = tx.send(Message::Close(None)).await;
                return Ok(());
            }
        }
    }
}
