//! The task's execution role as a caller: the identity the secrets of a task are read as.
//! The role must exist and trust `ecs-tasks.amazonaws.com` (what ECS assumes it as); the
//! session is named after the task, as ECS names it.

use std::sync::Arc;

use gantry_aws::policy::{self, Context, Decision, Policy};
use gantry_store::Store;

use crate::auth::Caller;
use crate::persistence::db;
use crate::persistence::iam_records::{role_key, RoleRecord};
use crate::state::AppState;

/// The service principal ECS assumes execution roles as.
pub const ECS_TASKS_PRINCIPAL: &str = "ecs-tasks.amazonaws.com";

/// ECS's reason for a role it cannot assume.
fn unassumable(arn: &str) -> String {
    format!(
        "ECS was unable to assume the role '{arn}' that was provided for this task. Please verify that the role being passed has the proper trust relationship and permissions and that your IAM user has permissions to pass this role."
    )
}

/// The caller `role_arn` makes for task `task_id`, or why the role cannot be used.
pub async fn caller<S: Store>(
    st: &AppState<S>,
    role_arn: &str,
    task_id: &str,
) -> Result<Caller, String> {
    let account = &st.config.account_id;
    let name = role_arn
        .strip_prefix(&format!("arn:aws:iam::{account}:role/"))
        .and_then(|rest| rest.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| unassumable(role_arn))?;
    let role = db::get::<S, RoleRecord>(&st.store, &role_key(name))
        .await
        .map_err(|e| format!("the control plane could not read the role {role_arn}: {e}"))?
        .map(|r| r.value)
        .filter(|r| crate::iam::roles::arn_of(account, r) == role_arn)
        .ok_or_else(|| unassumable(role_arn))?;
    if !trusts_ecs_tasks(&role, role_arn) {
        return Err(unassumable(role_arn));
    }
    Ok(Caller {
        principal: Arc::new(crate::iam::identity::role_principal(
            account, &role, task_id,
        )),
        access_key_id: String::new(),
        source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        secure: true,
    })
}

fn trusts_ecs_tasks(role: &RoleRecord, arn: &str) -> bool {
    let Ok(trust) = Policy::parse_trust(&role.trust_policy) else {
        return false;
    };
    let ctx = Context {
        action: "sts:AssumeRole".into(),
        resource: arn.to_string(),
        keys: Default::default(),
        principal_arn: Some(ECS_TASKS_PRINCIPAL.to_string()),
        principal_account: None,
    };
    policy::evaluate_trust(&trust, &ctx) == Decision::Allow
}
