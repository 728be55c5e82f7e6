//! Node identity (DESIGN.md §4): cluster join tokens, the node certificates the cluster CA
//! issues to joined hosts, the verification of node-signed gateway requests, and revocation.
//! The wire names are in [`gantry_api::node`]; docs/security.md ("Node identity") has the
//! model.

pub mod api;
pub mod authority;
pub mod gate;
pub mod join;
pub mod records;
pub mod refusal;
pub mod stored_ca;
pub mod tokens;
pub mod verify;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use gantry_store::Store;

use crate::error::Result;
use crate::persistence::update::{update, Edit};
use crate::state::AppState;
pub use authority::{ca_sha256_of_pem, Authority};
use records::{node_key, NodeRecord};

/// What the server keeps for node identity besides the store: the cluster CA and the
/// verification cache.
#[derive(Debug)]
pub struct NodeState {
    /// `<state_dir>/tls` (none: a CA in memory).
    tls_dir: Option<PathBuf>,
    authority: OnceLock<Arc<Authority>>,
    pub(crate) cache: verify::VerifyCache,
}

impl NodeState {
    pub fn new(state_dir: Option<&std::path::Path>) -> Self {
        Self {
            tls_dir: state_dir.map(|d| d.join("tls")),
            authority: OnceLock::new(),
            cache: verify::VerifyCache::default(),
        }
    }

    /// Makes `a` the cluster CA (the cluster's, from the store, at start). A CA already
    /// in use stays: certificates were issued from it.
    pub(crate) fn set_authority(&self, a: Authority) {
        if self.authority.set(Arc::new(a)).is_err() {
            tracing::warn!("the cluster CA was already loaded; keeping it");
        }
    }

    /// The cluster CA, loaded (or made) on first use; [`crate::bind`] loads the cluster's
    /// from the store at start.
    pub fn authority(&self) -> std::result::Result<Arc<Authority>, crate::tls::TlsError> {
        if let Some(a) = self.authority.get() {
            return Ok(a.clone());
        }
        let made = match &self.tls_dir {
            Some(dir) => Authority::load(&crate::tls::ClusterFiles::new(dir))?,
            None => Authority::ephemeral()?,
        };
        // Two first uses at once: both read the same files (or one in-memory CA wins).
        let _ = self.authority.set(Arc::new(made));
        self.authority
            .get()
            .cloned()
            .ok_or_else(|| crate::tls::TlsError::Verifier("the cluster CA is not set".into()))
    }
}

/// Hex SHA-256 of the cluster CA certificate's DER (what `--ca-sha256` pins).
pub fn ca_sha256<S>(st: &AppState<S>) -> std::result::Result<String, crate::tls::TlsError> {
    Ok(st.nodes.authority()?.ca_sha256().to_string())
}

/// Revokes the credential of node `node_id` (`i-…` or `mi-…`) at once: its open session is
/// closed and every later request signed with any of its certificates is refused.
/// Idempotent; an unknown node is not an error.
pub async fn revoke<S: Store>(st: &AppState<S>, node_id: &str, reason: &str) -> Result<()> {
    let now = st.clock.now();
    let rec = update(&st.store, &node_key(node_id), |n: Option<NodeRecord>| {
        Ok(match n {
            Some(mut n) if n.revoked_at.is_none() => {
                n.revoked_at = Some(now);
                n.revoked_reason = Some(reason.to_string());
                Edit::put(n.clone(), Some(n))
            }
            other => Edit::Keep(other),
        })
    })
    .await?;
    let Some(rec) = rec else {
        return Ok(());
    };
    tracing::info!(node = node_id, reason, "node credential revoked");
    if let Some(inst) = &rec.container_instance_id {
        // The record is written first: the session's close and any reconnect see it.
        st.sessions.drop_session(inst);
        if let Err(e) =
            crate::gateway::connection::set_connected(st, &rec.cluster, inst, false).await
        {
            tracing::warn!(instance = %inst, error = %e, "could not mark a revoked node disconnected");
        }
    }
    Ok(())
}

/// The node record of `node_id`, if it joined.
pub async fn node<S: Store>(st: &AppState<S>, node_id: &str) -> Result<Option<NodeRecord>> {
    Ok(
        crate::persistence::db::get::<S, NodeRecord>(&st.store, &node_key(node_id))
            .await?
            .map(|v| v.value),
    )
}
