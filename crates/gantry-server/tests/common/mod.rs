//! A real server on 127.0.0.1:0 over an in-memory SQLite store, a raw AWS JSON 1.1 client
//! that signs every request (SigV4, with the administrator key the server is started with),
//! and a fake agent speaking the WebSocket protocol.
#![allow(dead_code)]

pub mod node;
pub mod restrict;
pub mod sign;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gantry_api::protocol::{AgentFrame, RegisterRequest, RegisterResponse, ServerFrame};
use gantry_server::{AppState, ServerConfig};
use gantry_store::{SqliteStore, Store};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct Server {
    pub addr: std::net::SocketAddr,
    pub state: Arc<AppState<SqliteStore>>,
    client: reqwest::Client,
    /// The key requests are signed with (the administrator's unless a test changes it).
    pub key: sign::Key,
    /// The node identity each registered instance was registered with.
    nodes: std::sync::Mutex<std::collections::HashMap<String, Arc<node::NodeKey>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn kind(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    /// A server that does not authenticate, for the simulated fleets (`gantry_link::sim`
    /// signs with an IAM key, which an authenticating gateway refuses).
    pub async fn start_open() -> Server {
        Self::start_with(|c| c.authenticate = false).await
    }

    pub async fn start_with(f: impl FnOnce(&mut ServerConfig)) -> Server {
        Self::start_full(f, None).await
    }

    /// A server whose `now` is `clock` (signatures are judged by it too).
    pub async fn start_with_clock(clock: Arc<gantry_server::ManualClock>) -> Server {
        Self::start_clocked(|_| {}, None, Some(clock)).await
    }

    /// A server that hands out slices of `task_network` (CIDR) to registering nodes.
    pub async fn start_with_task_network(task_network: &str) -> Server {
        let net = gantry_server::TaskNetwork::new(task_network, 24).unwrap();
        Self::start_full(|_| {}, Some(net)).await
    }

    async fn start_full(
        f: impl FnOnce(&mut ServerConfig),
        net: Option<gantry_server::TaskNetwork>,
    ) -> Server {
        Self::start_clocked(f, net, None).await
    }

    pub async fn start_clocked(
        f: impl FnOnce(&mut ServerConfig),
        net: Option<gantry_server::TaskNetwork>,
        clock: Option<Arc<gantry_server::ManualClock>>,
    ) -> Server {
        Self::start_on(f, SqliteStore::open_in_memory().unwrap(), net, clock).await
    }

    /// A server over `store` (a file-backed one, for tests that read the file).
    pub async fn start_on(
        f: impl FnOnce(&mut ServerConfig),
        store: SqliteStore,
        net: Option<gantry_server::TaskNetwork>,
        clock: Option<Arc<gantry_server::ManualClock>>,
    ) -> Server {
        let mut cfg = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            max_body_bytes: 64 * 1024,
            agent_lost_after: Duration::from_secs(30),
            admin_key: Some(gantry_server::AccessKeyPair {
                access_key_id: sign::ACCESS_KEY_ID.into(),
                secret_access_key: sign::SECRET_ACCESS_KEY.into(),
            }),
            ..ServerConfig::default()
        };
        f(&mut cfg);
        let bound = gantry_server::bind(cfg, store)
            .await
            .unwrap()
            .with_controllers(gantry_server::ControllerConfig {
                service_resync: Duration::from_millis(200),
            });
        let bound = match net {
            Some(n) => bound.with_task_network(n),
            None => bound,
        };
        let bound = match clock {
            Some(c) => bound.with_clock(c),
            None => bound,
        };
        let addr = bound.local_addr().unwrap();
        let state = bound.state();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(bound.run(async move {
            let _ = rx.await;
        }));
        Server {
            addr,
            state,
            client: reqwest::Client::new(),
            key: sign::Key::admin(),
            nodes: Default::default(),
            _stop: tx,
        }
    }

    /// A signed agent link to this server (the simulated fleets), with [`Self::key`].
    pub fn link(&self) -> gantry_link::Link {
        let mut creds = gantry_link::Credentials::new(&self.key.access_key_id, &self.key.secret);
        creds.session_token.clone_from(&self.key.session_token);
        gantry_link::Link::new(&self.url())
            .with_signer(gantry_link::Signer::new(creds, sign::REGION))
    }

    /// The server's `now`, which signatures are judged by (tests move a manual clock).
    pub fn now(&self) -> std::time::SystemTime {
        sign::at(self.state.clock.now())
    }

    /// The signing headers for a request to `url` signed for `ecs` with [`Self::key`].
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        sign::headers(
            &self.key,
            method,
            url,
            headers,
            body,
            "ecs",
            sign::REGION,
            self.now(),
        )
    }

    /// A signed `GET` of `path_and_query` (the logs endpoint), ready to send.
    pub fn signed_get(&self, path_and_query: &str) -> reqwest::RequestBuilder {
        let url = format!("http://{}{path_and_query}", self.addr);
        let mut rb = self.client.get(&url);
        for (k, v) in self.sign("GET", &url, &[], b"") {
            rb = rb.header(k, v);
        }
        rb
    }

    /// A query-protocol `POST /` (form body) signed for `service` (`iam`, `sts`).
    pub async fn form(&self, body: &str, service: &str) -> reqwest::Response {
        let url = format!("http://{}/", self.addr);
        let ct = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let signed = sign::headers(
            &self.key,
            "POST",
            &url,
            &ct,
            body.as_bytes(),
            service,
            sign::REGION,
            self.now(),
        );
        let mut rb = self.client.post(&url).header(ct[0].0, ct[0].1);
        for (k, v) in signed {
            rb = rb.header(k, v);
        }
        rb.body(body.to_string()).send().await.unwrap()
    }

    /// A signed `GET` of `path_and_query`.
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.signed_get(path_and_query).send().await.unwrap()
    }

    pub async fn raw(&self, target: &str, body: impl Into<Vec<u8>>) -> Reply {
        self.raw_for(target, body, "ecs").await
    }

    /// An AWS JSON 1.1 request for `target`, signed for `service`.
    pub async fn raw_for(&self, target: &str, body: impl Into<Vec<u8>>, service: &str) -> Reply {
        let body = body.into();
        let url = format!("http://{}/", self.addr);
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ];
        let mut rb = self.client.post(&url);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        let signed = sign::headers(
            &self.key,
            "POST",
            &url,
            &headers,
            &body,
            service,
            sign::REGION,
            self.now(),
        );
        for (k, v) in signed {
            rb = rb.header(k, v);
        }
        let resp = rb.body(body).send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// A call of the join-token API (`GantryNodes_20261201.<op>`, signed for `gantry`).
    pub async fn nodes_api(&self, op: &str, body: Value) -> Reply {
        self.raw_for(
            &format!("GantryNodes_20261201.{op}"),
            body.to_string(),
            "gantry",
        )
        .await
    }

    /// A join token for `cluster` (one registration, a day), made through the API.
    pub async fn token(&self, cluster: &str) -> String {
        let r = self
            .nodes_api("CreateJoinToken", json!({"cluster": cluster}))
            .await;
        assert_eq!(r.status, 200, "CreateJoinToken failed: {}", r.body);
        r.body["token"].as_str().unwrap().to_string()
    }

    /// A host joined to `cluster` with a fresh token.
    pub async fn join_node(&self, cluster: &str) -> node::NodeKey {
        let token = self.token(cluster).await;
        node::NodeKey::join(&self.url(), cluster, &token).await
    }

    /// The node that registered instance `id` through [`Self::register_agent_with`].
    pub fn node_of(&self, instance_id: &str) -> Option<Arc<node::NodeKey>> {
        self.nodes.lock().unwrap().get(instance_id).cloned()
    }

    /// `POST /agent/v1/register` signed by `node` (none: unsigned), as sent.
    pub async fn register_as(
        &self,
        node: Option<&node::NodeKey>,
        req: &RegisterRequest,
    ) -> reqwest::Response {
        let path = "/agent/v1/register";
        let body = serde_json::to_vec(req).unwrap();
        let mut rb = self
            .client
            .post(format!("http://{}{path}", self.addr))
            .header("content-type", "application/json");
        if let Some(n) = node {
            for (k, v) in n.headers_at("POST", path, &body, self.now()) {
                rb = rb.header(k, v);
            }
        }
        rb.body(body).send().await.unwrap()
    }

    pub async fn call(&self, op: &str, body: Value) -> Reply {
        self.raw(
            &format!("AmazonEC2ContainerServiceV20141113.{op}"),
            body.to_string(),
        )
        .await
    }

    /// Calls `op` and expects success.
    pub async fn ok(&self, op: &str, body: Value) -> Value {
        let r = self.call(op, body).await;
        assert_eq!(r.status, 200, "{op} failed: {}", r.body);
        r.body
    }

    pub async fn revision(&self) -> u64 {
        self.state.store.revision().await.unwrap()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn register_taskdef(&self, family: &str, cpu: i64, memory: i64) -> Value {
        self.ok(
            "RegisterTaskDefinition",
            json!({
                "family": family,
                "networkMode": "host",
                "containerDefinitions": [{"name": "app", "image": "busybox:1.36", "cpu": cpu, "memory": memory}]
            }),
        )
        .await
    }

    pub async fn register_agent(&self, cluster: &str, cpu: i64, memory: i64) -> RegisterResponse {
        let req = RegisterRequest {
            cluster: cluster.into(),
            instance_id: None,
            hostname: "node-1".into(),
            cpu,
            memory,
            reserved_ports: vec![22],
            attributes: vec![("ecs.cpu-architecture".into(), "x86_64".into())],
            agent_version: "0.1.0".into(),
            node_address: None,
        };
        self.register_agent_with(&req).await
    }

    /// Registers as a node: a re-registration of an instance this server registered goes
    /// with that instance's node, a first one joins a new host to the cluster.
    pub async fn register_agent_with(&self, req: &RegisterRequest) -> RegisterResponse {
        let known = req.instance_id.as_deref().and_then(|id| self.node_of(id));
        let node = match known {
            Some(n) => n,
            None => Arc::new(self.join_node(&req.cluster).await),
        };
        let resp = self.register_as(Some(&node), req).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "registration failed: {text}");
        let out: RegisterResponse = serde_json::from_str(&text).unwrap();
        self.nodes
            .lock()
            .unwrap()
            .insert(out.instance_id.clone(), node);
        out
    }

    /// Opens the session of `instance_id` as the node that registered it.
    pub async fn connect_agent(&self, instance_id: &str) -> Agent {
        let node = self.node_of(instance_id);
        self.connect_as(node.as_deref(), instance_id)
            .await
            .unwrap_or_else(|e| panic!("the session of {instance_id} was refused: {e}"))
    }

    /// Opens the session of `instance_id` signed by `node` (none: unsigned).
    pub async fn connect_as(
        &self,
        node: Option<&node::NodeKey>,
        instance_id: &str,
    ) -> Result<Agent, String> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let path = format!("/agent/v1/session?instance={instance_id}");
        let mut req = format!("ws://{}{path}", self.addr)
            .into_client_request()
            .unwrap();
        if let Some(n) = node {
            for (k, v) in n.headers_at("GET", &path, b"", self.now()) {
                let name =
                    tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                        .unwrap();
                req.headers_mut().insert(name, v.parse().unwrap());
            }
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(Agent { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let body = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).to_string())
                    .unwrap_or_default();
                Err(format!("{} {body}", resp.status().as_u16()))
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

pub struct Agent {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Agent {
    pub async fn next(&mut self) -> ServerFrame {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("no frame from the server within 10s")
                .expect("session closed")
                .unwrap();
            if let Message::Text(t) = msg {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    }

    /// The next DesiredState frame, skipping acks.
    pub async fn desired(&mut self) -> (u64, Vec<gantry_api::protocol::TaskSpec>) {
        loop {
            if let ServerFrame::DesiredState { seq, tasks } = self.next().await {
                return (seq, tasks);
            }
        }
    }

    /// The next DesiredState frame that satisfies `f`.
    pub async fn desired_until(
        &mut self,
        f: impl Fn(&[gantry_api::protocol::TaskSpec]) -> bool,
    ) -> (u64, Vec<gantry_api::protocol::TaskSpec>) {
        loop {
            let (seq, tasks) = self.desired().await;
            if f(&tasks) {
                return (seq, tasks);
            }
        }
    }

    /// Reads until the server closes the session; the close frame's code and reason (none:
    /// the connection ended without one). Panics after `limit`.
    pub async fn closed_within(&mut self, limit: Duration) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("the server did not close the session in time");
            match msg {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(f))) => {
                    return f.map(|f| (u16::from(f.code), f.reason.to_string()))
                }
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn send(&mut self, frame: &AgentFrame) {
        let text = serde_json::to_string(frame).unwrap();
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// Sends a report and waits for its ack.
    pub async fn report(&mut self, report: gantry_api::protocol::TaskReport) {
        let id = report.report_id;
        self.send(&AgentFrame::TaskStateChange(report)).await;
        loop {
            if let ServerFrame::ReportAck { report_id } = self.next().await {
                assert_eq!(report_id, id);
                return;
            }
        }
    }
}

/// Waits until `f` holds, polling.
pub async fn eventually<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(what, Duration::from_secs(5), f).await
}

/// Waits up to `limit` until `f` holds, polling.
pub async fn eventually_within<F, Fut>(what: &str, limit: Duration, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let rounds = limit.as_millis() / 25;
    for _ in 0..rounds {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}
