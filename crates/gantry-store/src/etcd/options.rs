//! How to reach etcd: endpoints, key prefix, TLS (CA, client certificate) and user/password,
//! as etcd itself supports them.

use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{Certificate, Identity, TlsOptions};

use crate::{Result, StoreError};

/// How to reach etcd. `Default` is no endpoint, prefix `/gantry/`, 5 s timeout.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// `host:port` of each member (or `https://host:port`).
    pub endpoints: Vec<String>,
    /// Prefix of every key Gantry writes.
    pub prefix: String,
    /// CA that signed the members' certificates; setting it switches to TLS.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key, for etcd's `--client-cert-auth`.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// etcd user (etcd's `auth enable`).
    pub user: Option<String>,
    pub password: Option<String>,
    /// Deadline of every call.
    pub timeout: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            endpoints: Vec::new(),
            prefix: "/gantry/".to_string(),
            ca_file: None,
            cert_file: None,
            key_file: None,
            user: None,
            password: None,
            timeout: Duration::from_secs(5),
        }
    }
}

pub(super) fn tls_options(options: &EtcdOptions, what: &str) -> Result<Option<TlsOptions>> {
    let read = |path: &PathBuf, role: &str| {
        std::fs::read(path).map_err(|e| {
            StoreError::Backend(format!(
                "cannot read the etcd {role} {} (for the etcd store at {what}): {e}",
                path.display()
            ))
        })
    };
    let mut tls = None;
    if let Some(ca) = &options.ca_file {
        tls = Some(TlsOptions::new().ca_certificate(Certificate::from_pem(read(ca, "CA")?)));
    }
    match (&options.cert_file, &options.key_file) {
        (Some(cert), Some(key)) => {
            let identity =
                Identity::from_pem(read(cert, "client certificate")?, read(key, "client key")?);
            tls = Some(tls.unwrap_or_else(TlsOptions::new).identity(identity));
        }
        (None, None) => {}
        _ => {
            return Err(StoreError::Backend(
                "an etcd client certificate needs both its certificate and its key file".into(),
            ))
        }
    }
    Ok(tls)
}
