//! Resource policies: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy, and their
//! evaluation. A secret's policy is parsed as a resource-based policy (`Principal` and
//! `Resource` required) and evaluated on every request on the secret beside the caller's
//! identity policies, as IAM does within one account: an explicit `Deny` in either refuses,
//! an `Allow` in either grants ([`allows`] is asked by the gate when no identity policy
//! allowed; [`denies`] by the handlers).

use gantry_aws::policy::{self, Decision, Policy, Query};
use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::malformed_policy;
use super::input::{decode, Checks};
use super::records::{resolve, SecretRecord};
use super::values::edit;
use crate::auth::global_keys::GlobalKeys;
use crate::auth::{Access, Caller};
use crate::error::Result;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutPolicy {
    secret_id: Option<String>,
    resource_policy: Option<String>,
    #[serde(default)]
    block_public_policy: Option<bool>,
}

/// Does `p` let anyone (`"Principal": "*"` or `{"AWS": "*"}`) in with an Allow?
fn public(p: &Policy) -> bool {
    p.document()["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![p.document()["Statement"].clone()])
        .iter()
        .any(|s| {
            s["Effect"] == "Allow"
                && (s["Principal"] == "*"
                    || s["Principal"]["AWS"] == "*"
                    || s["Principal"]["AWS"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|v| v == "*")))
        })
}

pub async fn put_resource_policy<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: PutPolicy = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.required("ResourcePolicy", req.resource_policy.as_ref());
    c.length("ResourcePolicy", req.resource_policy.as_deref(), 1, 20480);
    c.done()?;
    let doc = req.resource_policy.clone().unwrap_or_default();
    let parsed = Policy::parse_resource(&doc).map_err(|e| malformed_policy(&e.0))?;
    // BlockPublicPolicy defaults to true in the CLI and SDKs' model documentation.
    if req.block_public_policy.unwrap_or(true) && public(&parsed) {
        return Err(crate::error::Error::Api(gantry_api::ApiError::new(
            gantry_api::ErrorKind::SmPublicPolicy,
            "The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret.",
        )));
    }
    let (rec, ()) = edit(st, req.secret_id.as_deref().unwrap_or_default(), |rec| {
        rec.resource_policy = Some(doc.clone());
        Ok((true, ()))
    })
    .await?;
    Ok(json!({"ARN": rec.arn, "Name": rec.name}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretIdOnly {
    secret_id: Option<String>,
}

pub async fn get_resource_policy<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: SecretIdOnly = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.done()?;
    let rec = super::records::find_live(st, req.secret_id.as_deref().unwrap_or_default()).await?;
    let mut out = json!({"ARN": rec.arn, "Name": rec.name});
    if let Some(p) = &rec.resource_policy {
        out["ResourcePolicy"] = json!(p);
    }
    Ok(out)
}

pub async fn delete_resource_policy<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: SecretIdOnly = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.done()?;
    let (rec, ()) = edit(st, req.secret_id.as_deref().unwrap_or_default(), |rec| {
        let had = rec.resource_policy.take().is_some();
        Ok((had, ()))
    })
    .await?;
    Ok(json!({"ARN": rec.arn, "Name": rec.name}))
}

fn decide(rec: &SecretRecord, caller: &Caller, now: f64, access: &Access) -> Decision {
    let Some(doc) = &rec.resource_policy else {
        return Decision::ImplicitDeny;
    };
    let Ok(p) = Policy::parse_resource(doc) else {
        return Decision::ImplicitDeny;
    };
    let global = GlobalKeys::new(caller, now);
    let q = Query {
        action: &access.action,
        resource: &rec.arn,
        keys: &global,
        principal_arn: Some(&caller.principal.arn),
        principal_account: Some(&caller.principal.account),
    };
    policy::evaluate_slice(std::slice::from_ref(&p), &q)
}

/// Does the policy of the secret `access` is on explicitly deny it to `caller`?
pub fn denies(rec: &SecretRecord, caller: &Caller, now: f64, access: &Access) -> bool {
    decide(rec, caller, now, access) == Decision::ExplicitDeny
}

/// Do the resource policies of the secrets `accesses` are on allow every one of them to
/// `caller` (with no explicit deny)? Asked by the gate when the identity policies did not.
pub async fn allows<S: Store>(st: &AppState<S>, caller: &Caller, accesses: &[Access]) -> bool {
    if accesses.is_empty() {
        return false;
    }
    let now = st.clock.now();
    for a in accesses {
        let Ok(Some(rec)) = resolve(st, &a.resource).await else {
            return false;
        };
        if decide(&rec, caller, now, a) != Decision::Allow {
            return false;
        }
    }
    true
}
