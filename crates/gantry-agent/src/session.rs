//! The one long-lived connection to the control plane: desired state down, reports and
//! heartbeats up. It always dials out, and redials with backoff when the link drops; after a
//! reconnect the server resends the whole desired set and the agent resends its latest reports.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use gantry_api::protocol::{
    AgentFrame, RegisterResponse, ServerFrame, TaskReport, HEARTBEAT_INTERVAL_MS,
};
use gantry_link::{now, send};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::config::AgentConfig;
use crate::engine::Engine;
use crate::peer_routes::PeerRoutes;

pub async fn run(
    cfg: Arc<AgentConfig>,
    reg: RegisterResponse,
    engine: Engine,
    mut reports: mpsc::UnboundedReceiver<TaskReport>,
    mut routes: PeerRoutes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Registration already built this link, so it cannot fail here.
    let link = match cfg.link() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot reach the control plane");
            return;
        }
    };
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(100);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            res = session(&link, &reg.instance_id, &engine, &mut reports, &mut routes) => {
                match res {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(e) => tracing::warn!(error = %e, "session to the control plane ended; reconnecting"),
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn session(
    link: &gantry_link::Link,
    instance_id: &str,
    engine: &Engine,
    reports: &mut mpsc::UnboundedReceiver<TaskReport>,
    routes: &mut PeerRoutes,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
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
                let Some(msg) = msg else { return Ok(()) };
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
                    Message::Close(_) => return Ok(()),
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
