//! The command line.

mod activation;
mod agent_auth;
mod agent_status;
mod audit;
mod capacity_provider;
mod cluster;
mod daemon;
mod dev_auth;
mod install;
mod instance;
mod log_streams;
mod logs;
mod nodes;
mod secrets;
mod security_args;
mod server_tls;
mod service;
mod store;
mod store_args;
mod store_copy;
mod store_open;
mod task;
mod task_network;
mod taskdef;
mod token;
mod uninstall;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "gantry",
    version,
    about = "A self-hosted container orchestrator that speaks the Amazon ECS API"
)]
pub struct Cli {
    /// The Gantry API endpoint, for the client commands.
    /// (`--endpoint-url`, the AWS CLI's name, works too.)
    #[arg(
        long,
        global = true,
        visible_alias = "endpoint-url",
        env = "GANTRY_ENDPOINT",
        default_value = "http://127.0.0.1:8080"
    )]
    pub endpoint: String,
    /// The profile of the shared credentials and config files to sign with (default:
    /// $AWS_PROFILE, else `default`).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The region to sign for: the server's (default: $AWS_REGION, $AWS_DEFAULT_REGION, the
    /// profile's, else us-east-1). `gantry server`/`gantry dev`: the region they serve.
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// PEM bundle of the CAs to trust for an https endpoint (default: $AWS_CA_BUNDLE).
    #[arg(long, global = true)]
    pub ca_bundle: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control plane (ECS API, store, scheduler, agent gateway).
    Server(ServerArgs),
    /// Run the node agent and join a server; `gantry agent install` installs it as a unit.
    #[command(args_conflicts_with_subcommands = true)]
    Agent(AgentArgs),
    /// Run a control plane and a local agent in one process, for a one-machine cluster.
    Dev(DevArgs),
    /// Simulated container instances for scale tests: they speak the real agent protocol and
    /// report every task RUNNING at once, without running containers.
    SimAgents(SimArgs),
    /// Internal: supervise one task's containers (started by the agent).
    #[command(hide = true)]
    Supervise {
        task_dir: PathBuf,
        /// Clean up after a supervisor that died of CAUSE instead (see `salvage`).
        #[arg(long, value_name = "CAUSE")]
        salvage: Option<String>,
    },
    /// Clusters.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Task definitions.
    #[command(subcommand)]
    Taskdef(taskdef::TaskdefCmd),
    /// Tasks.
    #[command(subcommand)]
    Task(task::TaskCmd),
    /// Services: list, describe, create, update, scale, delete, events.
    #[command(subcommand)]
    Service(service::ServiceCmd),
    /// Container instances.
    #[command(subcommand)]
    Instance(instance::InstanceCmd),
    /// Print a task's container output.
    Logs(logs::LogsArgs),
    /// Read the server's audit log (on the server's host).
    Audit(audit::AuditArgs),
    /// Cluster join tokens, for joining hosts (`gantry agent --join-token`).
    #[command(subcommand)]
    Token(token::TokenCmd),
    /// Capacity providers' managed-scaling targets, for an autoscaler (`scaling`).
    #[command(subcommand)]
    CapacityProvider(capacity_provider::CapacityProviderCmd),
    /// SSM activations, for joining hosts as EXTERNAL instances (ECS Anywhere).
    #[command(subcommand)]
    Activation(activation::ActivationCmd),
    /// The control plane's store: move an installation to another (`migrate`), compare two
    /// (`verify`), look at one (`status`). With the servers stopped.
    #[command(subcommand)]
    Store(store::StoreCmd),
    /// Secrets Manager's master key ring (on the server's host): `rotate-master-key`.
    #[command(subcommand)]
    Secrets(secrets::SecretsCmd),
}

#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// Address to listen on. A loopback address serves plain HTTP unless --tls; any other
    /// serves HTTPS.
    #[arg(long, env = "GANTRY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the control plane keeps its state (and its store, unless --store says).
    #[arg(long, env = "GANTRY_STATE_DIR", default_value = "/var/lib/gantry")]
    pub state_dir: PathBuf,
    #[command(flatten)]
    pub store: store_args::StoreArgs,
    /// Account id in ARNs.
    #[arg(long, env = "GANTRY_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,
    /// Region in ARNs.
    #[arg(long, env = "GANTRY_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Seconds without a heartbeat before an agent counts as disconnected.
    #[arg(long, env = "GANTRY_AGENT_LOST_AFTER", default_value = "30")]
    pub agent_lost_after: u64,
    /// How long a node certificate is valid (agents rotate at two thirds of it), e.g. 24h.
    #[arg(long, env = "GANTRY_NODE_CREDENTIAL_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub node_credential_ttl: std::time::Duration,
    /// The cluster task network for awsvpc (e.g. 10.214.0.0/16): each registering node gets
    /// a slice of it and routes to the others'. Unset: each agent brings its own
    /// --awsvpc-subnet.
    #[arg(long, env = "GANTRY_TASK_NETWORK")]
    pub task_network: Option<String>,
    /// Prefix length of each node's slice of --task-network.
    #[arg(long, env = "GANTRY_TASK_SLICE_PREFIX", default_value = "24")]
    pub task_slice_prefix: u8,
    /// This replica's name in the leader election and in /healthz; unique among the
    /// replicas of one store (default: <hostname>:<listen port>).
    #[arg(long, env = "GANTRY_REPLICA_ID", value_name = "ID")]
    pub replica_id: Option<String>,
    /// The leader's lease, e.g. 3s: a leader that stops renewing it (killed, cut off from
    /// the store) is replaced this long after its last renewal at the latest.
    #[arg(long, env = "GANTRY_LEADER_TTL", default_value = "3s", value_parser = humantime::parse_duration)]
    pub leader_ttl: std::time::Duration,
    /// The 32-byte key that seals secrets at rest (default: <state-dir>/secret.key); every
    /// replica of one store needs the same one.
    #[arg(long, env = "GANTRY_SECRET_KEY_FILE", value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// How long a STOPPED task stays describable (DescribeTasks, ListTasks) before it is
    /// forgotten, e.g. 1h as ECS.
    #[arg(long, env = "GANTRY_STOPPED_TASK_RETENTION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub stopped_task_retention: std::time::Duration,
    /// The master key ring of Secrets Manager's envelope encryption (default:
    /// <state-dir>/secrets-master.keys, made on first start); every replica needs the same.
    #[arg(long, env = "GANTRY_SECRETS_MASTER_KEY_FILE", value_name = "FILE")]
    pub secrets_master_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub security: security_args::SecurityArgs,
}

#[derive(Debug, Args, Clone)]
pub struct NodeArgs {
    /// Cluster to join.
    #[arg(long, env = "GANTRY_CLUSTER", default_value = "default")]
    pub cluster: String,
    /// OCI image layout directories searched before any registry (repeatable).
    #[arg(
        long = "image-layout",
        env = "GANTRY_IMAGE_LAYOUTS",
        value_delimiter = ','
    )]
    pub image_layouts: Vec<PathBuf>,
    /// Registries (host:port) that may be reached over plain HTTP, besides loopback ones.
    #[arg(long = "insecure-registry", value_delimiter = ',')]
    pub insecure_registries: Vec<String>,
    /// Registry credentials as host:port=user:password (repeatable).
    #[arg(
        long = "registry-auth",
        env = "GANTRY_REGISTRY_AUTH",
        value_delimiter = ','
    )]
    pub registry_auth: Vec<String>,
    /// default, always, once or prefer-cached (like ECS_IMAGE_PULL_BEHAVIOR).
    #[arg(long, env = "GANTRY_IMAGE_PULL_BEHAVIOR", default_value = "default")]
    pub pull_policy: String,
    /// MiB of memory kept back from tasks.
    #[arg(long, env = "GANTRY_RESERVED_MEMORY", default_value = "0")]
    pub reserved_memory: i64,
    /// Host ports no task may use.
    #[arg(
        long,
        env = "GANTRY_RESERVED_PORTS",
        value_delimiter = ',',
        default_value = "22,2375,2376,51678,51679"
    )]
    pub reserved_ports: Vec<u16>,
    /// Custom instance attributes, name=value (repeatable).
    #[arg(long = "attribute", value_delimiter = ',')]
    pub attributes: Vec<String>,
    /// Seconds between SIGTERM and SIGKILL when a container sets no stopTimeout.
    #[arg(long, env = "GANTRY_CONTAINER_STOP_TIMEOUT", default_value = "30")]
    pub stop_timeout: u64,
    /// Seconds a stopped task's directory and logs are kept.
    #[arg(long, env = "GANTRY_TASK_CLEANUP_WAIT", default_value = "600")]
    pub task_cleanup_wait: u64,
    /// Default pids limit of a container.
    #[arg(long, env = "GANTRY_TASK_PIDS_LIMIT", default_value = "4096")]
    pub pids_limit: i64,
    /// Refuse containers that ask for `privileged` (like ECS_DISABLE_PRIVILEGED=true).
    #[arg(long, env = "GANTRY_DISABLE_PRIVILEGED")]
    pub disable_privileged: bool,
    /// Run containers in a user namespace: container uid/gid 0.. map to host ids FIRST..
    /// (COUNT of them), e.g. 100000:65536. Privileged containers stay in the host's.
    #[arg(long, env = "GANTRY_USER_NAMESPACE", value_name = "FIRST:COUNT")]
    pub user_namespace: Option<String>,
    /// Bytes at which a container's log file is rotated.
    #[arg(long, env = "GANTRY_LOG_MAX_SIZE", default_value = "10485760")]
    pub log_max_size: u64,
    /// Log files kept per container, the current one included.
    #[arg(long, env = "GANTRY_LOG_MAX_FILES", default_value = "5")]
    pub log_max_files: u32,
    /// Seconds between image cache clean-ups (like ECS_IMAGE_CLEANUP_INTERVAL).
    #[arg(long, env = "GANTRY_IMAGE_CLEANUP_INTERVAL", default_value = "1800")]
    pub image_cleanup_interval: u64,
    /// Unused images younger than this many seconds are kept (like ECS_IMAGE_MINIMUM_CLEANUP_AGE).
    #[arg(long, env = "GANTRY_IMAGE_MINIMUM_CLEANUP_AGE", default_value = "3600")]
    pub image_minimum_cleanup_age: u64,
    /// The node bridge for networkMode bridge.
    #[arg(long, env = "GANTRY_BRIDGE", default_value = "gantry0")]
    pub bridge: String,
    /// The subnet of the node bridge (task addresses come from it).
    #[arg(long, env = "GANTRY_BRIDGE_SUBNET", default_value = "10.213.0.0/16")]
    pub bridge_subnet: String,
    /// Host ports for hostPort 0, as FIRST-LAST (like ECS_DYNAMIC_HOST_PORT_RANGE).
    #[arg(
        long,
        env = "GANTRY_DYNAMIC_HOST_PORT_RANGE",
        default_value = "49153-65535"
    )]
    pub dynamic_host_ports: String,
    /// This node's slice of the cluster task network for networkMode awsvpc (e.g. 10.214.1.0/24).
    #[arg(long, env = "GANTRY_AWSVPC_SUBNET")]
    pub awsvpc_subnet: Option<String>,
    /// The whole cluster task network for awsvpc (routed between nodes, never masqueraded);
    /// default 10.214.0.0/16 (`gantry dev`: a range free on this host).
    #[arg(long, env = "GANTRY_AWSVPC_CLUSTER_CIDR")]
    pub awsvpc_cluster_cidr: Option<String>,
    /// The cgroup under which every task gets its own.
    #[arg(long, env = "GANTRY_CGROUP_PARENT", default_value = "/gantry")]
    pub cgroup_parent: String,
    /// The address other nodes reach this host at (awsvpc peer routes point to it); default:
    /// the address this host uses towards the server.
    #[arg(long, env = "GANTRY_NODE_ADDRESS")]
    pub node_address: Option<std::net::Ipv4Addr>,
}

#[derive(Debug, Args, Clone)]
pub struct AgentArgs {
    /// The control plane's URL.
    #[arg(long, env = "GANTRY_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Where the agent keeps images, task directories and its identity.
    #[arg(long, env = "GANTRY_STATE_DIR", default_value = "/var/lib/gantry")]
    pub state_dir: PathBuf,
    #[command(flatten)]
    pub auth: agent_auth::AgentAuthArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(subcommand)]
    pub action: Option<install::AgentAction>,
}

#[derive(Debug, Args, Clone)]
pub struct SimArgs {
    /// The control plane's URL, or several replicas' separated by commas: instance n starts
    /// on the n-th (modulo their count) and fails over to the next like a real agent.
    #[arg(long, env = "GANTRY_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// How many instances to simulate.
    #[arg(long, default_value = "10")]
    pub count: usize,
    /// CPU units of each instance.
    #[arg(long, default_value = "4096")]
    pub cpu: i64,
    /// MiB of memory of each instance.
    #[arg(long, default_value = "16384")]
    pub memory: i64,
    #[command(flatten)]
    pub auth: agent_auth::AgentAuthArgs,
}

#[derive(Debug, Args, Clone)]
pub struct DevArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    /// Register and run a demo task once ready.
    #[arg(long)]
    pub demo: bool,
    /// Run this many agents, each in its own network namespace acting as its own host
    /// (1: one agent in this process, on this host).
    #[arg(long, default_value = "1")]
    pub nodes: usize,
    /// With --nodes 2 or more: the host bridge the nodes hang off, also the prefix of their
    /// namespaces (`<name>-<i>`).
    #[arg(long, default_value = "gantry-nodes")]
    pub node_net: String,
    /// With --nodes 2 or more: the subnet of the node addresses (the bridge takes the first).
    #[arg(long, default_value = "10.215.0.0/24")]
    pub node_subnet: String,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let flags = crate::creds::Flags {
        profile: cli.profile.clone(),
        region: cli.region.clone(),
        ca_bundle: cli.ca_bundle.clone(),
    };
    // Resolved only by the commands that call the API.
    let client = || crate::client::Client::from_chain(&cli.endpoint, &flags);
    match cli.command {
        Command::Server(a) => daemon::server(a).await,
        Command::Agent(AgentArgs {
            action: Some(action),
            ..
        }) => Ok(install::run(action)?),
        Command::Agent(a) => daemon::agent(a).await,
        Command::Dev(a) => daemon::dev(a).await,
        Command::Supervise { .. } => Ok(()),
        Command::SimAgents(a) => daemon::sim_agents(a).await,
        Command::Cluster(c) => cluster::run(&client()?, c).await,
        Command::Taskdef(c) => taskdef::run(&client()?, c).await,
        Command::Task(c) => task::run(&client()?, c).await,
        Command::Service(c) => service::run(&client()?, c).await,
        Command::Instance(c) => instance::run(&client()?, c).await,
        Command::Logs(a) => logs::run(&client()?, a).await,
        Command::Audit(a) => audit::run(&a),
        Command::Token(c) => token::run(&client()?, c).await,
        Command::CapacityProvider(c) => capacity_provider::run(&client()?, c).await,
        Command::Activation(c) => activation::run(&client()?, c).await,
        Command::Store(c) => store::run(c).await,
        Command::Secrets(c) => secrets::run(c),
    }
}

/// A string field of a JSON value, or "-".
pub(crate) fn s(v: &serde_json::Value, key: &str) -> String {
    match &v[key] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// The last path part of an ARN.
pub(crate) fn short(v: &serde_json::Value, key: &str) -> String {
    gantry_api::arn::short_id(&s(v, key)).to_string()
}

#[cfg(test)]
mod cli_tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn region_is_the_clients_before_a_command_and_the_servers_after_server() {
        let cli = Cli::parse_from(["gantry", "--region", "eu-west-1", "task", "ls"]);
        assert_eq!(cli.region.as_deref(), Some("eu-west-1"));
        let cli = Cli::parse_from(["gantry", "task", "ls", "--region", "eu-west-1"]);
        assert_eq!(cli.region.as_deref(), Some("eu-west-1"));
        let cli = Cli::parse_from(["gantry", "server", "--region", "local"]);
        let Command::Server(a) = cli.command else {
            panic!("not server")
        };
        assert_eq!(a.region, "local");
        let cli = Cli::parse_from([
            "gantry",
            "agent",
            "--ca-bundle",
            "/ca.pem",
            "--join-token",
            "abc.def",
            "--ca-sha256",
            "00ff",
        ]);
        let Command::Agent(a) = cli.command else {
            panic!("not agent")
        };
        assert_eq!(
            a.auth.ca_bundle.as_deref(),
            Some(std::path::Path::new("/ca.pem"))
        );
        assert_eq!(a.auth.join_token.as_deref(), Some("abc.def"));
        assert_eq!(a.auth.ca_sha256.as_deref(), Some("00ff"));
        assert!(Cli::try_parse_from(["gantry", "agent", "--access-key-id", "AKIAX"]).is_err());
        assert!(Cli::try_parse_from([
            "gantry",
            "agent",
            "--join-token",
            "a.b",
            "--activation-id",
            "x",
            "--activation-code",
            "y"
        ])
        .is_err());
    }

    /// AWS CLI users type `--endpoint-url`: the same flag as `--endpoint`.
    #[test]
    fn endpoint_url_is_an_alias_of_endpoint() {
        for flag in ["--endpoint", "--endpoint-url"] {
            let cli =
                Cli::try_parse_from(["gantry", flag, "https://a:8443,https://b:8443", "agent"])
                    .expect("parses");
            assert_eq!(cli.endpoint, "https://a:8443,https://b:8443", "{flag}");
        }
    }
}
