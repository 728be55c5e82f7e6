//! The IAM role an activation gives its managed nodes (`CreateActivation`'s `IamRole`).
//!
//! SSM takes the role's name, or its path and name without the leading `/`
//! (`service-role/MyRole`), and reads it as `arn:aws:iam::<account>:role/<IamRole>`. The role
//! must exist and its trust policy must let `ssm.amazonaws.com` call `sts:AssumeRole`; else
//! SSM answers `ValidationException: Nonexistent role or missing ssm service principal in
//! trust policy: <arn>` (HTTP 400) — the text the real service returns, as users of the AWS
//! CLI, Terraform's `aws_ssm_activation` and ECS Anywhere's guides report it. The caller's
//! `iam:PassRole` on that ARN is authorized by the gate ([`super::authz`]).
//!
//! [`ensure_default`] makes Gantry's default role, `gantry-external-node` (what
//! `gantry activation create` passes), once, at the cluster's first start.

use gantry_aws::policy::{self, Context, Decision, Policy};
use gantry_store::Store;

use super::error::validation;
use crate::error::Result;
use crate::persistence::db;
use crate::persistence::iam_records::{role_key, RoleRecord};
use crate::state::AppState;

/// The role `gantry activation create` passes unless told otherwise.
pub const DEFAULT_ROLE: &str = "gantry-external-node";
/// The service principal an activation's role must trust.
pub const SSM_PRINCIPAL: &str = "ssm.amazonaws.com";
/// The default role's trust policy: SSM's service principal may assume it (the policy of
/// AWS's "Create the IAM service role required for Systems Manager in hybrid and multicloud
/// environments").
pub const DEFAULT_TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
/// Set, in the same commit, when the default role was made: a role the operator deletes
/// stays deleted across restarts.
const DEFAULT_MADE: &str = "ssm/bootstrap/default-role";

/// `arn:aws:iam::<account>:role/<IamRole>`, as SSM reads `IamRole`.
pub fn role_arn<S>(st: &AppState<S>, iam_role: &str) -> String {
    format!("arn:aws:iam::{}:role/{iam_role}", st.config.account_id)
}

fn nonexistent(arn: &str) -> crate::error::Error {
    validation(format!(
        "Nonexistent role or missing ssm service principal in trust policy: {arn}"
    ))
}

/// Does the trust policy let SSM assume the role? The condition keys SSM's own calls carry:
/// `aws:SourceAccount` (this account) and `aws:SourceArn` (`arn:aws:ssm:<region>:<account>:*`,
/// which the `ArnLike` condition of AWS's example trust policy accepts).
fn trusts_ssm<S>(st: &AppState<S>, role: &RoleRecord, arn: &str) -> bool {
    let Ok(trust) = Policy::parse_trust(&role.trust_policy) else {
        return false;
    };
    let account = &st.config.account_id;
    let mut keys = std::collections::BTreeMap::new();
    keys.insert("aws:SourceAccount".to_string(), vec![account.clone()]);
    keys.insert(
        "aws:SourceArn".to_string(),
        vec![format!("arn:aws:ssm:{}:{account}:*", st.config.region)],
    );
    let ctx = Context {
        action: "sts:AssumeRole".into(),
        resource: arn.to_string(),
        keys,
        principal_arn: Some(SSM_PRINCIPAL.to_string()),
        principal_account: None,
    };
    policy::evaluate_trust(&trust, &ctx) == Decision::Allow
}

/// Checks `iam_role` (a name, or `path/name`): the role exists at that path and trusts SSM.
pub async fn check<S: Store>(st: &AppState<S>, iam_role: &str) -> Result<()> {
    let arn = role_arn(st, iam_role);
    let (path, name) = match iam_role.rsplit_once('/') {
        Some((p, n)) => (format!("/{p}/"), n),
        None => ("/".to_string(), iam_role),
    };
    if name.is_empty() {
        return Err(nonexistent(&arn));
    }
    let Some(role) = db::get::<S, RoleRecord>(&st.store, &role_key(name)).await? else {
        return Err(nonexistent(&arn));
    };
    if role.value.path != path || !trusts_ssm(st, &role.value, &arn) {
        return Err(nonexistent(&arn));
    }
    Ok(())
}

/// Makes the role [`DEFAULT_ROLE`] with [`DEFAULT_TRUST_POLICY`] unless this cluster made it
/// before (a role of that name the operator made is left as it is). Idempotent and safe for
/// replicas starting at once: one compare-and-swap.
pub async fn ensure_default<S: Store>(st: &AppState<S>) -> Result<()> {
    if db::get::<S, bool>(&st.store, DEFAULT_MADE).await?.is_some() {
        return Ok(());
    }
    let key = role_key(DEFAULT_ROLE);
    let existing = db::get::<S, RoleRecord>(&st.store, &key).await?;
    let mut compares = vec![db::unchanged(DEFAULT_MADE, 0)];
    let mut ops = vec![db::put(DEFAULT_MADE, &true)?];
    if existing.is_none() {
        let role = RoleRecord {
            name: DEFAULT_ROLE.to_string(),
            path: "/".to_string(),
            id: crate::iam::values::unique_id("AROA"),
            created: st.clock.now(),
            trust_policy: DEFAULT_TRUST_POLICY.to_string(),
            description: Some(
                "Gantry's default role for hosts joined with an SSM activation (gantry activation create)."
                    .to_string(),
            ),
            max_session_duration: crate::iam::roles::DEFAULT_MAX_SESSION,
            tags: Vec::new(),
            policies: Default::default(),
        };
        compares.push(db::unchanged(&key, 0));
        ops.push(db::put(&key, &role)?);
    }
    // Lost the race to another replica (or an operator's CreateRole): nothing left to do.
    db::commit(&st.store, compares, ops).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_trust_policy_parses_as_a_trust_policy() {
        assert!(Policy::parse_trust(DEFAULT_TRUST_POLICY).is_ok());
    }
}
