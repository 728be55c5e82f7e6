//! The agent gateway: `POST /agent/v1/register` and the WebSocket session
//! `GET /agent/v1/session?instance=<id>` (DESIGN.md §4). The session pushes the instance's
//! whole desired task set on connect and again whenever one of its tasks changes, with the
//! store revision of the read as `seq`; it answers heartbeats and applies reports.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use gantry_api::protocol::{AgentFrame, ServerFrame};
use gantry_api::{ApiError, ErrorKind};
use gantry_store::{Event, Store};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, Notify};

use super::connection::set_connected;
use super::desired::{desired_state, text};
use super::registration::error_response;
use super::reports;
use super::sessions::LogsPart;
use crate::auth::gate::{Gated, Wire};
use crate::auth::Access;
use crate::error::{Error, Result};
use crate::persistence::db::{self, Versioned};
use crate::persistence::records::{instances_of, InstanceRecord, InstanceStatus};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct SessionQuery {
    instance: String,
}

async fn find_instance<S: Store>(st: &AppState<S>, id: &str) -> Result<Versioned<InstanceRecord>> {
    db::list::<S, InstanceRecord>(&st.store, "instances/")
        .await?
        .into_iter()
        .find(|i| i.value.id == id && i.value.status != InstanceStatus::Inactive)
        .ok_or_else(|| {
            Error::Api(ApiError::new(
                ErrorKind::ClusterNotFound,
                format!("Container instance {id} is not registered; register again with POST /agent/v1/register."),
            ))
        })
}

/// `GET /agent/v1/session?instance=<id>`: signed for `ecs` and authorized as `ecs:Poll` on
/// the container instance's ARN (with `ecs:cluster`), before the upgrade.
pub async fn session<S: Store>(
    State(st): State<Arc<AppState<S>>>,
    ws: WebSocketUpgrade,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let wire = Wire::of(&parts);
    let mut gated = Gated::begin(&st, &wire, "ecs", "Poll");
    let caller = match gated.check(&st, &wire, b"", "ecs").await {
        Ok(c) => c,
        Err(r) => return gated.refused(&st, &r),
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
    let access = Access::new(
        "ecs:Poll",
        st.arns.container_instance(&inst.cluster, &inst.id),
    )
    .with("ecs:cluster", [cluster]);
    if let Err(r) = gated.allow(&st, &caller, &[access]).await {
        return gated.refused(&st, &r);
    }
    let session_st = st.clone();
    let resp = ws.on_upgrade(move |socket| async move {
        let id = inst.id.clone();
        if let Err(e) = run_session(session_st, inst.cluster, inst.id, socket).await {
            tracing::warn!(instance = %id, error = %e, "agent session ended with an error");
        }
    });
    gated.finish(&st, resp)
}

async fn run_session<S: Store>(
    st: Arc<AppState<S>>,
    cluster: String,
    id: String,
    socket: WebSocket,
) -> Result<()> {
    let (generation, kick, mut outbox) = st.sessions.connect(&id, st.clock.now());
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
    };
    let result = session_loop(&st, &cluster, &id, socket, inputs).await;
    st.sessions.end_logs(&id, generation);
    if st.sessions.disconnect(&id, generation) {
        if let Err(e) = set_connected(&st, &cluster, &id, false).await {
            tracing::warn!(instance = %id, error = %e, "could not mark the agent disconnected");
        }
    }
    tracing::info!(instance = %id, "agent session closed");
    result
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
    } = inputs;
    set_connected(st, cluster, id, true).await?;
    tracing::info!(instance = id, cluster, "agent session open");
    let (mut tx, mut rx) = socket.split();
    let send_err = |e: axum::Error| tracing::debug!(instance = id, error = %e, "agent went away");
    if tx
        .send(text(&desired_state(st, cluster, id).await?)?)
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
                    AgentFrame::TaskStateChange(report) => {
                        match reports::apply(st, cluster, id, &report).await {
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
                let _ = tx.send(Message::Close(None)).await;
                return Ok(());
            }
            _ = shutdown.changed() => {
                let _ = tx.send(Message::Close(None)).await;
                return Ok(());
            }
        }
    }
}
