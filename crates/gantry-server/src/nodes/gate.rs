//! The node side of the gateway's gate: a gateway request is verified as a node's
//! ([`super::verify`]) and audited as made by the node, in the same audit record
//! ([`Gated`]) the SigV4 gate writes.

use axum::http::request::Parts;
use axum::response::Response;
use gantry_store::Store;

use super::refusal::NodeRefusal;
use super::verify::{verify, Verified};
use crate::auth::audit::Decision;
use crate::auth::gate::Gated;
use crate::state::AppState;

/// Verifies the node signature of a gateway request and notes the node in its audit
/// record. `Ok(None)`: the server does not authenticate (the throughput bench's baseline),
/// anything goes as before.
pub async fn check<S: Store>(
    st: &AppState<S>,
    gated: &mut Gated,
    parts: &Parts,
    body: &[u8],
) -> Result<Option<Verified>, NodeRefusal> {
    if !st.config.authenticate {
        return Ok(None);
    }
    let v = match verify(st, parts, body).await {
        Ok(v) => v,
        Err(r) => {
            // A revoked or expired certificate did verify: the refusal is the node's.
            if let NodeRefusal::Revoked { node_id, .. } | NodeRefusal::Expired { node_id, .. } = &r
            {
                gated.audit.principal_arn = Some(super::records::principal_arn(
                    &st.config.region,
                    &st.config.account_id,
                    node_id,
                ));
            }
            tracing::info!(reason = %r.message(), action = %gated.audit.action, "node request refused");
            return Err(r);
        }
    };
    gated.audit.principal_arn = Some(v.principal_arn.clone());
    Ok(Some(v))
}

/// Records `resources` as what the request is about and the decision as allowed.
pub fn allowed(gated: &mut Gated, resources: &[String]) {
    for r in resources {
        if !gated.audit.resources.contains(r) {
            gated.audit.resources.push(r.clone());
        }
    }
    gated.audit.decision = Decision::Allow;
}

/// The answer to a refused node request, recorded.
pub fn refused<S>(st: &AppState<S>, mut gated: Gated, r: &NodeRefusal) -> Response {
    gated.audit.decision = Decision::Deny;
    gated.audit.error_code = Some(r.code().to_string());
    let resp = r.response(&gated.rid);
    gated.finish(st, resp)
}
