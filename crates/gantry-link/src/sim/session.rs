//! One simulated instance's session: acknowledge every desired task at once.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use gantry_api::protocol::{
    AgentFrame, ContainerReport, ServerFrame, TaskReport, TaskSpec, HEARTBEAT_INTERVAL_MS,
};
use gantry_api::status::stop_code;
use gantry_api::TaskStatus;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::Behaviour;
use crate::{now, send};

/// Holds one instance's session, redialling until told to stop.
pub(super) async fn hold(
    link: crate::Link,
    instance_id: String,
    behaviour: Behaviour,
    mut stop: watch::Receiver<bool>,
) {
    // What this instance last reported per task ARN; survives reconnects like the real
    // agent's state does.
    let mut known: HashMap<String, TaskStatus> = HashMap::new();
    let mut backoff = Duration::from_millis(50);
    loop {
        let server = link.servers().current();
        tokio::select! {
            _ = stop.changed() => return,
            r = session(&link, &instance_id, &behaviour, &mut known) => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "simulated session ended; redialling");
                }
                // As the real agent: a session that ended moves on to the next server.
                if link.servers().len() > 1 {
                    link.servers().failed(&server);
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
    link: &crate::Link,
    instance_id: &str,
    behaviour: &Behaviour,
    known: &mut HashMap<String, TaskStatus>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let ws = link.connect(instance_id).await?;
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
                let (seq, tasks) = match crate::parse(text.as_str()) {
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
