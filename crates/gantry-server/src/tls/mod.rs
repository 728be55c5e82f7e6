//! HTTPS for the API: the rustls configuration a listener serves, where its certificate
//! comes from (the cluster CA under `<state-dir>/tls/`, or the operator's files), swapping it
//! on reload, and the rule that plain HTTP is served on loopback addresses only.

mod cluster_ca;
mod files;
mod listener;
mod names;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

pub use cluster_ca::{
    ensure, ensure_ca, new_ca, verifier_for, ClusterFiles, Ensured, CA_VALIDITY, RENEW_BEFORE,
    SERVER_VALIDITY,
};
pub use listener::{Conn, GantryListener};
pub use names::{check_plain, is_loopback, listen_names};

/// Errors making, loading or serving certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("refusing to serve plain HTTP on {addr}: plain HTTP is served only on loopback addresses, since anyone on the network could read and forge requests and credentials. Serve HTTPS instead (drop --no-tls: the server then uses a certificate from the cluster CA it makes under <state-dir>/tls, or pass --tls-cert and --tls-key), or listen on a loopback address such as 127.0.0.1")]
    PlainOnNetwork { addr: std::net::SocketAddr },
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid PEM: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("{0} holds no certificate")]
    NoCertificate(PathBuf),
    #[error("{cert} exists but its key {key} is missing: restore the key, or remove both to make a new cluster CA (every client must then trust the new ca.pem)")]
    CaKeyMissing { cert: PathBuf, key: PathBuf },
    #[error("{0:?} cannot be a certificate name (--tls-san takes DNS names and IP addresses)")]
    BadName(String),
    #[error("could not make a certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("the certificate and key cannot be used: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("could not build a certificate verifier: {0}")]
    Verifier(String),
}

impl TlsError {
    fn pem(path: &Path, e: rustls_pki_types::pem::Error) -> Self {
        Self::Pem {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// The one crypto provider: aws-lc-rs, which the rest of the workspace's rustls uses already.
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// Where a listener's certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// Issued by the cluster CA under `files.dir` for `names` (made on first start).
    Cluster {
        files: ClusterFiles,
        names: Vec<String>,
    },
    /// The operator's certificate chain and key (PEM).
    Files { cert: PathBuf, key: PathBuf },
}

/// The TLS configuration listeners serve: cheap to clone, swapped whole by [`ServerTls::reload`].
/// A connection takes the configuration current when it is accepted and keeps it.
#[derive(Debug, Clone)]
pub struct ServerTls {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: CertSource,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl ServerTls {
    /// Loads (and for [`CertSource::Cluster`], first makes what is missing or due).
    pub fn new(source: CertSource) -> Result<Self, TlsError> {
        let config = load(&source)?;
        Ok(Self {
            inner: Arc::new(Inner {
                source,
                current: RwLock::new(config),
            }),
        })
    }

    /// Reads the certificate again (what SIGHUP does) and serves it to new connections; on
    /// any error the configuration in use stays and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = load(&self.inner.source)?;
        match self.inner.current.write() {
            Ok(mut cur) => *cur = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }

    /// The configuration for a connection accepted now.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        match self.inner.current.read() {
            Ok(cur) => cur.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The CA certificate clients should trust, when the cluster CA issued the certificate.
    pub fn ca_bundle(&self) -> Option<PathBuf> {
        match &self.inner.source {
            CertSource::Cluster { files, .. } => Some(files.ca_cert()),
            CertSource::Files { .. } => None,
        }
    }

    /// Where the certificate comes from.
    pub fn source(&self) -> &CertSource {
        &self.inner.source
    }
}

fn load(source: &CertSource) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (cert, key) = match source {
        CertSource::Cluster { files, names } => {
            ensure(files, names, SystemTime::now())?;
            (files.server_cert(), files.server_key())
        }
        CertSource::Files { cert, key } => (cert.clone(), key.clone()),
    };
    let chain = files::read_chain(&cert)?;
    let key = files::read_key(&key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // axum serves HTTP/1.1 (WebSocket upgrades included).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
