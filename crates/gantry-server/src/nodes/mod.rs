//! Node identity (DESIGN.md §4): cluster join tokens, the node certificates the cluster CA
//! issues to joined hosts, the verification of node-signed gateway requests, and revocation.
//! The wire names are in [`gantry_api::node`].

use gantry_store::Store;

use crate::error::Result;
use crate::state::AppState;

/// Revokes the credential of node `node_id` (`i-…` or `mi-…`) at once: its open session is
/// closed and every later request signed with any of its certificates is refused.
/// Idempotent; an unknown node is not an error.
pub async fn revoke<S: Store>(st: &AppState<S>, node_id: &str, reason: &str) -> Result<()> {
    // Skeleton: the node-identity work fills this in.
    let _ = (st, node_id, reason);
    Ok(())
}
