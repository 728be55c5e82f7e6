//! AWS Secrets Manager (JSON 1.1, `X-Amz-Target: secretsmanager.<Operation>`, shapes from
//! botocore's `secretsmanager` model): secrets with versions and staging labels, tags and
//! resource policies, their values encrypted at rest with envelope encryption
//! ([`envelope`]: a data key per value, wrapped by a master key of the ring [`keyring`]
//! keeps outside the store; [`rewrap`] moves data keys to a new master key).
//!
//! Records live under `secretsmanager/` in the store ([`records`]). No value reaches a log
//! line, an audit entry or an error message.

mod authz;
mod batch;
mod describe;
pub mod envelope;
mod error;
mod input;
pub mod keyring;
mod lifecycle;
mod policy;
pub mod records;
pub mod rewrap;
pub(crate) mod task_read;
mod values;
mod versions;

use gantry_api::{ApiError, ErrorKind};
use gantry_store::Store;
use serde_json::Value;

use crate::auth::{Access, Caller};
use crate::error::{Error, Result};
use crate::state::AppState;

pub use policy::allows as resource_policy_allows;

/// The `X-Amz-Target` prefix of Secrets Manager's operations (the model's `targetPrefix`).
pub const TARGET_PREFIX: &str = "secretsmanager.";
/// The SigV4 service name.
pub const SIGNING_NAME: &str = "secretsmanager";

/// The Secrets Manager operations Gantry serves.
pub const IMPLEMENTED: &[&str] = &[
    "CreateSecret",
    "PutSecretValue",
    "GetSecretValue",
    "BatchGetSecretValue",
    "DescribeSecret",
    "ListSecrets",
    "UpdateSecret",
    "UpdateSecretVersionStage",
    "ListSecretVersionIds",
    "DeleteSecret",
    "RestoreSecret",
    "TagResource",
    "UntagResource",
    "PutResourcePolicy",
    "GetResourcePolicy",
    "DeleteResourcePolicy",
];

/// The model's other operations (answered as not implemented).
pub const NOT_IMPLEMENTED: &[&str] = &[
    "CancelRotateSecret",
    "GetRandomPassword",
    "RemoveRegionsFromReplication",
    "ReplicateSecretToRegions",
    "RotateSecret",
    "StopReplicationToReplica",
    "ValidateResourcePolicy",
];

/// Is `op` an operation of the model?
pub fn knows(op: &str) -> bool {
    IMPLEMENTED.contains(&op) || NOT_IMPLEMENTED.contains(&op)
}

/// Parses a request body: a JSON object (an empty body is `{}`). The error never quotes the
/// body.
pub fn parse(body: &[u8]) -> std::result::Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(ApiError::new(
            ErrorKind::Serialization,
            "The request body is not a JSON object.",
        )),
    }
}

/// What operation `op` with body `body` is authorized on.
pub async fn accesses<S: Store>(st: &AppState<S>, op: &str, body: &Value) -> Result<Vec<Access>> {
    authz::accesses(st, op, body).await
}

/// Refuses `access` to `caller` when the identity policies do not allow it (unless the
/// secret's resource policy does) or the secret's resource policy denies it.
pub(crate) async fn check_access<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    rec: &records::SecretRecord,
    access: &Access,
) -> Result<()> {
    let denied = |why: &str| {
        Error::Api(ApiError::new(
            ErrorKind::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {} on resource: {} {why}",
                caller.principal.arn, access.action, access.resource
            ),
        ))
    };
    if st.config.authenticate && policy::denies(rec, caller, st.clock.now(), access) {
        return Err(denied("with an explicit deny in a resource-based policy"));
    }
    match crate::auth::authorize::authorize(st, caller, std::slice::from_ref(access)).await {
        Ok(()) => Ok(()),
        Err(crate::auth::deny::Refusal::Denied(d)) if !d.explicit => {
            if policy::allows(st, caller, std::slice::from_ref(access)).await {
                Ok(())
            } else {
                Err(denied(&format!(
                    "because no identity-based policy allows the {} action",
                    access.action
                )))
            }
        }
        Err(r) => Err(Error::Api(ApiError::new(
            ErrorKind::AccessDenied,
            r.message(),
        ))),
    }
}

/// The resource policy's explicit deny, for the operations on one secret (the gate has
/// checked the identity policies).
async fn resource_deny<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    op: &str,
    body: &Value,
) -> Result<()> {
    if !st.config.authenticate
        || matches!(op, "ListSecrets" | "BatchGetSecretValue" | "CreateSecret")
    {
        return Ok(());
    }
    let id = body["SecretId"].as_str().unwrap_or_default();
    let Some(rec) = records::resolve(st, id).await? else {
        return Ok(());
    };
    let access = authz::on_secret(&format!("secretsmanager:{op}"), &rec);
    if policy::denies(&rec, caller, st.clock.now(), &access) {
        return Err(Error::Api(ApiError::new(
            ErrorKind::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {} on resource: {} with an explicit deny in a resource-based policy",
                caller.principal.arn, access.action, access.resource
            ),
        )));
    }
    Ok(())
}

/// Runs operation `op`; failures come back with Secrets Manager's exception names.
pub async fn dispatch<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    op: &str,
    body: Value,
) -> Result<Value> {
    let r = match resource_deny(st, caller, op, &body).await {
        Err(e) => Err(e),
        Ok(()) => match op {
            "CreateSecret" => values::create_secret(st, body).await,
            "PutSecretValue" => values::put_secret_value(st, body).await,
            "GetSecretValue" => values::get_secret_value(st, body).await,
            "UpdateSecret" => values::update_secret(st, body).await,
            "BatchGetSecretValue" => batch::batch_get_secret_value(st, caller, body).await,
            "DescribeSecret" => describe::describe_secret(st, body).await,
            "ListSecrets" => describe::list_secrets(st, body).await,
            "ListSecretVersionIds" => describe::list_secret_version_ids(st, body).await,
            "UpdateSecretVersionStage" => lifecycle::update_secret_version_stage(st, body).await,
            "DeleteSecret" => lifecycle::delete_secret(st, body).await,
            "RestoreSecret" => lifecycle::restore_secret(st, body).await,
            "TagResource" => lifecycle::tag_resource(st, body).await,
            "UntagResource" => lifecycle::untag_resource(st, body).await,
            "PutResourcePolicy" => policy::put_resource_policy(st, body).await,
            "GetResourcePolicy" => policy::get_resource_policy(st, body).await,
            "DeleteResourcePolicy" => policy::delete_resource_policy(st, body).await,
            other => Err(crate::error::client(format!(
                "Gantry does not implement {other} yet."
            ))),
        },
    };
    r.map_err(|e| {
        let api = error::to_sm(&e);
        if api.kind == ErrorKind::SmInternalServiceError {
            // The error's text names keys and records, never a value.
            tracing::error!(operation = op, error = %e, "Secrets Manager request failed");
        }
        Error::Api(api)
    })
}
