//! Building the router, binding, and serving until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Extension, Router};
use gantry_api::node::{JOIN_PATH, ROTATE_PATH};
use gantry_api::protocol::{REGISTER_PATH, SESSION_PATH};
use gantry_api::{ApiError, ErrorKind};
use gantry_store::Store;
use tokio::net::TcpListener;

use crate::aws::json as protocol;
use crate::clock::Clock;
use crate::error::ServerError;
use crate::gateway::logs;
use crate::gateway::{registration, session, task_index};
use crate::nodes;
use crate::state::{AppState, ControllerConfig, ServerConfig};
use crate::tls::{Conn, GantryListener, ServerTls};

/// The HTTP routes: the ECS API on `POST /`, the agent gateway and `gantry logs`.
pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/", post(protocol::handle::<S>))
        .route(REGISTER_PATH, post(registration::register::<S>))
        .route(SESSION_PATH, get(session::session::<S>))
        .route(JOIN_PATH, post(nodes::join::join::<S>))
        .route(ROTATE_PATH, post(nodes::join::rotate::<S>))
        .route(nodes::join::CA_PATH, get(nodes::join::ca::<S>))
        .route(logs::LOGS_PATH, get(logs::handle::<S>))
        .route(
            crate::ha::health::HEALTHZ_PATH,
            get(crate::ha::health::healthz::<S>),
        )
        .fallback(|| async {
            protocol::error_response(&ApiError::new(
                ErrorKind::UnknownOperation,
                "Not found: the ECS API is served on POST / with an X-Amz-Target header.",
            ))
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// A server bound to its address and not yet serving. The binary can tell systemd it is
/// ready (sd_notify READY=1) between [`bind`] and [`Bound::run`].
#[derive(Debug)]
pub struct Bound<S> {
    /// Whether the state dir's CA files were just replaced by the cluster's.
    ca_files: crate::nodes::stored_ca::Files,
    listener: TcpListener,
    /// The main listener's TLS; none: plain HTTP, allowed on loopback only.
    tls: Option<ServerTls>,
    /// More addresses serving the same routes (`gantry dev --nodes`: the node bridge).
    also: Vec<GantryListener>,
    state: Arc<AppState<S>>,
}

/// Binds `cfg.listen` (port 0 picks a free port).
pub async fn bind<S: Store>(mut cfg: ServerConfig, store: S) -> Result<Bound<S>, ServerError> {
    let addr = cfg.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    if cfg.replica_id.is_none() {
        // The port bound, not the one asked for: port 0 picks one.
        let port = listener.local_addr().map_err(ServerError::Serve)?.port();
        cfg.replica_id = Some(crate::ha::default_replica_id(port));
    }
    let state = Arc::new(AppState::new(cfg, store));
    crate::iam::identity::bootstrap(&state)
        .await
        .map_err(ServerError::Bootstrap)?;
    // The role `gantry activation create` passes by default. Not fatal: without it only
    // activations for that role are refused, each with SSM's own reason.
    if let Err(e) = crate::ssm::role::ensure_default(&state).await {
        tracing::warn!(error = %e, role = crate::ssm::role::DEFAULT_ROLE, "could not make the default role for activations");
    }
    // The cluster CA issues node certificates whatever the listener serves (plain HTTP on
    // loopback, the operator's certificate): the cluster's, from the store (put there by
    // the first replica), copied under <state_dir>/tls.
    let ca_files = crate::nodes::stored_ca::establish(&state).await?;
    // Made on first start (or checked, when the operator gave one) before anything serves.
    state.secrets_ring.current()?;
    Ok(Bound {
        ca_files,
        listener,
        tls: None,
        also: Vec::new(),
        state,
    })
}

impl<S: Store> Bound<S> {
    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener.local_addr().map_err(ServerError::Serve)
    }

    /// The URL clients reach the main listener at (`https://` when it serves TLS).
    pub fn url(&self) -> Result<String, ServerError> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(format!("{scheme}://{}", self.local_addr()?))
    }

    /// Serves HTTPS with `tls` on the main listener (and on the [`Bound::listen_also`]
    /// addresses added after this).
    pub fn with_tls(mut self, tls: ServerTls) -> Self {
        if self.ca_files == crate::nodes::stored_ca::Files::Replaced {
            // Its certificate came from the CA the state dir had before it took the
            // cluster's: issue it again from the cluster's.
            if let Err(e) = tls.reload() {
                tracing::error!(error = %e, "could not re-issue the server certificate from the cluster CA");
            }
        }
        self.tls = Some(tls);
        self
    }

    /// The main listener's TLS, if any.
    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_ref()
    }

    /// Uses `clock` for `now` everywhere (tests pass a [`crate::ManualClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        if let Some(st) = Arc::get_mut(&mut self.state) {
            st.started = clock.now();
            st.clock = clock;
        }
        self
    }

    /// Sets how the controllers run.
    pub fn with_controllers(mut self, cfg: ControllerConfig) -> Self {
        if let Some(st) = Arc::get_mut(&mut self.state) {
            st.controllers = cfg;
        }
        self
    }

    /// Hands each registering node a slice of `net` for its awsvpc tasks and tells every
    /// agent the routes to the other nodes' slices.
    pub fn with_task_network(mut self, net: crate::TaskNetwork) -> Self {
        if let Some(st) = Arc::get_mut(&mut self.state) {
            st.task_network = Some(net);
        }
        self
    }

    /// Serves on `addr` too (same routes, same state, the main listener's TLS).
    pub async fn listen_also(self, addr: SocketAddr) -> Result<Self, ServerError> {
        let tls = self.tls.clone();
        self.listen_also_with(addr, tls).await
    }

    /// Serves on `addr` too, with `tls` (none: plain HTTP, loopback only).
    pub async fn listen_also_with(
        mut self,
        addr: SocketAddr,
        tls: Option<ServerTls>,
    ) -> Result<Self, ServerError> {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        self.also.push(GantryListener::new(l, tls));
        Ok(self)
    }

    /// The state handlers share (tests read the store through it).
    pub fn state(&self) -> Arc<AppState<S>> {
        self.state.clone()
    }

    /// Serves until `shutdown` completes. Beside it, this replica campaigns for the
    /// leadership and, while it leads, runs the liveness loop and the service controller.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let addr = self.local_addr()?;
        let main = GantryListener::new(self.listener, self.tls);
        // Plain HTTP on a network address is refused before anything serves.
        for l in std::iter::once(&main).chain(&self.also) {
            if l.tls().is_none() {
                crate::tls::check_plain(l.local_addr().map_err(ServerError::Serve)?)?;
            }
        }
        let state = self.state.clone();
        let index = tokio::spawn({
            let st = state.clone();
            async move { task_index::run(&st.store, &st.task_index).await }
        });
        let lead = tokio::spawn(crate::ha::leader::run(state.clone()));
        let presence = tokio::spawn(crate::ha::presence::run(state.clone()));
        let rewrap = tokio::spawn(crate::secretsmanager::rewrap::run(state.clone()));
        tracing::info!("gantry server listening on {addr}");
        let stop = state.shutdown.clone();
        let extra: Vec<_> = self
            .also
            .into_iter()
            .map(|l| {
                let mut down = state.shutdown.subscribe();
                let app = service(router(state.clone()), l.tls().is_some());
                tokio::spawn(async move {
                    axum::serve(l.tap_io(no_delay), app)
                        .with_graceful_shutdown(async move {
                            let _ = down.wait_for(|v| *v).await;
                        })
                        .await
                })
            })
            .collect();
        let app = service(router(state), main.tls().is_some());
        let result = axum::serve(main.tap_io(no_delay), app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                stop.send_replace(true);
            })
            .await
            .map_err(ServerError::Serve);
        index.abort();
        presence.abort();
        rewrap.abort();
        // The shutdown flag is up: the leadership loop stops its controllers and resigns.
        let abort = lead.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(3), lead)
            .await
            .is_err()
        {
            abort.abort();
        }
        for e in extra {
            let _ = e.await;
        }
        result
    }
}

/// Binds and serves until `shutdown` completes.
pub async fn serve<S: Store>(
    cfg: ServerConfig,
    store: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    bind(cfg, store).await?.run(shutdown).await
}

/// The routes as one listener serves them: handlers see the peer's address
/// (`ConnectInfo<SocketAddr>`: aws:SourceIp, the audit log) and, on TLS listeners,
/// `Transport { secure: true }` (aws:SecureTransport).
fn service(app: Router, secure: bool) -> IntoMakeServiceWithConnectInfo<Router, SocketAddr> {
    let app = if secure {
        app.layer(Extension(crate::auth::Transport { secure: true }))
    } else {
        app
    };
    app.into_make_service_with_connect_info::<SocketAddr>()
}

/// Small frames (desired sets, acks) go out at once: with Nagle's algorithm a push waits
/// for the ACK of the previous frame, which the agent delays up to 40 ms.
fn no_delay(conn: &mut Conn) {
    if let Some(Err(e)) = conn.tcp().map(|t| t.set_nodelay(true)) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::ConnectInfo;

    use super::*;
    use crate::auth::Transport;
    use crate::tls::{CertSource, ClusterFiles};

    /// What a handler behind `service` sees of its connection.
    async fn seen(tls: Option<ServerTls>, client: reqwest::Client) -> String {
        let app =
            Router::new().route(
                "/",
                get(
                    |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                     t: Option<Extension<Transport>>| async move {
                        format!("{} {}", peer.ip(), t.is_some_and(|t| t.secure))
                    },
                ),
            );
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let secure = tls.is_some();
        let l = GantryListener::new(tcp, tls);
        let server = tokio::spawn(async move {
            let _ = axum::serve(l.tap_io(no_delay), service(app, secure)).await;
        });
        let body = client
            .get(format!("{scheme}://127.0.0.1:{}/", addr.port()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        server.abort();
        body
    }

    #[tokio::test]
    async fn handlers_see_the_peer_and_whether_the_connection_is_tls() {
        assert_eq!(seen(None, reqwest::Client::new()).await, "127.0.0.1 false");
        let dir = std::env::temp_dir().join(format!("gantry-server-secure-{}", std::process::id()));
        let tls = ServerTls::new(CertSource::Cluster {
            files: ClusterFiles::new(&dir),
            names: vec!["127.0.0.1".into()],
        })
        .unwrap();
        let ca = std::fs::read(dir.join("ca.pem")).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .build()
            .unwrap();
        assert_eq!(seen(Some(tls), client).await, "127.0.0.1 true");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
