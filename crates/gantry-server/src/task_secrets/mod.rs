//! A task's secrets, read for its agent at the task's start: each container's `secrets[]`
//! (Secrets Manager or SSM Parameter Store) and `repositoryCredentials` (a Secrets Manager
//! secret with `username` and `password`), with the permissions of the task's
//! `executionRoleArn` ([`role`]), as ECS's agent reads them. The agent asks over its
//! session ([`gantry_api::protocol::AgentFrame::SecretsRequest`]); a task that cannot have
//! one of them stops with ECS's `ResourceInitializationError: unable to pull secrets or
//! registry auth: …`, naming it, before any container starts.
//!
//! Values are read when asked for, never stored with the task: a task started after a
//! `put-secret-value` gets the new value, a running one keeps the one it started with. No
//! value reaches a log line, an audit record or an error text.

pub mod register;
mod role;
pub mod value_from;

use gantry_api::arn;
use gantry_api::model::{ContainerDefinition, Secret};
use gantry_api::protocol::{ContainerSecrets, SecretsAnswer, TaskSecrets};
use gantry_store::Store;
use serde_json::json;

use crate::auth::Caller;
use crate::persistence::db;
use crate::persistence::records::{task_key, TaskRecord};
use crate::state::AppState;
use value_from::Source;

/// The start of every reason a task's secrets fail it with (ECS's text).
pub const REASON: &str = "ResourceInitializationError: unable to pull secrets or registry auth";

/// GetParameters takes at most this many names.
const SSM_BATCH: usize = 10;

fn reason(detail: &str) -> String {
    format!("{REASON}: execution resource retrieval failed: {detail}")
}

/// Does `c` name anything this module reads?
pub fn names_secrets(c: &ContainerDefinition) -> bool {
    !c.secrets.as_deref().unwrap_or_default().is_empty()
        || c.repository_credentials
            .as_ref()
            .is_some_and(|r| r.credentials_parameter.is_some())
}

/// The answer to request `request_id` of the agent of `instance_id` for `task_arn`.
pub async fn answer<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    instance_id: &str,
    request_id: u64,
    task_arn: &str,
) -> SecretsAnswer {
    let (secrets, error) = match resolve(st, cluster, instance_id, task_arn).await {
        Ok(s) => (Some(s), None),
        Err(why) => {
            // The reason names secrets and roles, never a value.
            tracing::info!(task = task_arn, reason = %why, "a task's secrets could not be read");
            (None, Some(why))
        }
    };
    SecretsAnswer {
        request_id,
        secrets,
        error,
    }
}

async fn resolve<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    instance_id: &str,
    task_arn: &str,
) -> Result<TaskSecrets, String> {
    let id = arn::short_id(task_arn);
    let id = id.rsplit('/').next().unwrap_or_default();
    let task = db::get::<S, TaskRecord>(&st.store, &task_key(cluster, id))
        .await
        .map_err(|e| reason(&format!("the control plane could not read the task: {e}")))?
        .map(|t| t.value)
        .filter(|t| t.instance_id.as_deref() == Some(instance_id))
        .ok_or_else(|| reason(&format!("the task {task_arn} is not on this instance")))?;
    let defs = task
        .definition
        .container_definitions
        .as_deref()
        .unwrap_or_default();
    if !defs.iter().any(names_secrets) {
        return Ok(TaskSecrets::default());
    }
    let role_arn = task
        .overrides
        .as_ref()
        .and_then(|o| o.execution_role_arn.clone())
        .or_else(|| task.definition.execution_role_arn.clone())
        .ok_or_else(|| {
            reason("the task names secrets but has no executionRoleArn to read them with")
        })?;
    let caller = role::caller(st, &role_arn, id)
        .await
        .map_err(|e| reason(&e))?;
    let mut out = TaskSecrets::default();
    for c in defs {
        let name = c.name.clone().unwrap_or_default();
        let env = container_env(st, &caller, c.secrets.as_deref().unwrap_or_default()).await?;
        let registry = match c
            .repository_credentials
            .as_ref()
            .and_then(|r| r.credentials_parameter.as_deref())
        {
            Some(p) => Some(registry_auth(st, &caller, p).await?),
            None => None,
        };
        out.containers.push(ContainerSecrets {
            name,
            env,
            registry,
        });
    }
    Ok(out)
}

/// The (name, value) pairs of `secrets`, in their order.
async fn container_env<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    secrets: &[Secret],
) -> Result<Vec<(String, String)>, String> {
    let mut values: Vec<Option<String>> = vec![None; secrets.len()];
    let mut ssm: Vec<(usize, String)> = Vec::new();
    for (i, s) in secrets.iter().enumerate() {
        let from = s.value_from.as_deref().unwrap_or_default();
        match value_from::parse(from).map_err(|e| reason(&e))? {
            Source::Ssm(name) => ssm.push((i, name)),
            Source::SecretsManager {
                secret,
                json_key,
                version_stage,
                version_id,
            } => {
                let asm = |d: String| {
                    reason(&format!(
                        "unable to retrieve secret from asm: failed to fetch secret {from} from secrets manager: {d}"
                    ))
                };
                let v = asm_value(
                    st,
                    caller,
                    &secret,
                    version_id.as_deref(),
                    version_stage.as_deref(),
                )
                .await
                .map_err(|e| asm(format!("{}: {}", e.kind.name(), e.message)))?
                .ok_or_else(|| {
                    asm(
                        "the secret's value is a SecretBinary; ECS injects only a SecretString"
                            .into(),
                    )
                })?;
                values[i] = Some(match json_key {
                    Some(k) => value_from::json_field(&v, &k).map_err(asm)?,
                    None => v,
                });
            }
        }
    }
    for batch in ssm.chunks(SSM_BATCH) {
        let names: Vec<&String> = batch.iter().map(|(_, n)| n).collect();
        let got = ssm_values(st, caller, &names).await?;
        for ((i, _), v) in batch.iter().zip(got) {
            values[*i] = Some(v);
        }
    }
    Ok(secrets
        .iter()
        .zip(values)
        .map(|(s, v)| (s.name.clone().unwrap_or_default(), v.unwrap_or_default()))
        .collect())
}

/// GetParameters (with decryption) of `names` as `caller`: every value, in order.
async fn ssm_values<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    names: &[&String],
) -> Result<Vec<String>, String> {
    let ssm = |d: String| reason(&format!("unable to retrieve secrets from ssm: {d}"));
    let body = json!({"Names": names, "WithDecryption": true});
    let accesses = crate::ssm::accesses(st, "GetParameters", &body);
    if let Err(r) = crate::auth::authorize::authorize(st, caller, &accesses).await {
        audit(
            st,
            caller,
            "ssm",
            "GetParameters",
            &accesses,
            Some("AccessDeniedException"),
        );
        return Err(ssm(format!("AccessDeniedException: {}", r.message())));
    }
    audit(st, caller, "ssm", "GetParameters", &accesses, None);
    let out = crate::ssm::dispatch(st, "GetParameters", body, caller)
        .await
        .map_err(|e| {
            let api = e.to_api();
            ssm(format!("{}: {}", api.kind.name(), api.message))
        })?;
    let invalid: Vec<&str> = out["InvalidParameters"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if !invalid.is_empty() {
        return Err(ssm(format!(
            "invalid ssm parameters: {}",
            invalid.join(" ")
        )));
    }
    let found = out["Parameters"].as_array().cloned().unwrap_or_default();
    // GetParameters answers in its own order: match each name back (by name or ARN).
    names
        .iter()
        .map(|n| {
            found
                .iter()
                .find(|p| {
                    p["Name"] == n.as_str()
                        || p["ARN"] == n.as_str()
                        || p["Selector"].as_str().is_some_and(|s| {
                            format!("{}{s}", p["Name"].as_str().unwrap_or_default()) == n.as_str()
                        })
                })
                .and_then(|p| p["Value"].as_str().map(String::from))
                .ok_or_else(|| ssm(format!("invalid ssm parameters: {n}")))
        })
        .collect()
}

/// `repositoryCredentials`: the secret's `username` and `password`.
async fn registry_auth<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    parameter: &str,
) -> Result<(String, String), String> {
    let fail = |d: String| {
        reason(&format!(
            "unable to retrieve registry auth from asm: failed to fetch secret {parameter} from secrets manager: {d}"
        ))
    };
    let (secret, stage, vid) = match value_from::parse(parameter).map_err(|e| reason(&e))? {
        Source::SecretsManager {
            secret,
            version_stage,
            version_id,
            ..
        } => (secret, version_stage, version_id),
        // A name: Secrets Manager takes it as the secret's name.
        Source::Ssm(name) => (name, None, None),
    };
    let v = asm_value(st, caller, &secret, vid.as_deref(), stage.as_deref())
        .await
        .map_err(|e| fail(format!("{}: {}", e.kind.name(), e.message)))?
        .ok_or_else(|| fail("the secret's value is a SecretBinary".into()))?;
    let field = |k: &str| {
        value_from::json_field(&v, k).map_err(|_| {
            fail(format!(
                "the secret must be a JSON object with \"username\" and \"password\"; it has no {k}"
            ))
        })
    };
    Ok((field("username")?, field("password")?))
}

/// GetSecretValue as `caller`, audited.
async fn asm_value<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    secret: &str,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<Option<String>, gantry_api::ApiError> {
    let r = crate::secretsmanager::task_read::secret_string(st, caller, secret, version_id, stage)
        .await;
    let access = crate::auth::Access::new("secretsmanager:GetSecretValue", secret);
    let code = r.as_ref().err().map(|e| e.kind.name());
    audit(
        st,
        caller,
        "secretsmanager",
        "GetSecretValue",
        &[access],
        code,
    );
    r
}

/// An audit record of a read made as the execution role (who, what, on which ARNs, and
/// the error: never a value).
fn audit<S>(
    st: &AppState<S>,
    caller: &Caller,
    service: &str,
    action: &str,
    accesses: &[crate::auth::Access],
    error: Option<&str>,
) {
    let mut rec = crate::auth::audit::Record::begin(
        st.clock.now(),
        &crate::aws::request_id::new(),
        caller.source_ip,
        service,
    );
    rec.caller(caller);
    rec.action = action.to_string();
    rec.accesses(accesses);
    rec.error_code = error.map(String::from);
    if error.is_none() {
        rec.decision = crate::auth::audit::Decision::Allow;
    }
    st.audit.record(rec);
}
