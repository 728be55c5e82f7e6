//! BatchGetSecretValue: the AWSCURRENT values of up to 20 secrets, named by `SecretIdList`
//! or chosen by `Filters`. Each secret needs `secretsmanager:GetSecretValue` of its own; a
//! secret that is missing, scheduled for deletion or not allowed becomes an entry of
//! `Errors` instead of failing the call.

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::authz::on_secret;
use super::describe::{check_filters, matches, page, Filter};
use super::error::{invalid_parameter, to_sm};
use super::input::{decode, Checks};
use super::records::{all, find_live, CURRENT};
use super::versions::value_entry;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGet {
    secret_id_list: Option<Vec<String>>,
    filters: Option<Vec<Filter>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn error_entry(id: &str, e: &Error) -> Value {
    let api = to_sm(e);
    json!({"SecretId": id, "ErrorCode": api.kind.name(), "Message": api.message})
}

/// The value of the secret `id` names, if `caller` may read it.
async fn one<S: Store>(st: &AppState<S>, caller: &Caller, id: &str) -> Result<Value> {
    let rec = find_live(st, id).await?;
    let access = on_secret("secretsmanager:GetSecretValue", &rec);
    super::check_access(st, caller, &rec, &access).await?;
    let vid = rec
        .staged(CURRENT)
        .map(|(v, _)| v.clone())
        .ok_or_else(|| super::error::stage_not_found(CURRENT))?;
    let out = value_entry(&st.secrets_ring, &rec, &vid)?;
    super::values::touch(st, &rec, &vid).await;
    Ok(out)
}

pub async fn batch_get_secret_value<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    body: Value,
) -> Result<Value> {
    let req: BatchGet = decode(body)?;
    let mut c = Checks::default();
    c.range("MaxResults", req.max_results, 1, 20);
    c.length("NextToken", req.next_token.as_deref(), 1, 4096);
    c.done()?;
    let (ids, next) = match (&req.secret_id_list, &req.filters) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(invalid_parameter(
                "You must include Filters or SecretIdList, but not both.",
            ))
        }
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > 20 {
                return Err(invalid_parameter(
                    "SecretIdList must name between 1 and 20 secrets.",
                ));
            }
            if req.max_results.is_some() || req.next_token.is_some() {
                return Err(invalid_parameter(
                    "MaxResults and NextToken apply only with Filters.",
                ));
            }
            (ids.clone(), None)
        }
        (None, Some(filters)) => {
            check_filters(filters)?;
            let mut recs: Vec<_> = all(st)
                .await?
                .into_iter()
                .filter(|r| !r.scheduled() && matches(r, filters))
                .collect();
            recs.sort_by(|a, b| a.name.cmp(&b.name));
            let max = req
                .max_results
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(20);
            let (p, next) = page(recs, req.next_token.as_deref(), max)?;
            (p.into_iter().map(|r| r.arn).collect(), next)
        }
    };
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for id in &ids {
        match one(st, caller, id).await {
            Ok(v) => values.push(v),
            Err(e) => errors.push(error_entry(id, &e)),
        }
    }
    let mut out = json!({"SecretValues": values, "Errors": errors});
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}
