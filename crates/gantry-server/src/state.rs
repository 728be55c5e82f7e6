//! The state every handler shares: the store, the configuration and the live agent sessions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gantry_api::arn::ArnBuilder;
use gantry_api::Timestamp;

use crate::clock::{Clock, SystemClock};
use crate::gateway::sessions::Sessions;
use crate::gateway::task_index::TaskIndex;
use crate::gateway::task_network::TaskNetwork;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Account id and region put into every ARN.
    pub account_id: String,
    pub region: String,
    /// Requests with a larger body are refused before they are parsed.
    pub max_body_bytes: usize,
    /// An agent silent for this long is marked `agentConnected=false`.
    pub agent_lost_after: Duration,
    /// Where the server keeps what is not in the store: the secret-encryption key, the
    /// credentials file it writes on first start, the CA, the audit log (none: tests).
    pub state_dir: Option<PathBuf>,
    /// The administrator's access key, when the operator passes one.
    pub admin_key: Option<AccessKeyPair>,
    /// Verify signatures and authorize requests. Always on in a real server; off only for
    /// the throughput bench's baseline (not a CLI flag).
    pub authenticate: bool,
    /// How long a node certificate the cluster CA issues (at join and at each rotation) is
    /// valid; the agent rotates at two thirds of it.
    pub node_credential_ttl: Duration,
    /// This replica's name in the leader election and in `/healthz`; unique per replica.
    /// None: `<hostname>:<listen port>`.
    pub replica_id: Option<String>,
    /// The leader's lease: a leader that stops renewing it (killed, cut off from the store)
    /// is replaced this long after its last renewal at the latest.
    pub leader_ttl: Duration,
    /// The secret-sealing key (32 bytes) when it is not `<state_dir>/secret.key`: replicas
    /// of one cluster must all have the same one.
    pub secret_key_file: Option<PathBuf>,
    /// How long a STOPPED task stays describable before it is forgotten (ECS: about an
    /// hour).
    pub stopped_task_retention: Duration,
    /// Secrets Manager's master key ring when it is not `<state_dir>/secrets-master.keys`:
    /// replicas of one cluster must all have the same one.
    pub secrets_master_key_file: Option<PathBuf>,
}

/// An access key id and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyPair {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for AccessKeyPair {
    // The secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyPair")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            account_id: "000000000000".to_string(),
            region: "local".to_string(),
            max_body_bytes: 1024 * 1024,
            agent_lost_after: Duration::from_secs(30),
            stopped_task_retention: Duration::from_secs(3600),
            state_dir: None,
            admin_key: None,
            authenticate: true,
            node_credential_ttl: Duration::from_secs(24 * 60 * 60),
            replica_id: None,
            // Renewed every second (a third of it): a new leader 2 to 3 s after a kill -9.
            leader_ttl: Duration::from_secs(3),
            secret_key_file: None,
            secrets_master_key_file: None,
        }
    }
}

/// How the controllers run. Not part of [`ServerConfig`] so callers that build that struct
/// by hand keep compiling; set it with [`crate::Bound::with_controllers`].
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Every service is reconciled at least this often, whatever the store says.
    pub service_resync: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            service_resync: Duration::from_secs(5),
        }
    }
}

/// Shared by every request and background loop.
#[derive(Debug)]
pub struct AppState<S> {
    /// `now` for everything the control plane timestamps or times out.
    pub clock: Arc<dyn Clock>,
    pub controllers: ControllerConfig,
    pub store: S,
    pub config: ServerConfig,
    pub arns: ArnBuilder,
    pub sessions: Sessions,
    /// Which tasks each instance holds, for the agent sessions.
    pub task_index: TaskIndex,
    /// When this process started: instances nobody heard from since are judged from here.
    pub started: Timestamp,
    /// Flips to `true` when the server shuts down; agent sessions close on it.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The cluster task network nodes get awsvpc slices of (none: agents bring their own).
    pub task_network: Option<TaskNetwork>,
    /// Where every request's decision is written (`<state_dir>/audit`).
    pub audit: crate::auth::audit::AuditLog,
    /// The IAM identities and policies the auth gate reads, until IAM changes.
    pub auth_cache: crate::auth::cache::AuthCache,
    /// The cluster CA that issues node certificates, and the node verification cache.
    pub nodes: crate::nodes::NodeState,
    /// This replica's id ([`ServerConfig::replica_id`], resolved).
    pub replica: String,
    /// Whether this replica leads, and its fence while it does.
    pub(crate) leader: crate::ha::leader::LeaderState,
    /// Which agents hold a session on some replica (see [`crate::ha::presence`]).
    pub(crate) presence: crate::ha::presence::Presence,
    /// The master keys that wrap Secrets Manager's data keys.
    pub secrets_ring: crate::secretsmanager::keyring::KeyRing,
}

impl<S> AppState<S> {
    pub fn new(config: ServerConfig, store: S) -> Self {
        Self::with_clock(config, store, Arc::new(SystemClock))
    }

    /// State whose `now` comes from `clock` (tests pass a [`crate::ManualClock`]).
    pub fn with_clock(config: ServerConfig, store: S, clock: Arc<dyn Clock>) -> Self {
        let audit = match &config.state_dir {
            Some(dir) => crate::auth::audit::AuditLog::open(dir.join("audit")),
            None => crate::auth::audit::AuditLog::off(),
        };
        let replica = config
            .replica_id
            .clone()
            .unwrap_or_else(|| crate::ha::default_replica_id(config.listen.port()));
        let secrets_ring = crate::secretsmanager::keyring::KeyRing::new(
            config.state_dir.as_deref(),
            config.secrets_master_key_file.as_deref(),
        );
        Self {
            secrets_ring,
            replica,
            leader: Default::default(),
            presence: Default::default(),
            audit,
            auth_cache: Default::default(),
            nodes: crate::nodes::NodeState::new(config.state_dir.as_deref()),
            started: clock.now(),
            clock,
            controllers: ControllerConfig::default(),
            arns: ArnBuilder::new(config.region.clone(), config.account_id.clone()),
            store,
            config,
            sessions: Sessions::default(),
            task_index: TaskIndex::default(),
            shutdown: tokio::sync::watch::Sender::new(false),
            task_network: None,
        }
    }

    /// The fence of the leadership this replica holds, if it leads now.
    pub fn leadership(&self) -> Option<crate::ha::Fence> {
        self.leader.get()
    }

    /// Whether this replica leads now (and so runs the controllers).
    pub fn is_leader(&self) -> bool {
        self.leadership().is_some()
    }
}
