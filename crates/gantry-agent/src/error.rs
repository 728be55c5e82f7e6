//! The errors that end the agent.

/// Errors that end the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("could not prepare the state directory {path}: {source}")]
    StateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("could not make a sealed copy of {path} for task supervisors: {source}; the agent needs memfd_create (Linux 3.17+)")]
    SealExe {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("task networking: {0}")]
    Net(gantry_net::NetError),
    #[error("image store: {0}")]
    Image(#[from] gantry_image::ImageError),
    #[error("could not register with the server at {url}: {reason}; check --server and that `gantry server` is running")]
    Register { url: String, reason: String },
    #[error("the server refused this node's registration: {reason}")]
    CredentialRefused { reason: String },
    #[error("this host has no node credential in {dir} and nothing to join with: start the agent with --join-token (from `gantry token create`) or --activation-id and --activation-code (from `aws ssm create-activation`)")]
    NoCredential { dir: std::path::PathBuf },
    #[error("the server refused to let this host join: {reason}. Ask for a new join token (`gantry token create`) or activation and start the agent with it")]
    JoinRefused { reason: String },
    #[error("could not join the server at {url}: {reason}; check --server and that `gantry server` is running")]
    Join { url: String, reason: String },
    #[error("{0}")]
    CaPin(String),
    #[error("the node credential: {0}")]
    Store(#[from] crate::node_store::StoreError),
    #[error("the server's address or CA bundle is not usable: {0}")]
    Setup(#[from] gantry_link::SetupError),
}
