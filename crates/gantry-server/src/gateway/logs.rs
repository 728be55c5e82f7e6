//! `GET /gantry/v1/logs`: a task's container output, read by the task's agent and streamed
//! back as NDJSON (one `LogLine` a line; a final `{"error": ...}` line on failure).
//!
//! The server stores no logs: it forwards a [`ServerFrame::LogsRequest`] down the agent's
//! session and relays the [`gantry_api::protocol::AgentFrame::LogsChunk`] frames the gateway
//! routes back. A reader that goes away cancels the request on the agent.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gantry_api::protocol::{LogsRequest, ServerFrame};
use gantry_api::{arn, ApiError, Timestamp};
use gantry_store::Store;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::auth::gate::{Gated, Wire};
use crate::auth::Access;
use crate::aws::json as protocol;
use crate::ecs::clusters::{self, cluster_name};
use crate::error::{client, invalid, Result};
use crate::gateway::sessions::{LogsChannel, LogsPart};
use crate::persistence::db;
use crate::persistence::records::{task_key, TaskRecord};
use crate::state::AppState;

/// Path of the logs endpoint.
pub const LOGS_PATH: &str = "/gantry/v1/logs";

/// The query string of `GET /gantry/v1/logs`.
#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    #[serde(default)]
    cluster: Option<String>,
    task: String,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    since: Option<Timestamp>,
    #[serde(default)]
    tail: Option<usize>,
    #[serde(default)]
    follow: bool,
}

/// The handler of `GET /gantry/v1/logs`: signed for `ecs` and authorized as
/// `logs:GetLogEvents` (what reading a container's output takes in AWS, from CloudWatch
/// Logs) on the task's ARN, with `ecs:cluster`.
pub async fn handle<S: Store>(State(st): State<Arc<AppState<S>>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let wire = Wire::of(&parts);
    let mut gated = Gated::begin(&st, &wire, "ecs", "GetLogs");
    let caller = match gated.check(&st, &wire, b"", "ecs").await {
        Ok(c) => c,
        Err(r) => return gated.refused(&st, &r),
    };
    let q = match Query::<LogsQuery>::try_from_uri(&parts.uri) {
        Ok(Query(q)) => q,
        Err(e) => {
            let resp = protocol::error_response(&ApiError::invalid_parameter(format!(
                "The logs query is not valid ({e}); send task=<id> and optionally cluster, container, since, tail, follow."
            )));
            return gated.finish(&st, resp);
        }
    };
    let cluster = cluster_name(q.cluster.as_deref()).to_string();
    let task = st.arns.task(&cluster, arn::short_id(&q.task));
    let access =
        Access::new("logs:GetLogEvents", task).with("ecs:cluster", [st.arns.cluster(&cluster)]);
    if let Err(r) = gated.allow(&st, &caller, &[access]).await {
        return gated.refused(&st, &r);
    }
    let resp = match open(&st, q).await {
        Ok(chan) => stream(st.clone(), chan),
        Err(e) => protocol::error_response(&e.to_api()),
    };
    gated.finish(&st, resp)
}

/// Checks the request, opens a logs request on the task's agent session and sends it.
async fn open<S: Store>(st: &AppState<S>, q: LogsQuery) -> Result<LogsChannel> {
    let cluster = cluster_name(q.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let id = arn::short_id(&q.task).to_string();
    let task = db::get::<S, TaskRecord>(&st.store, &task_key(&cluster, &id))
        .await?
        .ok_or_else(|| invalid("The referenced task was not found."))?
        .value;
    let instance = task.instance_id.ok_or_else(|| {
        client(format!(
            "Task {id} was never placed on a container instance, so it has no logs."
        ))
    })?;
    let chan = st.sessions.open_logs(&instance).ok_or_else(|| {
        client(format!(
            "The agent of container instance {instance} is not connected, so the logs of task {id} cannot be read now; try again once it reconnects."
        ))
    })?;
    let req = LogsRequest {
        request_id: chan.request_id,
        task_id: id,
        container: q.container,
        since: q.since,
        tail: q.tail,
        follow: q.follow,
    };
    if chan.outbox.send(ServerFrame::LogsRequest(req)).is_err() {
        st.sessions.close_logs(chan.request_id);
        return Err(client(format!(
            "The agent of container instance {instance} is not connected, so its logs cannot be read now."
        )));
    }
    Ok(chan)
}

/// Forgets the request when the stream ends or is dropped, and cancels it on the agent if
/// the reader left before the answer was complete.
struct Guard<S> {
    st: Arc<AppState<S>>,
    request_id: u64,
    outbox: mpsc::UnboundedSender<ServerFrame>,
    finished: bool,
}

impl<S> Drop for Guard<S> {
    fn drop(&mut self) {
        self.st.sessions.close_logs(self.request_id);
        if !self.finished {
            // The session may be gone too; then there is nothing to cancel.
            let _ = self.outbox.send(ServerFrame::LogsCancel {
                request_id: self.request_id,
            });
        }
    }
}

fn ndjson(value: &impl serde::Serialize, out: &mut Vec<u8>) {
    if let Ok(v) = serde_json::to_vec(value) {
        out.extend_from_slice(&v);
        out.push(b'\n');
    }
}

fn error_line(message: &str, out: &mut Vec<u8>) {
    ndjson(&serde_json::json!({ "error": message }), out);
}

/// The NDJSON bytes for one part, and whether it ends the answer.
fn encode(part: &LogsPart) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    for l in &part.lines {
        ndjson(l, &mut out);
    }
    if let Some(e) = &part.error {
        error_line(e, &mut out);
    }
    (out, part.done || part.error.is_some())
}

fn stream<S: Store>(st: Arc<AppState<S>>, chan: LogsChannel) -> Response {
    let guard = Guard {
        st,
        request_id: chan.request_id,
        outbox: chan.outbox,
        finished: false,
    };
    let body =
        futures_util::stream::unfold((chan.parts, guard), |(mut parts, mut guard)| async move {
            if guard.finished {
                return None;
            }
            loop {
                let Some(part) = parts.recv().await else {
                    guard.finished = true;
                    let mut out = Vec::new();
                    error_line("the agent disconnected", &mut out);
                    return Some((Ok::<_, std::io::Error>(Bytes::from(out)), (parts, guard)));
                };
                let (out, done) = encode(&part);
                guard.finished = done;
                if !out.is_empty() || done {
                    return Some((Ok(Bytes::from(out)), (parts, guard)));
                }
            }
        });
    let mut resp = (StatusCode::OK, Body::from_stream(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}
