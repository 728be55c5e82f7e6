//! An agent that stops talking is marked agentConnected=false.

mod common;

use std::time::Duration;

use common::{eventually, Server};
use gantry_api::protocol::{AgentFrame, ServerFrame};
use serde_json::json;

#[tokio::test]
async fn a_silent_agent_is_marked_disconnected() {
    let s = Server::start_with(|c| c.agent_lost_after = Duration::from_millis(600)).await;
    let reg = s.register_agent("default", 1024, 1024).await;
    let mut agent = s.connect_agent(&reg.instance_id).await;
    agent.desired().await;
    let connected = || async {
        let d = s
            .ok(
                "DescribeContainerInstances",
                json!({"containerInstances": [reg.instance_id]}),
            )
            .await;
        d["containerInstances"][0]["agentConnected"] == true
    };
    // Heartbeats keep it connected past the limit.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        agent.send(&AgentFrame::Heartbeat { at: 0.0 }).await;
        assert!(matches!(
            agent.next().await,
            ServerFrame::HeartbeatAck { .. }
        ));
    }
    assert!(connected().await);
    // Then silence: the socket stays open, but the agent says nothing.
    eventually("the silent agent to be marked disconnected", || async {
        !connected().await
    })
    .await;
}
