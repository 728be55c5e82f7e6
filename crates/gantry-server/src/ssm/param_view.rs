//! The `Parameter`, `ParameterMetadata` and `ParameterHistory` shapes, and reading a stored
//! parameter back (a SecureString opened only `WithDecryption`).

use gantry_store::Store;
use serde_json::{json, Value};

use super::param_errors::{not_found, version_not_found};
use super::param_names::{arn, Selector};
use super::param_records::{
    parameter_key, ParameterRecord, StoredValue, VersionRecord, DEFAULT_KEY_ID,
};
use super::param_seal;
use crate::error::Result;
use crate::persistence::db;
use crate::state::AppState;

pub fn parameter_arn<S>(st: &AppState<S>, name: &str) -> String {
    arn(&st.config.region, &st.config.account_id, name)
}

pub async fn load<S: Store>(st: &AppState<S>, name: &str) -> Result<Option<ParameterRecord>> {
    Ok(
        db::get::<S, ParameterRecord>(&st.store, &parameter_key(name))
            .await?
            .map(|r| r.value),
    )
}

/// Every stored parameter, by name.
pub async fn all<S: Store>(st: &AppState<S>) -> Result<Vec<ParameterRecord>> {
    let mut out: Vec<ParameterRecord> =
        db::list::<S, ParameterRecord>(&st.store, super::param_records::PARAMETERS)
            .await?
            .into_iter()
            .map(|r| r.value)
            .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The version `sel` picks.
pub fn pick<'a>(p: &'a ParameterRecord, sel: &Selector) -> Result<&'a VersionRecord> {
    match sel {
        Selector::Latest => p.latest().ok_or_else(|| not_found(&p.name)),
        Selector::Version(v) => p
            .version(*v)
            .ok_or_else(|| version_not_found(&p.name, &v.to_string())),
        Selector::Label(l) => p.labelled(l).ok_or_else(|| version_not_found(&p.name, l)),
    }
}

/// The value as the caller may see it: a SecureString's plain text only with decryption,
/// otherwise its sealed form (the service shows KMS ciphertext there).
pub fn value<S: Store>(
    st: &AppState<S>,
    name: &str,
    v: &VersionRecord,
    decrypt: bool,
) -> Result<String> {
    match &v.value {
        StoredValue::Plain(s) => Ok(s.clone()),
        StoredValue::Sealed(s) if decrypt => param_seal::open(st, name, v.version, s),
        StoredValue::Sealed(s) => Ok(s.clone()),
    }
}

/// `Parameter`.
pub fn parameter<S: Store>(
    st: &AppState<S>,
    p: &ParameterRecord,
    v: &VersionRecord,
    sel: &Selector,
    decrypt: bool,
) -> Result<Value> {
    let mut out = json!({
        "Name": p.name,
        "Type": v.kind,
        "Value": value(st, &p.name, v, decrypt)?,
        "Version": v.version,
        "LastModifiedDate": v.modified,
        "ARN": parameter_arn(st, &p.name),
        "DataType": v.data_type,
    });
    if let Some(s) = sel.shown() {
        out["Selector"] = json!(s);
    }
    Ok(out)
}

fn common(v: &VersionRecord, out: &mut Value) {
    if v.kind == "SecureString" {
        out["KeyId"] = json!(DEFAULT_KEY_ID);
    }
    if let Some(d) = &v.description {
        out["Description"] = json!(d);
    }
    if let Some(a) = &v.allowed_pattern {
        out["AllowedPattern"] = json!(a);
    }
}

/// `ParameterMetadata` of the latest version.
pub fn metadata<S>(st: &AppState<S>, p: &ParameterRecord, v: &VersionRecord) -> Value {
    let mut out = json!({
        "Name": p.name,
        "ARN": parameter_arn(st, &p.name),
        "Type": v.kind,
        "LastModifiedDate": v.modified,
        "LastModifiedUser": v.modified_user,
        "Version": v.version,
        "Tier": v.tier,
        "Policies": [],
        "DataType": v.data_type,
    });
    common(v, &mut out);
    out
}

/// `ParameterHistory` of one version.
pub fn history<S: Store>(
    st: &AppState<S>,
    p: &ParameterRecord,
    v: &VersionRecord,
    decrypt: bool,
) -> Result<Value> {
    let mut out = json!({
        "Name": p.name,
        "Type": v.kind,
        "LastModifiedDate": v.modified,
        "LastModifiedUser": v.modified_user,
        "Value": value(st, &p.name, v, decrypt)?,
        "Version": v.version,
        "Labels": v.labels,
        "Tier": v.tier,
        "Policies": [],
        "DataType": v.data_type,
    });
    common(v, &mut out);
    Ok(out)
}
