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
}
