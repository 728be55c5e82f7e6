//! Simulated agents: one process hosting many fake container instances, for measuring the
//! control plane at scale on one machine. Each instance registers with
//! `POST /agent/v1/register` and holds its own WebSocket session, exactly as a real agent
//! does ([`gantry_api::protocol`]); it runs no containers, and acknowledges every desired
//! task at once: a task wanted RUNNING is reported PENDING then RUNNING, one wanted STOPPED is
//! reported STOPPED (exit code 0). Heartbeats go at the real agent's interval, and a dropped
//! session is redialled, after which the server's full desired set is acknowledged again.
//!
//! This file depends only on `gantry-api` and the networking crates, so the server's tests
//! can compile it too (`#[path]`) without linking the agent's runtime.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use gantry_api::protocol::{
    AgentFrame, ContainerReport, RegisterRequest, RegisterResponse, ServerFrame, TaskReport,
    TaskSpec, HEARTBEAT_INTERVAL_MS, REGISTER_PATH, SESSION_PATH,
};
use gantry_api::status::stop_code;
use gantry_api::TaskStatus;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// How simulated instances treat the tasks they are given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Every task starts (PENDING, RUNNING) and stops when told to.
    #[default]
    Healthy,
    /// Every task fails to start (STOPPED, `TaskFailedToStart`), as with a bad image.
    FailToStart,
    /// Tasks with a container of this image fail to start; the others are healthy.
    FailImage(String),
}

impl Behaviour {
    fn fails(&self, spec: &TaskSpec) -> bool {
        match self {
            Self::Healthy => false,
            Self::FailToStart => true,
            Self::FailImage(image) => spec
                .task_definition
                .container_definitions
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|c| c.image.as_deref() == Some(image.as_str())),
        }
    }
}

/// Registers `count` simulated instances of `cpu` units and `memory` MiB in `cluster` on the
/// server at `server_url` (`http://host:port`), and runs their sessions until `shutdown`
/// completes. Fails only if a registration fails.
pub async fn run_simulated(
    server_url: &str,
    cluster: &str,
    count: usize,
    cpu: i64,
    memory: i64,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    run_fleet(
        server_url,
        cluster,
        count,
        cpu,
        memory,
        Behaviour::Healthy,
        shutdown,
    )
    .await
}

/// [`run_simulated`] with a chosen [`Behaviour`].
pub async fn run_fleet(
    server_url: &str,
    cluster: &str,
    count: usize,
    cpu: i64,
    memory: i64,
    behaviour: Behaviour,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let fleet = Fleet::start(server_url, cluster, count, cpu, memory, behaviour).await?;
    shutdown.await;
    fleet.stop().await;
    Ok(())
}

/// Running simulated instances; [`Fleet::stop`] ends their sessions.
#[derive(Debug)]
pub struct Fleet {
    /// The instance ids, in registration order.
    pub instances: Vec<RegisterResponse>,
    stop: watch::Sender<bool>,
    sessions: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    /// Registers the instances and starts their sessions.
    pub async fn start(
        server_url: &str,
        cluster: &str,
        count: usize,
        cpu: i64,
        memory: i64,
        behaviour: Behaviour,
    ) -> Result<Fleet, String> {
        let base = server_url.trim_end_matches('/').to_string();
        let client = reqwest::Client::new();
        let (stop, _) = watch::channel(false);
        let mut fleet = Fleet {
            instances: Vec::with_capacity(count),
            stop,
            sessions: Vec::with_capacity(count),
        };
        for n in 0..count {
            let req = RegisterRequest {
                cluster: cluster.to_string(),
                instance_id: None,
                hostname: format!("sim-{n}"),
                cpu,
                memory,
                reserved_ports: Vec::new(),
                attributes: vec![("gantry.simulated".to_string(), "true".to_string())],
                agent_version: format!("{}-sim", env!("CARGO_PKG_VERSION")),
                node_address: None,
            };
            let reg = register(&client, &base, &req).await?;
            fleet.sessions.push(tokio::spawn(hold(
                ws_url(&base, &reg.instance_id),
                behaviour.clone(),
                fleet.stop.subscribe(),
            )));
            fleet.instances.push(reg);
        }
        Ok(fleet)
    }

    /// Ends one instance's session without telling the server, as a crashed host would:
    /// its heartbeats stop.
    pub fn kill(&mut self, index: usize) {
        if let Some(h) = self.sessions.get(index) {
            h.abort();
        }
    }

    /// Ends every session.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        for s in self.sessions {
            let _ = s.await;
        }
    }
}

async fn register(
    client: &reqwest::Client,
    base: &str,
    req: &RegisterRequest,
) -> Result<RegisterResponse, String> {
    let url = format!("{base}{REGISTER_PATH}");
    let resp = client
        .post(&url)
        .json(req)
        .send()
        .await
        .map_err(|e| format!("could not register a simulated instance at {url}: {e}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(format!(
            "registering a simulated instance at {url} failed with {status}: {body}"
        ));
    }
    resp.json()
        .await
        .map_err(|e| format!("the registration answer from {url} is not a RegisterResponse: {e}"))
}

fn ws_url(base: &str, instance: &str) -> String {
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        format!("ws://{base}")
    };
    format!("{ws}{SESSION_PATH}?instance={instance}")
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Holds one instance's session, redialling until told to stop.
async fn hold(url: String, behaviour: Behaviour, mut stop: watch::Receiver<bool>) {
    // What this instance last reported per task ARN; survives reconnects like the real
    // agent's state does.
    let mut known: HashMap<String, TaskStatus> = HashMap::new();
    let mut backoff = Duration::from_millis(50);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            r = session(&url, &behaviour, &mut known) => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "simulated session ended; redialling");
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// The reports that acknowledge `spec`, given what was already reported.
fn acknowledge(
    spec: &TaskSpec,
    behaviour: &Behaviour,
    last: Option<TaskStatus>,
) -> Vec<TaskReport> {
    let names: Vec<String> = spec
        .task_definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.name.clone())
        .collect();
    let report = |status: TaskStatus, exit: Option<i32>| TaskReport {
        report_id: 0,
        task_arn: spec.task_arn.clone(),
        last_status: Some(status),
        containers: names
            .iter()
            .map(|n| ContainerReport {
                name: n.clone(),
                last_status: Some(status),
                exit_code: exit,
                ..Default::default()
            })
            .collect(),
        started_at: (status == TaskStatus::Running).then(now),
        execution_stopped_at: (status == TaskStatus::Stopped).then(now),
        ..Default::default()
    };
    match (spec.desired_status, last) {
        (_, Some(TaskStatus::Stopped)) => Vec::new(),
        (TaskStatus::Stopped, _) => vec![report(TaskStatus::Stopped, Some(0))],
        (_, None) if behaviour.fails(spec) => {
            let mut r = report(TaskStatus::Stopped, None);
            r.stop_code = Some(stop_code::TASK_FAILED_TO_START.to_string());
            r.stopped_reason =
                Some("CannotPullContainerError: simulated instance fails every task".to_string());
            vec![report(TaskStatus::Pending, None), r]
        }
        (_, None) => vec![
            report(TaskStatus::Pending, None),
            report(TaskStatus::Running, None),
        ],
        (_, Some(_)) => Vec::new(),
    }
}

async fn session(
    url: &str,
    behaviour: &Behaviour,
    known: &mut HashMap<String, TaskStatus>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await?;
    let (mut tx, mut rx) = ws.split();
    let mut beat = tokio::time::interval(Duration::from_millis(HEARTBEAT_INTERVAL_MS));
    let mut report_id = 0u64;
    loop {
        tokio::select! {
            msg = rx.next() => {
                let Some(msg) = msg else { return Ok(()) };
                let text = match msg? {
                    Message::Text(t) => t,
                    Message::Close(_) => return Ok(()),
                    _ => continue,
                };
                let (seq, tasks) = match serde_json::from_str(text.as_str()) {
                    Ok(ServerFrame::DesiredState { seq, tasks }) => (seq, tasks),
                    Ok(ServerFrame::LogsRequest(r)) => {
                        send(&mut tx, &AgentFrame::LogsChunk {
                            request_id: r.request_id,
                            lines: Vec::new(),
                            done: true,
                            error: Some("a simulated instance runs no containers and has no logs".to_string()),
                        })
                        .await?;
                        continue;
                    }
                    _ => continue,
                };
                let mut frames = vec![AgentFrame::Applied { seq }];
                for spec in &tasks {
                    for mut r in acknowledge(spec, behaviour, known.get(&spec.task_arn).copied()) {
                        report_id += 1;
                        r.report_id = report_id;
                        if let Some(s) = r.last_status {
                            known.insert(spec.task_arn.clone(), s);
                        }
                        frames.push(AgentFrame::TaskStateChange(r));
                    }
                }
                // Tasks the server no longer lists were given up: forget them.
                known.retain(|arn, _| tasks.iter().any(|t| t.task_arn == *arn));
                for f in &frames {
                    send(&mut tx, f).await?;
                }
            }
            _ = beat.tick() => send(&mut tx, &AgentFrame::Heartbeat { at: now() }).await?,
        }
    }
}

async fn send<S>(
    tx: &mut S,
    frame: &AgentFrame,
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    S: SinkExt<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    let text = serde_json::to_string(frame).unwrap_or_default();
    tx.send(Message::Text(text.into())).await
}
