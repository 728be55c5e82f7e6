//! The node agent. It joins the cluster once (a key pair made here, a certificate from the
//! cluster CA: `credential`, `node_store`), registers the host with the control plane with
//! that node credential, rotates it in the background, holds one session,
//! and runs a level-triggered task engine: the server's desired task set in, the known state
//! of each task out. Containers are started by a per-task supervisor process (a re-exec of
//! the `gantry` binary), never from inside this multi-threaded async process.
//!
//! The agent must never run a task twice: a task whose directory already exists is adopted,
//! not started again.

mod config;
mod container_config;
mod credential;
mod engine;
mod error;
mod identity;
mod image_gc;
mod logs;
mod netspec;
mod node_store;
mod peer_routes;
mod sealed_exe;
mod secrets;
mod session;

pub use config::AgentConfig;
pub use error::AgentError;
pub use identity::host_resources;

/// Whether the agent with state dir `agent_state_dir` has joined (holds a node credential).
pub fn has_node_credential(agent_state_dir: &std::path::Path) -> bool {
    node_store::NodeStore::new(agent_state_dir).exists()
}

use std::future::Future;
use std::sync::Arc;

use gantry_image::{ImageStore, ImageStoreConfig};
use gantry_net::KernelNetwork;

/// Runs the agent until `shutdown` completes. Tasks keep running after the agent stops.
pub async fn run(
    cfg: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    start(cfg).await?.run(shutdown).await;
    Ok(())
}

/// An agent that has registered with the control plane and not yet opened its session.
pub struct Registered {
    cfg: Arc<AgentConfig>,
    reg: gantry_api::protocol::RegisterResponse,
    /// Signed with the node credential, which `rotation` keeps fresh.
    link: gantry_link::Link,
    store: node_store::NodeStore,
    meta: node_store::Meta,
    images: ImageStore,
    network: Arc<KernelNetwork>,
    /// Kept open while the agent runs: `cfg.supervisor_exe` points into it.
    _sealed: sealed_exe::SealedExe,
    /// The server this agent last reached: registered with, then each session's.
    server: tokio::sync::watch::Sender<String>,
}

impl Registered {
    /// The container instance this host registered as.
    pub fn container_instance_arn(&self) -> &str {
        &self.reg.container_instance_arn
    }

    /// The node id of this host's credential (`i-…` or `mi-…`).
    pub fn node_id(&self) -> &str {
        &self.meta.node_id
    }

    /// The URL of the server the agent is connected to: the one it registered with, then
    /// the one each session opened on (it changes when the agent fails over to another
    /// replica).
    pub fn server(&self) -> tokio::sync::watch::Receiver<String> {
        self.server.subscribe()
    }

    /// Holds the session and runs the task engine until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let routes =
            peer_routes::PeerRoutes::new(self.network.clone(), self.cfg.awsvpc_subnet.clone());
        let images = Arc::new(self.images);
        let launcher = gantry_runtime::client::Launcher::new(
            self.cfg.supervisor_exe.clone(),
            vec!["supervise".into()],
        )
        .prespawned();
        let (secrets, secrets_link) = secrets::channel();
        let fx = engine::Effects {
            secrets: Arc::new(secrets),
            images: images.clone(),
            rootfs: Arc::new(engine::KernelRootfs),
            network: self.network,
            supervisors: Arc::new(engine::ProcessSupervisors::new(launcher)),
        };
        let (engine, reports) = engine::Engine::new(self.cfg.clone(), fx);
        let gc = {
            let engine = engine.clone();
            let (every, min_age) = (self.cfg.image_gc_interval, self.cfg.image_min_age);
            tokio::spawn(image_gc::run(images, engine, every, min_age))
        };
        let rotation = tokio::spawn(credential::rotate_forever(
            self.link.clone(),
            self.store,
            self.meta,
            self.cfg.hostname.clone(),
        ));
        let ends = session::Ends {
            engine,
            reports,
            routes,
            server: self.server,
            secrets: secrets_link,
        };
        session::run(self.link, self.reg, ends, shutdown).await;
        rotation.abort();
        gc.abort();
        drop(self._sealed);
    }
}

/// Prepares the state dir and the image store and registers with the control plane.
pub async fn start(mut cfg: AgentConfig) -> Result<Registered, AgentError> {
    match gantry_runtime::rlimit::raise_nofile() {
        Ok((before, after)) => tracing::info!(before, after, "open-files soft limit"),
        Err(e) => {
            tracing::warn!("cannot raise the open-files limit: {e}; many tasks may exhaust it")
        }
    }
    let dirs = [cfg.tasks_dir(), cfg.images_dir()];
    for d in &dirs {
        std::fs::create_dir_all(d).map_err(|source| AgentError::StateDir {
            path: d.clone(),
            source,
        })?;
    }
    let images = ImageStore::open(ImageStoreConfig {
        root: cfg.images_dir(),
        layouts: cfg.image_layouts.clone(),
        insecure_registries: cfg.insecure_registries.clone(),
        max_unpacked_bytes: cfg.max_unpacked_bytes,
    })?;
    // Supervisors (and the containers they clone) run from a sealed copy of the binary.
    let sealed = sealed_exe::SealedExe::copy_of(&cfg.supervisor_exe).map_err(|source| {
        AgentError::SealExe {
            path: cfg.supervisor_exe.clone(),
            source,
        }
    })?;
    cfg.supervisor_exe = sealed.exec_path();
    let store = node_store::NodeStore::new(&cfg.state_dir);
    let servers = cfg.servers().map_err(gantry_link::SetupError::from)?;
    let ca = credential::trust(&cfg, &servers, &store).await?;
    let base = cfg.link(&servers, ca.as_deref())?;
    let cred = credential::obtain(&cfg, &store, &base).await?;
    if cred.joined {
        identity::forget_instance(&cfg);
    }
    let link = base.with_node(cred.identity);
    let reg = identity::register(&cfg, &link).await?;
    if let (Some(slice), Some(net)) = (&reg.task_slice, &reg.task_network) {
        if cfg.awsvpc_subnet.as_ref().is_some_and(|s| s != slice) {
            tracing::warn!(
                flag = ?cfg.awsvpc_subnet,
                server = %slice,
                "the server hands out awsvpc slices: using its slice, not --awsvpc-subnet"
            );
        }
        cfg.awsvpc_subnet = Some(slice.clone());
        cfg.awsvpc_cluster_cidr = net.clone();
    }
    let network = Arc::new(KernelNetwork::new(cfg.net_config()).map_err(AgentError::Net)?);
    let cfg = Arc::new(cfg);
    let (server, _) = tokio::sync::watch::channel(link.server_url());
    tracing::info!(
        instance = %reg.container_instance_arn,
        node = %cred.meta.node_id,
        server = %link.server_url(),
        cluster = %cfg.cluster,
        awsvpc_subnet = ?cfg.awsvpc_subnet,
        "gantry agent registered"
    );
    Ok(Registered {
        _sealed: sealed,
        cfg,
        reg,
        link,
        store,
        meta: cred.meta,
        images,
        network,
        server,
    })
}
