//! Building the router, binding, and serving until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use gantry_api::protocol::{REGISTER_PATH, SESSION_PATH};
use gantry_api::{ApiError, ErrorKind};
use gantry_store::Store;
use tokio::net::TcpListener;

use crate::aws::json as protocol;
use crate::clock::Clock;
use crate::controllers::liveness;
use crate::controllers::service::controller;
use crate::error::ServerError;
use crate::gateway::logs;
use crate::gateway::{registration, session, task_index};
use crate::state::{AppState, ControllerConfig, ServerConfig};

/// The HTTP routes: the ECS API on `POST /`, the agent gateway and `gantry logs`.
pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/", post(protocol::handle::<S>))
        .route(REGISTER_PATH, post(registration::register::<S>))
        .route(SESSION_PATH, get(session::session::<S>))
        .route(logs::LOGS_PATH, get(logs::handle::<S>))
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
    listener: TcpListener,
    /// More addresses serving the same routes (`gantry dev --nodes`: the node bridge).
    also: Vec<TcpListener>,
    state: Arc<AppState<S>>,
}

/// Binds `cfg.listen` (port 0 picks a free port).
pub async fn bind<S: Store>(cfg: ServerConfig, store: S) -> Result<Bound<S>, ServerError> {
    let addr = cfg.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let state = Arc::new(AppState::new(cfg, store));
    crate::iam::identity::bootstrap(&state)
        .await
        .map_err(ServerError::Bootstrap)?;
    Ok(Bound {
        listener,
        also: Vec::new(),
        state,
    })
}

impl<S: Store> Bound<S> {
    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener.local_addr().map_err(ServerError::Serve)
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

    /// Serves on `addr` too (same routes, same state).
    pub async fn listen_also(mut self, addr: SocketAddr) -> Result<Self, ServerError> {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        self.also.push(l);
        Ok(self)
    }

    /// The state handlers share (tests read the store through it).
    pub fn state(&self) -> Arc<AppState<S>> {
        self.state.clone()
    }

    /// Serves until `shutdown` completes, with the liveness loop and the service controller
    /// beside.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let addr = self.local_addr()?;
        let state = self.state.clone();
        let index = tokio::spawn({
            let st = state.clone();
            async move { task_index::run(&st.store, &st.task_index).await }
        });
        let live = tokio::spawn(liveness::run(state.clone()));
        let services = tokio::spawn(controller::run(state.clone()));
        tracing::info!("gantry server listening on {addr}");
        let stop = state.shutdown.clone();
        let extra: Vec<_> = self
            .also
            .into_iter()
            .map(|l| {
                let mut down = state.shutdown.subscribe();
                let app = router(state.clone());
                tokio::spawn(async move {
                    axum::serve(
                        l.tap_io(no_delay),
                        app.into_make_service_with_connect_info::<SocketAddr>(),
                    )
                    .with_graceful_shutdown(async move {
                        let _ = down.wait_for(|v| *v).await;
                    })
                    .await
                })
            })
            .collect();
        // The peer's address is the auth gate's aws:SourceIp and the audit log's sourceIp.
        let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(self.listener.tap_io(no_delay), app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                stop.send_replace(true);
            })
            .await
            .map_err(ServerError::Serve);
        index.abort();
        live.abort();
        services.abort();
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

/// Small frames (desired sets, acks) go out at once: with Nagle's algorithm a push waits
/// for the ACK of the previous frame, which the agent delays up to 40 ms.
fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
    }
}
