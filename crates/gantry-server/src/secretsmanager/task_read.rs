//! A secret's value read for a task at its start (`secrets[]`, `repositoryCredentials`),
//! with the permissions of the task's execution role: what GetSecretValue answers that
//! role, decided as the gate and the handler decide it for a request (identity policies,
//! the secret's resource policy, IAM's order: an unknown secret is authorized on the ARN
//! as given, so a role that may not read it learns nothing of whether it exists).

use gantry_api::ApiError;
use gantry_store::Store;

use super::authz::on_secret;
use super::error::to_sm;
use super::records::{find_live, resolve};
use super::values::{select, touch};
use super::versions::value_entry;
use crate::auth::{Access, Caller};
use crate::state::AppState;

/// The SecretString of the version of secret `id` that `version_id` and `stage` select
/// (AWSCURRENT by default), if `caller` may read it; else the API error GetSecretValue
/// would answer. `Ok(None)`: the version holds a SecretBinary.
pub(crate) async fn secret_string<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    id: &str,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let read = async {
        let Some(rec) = resolve(st, id).await? else {
            let resource = if id.starts_with("arn:") {
                id.to_string()
            } else {
                super::authz::partial_arn(st, id)
            };
            let access = Access::new("secretsmanager:GetSecretValue", resource);
            crate::auth::authorize::authorize(st, caller, &[access])
                .await
                .map_err(|r| {
                    crate::error::Error::Api(ApiError::new(
                        gantry_api::ErrorKind::AccessDenied,
                        r.message(),
                    ))
                })?;
            return Err(super::error::not_found());
        };
        super::check_access(
            st,
            caller,
            &rec,
            &on_secret("secretsmanager:GetSecretValue", &rec),
        )
        .await?;
        let rec = find_live(st, &rec.arn).await?;
        let vid = select(&rec, version_id, stage)?;
        let entry = value_entry(&st.secrets_ring, &rec, &vid)?;
        touch(st, &rec, &vid).await;
        Ok(entry["SecretString"].as_str().map(String::from))
    };
    read.await.map_err(|e: crate::error::Error| to_sm(&e))
}
