//! The agent gateway: `POST /agent/v1/register` and the WebSocket session
//! `GET /agent/v1/session?instance=<id>` (DESIGN.md §4). The session pushes the instance's
//! whole desired task set on connect and again whenever one of its tasks changes, with the
//! store revision of the read as `seq`; it answers heartbeats and applies reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{SinkExt, StreamExt};
use gantry_api::protocol::{AgentFrame, RegisterRequest, ServerFrame, TaskSpec};
use gantry_api::{ApiError, ErrorKind};
use gantry_store::{Event, Store};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, Notify};

use crate::aws::json as protocol;
use crate::ecs::instances;
use crate::ecs::task_definitions;
use crate::error::{Error, Result};
use crate::gateway::reports;
use crate::persistence::db::{self, Versioned};
use crate::persistence::records::{instance_key, instances_of, InstanceRecord, InstanceStatus};
use crate::state::{now, AppState};

#[derive(Debug)]
struct Entry {
    generation: u64,
    last_seen: Instant,
    kick: Arc<Notify>,
    /// Frames other handlers (`gantry logs`) want sent down this session.
    outbox: mpsc::UnboundedSender<ServerFrame>,
}

/// A part of the answer to a logs request, as the agent sent it.
#[derive(Debug)]
pub struct LogsPart {
    pub lines: Vec<gantry_api::protocol::LogLine>,
    pub done: bool,
    pub error: Option<String>,
}

/// Where the chunks of one logs request go: the waiting HTTP handler, and the session that
/// must be the one answering.
#[derive(Debug)]
struct LogsRoute {
    instance: String,
    generation: u64,
    to: mpsc::UnboundedSender<LogsPart>,
}

/// A logs request bound to a live session: send frames on `outbox`, read the answer on
/// `parts`. `parts` ends (all senders dropped) when the session closes.
#[derive(Debug)]
pub struct LogsChannel {
    pub request_id: u64,
    pub outbox: mpsc::UnboundedSender<ServerFrame>,
    pub parts: mpsc::UnboundedReceiver<LogsPart>,
}

/// The live sessions of this server, by instance id. At most one per instance: a new one
/// replaces (and closes) the old.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<(u64, HashMap<String, Entry>)>,
    /// When each instance's last session ended: silence after a disconnect is measured
    /// from here, not from the server's start.
    departed: Mutex<HashMap<String, Instant>>,
    /// Open logs requests by request id.
    logs: Mutex<(u64, HashMap<u64, LogsRoute>)>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<String, Entry>)> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn connect(&self, id: &str) -> (u64, Arc<Notify>, mpsc::UnboundedReceiver<ServerFrame>) {
        let mut g = self.lock();
        g.0 += 1;
        let generation = g.0;
        let kick = Arc::new(Notify::new());
        let (outbox, inbox) = mpsc::unbounded_channel();
        if let Some(old) = g.1.insert(
            id.to_string(),
            Entry {
                generation,
                last_seen: Instant::now(),
                kick: kick.clone(),
                outbox,
            },
        ) {
            old.kick.notify_one();
        }
        (generation, kick, inbox)
    }

    fn logs_lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, LogsRoute>)> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a logs request on the live session of instance `id`, or `None` if its agent is
    /// not connected here. The caller sends the [`ServerFrame::LogsRequest`] itself.
    pub fn open_logs(&self, id: &str) -> Option<LogsChannel> {
        let (generation, outbox) = {
            let g = self.lock();
            let e = g.1.get(id)?;
            (e.generation, e.outbox.clone())
        };
        let (to, parts) = mpsc::unbounded_channel();
        let mut l = self.logs_lock();
        l.0 += 1;
        let request_id = l.0;
        l.1.insert(
            request_id,
            LogsRoute {
                instance: id.to_string(),
                generation,
                to,
            },
        );
        Some(LogsChannel {
            request_id,
            outbox,
            parts,
        })
    }

    /// Forgets logs request `request_id` (answered, or its reader went away).
    pub fn close_logs(&self, request_id: u64) {
        self.logs_lock().1.remove(&request_id);
    }

    /// Hands a chunk from the agent of `id` to whoever asked for it. Chunks for requests
    /// that are gone, or that another instance's session was asked, are dropped.
    fn route_logs(&self, id: &str, request_id: u64, part: LogsPart) {
        let mut l = self.logs_lock();
        let Some(route) = l.1.get(&request_id).filter(|r| r.instance == id) else {
            tracing::debug!(
                instance = id,
                request_id,
                "logs chunk for no open request ignored"
            );
            return;
        };
        let done = part.done || part.error.is_some();
        if route.to.send(part).is_err() || done {
            l.1.remove(&request_id);
        }
    }

    /// Drops the logs requests answered by session `generation` of `id`: their readers see
    /// the channel end and report the agent gone.
    fn end_logs(&self, id: &str, generation: u64) {
        self.logs_lock()
            .1
            .retain(|_, r| !(r.instance == id && r.generation == generation));
    }

    /// Forgets the session if it is still the current one; says whether it was.
    fn disconnect(&self, id: &str, generation: u64) -> bool {
        let mut g = self.lock();
        if g.1.get(id).is_some_and(|e| e.generation == generation) {
            if let Some(e) = g.1.remove(id) {
                self.depart(id, e.last_seen);
            }
            true
        } else {
            false
        }
    }

    fn depart(&self, id: &str, at: Instant) {
        self.departed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), at);
    }

    fn seen(&self, id: &str) {
        if let Some(e) = self.lock().1.get_mut(id) {
            e.last_seen = Instant::now();
        }
    }

    /// When the agent of `id` was last heard from, if it has a session here.
    pub fn last_seen(&self, id: &str) -> Option<Instant> {
        if let Some(at) = self.lock().1.get(id).map(|e| e.last_seen) {
            return Some(at);
        }
        self.departed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied()
    }

    /// Closes the session of `id`, if any (its agent went silent).
    pub fn drop_session(&self, id: &str) {
        if let Some(e) = self.lock().1.remove(id) {
            self.depart(id, e.last_seen);
            e.kick.notify_one();
        }
    }
}

fn error_response(e: &Error) -> Response {
    protocol::error_response(&e.to_api())
}

/// `POST /agent/v1/register`.
pub async fn register<S: Store>(
    State(st): State<Arc<AppState<S>>>,
    body: std::result::Result<Json<RegisterRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            return protocol::error_response(&ApiError::client(format!(
                "The registration request is not a valid RegisterRequest: {e}"
            )))
        }
    };
    match instances::register(&st, req).await {
        Ok(resp) => (StatusCode::OK, Json(resp)).into_response(),
        Err(e) => error_response(&e),
    }
}

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

/// `GET /agent/v1/session?instance=<id>`.
pub async fn session<S: Store>(
    State(st): State<Arc<AppState<S>>>,
    Query(q): Query<SessionQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let inst = match find_instance(&st, &q.instance).await {
        Ok(i) => i.value,
        Err(e) => return error_response(&e),
    };
    ws.on_upgrade(move |socket| async move {
        let id = inst.id.clone();
        if let Err(e) = run_session(st, inst.cluster, inst.id, socket).await {
            tracing::warn!(instance = %id, error = %e, "agent session ended with an error");
        }
    })
}

/// Sets `agentConnected` on the instance record.
pub async fn set_connected<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
    connected: bool,
) -> Result<()> {
    let key = instance_key(cluster, id);
    for _ in 0..db::RETRIES {
        let Some(mut i) = db::get::<S, InstanceRecord>(&st.store, &key).await? else {
            return Ok(());
        };
        if i.value.agent_connected == connected || i.value.status == InstanceStatus::Inactive {
            return Ok(());
        }
        i.value.agent_connected = connected;
        if db::commit(
            &st.store,
            vec![db::unchanged(&key, i.revision)],
            vec![db::put(&key, &i.value)?],
        )
        .await?
        {
            tracing::info!(instance = id, connected, "agent connection changed");
            return Ok(());
        }
    }
    Err(Error::Contention {
        what: format!("container instance {id}"),
    })
}

/// The frame with the whole desired set of instance `id`.
pub async fn desired_state<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
) -> Result<ServerFrame> {
    // Read the revision first: whatever the list shows is at least that new.
    let seq = st.store.revision().await?;
    // Wanted running, or wanted stopped and not yet reported stopped.
    let tasks = crate::gateway::task_index::records_of(st, id).await?;
    let specs = tasks
        .into_iter()
        .filter(|t| t.cluster == cluster)
        .map(|t| {
            let def_rec = crate::persistence::records::TaskDefRecord {
                family: t.family().to_string(),
                revision: t.definition.revision.unwrap_or(0),
                status: crate::persistence::records::TaskDefStatus::Active,
                definition: t.definition.clone(),
            };
            let mut task_definition = task_definitions::render(st, &def_rec);
            task_definition.status = t.definition.status.clone();
            TaskSpec {
                task_arn: st.arns.task(&t.cluster, &t.id),
                task_id: t.id.clone(),
                cluster: t.cluster.clone(),
                desired_status: t.desired_status,
                task_definition,
                overrides: t.overrides.clone(),
                stop_code: t.stop_code.clone(),
                stopped_reason: t.stopped_reason.clone(),
            }
        })
        .collect();
    Ok(ServerFrame::DesiredState { seq, tasks: specs })
}

pub(crate) fn text(frame: &ServerFrame) -> Result<Message> {
    serde_json::to_string(frame)
        .map(|s| Message::Text(s.into()))
        .map_err(|source| Error::Encode {
            what: "a server frame",
            source,
        })
}

async fn run_session<S: Store>(
    st: Arc<AppState<S>>,
    cluster: String,
    id: String,
    socket: WebSocket,
) -> Result<()> {
    let (generation, kick, mut outbox) = st.sessions.connect(&id);
    // Taken before the first read, so no change falls between the two.
    let changes = st.routes.waker(&id);
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
    /// One of this instance's tasks changed (see [`crate::routes`]).
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
                st.sessions.seen(id);
                let frame: AgentFrame = match serde_json::from_str(msg.as_str()) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(instance = id, error = %e, "undecodable agent frame ignored");
                        continue;
                    }
                };
                let reply = match frame {
                    AgentFrame::Heartbeat { .. } => Some(ServerFrame::HeartbeatAck { at: now() }),
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
