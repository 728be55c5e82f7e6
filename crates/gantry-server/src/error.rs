//! The server's error types: [`Error`] for everything a request can run into, mapped onto the
//! ECS exception a client sees, and [`ServerError`] for starting and running the server.

use gantry_api::{ApiError, ErrorKind};
use gantry_store::StoreError;

/// What a request handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong; the client gets exactly this.
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored record {key} cannot be decoded ({source}); it was written by an incompatible gantry version or is corrupt")]
    Corrupt {
        key: String,
        source: serde_json::Error,
    },
    #[error("could not encode {what}: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("{what} kept changing under concurrent writers; retry the request")]
    Contention { what: String },
    /// A controller write of a replica that no longer leads: refused by the fence, nothing
    /// written. Never retried as a conflict.
    #[error("this replica no longer leads the cluster (the election key {key} is no longer at revision {revision}); the controller write was refused")]
    NotLeader { key: String, revision: u64 },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error as the client sees it. Internal failures become `ServerException`, which the
    /// AWS SDKs retry.
    pub fn to_api(&self) -> ApiError {
        match self {
            Self::Api(e) => e.clone(),
            other => ApiError::new(ErrorKind::Server, other.to_string()),
        }
    }
}

/// Shorthand for a `ClientException`.
pub fn client(message: impl Into<String>) -> Error {
    Error::Api(ApiError::client(message))
}

/// Shorthand for an `InvalidParameterException`.
pub fn invalid(message: impl Into<String>) -> Error {
    Error::Api(ApiError::invalid_parameter(message))
}

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}; pick a free address with --listen")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot set up the administrator's access key: {0}")]
    Bootstrap(#[source] Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("this replica's secret key does not match the cluster's: copy {key} from an existing replica (or pass the cluster's key with --secret-key-file)")]
    SecretKeyMismatch { key: String },
    #[error("cannot set up the cluster CA: {0}")]
    ClusterCa(String),
    #[error(transparent)]
    SecretsKeys(#[from] crate::secretsmanager::keyring::KeyRingError),
}
