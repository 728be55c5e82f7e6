//! awsvpc slices handed out by the server: one per node, the same one back when the node
//! registers again, and every agent told the other nodes' slices and addresses.

mod common;

use common::{Agent, Server};
use gantry_api::protocol::{PeerRoute, RegisterRequest, ServerFrame};

fn node(name: &str, id: Option<String>, addr: &str) -> RegisterRequest {
    RegisterRequest {
        cluster: "default".into(),
        instance_id: id,
        hostname: name.into(),
        cpu: 1024,
        memory: 1024,
        reserved_ports: vec![],
        attributes: vec![],
        agent_version: "0.1.0".into(),
        node_address: Some(addr.into()),
    }
}

/// The next PeerRoutes frame, skipping others.
async fn routes(agent: &mut Agent) -> Vec<PeerRoute> {
    loop {
        if let ServerFrame::PeerRoutes { routes } = agent.next().await {
            return routes;
        }
    }
}

#[tokio::test]
async fn nodes_get_their_own_slice_back_and_routes_to_the_others() {
    let s = Server::start_with_task_network("10.214.0.0/16").await;
    let a = s.register_agent_with(&node("a", None, "10.215.0.2")).await;
    let b = s.register_agent_with(&node("b", None, "10.215.0.3")).await;
    assert_eq!(a.task_network.as_deref(), Some("10.214.0.0/16"));
    let (sa, sb) = (a.task_slice.clone().unwrap(), b.task_slice.clone().unwrap());
    assert_ne!(sa, sb);
    assert!(sa.ends_with("/24") && sa.starts_with("10.214."), "{sa}");

    // The same node registering again keeps its slice.
    let again = s
        .register_agent_with(&node("a", Some(a.instance_id.clone()), "10.215.0.2"))
        .await;
    assert_eq!(again.instance_id, a.instance_id);
    assert_eq!(again.task_slice.as_deref(), Some(sa.as_str()));

    let mut agent_a = s.connect_agent(&a.instance_id).await;
    assert_eq!(
        routes(&mut agent_a).await,
        vec![PeerRoute {
            subnet: sb.clone(),
            via: "10.215.0.3".into()
        }]
    );
    // A third node joins: the first agent is told about it.
    let c = s.register_agent_with(&node("c", None, "10.215.0.4")).await;
    let sc = c.task_slice.unwrap();
    assert!(sc != sa && sc != sb);
    let mut now = routes(&mut agent_a).await;
    now.sort();
    let mut want = vec![
        PeerRoute {
            subnet: sb,
            via: "10.215.0.3".into(),
        },
        PeerRoute {
            subnet: sc,
            via: "10.215.0.4".into(),
        },
    ];
    want.sort();
    assert_eq!(now, want);
}

#[tokio::test]
async fn without_a_task_network_no_slices_are_handed_out() {
    let s = Server::start().await;
    let a = s.register_agent_with(&node("a", None, "10.215.0.2")).await;
    assert_eq!(a.task_slice, None);
    assert_eq!(a.task_network, None);
}
