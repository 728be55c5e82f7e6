//! LabelParameterVersion and UnlabelParameterVersion. A label names one version of a
//! parameter: attaching it to another version moves it. Labels the rules refuse (at most 100
//! of letters, digits, `.-_`; not starting with a digit, `aws` or `ssm`) come back in
//! `InvalidLabels` rather than failing the request, as in the service.

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{decode, Checks};
use super::param_errors::{not_found, too_many_labels, version_not_found};
use super::param_names::reference;
use super::param_records::{parameter_key, ParameterRecord, MAX_LABELS};
use crate::error::Result;
use crate::persistence::update::{self, Edit};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LabelRequest {
    name: Option<String>,
    parameter_version: Option<i64>,
    labels: Option<Vec<String>>,
}

pub fn valid_label(l: &str) -> bool {
    let lower = l.to_ascii_lowercase();
    !l.is_empty()
        && l.len() <= 100
        && l.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        && !l.starts_with(|c: char| c.is_ascii_digit())
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
}

fn check(req: &LabelRequest, version_required: bool) -> Result<()> {
    let mut c = Checks::default();
    c.required("Name", req.name.as_ref());
    c.length("Name", req.name.as_deref(), 1, 2048);
    if version_required {
        c.required("ParameterVersion", req.parameter_version.as_ref());
    }
    c.required("Labels", req.labels.as_ref());
    if let Some(l) = &req.labels {
        c.range("Labels", Some(l.len() as i64), 1, 10);
    }
    c.done()
}

fn name_of<S>(st: &AppState<S>, req: &LabelRequest) -> Result<String> {
    let raw = req.name.as_deref().unwrap_or_default();
    Ok(reference(&st.config.region, &st.config.account_id, raw)?.0)
}

pub async fn label_parameter_version<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: LabelRequest = decode(body)?;
    check(&req, false)?;
    let name = name_of(st, &req)?;
    let labels = req.labels.clone().unwrap_or_default();
    let (valid, invalid): (Vec<String>, Vec<String>) =
        labels.into_iter().partition(|l| valid_label(l));
    let version = update::update(
        &st.store,
        &parameter_key(&name),
        |cur: Option<ParameterRecord>| {
            let mut p = cur.ok_or_else(|| not_found(&name))?;
            let target = match req.parameter_version {
                Some(v) => v,
                None => p.latest().map_or(0, |l| l.version),
            };
            if p.version(target).is_none() {
                return Err(version_not_found(&name, &target.to_string()));
            }
            for v in &mut p.versions {
                if v.version != target {
                    v.labels.retain(|l| !valid.contains(l));
                }
            }
            if let Some(v) = p.versions.iter_mut().find(|v| v.version == target) {
                for l in &valid {
                    if !v.labels.contains(l) {
                        v.labels.push(l.clone());
                    }
                }
                if v.labels.len() > MAX_LABELS {
                    return Err(too_many_labels());
                }
            }
            Ok(Edit::put(p, target))
        },
    )
    .await?;
    let mut out = json!({"ParameterVersion": version});
    if !invalid.is_empty() {
        out["InvalidLabels"] = json!(invalid);
    }
    Ok(out)
}

pub async fn unlabel_parameter_version<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: LabelRequest = decode(body)?;
    check(&req, true)?;
    let name = name_of(st, &req)?;
    let target = req.parameter_version.unwrap_or_default();
    let labels = req.labels.clone().unwrap_or_default();
    let (removed, invalid) = update::update(
        &st.store,
        &parameter_key(&name),
        |cur: Option<ParameterRecord>| {
            let mut p = cur.ok_or_else(|| not_found(&name))?;
            let v = p
                .versions
                .iter_mut()
                .find(|v| v.version == target)
                .ok_or_else(|| version_not_found(&name, &target.to_string()))?;
            let (removed, invalid): (Vec<String>, Vec<String>) =
                labels.iter().cloned().partition(|l| v.labels.contains(l));
            v.labels.retain(|l| !removed.contains(l));
            Ok(Edit::put(p, (removed, invalid)))
        },
    )
    .await?;
    let mut out = json!({});
    if !removed.is_empty() {
        out["RemovedLabels"] = json!(removed);
    }
    if !invalid.is_empty() {
        out["InvalidLabels"] = json!(invalid);
    }
    Ok(out)
}
