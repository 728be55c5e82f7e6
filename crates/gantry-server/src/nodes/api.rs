//! The operator's join-token API, `GantryNodes_20261201` (AWS JSON 1.1 on `POST /`, signed
//! for service `gantry`, authorized as `gantry:<Operation>` on the cluster's ARN):
//! CreateJoinToken, DescribeJoinTokens, DeleteJoinToken (`gantry token` speaks them), and
//! DescribeCapacityProviderScaling, the capacity providers' managed-scaling targets
//! ([`crate::ecs::capacity_scaling`], `gantry capacity-provider scaling`).

use gantry_api::ApiError;
use gantry_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::records::JoinTokenRecord;
use super::tokens;
use crate::auth::Access;
use crate::ecs::clusters::{self, cluster_name, DEFAULT_CLUSTER};
use crate::error::{invalid, Error, Result};
use crate::state::AppState;

/// The `X-Amz-Target` prefix.
pub const TARGET_PREFIX: &str = "GantryNodes_20261201.";
/// The SigV4 scope's service and the IAM action prefix.
pub const SIGNING_NAME: &str = "gantry";
pub const IMPLEMENTED: &[&str] = &[
    "CreateJoinToken",
    "DescribeJoinTokens",
    "DeleteJoinToken",
    "DescribeCapacityProviderScaling",
];

/// Default and bounds of `ttlSeconds`.
pub const DEFAULT_TTL_SECS: i64 = 86_400;
pub const MIN_TTL_SECS: i64 = 60;
pub const MAX_TTL_SECS: i64 = 2_592_000;
pub const MAX_REGISTRATION_LIMIT: i64 = 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DescribeCapacityProviderScaling {
    #[serde(default)]
    capacity_providers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateJoinToken {
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    ttl_seconds: Option<i64>,
    #[serde(default)]
    registration_limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DescribeJoinTokens {
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    token_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeleteJoinToken {
    token_id: String,
}

/// A token as DescribeJoinTokens shows it (never its secret).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView {
    token_id: String,
    cluster: String,
    created_at: f64,
    expires_at: f64,
    registration_limit: u32,
    registrations_count: u32,
    expired: bool,
}

fn view(t: &JoinTokenRecord, now: f64) -> TokenView {
    TokenView {
        token_id: t.id.clone(),
        cluster: t.cluster.clone(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        registration_limit: t.registration_limit,
        registrations_count: t.registrations_count,
        expired: now >= t.expires_at,
    }
}

fn decode<T: serde::de::DeserializeOwned>(op: &str, body: &Value) -> Result<T> {
    serde_json::from_value(body.clone())
        .map_err(|e| Error::Api(ApiError::client(format!("{op}: {e}"))))
}

/// Parses a request body: any JSON object (members are checked by [`dispatch`]).
pub fn parse(op: &str, body: &[u8]) -> std::result::Result<Value, ApiError> {
    let body = if body.is_empty() {
        b"{}" as &[u8]
    } else {
        body
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(ApiError::new(
            gantry_api::ErrorKind::Serialization,
            format!("The {op} request body is not a JSON object."),
        )),
    }
}

/// What operation `op` is authorized on: the cluster's ARN (all clusters when it names
/// none).
pub async fn accesses<S: Store>(st: &AppState<S>, op: &str, body: &Value) -> Result<Vec<Access>> {
    let action = format!("{SIGNING_NAME}:{op}");
    if op == "DescribeCapacityProviderScaling" {
        // On each provider named, or on all of them.
        let named: Vec<Access> = body["capacityProviders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|n| {
                let arn = format!(
                    "arn:aws:ecs:{}:{}:capacity-provider/{}",
                    st.config.region,
                    st.config.account_id,
                    gantry_api::arn::short_id(n)
                );
                Access::new(action.clone(), arn)
            })
            .collect();
        return Ok(if named.is_empty() {
            vec![Access::new(action, "*".to_string())]
        } else {
            named
        });
    }
    let cluster = match op {
        "CreateJoinToken" => Some(cluster_name(body["cluster"].as_str()).to_string()),
        "DescribeJoinTokens" => body["cluster"]
            .as_str()
            .map(|c| cluster_name(Some(c)).to_string()),
        "DeleteJoinToken" => match body["tokenId"].as_str() {
            Some(id) => tokens::get(st, id).await?.map(|t| t.value.cluster),
            None => None,
        },
        _ => None,
    };
    let resource = cluster.map_or_else(|| "*".to_string(), |c| st.arns.cluster(&c));
    Ok(vec![Access::new(action, resource)])
}

/// Runs operation `op`.
pub async fn dispatch<S: Store>(st: &AppState<S>, op: &str, body: Value) -> Result<Value> {
    let now = st.clock.now();
    let out = match op {
        "CreateJoinToken" => {
            let r: CreateJoinToken = decode(op, &body)?;
            let cluster = cluster_name(r.cluster.as_deref()).to_string();
            let ttl = r.ttl_seconds.unwrap_or(DEFAULT_TTL_SECS);
            if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&ttl) {
                return Err(invalid(format!(
                    "ttlSeconds {ttl} is out of range: a join token lives {MIN_TTL_SECS} to {MAX_TTL_SECS} seconds (30 days)."
                )));
            }
            let limit = r.registration_limit.unwrap_or(1);
            if !(1..=MAX_REGISTRATION_LIMIT).contains(&limit) {
                return Err(invalid(format!(
                    "registrationLimit {limit} is out of range: 1 to {MAX_REGISTRATION_LIMIT} hosts."
                )));
            }
            if cluster == DEFAULT_CLUSTER {
                clusters::ensure(st, &cluster, None).await?;
            } else {
                clusters::active(st, &cluster).await?;
            }
            let ca_sha256 = super::ca_sha256(st).map_err(|e| {
                Error::Api(ApiError::new(gantry_api::ErrorKind::Server, e.to_string()))
            })?;
            let t = tokens::create(st, &cluster, ttl, u32::try_from(limit).unwrap_or(1)).await?;
            tracing::info!(token = %t.record.id, cluster = %cluster, limit, ttl, "join token created");
            serde_json::json!({
                "tokenId": t.record.id,
                "token": t.token,
                "expiresAt": t.record.expires_at,
                "caSha256": ca_sha256,
            })
        }
        "DescribeJoinTokens" => {
            let r: DescribeJoinTokens = decode(op, &body)?;
            let cluster = r
                .cluster
                .as_deref()
                .map(|c| cluster_name(Some(c)).to_string());
            let mut list: Vec<TokenView> = tokens::list(st)
                .await?
                .iter()
                .filter(|t| cluster.as_ref().is_none_or(|c| &t.cluster == c))
                .filter(|t| r.token_ids.as_ref().is_none_or(|ids| ids.contains(&t.id)))
                .map(|t| view(t, now))
                .collect();
            list.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
            serde_json::json!({ "joinTokens": list })
        }
        "DescribeCapacityProviderScaling" => {
            let r: DescribeCapacityProviderScaling = decode(op, &body)?;
            let list =
                crate::ecs::capacity_scaling::describe(st, r.capacity_providers.as_deref()).await?;
            serde_json::json!({ "capacityProviders": list })
        }
        "DeleteJoinToken" => {
            let r: DeleteJoinToken = decode(op, &body)?;
            tokens::delete(st, &r.token_id).await?;
            tracing::info!(token = %r.token_id, "join token deleted");
            serde_json::json!({ "tokenId": r.token_id })
        }
        other => {
            return Err(Error::Api(ApiError::client(format!(
                "Gantry does not implement {other}."
            ))))
        }
    };
    Ok(out)
}
