//! The agent's configuration, with defaults that work on a single host.

use std::path::PathBuf;
use std::time::Duration;

use gantry_image::{PullPolicy, RegistryAuth};

/// Everything the agent needs to know. Built by the binary from flags, environment and file.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Base URL of the control plane, e.g. `http://127.0.0.1:8080`, or the URLs of several
    /// replicas of one cluster separated by commas (`https://a:8443,https://b:8443`): the
    /// agent uses one at a time and moves to the next when it fails ([`gantry_link::Servers`]).
    pub server_url: String,
    /// What the host joins with when it has no node credential yet (a join token or an SSM
    /// activation); used once, then the credential under `<state_dir>/node` is.
    pub grant: Option<gantry_api::node::JoinGrant>,
    /// The hex SHA-256 of the cluster CA certificate's DER: on first contact the agent
    /// fetches the CA and trusts it only if it has this hash.
    pub ca_sha256: Option<String>,
    /// PEM certificates trusted for an `https` server (the cluster CA); none: the one
    /// pinned on first contact, else the system's.
    pub ca_bundle: Option<Vec<u8>>,
    pub cluster: String,
    /// Root of all node state (task dirs, images, the instance identity).
    pub state_dir: PathBuf,
    /// CPU units to register; default 1024 per online CPU.
    pub cpu_units: Option<i64>,
    /// MiB kept back from tasks (like `ECS_RESERVED_MEMORY`).
    pub reserved_memory_mib: i64,
    /// Host ports no task may use (like `ECS_RESERVED_PORTS`).
    pub reserved_ports: Vec<u16>,
    /// Custom attributes registered with the instance.
    pub attributes: Vec<(String, String)>,
    /// OCI image layouts searched before any registry.
    pub image_layouts: Vec<PathBuf>,
    /// Registries reachable over plain HTTP besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// Credentials per registry host[:port].
    pub registry_auth: Vec<(String, RegistryAuth)>,
    pub pull_policy: PullPolicy,
    /// Cap on the unpacked size of one layer set.
    pub max_unpacked_bytes: u64,
    /// SIGTERM-to-SIGKILL wait when a container definition has no `stopTimeout`.
    pub default_stop_timeout: Duration,
    /// How long a stopped task's directory (logs included) is kept.
    pub task_cleanup_wait: Duration,
    /// Default pids limit of a container (like `ECS_TASK_PIDS_LIMIT`).
    pub pids_limit: i64,
    /// Whether containers may run privileged (like `ECS_DISABLE_PRIVILEGED=false`).
    pub allow_privileged: bool,
    /// Run containers in a user namespace whose root is this unprivileged host id range
    /// (`None`: the host's user namespace, Docker's default).
    pub user_namespace: Option<gantry_runtime::spec::IdRange>,
    /// Size at which a container's log file is rotated.
    pub log_max_bytes: u64,
    /// Log files kept per container, the current one included.
    pub log_max_files: u32,
    /// How often the image cache is cleaned (like `ECS_IMAGE_CLEANUP_INTERVAL`).
    pub image_gc_interval: Duration,
    /// Images unused for less than this are kept (like `ECS_IMAGE_MINIMUM_CLEANUP_AGE`).
    pub image_min_age: Duration,
    /// The node bridge of `bridge` mode tasks and its subnet.
    pub bridge_name: String,
    pub bridge_subnet: String,
    /// Host ports handed out for `hostPort: 0` (like `ECS_DYNAMIC_HOST_PORT_RANGE`).
    pub dynamic_ports: (u16, u16),
    /// This node's slice of the cluster task network, for `awsvpc` tasks, and the whole
    /// network (traffic inside it is routed between nodes, not masqueraded).
    pub awsvpc_subnet: Option<String>,
    pub awsvpc_cluster_cidr: String,
    /// The address other nodes reach this host at, reported to the server for the awsvpc
    /// peer routes; when unset, the source address this host uses towards the server.
    pub node_address: Option<std::net::Ipv4Addr>,
    /// The cgroup under which each task gets its own (`<parent>/<task-id>/<container>`).
    pub cgroup_parent: String,
    /// The binary re-executed as `<exe> supervise <task_dir>`.
    pub supervisor_exe: PathBuf,
    pub hostname: String,
}

impl AgentConfig {
    /// Defaults for a server at `server_url` and a state dir.
    pub fn new(server_url: impl Into<String>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            server_url: server_url.into(),
            grant: None,
            ca_sha256: None,
            ca_bundle: None,
            cluster: "default".to_string(),
            state_dir: state_dir.into(),
            cpu_units: None,
            reserved_memory_mib: 0,
            reserved_ports: vec![22, 2375, 2376, 51678, 51679],
            attributes: Vec::new(),
            image_layouts: Vec::new(),
            insecure_registries: Vec::new(),
            registry_auth: Vec::new(),
            pull_policy: PullPolicy::Default,
            max_unpacked_bytes: 8 << 30,
            default_stop_timeout: Duration::from_secs(30),
            task_cleanup_wait: Duration::from_secs(600),
            pids_limit: 4096,
            cgroup_parent: "/gantry".to_string(),
            image_gc_interval: Duration::from_secs(30 * 60),
            image_min_age: Duration::from_secs(60 * 60),
            bridge_name: "gantry0".to_string(),
            bridge_subnet: "10.213.0.0/16".to_string(),
            dynamic_ports: (49153, 65535),
            awsvpc_subnet: None,
            awsvpc_cluster_cidr: "10.214.0.0/16".to_string(),
            node_address: None,
            allow_privileged: true,
            user_namespace: None,
            log_max_bytes: gantry_runtime::logs::DEFAULT_LOG_MAX_BYTES,
            log_max_files: gantry_runtime::logs::DEFAULT_LOG_MAX_FILES,
            supervisor_exe: PathBuf::from("/proc/self/exe"),
            hostname: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".to_string()),
        }
    }

    /// The server addresses of [`AgentConfig::server_url`].
    pub fn servers(&self) -> Result<gantry_link::Servers, gantry_link::ServersError> {
        gantry_link::Servers::parse(&self.server_url)
    }

    /// How to reach the server: its addresses, trusting `ca` (PEM) when given (the one
    /// cluster CA every replica's certificate is issued by); unsigned (the node credential is
    /// added once the agent has one).
    pub fn link(
        &self,
        servers: &gantry_link::Servers,
        ca: Option<&[u8]>,
    ) -> Result<gantry_link::Link, gantry_link::SetupError> {
        let link = gantry_link::Link::with_servers(servers.clone());
        match ca {
            Some(pem) => link.with_ca_pem(pem),
            None => Ok(link),
        }
    }

    /// Where task directories live (one `TaskDir` each).
    pub fn tasks_dir(&self) -> PathBuf {
        self.state_dir.join("tasks")
    }

    /// The image store's root.
    pub fn images_dir(&self) -> PathBuf {
        self.state_dir.join("images")
    }

    /// The task network configuration for `gantry-net`.
    pub fn net_config(&self) -> gantry_net::NetConfig {
        let mut reserved = self.reserved_ports.clone();
        for p in gantry_net::DEFAULT_RESERVED_PORTS {
            if !reserved.contains(&p) {
                reserved.push(p);
            }
        }
        let mut cfg =
            gantry_net::NetConfig::new(self.state_dir.join("run"), self.state_dir.join("net"))
                .with_reserved_ports(reserved)
                .with_dynamic_ports(self.dynamic_ports.0, self.dynamic_ports.1);
        if let Ok(subnet) = self.bridge_subnet.parse() {
            cfg = cfg.with_bridge(self.bridge_name.clone(), subnet);
        }
        // One nftables table per node bridge: agents with their own bridges on one machine
        // (a multi-node test cluster) must not rewrite each other's chains.
        if self.bridge_name != "gantry0" {
            cfg = cfg.with_nft_table(
                format!("gt_{}", self.bridge_name)
                    .chars()
                    .take(15)
                    .collect::<String>(),
            );
        }
        if let (Some(slice), Ok(cluster)) = (
            self.awsvpc_subnet.as_deref().and_then(|s| s.parse().ok()),
            self.awsvpc_cluster_cidr.parse(),
        ) {
            cfg = cfg.with_awsvpc(gantry_net::AwsvpcConfig {
                bridge: format!("{}v", self.bridge_name),
                task_subnet: slice,
                cluster_cidr: cluster,
            });
        }
        cfg
    }

    /// The credentials for the registry of `image`, if configured.
    pub fn auth_for(&self, image: &str) -> Option<&RegistryAuth> {
        let host = image.split('/').next().unwrap_or_default();
        if !image.contains('/') {
            return None;
        }
        self.registry_auth
            .iter()
            .find(|(h, _)| h == host)
            .map(|(_, a)| a)
    }
}
