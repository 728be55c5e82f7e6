//! Authorization: may the caller do each [`Access`] a request needs. IAM's rule over the
//! caller's identity-based policies ([`crate::iam::identity::policies_of`]): an explicit
//! deny wins, then an allow, else the request is denied. Every access must be allowed.

use std::collections::BTreeMap;
use std::sync::Arc;

use gantry_aws::policy::{self, Decision, KeySource, Layered, Policy, Query};
use gantry_store::Store;

use super::cache::Policies;
use super::deny::{Denial, Refusal};
use super::global_keys::GlobalKeys;
use super::{dates, Access, Caller, PrincipalKind};
use crate::state::AppState;

/// The global condition keys of a request (the service's own come with each [`Access`]), as
/// a map (for a [`gantry_aws::policy::Context`]); the gate reads them through [`GlobalKeys`].
pub fn global_keys(caller: &Caller, now: f64) -> BTreeMap<String, Vec<String>> {
    let p = &caller.principal;
    let mut k = BTreeMap::new();
    let mut put = |key: &str, v: String| {
        k.insert(key.to_string(), vec![v]);
    };
    #[allow(clippy::cast_possible_truncation)]
    let secs = now.floor() as i64;
    put("aws:CurrentTime", dates::rfc3339(secs));
    put("aws:EpochTime", secs.to_string());
    put("aws:SourceIp", caller.source_ip.to_string());
    put("aws:SecureTransport", caller.secure.to_string());
    put("aws:PrincipalArn", p.arn.clone());
    put("aws:PrincipalAccount", p.account.clone());
    put("aws:userid", p.user_id.clone());
    match &p.kind {
        PrincipalKind::User { name } => {
            put("aws:username", name.clone());
            put("aws:PrincipalType", "User".into());
        }
        PrincipalKind::AssumedRole { role_arn, .. } => {
            // An assumed role's aws:PrincipalArn is the role's ARN, as IAM evaluates it.
            put("aws:PrincipalArn", role_arn.clone());
            put("aws:PrincipalType", "AssumedRole".into());
        }
    }
    for (tk, tv) in &p.tags {
        put(&format!("aws:PrincipalTag/{tk}"), tv.clone());
    }
    k
}

/// Decides every access against `policies`; the first one not allowed is the denial. The
/// condition keys are the access's own over the global ones, read in place: nothing of the
/// caller or the accesses is copied for a decision that allows.
pub fn decide(
    policies: &[Policy],
    caller: &Caller,
    now: f64,
    accesses: &[Access],
) -> Result<(), Denial> {
    let global = GlobalKeys::new(caller, now);
    for a in accesses {
        let layers: [&dyn KeySource; 2] = [&a.keys, &global];
        let keys = Layered(&layers);
        let q = Query {
            action: &a.action,
            resource: &a.resource,
            keys: &keys,
            principal_arn: Some(&caller.principal.arn),
            principal_account: Some(&caller.principal.account),
        };
        match policy::evaluate_slice(policies, &q) {
            Decision::Allow => {}
            d => {
                return Err(Denial {
                    principal_arn: caller.principal.arn.clone(),
                    action: a.action.clone(),
                    resource: a.resource.clone(),
                    explicit: d == Decision::ExplicitDeny,
                })
            }
        }
    }
    Ok(())
}

/// The caller's identity-based policies, parsed (none needed when authentication is off).
pub async fn policies<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
) -> Result<Arc<Policies>, Refusal> {
    if !st.config.authenticate {
        return Ok(Arc::new(Policies {
            policies: Vec::new(),
            resource_tags: false,
        }));
    }
    st.auth_cache
        .policies(st, &caller.principal)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading the caller's policies failed");
            Refusal::Internal("The server could not read the caller's policies; try again.".into())
        })
}

/// Does any of `policies` name a `…:ResourceTag/…` key? Only then are a resource's stored
/// tags read for its condition keys: a read per resource is most of authorization's cost.
pub fn mention_resource_tags(policies: &[Policy]) -> bool {
    fn walk(v: &serde_json::Value) -> bool {
        let hit = |s: &str| {
            s.as_bytes()
                .windows(12)
                .any(|w| w.eq_ignore_ascii_case(b"resourcetag/"))
        };
        match v {
            serde_json::Value::String(s) => hit(s),
            serde_json::Value::Array(a) => a.iter().any(walk),
            serde_json::Value::Object(o) => o.iter().any(|(k, v)| hit(k) || walk(v)),
            _ => false,
        }
    }
    policies.iter().any(|p| walk(p.document()))
}

/// Checks that `caller` may do all of `accesses` under `policies` (from [`policies`]).
pub fn authorize_with<S>(
    st: &AppState<S>,
    caller: &Caller,
    policies: &[Policy],
    accesses: &[Access],
) -> Result<(), Refusal> {
    if !st.config.authenticate || accesses.is_empty() {
        return Ok(());
    }
    decide(policies, caller, st.clock.now(), accesses).map_err(Refusal::Denied)
}

/// Checks that `caller` may do all of `accesses`.
pub async fn authorize<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    accesses: &[Access],
) -> Result<(), Refusal> {
    if !st.config.authenticate || accesses.is_empty() {
        return Ok(());
    }
    let policies = policies(st, caller).await?;
    authorize_with(st, caller, &policies.policies, accesses)
}
