//! `gantry dev`'s own credentials: the administrator's access key (the one its server
//! uses), which its client (waiting for agents, the demo) and its local agents sign with, and
//! the cluster CA they trust when a listener serves HTTPS.
//!
//! For now the agents use the administrator's key too; when IAM can make a user with a node
//! policy, `gantry dev` should make one and give the agents that key instead.

use std::path::PathBuf;

use anyhow::Context;
use gantry_link::{Credentials, Signer};
use gantry_server::tls::ServerTls;
use gantry_server::AccessKeyPair;

/// The signer of `admin` for the server's `region`.
pub fn admin_signer(admin: &AccessKeyPair, region: &str) -> Signer {
    Signer::new(
        Credentials::new(&admin.access_key_id, &admin.secret_access_key),
        region,
    )
}

/// The cluster CA certificate of `tls` (its path and PEM), when the server made one.
pub fn cluster_ca(tls: Option<&ServerTls>) -> anyhow::Result<Option<(PathBuf, Vec<u8>)>> {
    let Some(path) = tls.and_then(ServerTls::ca_bundle) else {
        return Ok(None);
    };
    let pem = std::fs::read(&path)
        .with_context(|| format!("could not read the cluster CA {}", path.display()))?;
    Ok(Some((path, pem)))
}
