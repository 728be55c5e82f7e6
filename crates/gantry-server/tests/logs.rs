//! `GET /gantry/v1/logs` over the real router, answered by a fake agent.

mod common;

use common::Server;
use gantry_api::protocol::{AgentFrame, LogLine, ServerFrame};
use serde_json::{json, Value};

fn line(container: &str, ts: f64, log: &str) -> LogLine {
    LogLine {
        container: container.into(),
        ts,
        stream: "stdout".into(),
        log: log.into(),
    }
}

fn lines_of(body: &str) -> Vec<Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn get(s: &Server, query: &str) -> reqwest::Response {
    s.get(&format!("/gantry/v1/logs?{query}")).await
}

/// The next LogsRequest the agent receives, skipping other frames.
async fn next_request(agent: &mut common::Agent) -> gantry_api::protocol::LogsRequest {
    loop {
        if let ServerFrame::LogsRequest(r) = agent.next().await {
            return r;
        }
    }
}

async fn running_task(s: &Server) -> (common::Agent, String) {
    let reg = s.register_agent("default", 1024, 1024).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    s.register_taskdef("web", 128, 128).await;
    let run = s.ok("RunTask", json!({"taskDefinition": "web"})).await;
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    agent.desired_until(|t| !t.is_empty()).await;
    let id = arn.rsplit('/').next().unwrap().to_string();
    (agent, id)
}

#[tokio::test]
async fn the_agents_chunks_stream_back_as_ndjson() {
    let s = Server::start().await;
    let (mut agent, id) = running_task(&s).await;
    let pending = tokio::spawn({
        let rb = s.signed_get(&format!(
            "/gantry/v1/logs?task={id}&container=app&tail=10&since=1.5"
        ));
        async move { rb.send().await.unwrap() }
    });
    let req = next_request(&mut agent).await;
    assert_eq!(req.task_id, id);
    assert_eq!(req.container.as_deref(), Some("app"));
    assert_eq!(req.tail, Some(10));
    assert_eq!(req.since, Some(1.5));
    assert!(!req.follow);
    agent
        .send(&AgentFrame::LogsChunk {
            request_id: req.request_id,
            lines: vec![line("app", 2.0, "one"), line("app", 3.0, "two")],
            done: false,
            error: None,
        })
        .await;
    agent
        .send(&AgentFrame::LogsChunk {
            request_id: req.request_id,
            lines: vec![line("app", 4.0, "three")],
            done: true,
            error: None,
        })
        .await;
    let resp = pending.await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let got = lines_of(&resp.text().await.unwrap());
    let logs: Vec<&str> = got.iter().map(|l| l["log"].as_str().unwrap()).collect();
    assert_eq!(logs, ["one", "two", "three"]);
    assert_eq!(got[0]["container"], "app");
    assert_eq!(got[0]["stream"], "stdout");
    assert_eq!(got[0]["ts"], 2.0);
}

#[tokio::test]
async fn an_agent_error_ends_the_stream_with_an_error_line() {
    let s = Server::start().await;
    let (mut agent, id) = running_task(&s).await;
    let pending = tokio::spawn({
        let rb = s.signed_get(&format!("/gantry/v1/logs?cluster=default&task={id}"));
        async move { rb.send().await.unwrap() }
    });
    let req = next_request(&mut agent).await;
    agent
        .send(&AgentFrame::LogsChunk {
            request_id: req.request_id,
            lines: vec![],
            done: true,
            error: Some("no logs here".into()),
        })
        .await;
    let got = lines_of(&pending.await.unwrap().text().await.unwrap());
    assert_eq!(got, vec![json!({"error": "no logs here"})]);
}

#[tokio::test]
async fn a_follow_ends_when_the_agent_disconnects() {
    let s = Server::start().await;
    let (mut agent, id) = running_task(&s).await;
    let pending = tokio::spawn({
        let rb = s.signed_get(&format!("/gantry/v1/logs?task={id}&follow=true"));
        async move { rb.send().await.unwrap().text().await.unwrap() }
    });
    let req = next_request(&mut agent).await;
    assert!(req.follow);
    agent
        .send(&AgentFrame::LogsChunk {
            request_id: req.request_id,
            lines: vec![line("app", 2.0, "hello")],
            done: false,
            error: None,
        })
        .await;
    // Let the chunk arrive before the session goes.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(agent);
    let got = lines_of(&pending.await.unwrap());
    assert_eq!(got[0]["log"], "hello");
    assert_eq!(got[1], json!({"error": "the agent disconnected"}));
}

#[tokio::test]
async fn a_reader_that_leaves_cancels_the_request() {
    let s = Server::start().await;
    let (mut agent, id) = running_task(&s).await;
    let resp = tokio::spawn({
        let rb = s.signed_get(&format!("/gantry/v1/logs?task={id}&follow=true"));
        async move { rb.send().await.unwrap() }
    });
    let req = next_request(&mut agent).await;
    agent
        .send(&AgentFrame::LogsChunk {
            request_id: req.request_id,
            lines: vec![line("app", 2.0, "hello")],
            done: false,
            error: None,
        })
        .await;
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    drop(resp);
    loop {
        if let ServerFrame::LogsCancel { request_id } = agent.next().await {
            assert_eq!(request_id, req.request_id);
            break;
        }
    }
}

#[tokio::test]
async fn unknown_task_cluster_and_absent_agent_are_errors() {
    let s = Server::start().await;
    let r = get(&s, "task=nope").await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["__type"], "ClusterNotFoundException");

    let (agent, id) = running_task(&s).await;
    let r = get(&s, "task=nope").await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["__type"], "InvalidParameterException");
    assert_eq!(body["message"], "The referenced task was not found.");

    drop(agent);
    common::eventually("the session to close", || async {
        let r = get(&s, &format!("task={id}")).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        status == 400
            && body["__type"] == "ClientException"
            && body["message"]
                .as_str()
                .unwrap()
                .contains("is not connected")
    })
    .await;
}
