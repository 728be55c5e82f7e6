//! What each Secrets Manager operation is authorized on, after AWS's Service Authorization
//! Reference ("Actions, resources, and condition keys for AWS Secrets Manager"):
//! `secretsmanager:<Operation>` on the secret's ARN; ListSecrets, BatchGetSecretValue and
//! GetRandomPassword on `*` (BatchGetSecretValue then needs GetSecretValue on each secret,
//! checked per secret by the handler). CreateSecret and TagResource carry the request's tags
//! (`aws:RequestTag/*`, `aws:TagKeys`); a stored secret's tags are its
//! `secretsmanager:ResourceTag/*` keys; `secretsmanager:SecretId` is the ARN.
//!
//! A secret not found is authorized on its partial ARN (`…:secret:<name>`), as one not yet
//! created is: policies that name `secret:<name>-??????` do not match it, `secret:<name>*`
//! does.

use gantry_store::Store;
use serde_json::Value;

use super::records::{resolve, SecretRecord};
use crate::auth::Access;
use crate::error::Result;
use crate::state::AppState;

fn request_tags(body: &Value) -> Vec<(&str, &str)> {
    body["Tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| Some((t["Key"].as_str()?, t["Value"].as_str().unwrap_or(""))))
                .collect()
        })
        .unwrap_or_default()
}

/// The ARN a policy sees for a secret named `name` that is not stored.
pub fn partial_arn<S>(st: &AppState<S>, name: &str) -> String {
    format!(
        "arn:aws:secretsmanager:{}:{}:secret:{name}",
        st.config.region, st.config.account_id
    )
}

/// `GetSecretValue` (or `action`) on `rec`, with its tags as condition keys.
pub fn on_secret(action: &str, rec: &SecretRecord) -> Access {
    Access::new(action, rec.arn.clone())
        .with("secretsmanager:SecretId", [rec.arn.clone()])
        .with_resource_tags(
            "secretsmanager",
            rec.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
}

pub async fn accesses<S: Store>(st: &AppState<S>, op: &str, body: &Value) -> Result<Vec<Access>> {
    let action = format!("secretsmanager:{op}");
    let access = match op {
        "ListSecrets" | "BatchGetSecretValue" | "GetRandomPassword" => Access::new(action, "*"),
        "CreateSecret" => {
            let name = body["Name"].as_str().unwrap_or_default();
            Access::new(action, partial_arn(st, name)).with_request_tags(request_tags(body))
        }
        _ => {
            let id = body["SecretId"].as_str().unwrap_or_default();
            let a = match resolve(st, id).await? {
                Some(rec) => on_secret(&action, &rec),
                None if id.starts_with("arn:") => Access::new(action, id),
                None => Access::new(action, partial_arn(st, id)),
            };
            if op == "TagResource" {
                a.with_request_tags(request_tags(body))
            } else {
                a
            }
        }
    };
    Ok(vec![access])
}
