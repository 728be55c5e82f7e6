//! The one long-lived connection to the control plane: desired state down, reports and
//! heartbeats up. It always dials out, and redials with jittered backoff when the link drops;
//! after a reconnect the server resends the whole desired set and the agent resends its
//! latest reports. A refusal of the node's credential (expired, revoked, unknown) is logged
//! once with the server's text, and redialled slowly: it will not get better by itself.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use gantry_api::protocol::{
    AgentFrame, RegisterResponse, ServerFrame, TaskReport, HEARTBEAT_INTERVAL_MS,
};
use gantry_link::{now, send};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::credential::jittered;
use crate::engine::Engine;
use crate::peer_routes::PeerRoutes;

/// Redials after a dropped link start here and double up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// After the server refused the credential: from 5 s up to 5 minutes.
const REFUSED_BACKOFF: Duration = Duration::from_secs(5);
const MAX_REFUSED_BACKOFF: Duration = Duration::from_secs(300);
/// The close code of a session the server ended because the node's credential was revoked.
const CLOSE_REVOKED: u16 = 4403;

/// How a session ended without a transport error.
enum End {
    /// The server closed it (or the stream ended) in the ordinary way.
    Closed,
    /// The server refused or closed it over the node's credential, with its text.
    Refused(String),
}

pub async fn run(
    link: gantry_link::Link,
    reg: RegisterResponse,
    engine: Engine,
    mut reports: mpsc::UnboundedReceiver<TaskReport>,
    mut routes: PeerRoutes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(shutdown);
    let mut backoff = MIN_BACKOFF;
    let mut refused_backoff = REFUSED_BACKOFF;
    // The last refusal logged: the same text is not logged again on every redial.
    let mut last_refusal: Option<String> = None;
    loop {
        let res = tokio::select! {
            _ = &mut shutdown => return,
            res = session(&link, &reg.instance_id, &engine, &mut reports, &mut routes) => res,
        };
        let res = res.map_err(|e| match refused(&e) {
            Some(text) => Ok(End::Refused(text)),
            None => Err(e),
        });
        let wait = match res {
            Ok(End::Closed) => {
                backoff = MIN_BACKOFF;
                refused_backoff = REFUSED_BACKOFF;
                last_refusal = None;
                jittered(backoff)
            }
            Ok(End::Refused(text)) | Err(Ok(End::Refused(text))) => {
                if last_refusal.as_deref() != Some(text.as_str()) {
                    tracing::error!("the server refused this node's session: {text}");
                    last_refusal = Some(text);
                }
                let w = jittered(refused_backoff);
                refused_backoff = (refused_backoff * 2).min(MAX_REFUSED_BACKOFF);
                w
            }
            Err(Ok(End::Closed)) => jittered(backoff),
            Err(Err(e)) => {
                tracing::warn!(error = %e, "session to the control plane ended; reconnecting");
                let w = jittered(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                w
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The server's text when it answered the handshake 401/403 (a refusal of the node's
/// credential): the `message` of its JSON error body.
fn refused(e: &tokio_tungstenite::tungstenite::Error) -> Option<String> {
    let tokio_tungstenite::tungstenite::Error::Http(resp) = e else {
        return None;
    };
    if !matches!(resp.status().as_u16(), 401 | 403) {
        return None;
    }
    let body = resp.body().as_deref().unwrap_or_default();
    Some(
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .unwrap_or_else(|| format!("{} {}", resp.status(), String::from_utf8_lossy(body))),
    )
}

async fn session(
    link: &gantry_link::Link,
    instance_id: &str,
    engine: &Engine,
    reports: &mut mpsc::UnboundedReceiver<TaskReport>,
    routes: &mut PeerRoutes,
) -> Result<End, tokio_tungstenite::tungstenite::Error> {
    let ws = link.connect(instance_id).await?;
    tracing::info!("connected to the control plane");
    let (mut tx, mut rx) = ws.split();
    // Frames from log readers; each request runs as its own task, cancelled with the session.
    let (frames_tx, mut frames) = mpsc::unbounded_channel::<AgentFrame>();
    let mut log_tasks = LogTasks::default();
    let tasks_dir = engine.tasks_dir();
    for r in engine.latest_reports() {
        send(&mut tx, &AgentFrame::TaskStateChange(r)).await?;
    }
    let mut beat = tokio::time::interval(Duration::from_millis(HEARTBEAT_INTERVAL_MS));
    loop {
        tokio::select! {
            msg = rx.next() => {
                let Some(msg) = msg else { return Ok(End::Closed) };
                match msg? {
                    Message::Text(text) => match gantry_link::parse(&text) {
                        Ok(ServerFrame::DesiredState { seq, tasks }) => {
                            if engine.apply(seq, tasks) {
                                send(&mut tx, &AgentFrame::Applied { seq }).await?;
                            }
                        }
                        Ok(ServerFrame::PeerRoutes { routes: want }) => routes.apply(&want),
                        Ok(ServerFrame::HeartbeatAck { .. } | ServerFrame::ReportAck { .. }) => {}
                        Ok(ServerFrame::LogsRequest(req)) => {
                            let id = req.request_id;
                            let handle = tokio::spawn(crate::logs::serve(tasks_dir.clone(), req, frames_tx.clone()));
                            if let Some(old) = log_tasks.0.insert(id, handle) {
                                old.abort();
                            }
                        }
                        Ok(ServerFrame::LogsCancel { request_id }) => {
                            if let Some(h) = log_tasks.0.remove(&request_id) {
                                h.abort();
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "ignoring a frame the agent does not understand"),
                    },
                    Message::Close(frame) => return Ok(closed(frame)),
                    _ => {}
                }
            }
            Some(report) = reports.recv() => {
                send(&mut tx, &AgentFrame::TaskStateChange(report)).await?;
            }
            Some(frame) = frames.recv() => {
                if let AgentFrame::LogsChunk { request_id, done: true, .. } = &frame {
                    log_tasks.0.remove(request_id);
                }
                send(&mut tx, &frame).await?;
            }
            _ = beat.tick() => {
                send(&mut tx, &AgentFrame::Heartbeat { at: now() }).await?;
            }
        }
    }
}

/// A close frame with the revocation code is a refusal, with the server's reason.
fn closed(frame: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> End {
    match frame {
        Some(f) if f.code == CloseCode::from(CLOSE_REVOKED) => End::Refused(format!(
            "the server closed the session: {}; join the host again with a new token or activation (remove the agent's node directory first)",
            f.reason
        )),
        _ => End::Closed,
    }
}

/// Log readers of one session; they end with it.
#[derive(Default)]
struct LogTasks(std::collections::HashMap<u64, tokio::task::JoinHandle<()>>);

impl Drop for LogTasks {
    fn drop(&mut self) {
        for (_, h) in self.0.drain() {
            h.abort();
        }
    }
}
