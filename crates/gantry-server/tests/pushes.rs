//! A node's desired set is pushed when something desired changes, never because the agent's
//! own report was written (DESIGN.md §4): N reports cause no push; a placement or a StopTask
//! causes one.

mod common;

use std::time::Duration;

use common::{Agent, Server};
use gantry_api::protocol::{AgentFrame, ContainerReport, ServerFrame, TaskReport};
use gantry_api::TaskStatus;
use serde_json::json;

/// How long a push caused by a write would take at most to reach the agent here (one
/// store watch event and one session wake, on loopback).
const SETTLE: Duration = Duration::from_millis(400);

/// Waits for anything a write may still push, then counts the DesiredState frames that
/// arrived: a heartbeat sent after the wait is answered after every frame queued before it.
async fn pushes_after_settling(agent: &mut Agent) -> usize {
    tokio::time::sleep(SETTLE).await;
    agent.send(&AgentFrame::Heartbeat { at: 0.0 }).await;
    let mut pushes = 0;
    loop {
        match agent.next().await {
            ServerFrame::HeartbeatAck { .. } => return pushes,
            ServerFrame::DesiredState { .. } => pushes += 1,
            _ => {}
        }
    }
}

/// Sends a report and waits for its ack; returns the DesiredState frames that came first.
async fn send_report(agent: &mut Agent, r: TaskReport) -> usize {
    let id = r.report_id;
    agent.send(&AgentFrame::TaskStateChange(r)).await;
    let mut pushes = 0;
    loop {
        match agent.next().await {
            ServerFrame::ReportAck { report_id } if report_id == id => return pushes,
            ServerFrame::DesiredState { .. } => pushes += 1,
            _ => {}
        }
    }
}

fn report(id: u64, arn: &str, s: TaskStatus, health: Option<&str>) -> TaskReport {
    TaskReport {
        report_id: id,
        task_arn: arn.into(),
        last_status: Some(s),
        health_status: health.map(str::to_string),
        containers: vec![ContainerReport {
            name: "app".into(),
            last_status: Some(s),
            health_status: health.map(str::to_string),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn reports_push_nothing_placements_and_stops_push_once() {
    let s = Server::start().await;
    let reg = s.register_agent("default", 2048, 4096).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    let (_, tasks) = agent.desired().await;
    assert!(tasks.is_empty());
    assert_eq!(pushes_after_settling(&mut agent).await, 0);

    s.register_taskdef("web", 256, 512).await;
    let run = s.ok("RunTask", json!({"taskDefinition": "web"})).await;
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    assert_eq!(pushes_after_settling(&mut agent).await, 1, "a placement");

    // Every one of these rewrites the task record; none changes what the node is told.
    let steps = [
        (TaskStatus::Pending, None),
        (TaskStatus::Activating, None),
        (TaskStatus::Running, None),
        (TaskStatus::Running, Some("UNKNOWN")),
        (TaskStatus::Running, Some("HEALTHY")),
        (TaskStatus::Running, Some("UNHEALTHY")),
        (TaskStatus::Running, Some("HEALTHY")),
    ];
    let mut pushes = 0;
    for (i, (status, health)) in steps.iter().enumerate() {
        pushes += send_report(&mut agent, report(i as u64 + 1, &arn, *status, *health)).await;
    }
    let t = s.ok("DescribeTasks", json!({"tasks": [arn]})).await;
    assert_eq!(t["tasks"][0]["lastStatus"], "RUNNING");
    assert_eq!(t["tasks"][0]["healthStatus"], "HEALTHY");
    pushes += pushes_after_settling(&mut agent).await;
    assert_eq!(pushes, 0, "{} reports", steps.len());

    s.ok("StopTask", json!({"task": arn})).await;
    assert_eq!(pushes_after_settling(&mut agent).await, 1, "a StopTask");

    // The agent's STOPPED report takes the task out of the set: that is a change of the set
    // (one push, now empty); a repeated report is stale and pushes nothing.
    let left = send_report(&mut agent, report(20, &arn, TaskStatus::Stopped, None)).await;
    assert_eq!(
        left + pushes_after_settling(&mut agent).await,
        1,
        "left the set"
    );
    let stale = send_report(&mut agent, report(21, &arn, TaskStatus::Stopped, None)).await;
    assert_eq!(
        stale + pushes_after_settling(&mut agent).await,
        0,
        "a stale report"
    );
}
