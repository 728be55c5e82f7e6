//! `gantry dev`'s own credentials: the administrator's access key (the one its server
//! uses), which its client (waiting for agents, the demo) signs with; the join token its
//! local agents join with (made through the API with that key: the agents never see it);
//! and the cluster CA they trust when a listener serves HTTPS.

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

/// A join token for `count` local agents of `cluster` that have not joined yet (none when
/// every one has: their credentials are in their state dirs).
pub async fn join_grant(
    client: &crate::client::Client,
    cluster: &str,
    count: usize,
) -> anyhow::Result<gantry_api::node::JoinGrant> {
    let limit = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    // Short-lived: the agents join within seconds of it being made.
    let out = super::token::create(client, cluster, std::time::Duration::from_secs(600), limit)
        .await
        .context("could not make a join token for the local agents")?;
    let token = out["token"]
        .as_str()
        .context("CreateJoinToken answered without a token")?;
    Ok(gantry_api::node::JoinGrant::Token {
        token: token.to_string(),
    })
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
