//! The cluster CA in the store, so every replica of a cluster issues and verifies node
//! certificates with the same CA: its certificate in the clear, its private key sealed with
//! the secret key ([`crate::iam::secrets`]), which the operator gives every replica (a copy
//! of `<state_dir>/secret.key`, or `--secret-key-file`). The first replica to start puts it
//! there (create-if-absent): the CA of its state dir if it has one (a single server moved to
//! HA keeps the CA its clients trust), else a new one. Every replica then keeps a copy under
//! `<state_dir>/tls/`, which is what its own serving certificate is issued from and what
//! clients are pointed at. A replica whose secret key does not open the stored key refuses
//! to start.

use std::path::PathBuf;
use std::time::SystemTime;

use gantry_store::{Store, StoreError};
use rcgen::KeyPair;
use serde::{Deserialize, Serialize};

use super::authority::{ca_sha256_of_pem, Authority};
use crate::error::ServerError;
use crate::iam::secrets::{key_path, Sealer};
use crate::state::AppState;
use crate::tls::ClusterFiles;

/// Where the cluster CA is kept.
pub const CA_KEY: &str = "tls/cluster-ca";

/// The stored CA.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredCa {
    certificate_pem: String,
    /// The private key's PEM, sealed with the secret key; bound to the certificate.
    sealed_key: String,
}

/// What [`establish`] did with the CA files of the state dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// None to write (no state dir) or already the cluster's.
    Unchanged,
    /// Written from the store: certificates issued from the old files must be re-issued.
    Replaced,
}

/// Loads the cluster's CA from the store (putting it there first if no replica has yet),
/// copies it into `<state_dir>/tls/` and makes it the issuer of node certificates.
pub async fn establish<S: Store>(st: &AppState<S>) -> Result<Files, ServerError> {
    let cfg = &st.config;
    let sealer = Sealer::for_config(cfg.state_dir.as_deref(), cfg.secret_key_file.as_deref())
        .map_err(|e| ServerError::ClusterCa(e.to_string()))?;
    let files = cfg
        .state_dir
        .as_ref()
        .map(|d| ClusterFiles::new(d.join("tls")));
    let (cert_pem, key_pem) = load_or_put(st, &sealer, files.as_ref()).await?;
    let written = match &files {
        Some(f) => write_files(f, &cert_pem, &key_pem)?,
        None => Files::Unchanged,
    };
    let key = KeyPair::from_pem(&key_pem).map_err(|e| ServerError::ClusterCa(e.to_string()))?;
    let authority = Authority::from_parts(cert_pem, key)?;
    st.nodes.set_authority(authority);
    Ok(written)
}

async fn load_or_put<S: Store>(
    st: &AppState<S>,
    sealer: &Sealer,
    files: Option<&ClusterFiles>,
) -> Result<(String, String), ServerError> {
    let store_err = |e: StoreError| ServerError::ClusterCa(e.to_string());
    // Two tries: another replica may put its CA between our read and our write.
    for _ in 0..2 {
        if let Some(rec) = st.store.get(CA_KEY).await.map_err(store_err)? {
            let stored: StoredCa = serde_json::from_slice(&rec.value)
                .map_err(|e| ServerError::ClusterCa(format!("{CA_KEY} cannot be read: {e}")))?;
            let context = context(&stored.certificate_pem);
            let key = sealer.open(&context, &stored.sealed_key).map_err(|_| {
                ServerError::SecretKeyMismatch {
                    key: shown_key_path(st),
                }
            })?;
            return Ok((stored.certificate_pem, key));
        }
        let (cert, key) = match files.map(read_files).transpose()?.flatten() {
            Some(pair) => pair,
            None => {
                let (cert, key) = crate::tls::new_ca(SystemTime::now())?;
                (cert, key.serialize_pem())
            }
        };
        let sealed_key = sealer
            .seal(&context(&cert), &key)
            .map_err(|e| ServerError::ClusterCa(e.to_string()))?;
        let value = serde_json::to_vec(&StoredCa {
            certificate_pem: cert.clone(),
            sealed_key,
        })
        .map_err(|e| ServerError::ClusterCa(e.to_string()))?;
        match st.store.put(CA_KEY, value, 0).await {
            Ok(_) => {
                tracing::info!(ca_sha256 = ?ca_sha256_of_pem(&cert), "put the cluster CA in the store");
                return Ok((cert, key));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(store_err(e)),
        }
    }
    Err(ServerError::ClusterCa(format!(
        "{CA_KEY} kept changing while this replica started; start it again"
    )))
}

/// The associated data the key is sealed with: the certificate it belongs to, so a sealed
/// key cannot be paired with another certificate.
fn context(cert_pem: &str) -> String {
    format!(
        "{CA_KEY}:{}",
        ca_sha256_of_pem(cert_pem).unwrap_or_default()
    )
}

fn shown_key_path<S>(st: &AppState<S>) -> String {
    key_path(
        st.config.state_dir.as_deref(),
        st.config.secret_key_file.as_deref(),
    )
    .map_or_else(
        || "<state_dir>/secret.key".to_string(),
        |p| p.display().to_string(),
    )
}

/// The state dir's CA certificate and key, if both are there.
fn read_files(f: &ClusterFiles) -> Result<Option<(String, String)>, ServerError> {
    let (cert, key) = (f.ca_cert(), f.ca_key());
    if !cert.exists() || !key.exists() {
        return Ok(None);
    }
    Ok(Some((read(&cert)?, read(&key)?)))
}

/// Makes the state dir's CA files the cluster's.
fn write_files(f: &ClusterFiles, cert: &str, key: &str) -> Result<Files, ServerError> {
    if let Some((c, k)) = read_files(f)? {
        if c == cert && k == key {
            return Ok(Files::Unchanged);
        }
        tracing::warn!(
            path = %f.ca_cert().display(),
            old_ca_sha256 = ?ca_sha256_of_pem(&c),
            cluster_ca_sha256 = ?ca_sha256_of_pem(cert),
            "this state dir's CA is not the cluster's: replacing it with the cluster CA from the store"
        );
    }
    let write = |path: PathBuf, data: &str, mode: u32| {
        crate::atomic_file::write(&path, data.as_bytes(), mode)
            .map_err(|source| ServerError::Tls(crate::tls::TlsError::Write { path, source }))
    };
    std::fs::create_dir_all(&f.dir).map_err(|source| {
        ServerError::Tls(crate::tls::TlsError::Write {
            path: f.dir.clone(),
            source,
        })
    })?;
    // The key first: a ca.pem without its key could never issue again.
    write(f.ca_key(), key, 0o600)?;
    write(f.ca_cert(), cert, 0o644)?;
    Ok(Files::Replaced)
}

fn read(path: &std::path::Path) -> Result<String, ServerError> {
    std::fs::read_to_string(path).map_err(|source| {
        ServerError::Tls(crate::tls::TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    })
}

#[cfg(test)]
#[path = "stored_ca_tests.rs"]
mod tests;
