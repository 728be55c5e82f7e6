//! The one long-lived connection to the control plane: desired state down, reports and
//! heartbeats up. It always dials out, and redials with jittered backoff when the link drops;
//! after a reconnect the server resends the whole desired set and the agent resends its
//! latest reports. A refusal of the node's credential (expired, revoked, unknown) is logged
//! once with the server's text, and redialled slowly: it will not get better by itself.
//!
//! With several server addresses (replicas of one cluster on one store) a session that
//! could not open, broke, went silent or was closed by the server moves on to the next
//! address; a refusal does not (every replica would refuse the same credential). The new
//! replica's first desired set holds every task the node runs, and the engine adopts what
//! runs already: a failover restarts nothing. Desired sets are numbered by the store's
//! revision, which all replicas share, so the new replica's set is never older than the
//! last one applied.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use gantry_api::protocol::{
    AgentFrame, RegisterResponse, ServerFrame, TaskReport, HEARTBEAT_INTERVAL_MS,
};
use gantry_link::{now, send, Backoff, Servers};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::credential::jittered;
use crate::engine::Engine;
use crate::peer_routes::PeerRoutes;

/// Redials after a dropped link start here and double up to [`MAX_BACKOFF`] (once every
/// address has failed: see [`Backoff`]).
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// After the server refused the credential: from 5 s up to 5 minutes.
const REFUSED_BACKOFF: Duration = Duration::from_secs(5);
const MAX_REFUSED_BACKOFF: Duration = Duration::from_secs(300);
/// The close code of a session the server ended because the node's credential was revoked.
const CLOSE_REVOKED: u16 = 4403;
/// The server answers every heartbeat: this long without any frame from it and the
/// session counts as dead (a replica whose host vanished sends no FIN, and TCP alone would
/// take many minutes to notice).
const SILENCE: Duration = Duration::from_millis(3 * HEARTBEAT_INTERVAL_MS);

/// How a session ended without a transport error.
enum End {
    /// The server closed it (or the stream ended) in the ordinary way.
    Closed,
    /// The server refused or closed it over the node's credential, with its text.
    Refused(String),
    /// The server sent nothing for [`SILENCE`].
    Silent,
}

/// What a session works with and outlives it.
pub struct Ends {
    pub engine: Engine,
    pub reports: mpsc::UnboundedReceiver<TaskReport>,
    pub routes: PeerRoutes,
    /// The URL of the server of the session in use, for the status file and logs.
    pub server: watch::Sender<String>,
    /// Starting tasks' requests for their secrets.
    pub secrets: crate::secrets::SecretsLink,
}

/// The redial state across sessions.
struct Retry {
    backoff: Backoff,
    refused_backoff: Duration,
    /// The last refusal logged: the same text is not logged again on every redial.
    last_refusal: Option<String>,
}

impl Retry {
    /// The server is serving this node (it sent a desired set): the next failure starts
    /// the backoff over.
    fn serving(&mut self) {
        self.backoff.reset();
        self.refused_backoff = REFUSED_BACKOFF;
        self.last_refusal = None;
    }
}

pub async fn run(
    link: gantry_link::Link,
    reg: RegisterResponse,
    mut ends: Ends,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(shutdown);
    let servers = link.servers().clone();
    let mut retry = Retry {
        backoff: Backoff::new(MIN_BACKOFF, MAX_BACKOFF, servers.len()),
        refused_backoff: REFUSED_BACKOFF,
        last_refusal: None,
    };
    loop {
        let at = servers.current();
        let res = tokio::select! {
            _ = &mut shutdown => return,
            res = session(&link, &at.url, &reg.instance_id, &mut ends, &mut retry) => res,
        };
        let res = res.map_err(|e| match refused(&e) {
            Some(text) => Ok(End::Refused(text)),
            None => Err(e),
        });
        let wait = match res {
            Ok(End::Refused(text)) | Err(Ok(End::Refused(text))) => {
                if retry.last_refusal.as_deref() != Some(text.as_str()) {
                    tracing::error!(server = %at.url, "the server refused this node's session: {text}");
                    retry.last_refusal = Some(text);
                }
                let w = jittered(retry.refused_backoff);
                retry.refused_backoff = (retry.refused_backoff * 2).min(MAX_REFUSED_BACKOFF);
                w
            }
            Ok(End::Closed) | Err(Ok(End::Closed)) => {
                fail_over(&servers, &at, "the server closed the session");
                jittered(retry.backoff.failed())
            }
            Ok(End::Silent) | Err(Ok(End::Silent)) => {
                let why = format!("no frame from the server for {} s", SILENCE.as_secs());
                fail_over(&servers, &at, &why);
                jittered(retry.backoff.failed())
            }
            Err(Err(e)) => {
                fail_over(&servers, &at, &e.to_string());
                jittered(retry.backoff.failed())
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Moves to the next address after the session at `at` ended for `why` (one address: the
/// same one again) and says so.
fn fail_over(servers: &Servers, at: &gantry_link::Current, why: &str) {
    let next = servers.failed(at);
    if next.url == at.url {
        tracing::warn!(server = %at.url, "session to the control plane ended ({why}); reconnecting");
    } else {
        tracing::warn!(server = %at.url, next = %next.url, "session to the control plane ended ({why}); failing over to the next server");
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
    server_url: &str,
    instance_id: &str,
    ends: &mut Ends,
    retry: &mut Retry,
) -> Result<End, tokio_tungstenite::tungstenite::Error> {
    let Ends {
        engine,
        reports,
        routes,
        server,
        secrets,
    } = ends;
    let ws = link.connect_to(server_url, instance_id).await?;
    tracing::info!(server = %server_url, "connected to the control plane");
    server.send_replace(server_url.to_string());
    engine.new_session();
    let (mut tx, mut rx) = ws.split();
    // Frames from log readers; each request runs as its own task, cancelled with the session.
    let (frames_tx, mut frames) = mpsc::unbounded_channel::<AgentFrame>();
    let mut log_tasks = LogTasks::default();
    let tasks_dir = engine.tasks_dir();
    for r in engine.latest_reports() {
        send(&mut tx, &AgentFrame::TaskStateChange(r)).await?;
    }
    secrets.new_session();
    for f in secrets.take_unsent() {
        send(&mut tx, &f).await?;
    }
    let mut beat = tokio::time::interval(Duration::from_millis(HEARTBEAT_INTERVAL_MS));
    let silence = tokio::time::sleep(SILENCE);
    tokio::pin!(silence);
    loop {
        tokio::select! {
            msg = rx.next() => {
                let Some(msg) = msg else { return Ok(End::Closed) };
                silence.as_mut().reset(tokio::time::Instant::now() + SILENCE);
                match msg? {
                    Message::Text(text) => match gantry_link::parse(&text) {
                        Ok(ServerFrame::DesiredState { seq, tasks }) => {
                            retry.serving();
                            if engine.apply(seq, tasks) {
                                send(&mut tx, &AgentFrame::Applied { seq }).await?;
                            }
                        }
                        Ok(ServerFrame::PeerRoutes { routes: want }) => routes.apply(&want),
                        Ok(ServerFrame::Secrets(answer)) => secrets.answered(answer),
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
            () = secrets.asked() => {
                for f in secrets.take_unsent() {
                    send(&mut tx, &f).await?;
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
            () = &mut silence => return Ok(End::Silent),
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
