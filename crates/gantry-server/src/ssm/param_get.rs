//! GetParameter, GetParameters, GetParametersByPath and GetParameterHistory.

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{decode, Checks};
use super::paging::page;
use super::param_errors::{not_found, validation};
use super::param_filters::{self, Place, StringFilter};
use super::param_names::reference;
use super::param_put::names_member;
use super::param_view::{all, history, load, parameter, pick};
use crate::error::{Error, Result};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetRequest {
    name: Option<String>,
    names: Option<Vec<String>>,
    #[serde(default)]
    with_decryption: bool,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// The `Parameter` a raw `Name` (name, ARN, with a selector) names.
async fn one<S: Store>(st: &AppState<S>, raw: &str, decrypt: bool) -> Result<Value> {
    let (name, sel) = reference(&st.config.region, &st.config.account_id, raw)?;
    let p = load(st, &name).await?.ok_or_else(|| not_found(&name))?;
    let v = pick(&p, &sel)?;
    parameter(st, &p, v, &sel, decrypt)
}

pub async fn get_parameter<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: GetRequest = decode(body)?;
    let mut c = Checks::default();
    c.required("Name", req.name.as_ref());
    c.length("Name", req.name.as_deref(), 1, 2048);
    c.done()?;
    let p = one(
        st,
        req.name.as_deref().unwrap_or_default(),
        req.with_decryption,
    )
    .await?;
    Ok(json!({"Parameter": p}))
}

pub async fn get_parameters<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: GetRequest = decode(body)?;
    let names = names_member(req.names.as_ref())?;
    let (mut found, mut invalid) = (Vec::new(), Vec::new());
    for raw in names {
        match one(st, raw, req.with_decryption).await {
            Ok(p) => found.push(p),
            Err(Error::Api(a))
                if matches!(
                    a.kind.name(),
                    "ParameterNotFound" | "ParameterVersionNotFound" | "ValidationException"
                ) =>
            {
                invalid.push(raw.clone());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(json!({"Parameters": found, "InvalidParameters": invalid}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ByPathRequest {
    path: Option<String>,
    #[serde(default)]
    recursive: bool,
    #[serde(default)]
    parameter_filters: Vec<StringFilter>,
    #[serde(default)]
    with_decryption: bool,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub async fn get_parameters_by_path<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: ByPathRequest = decode(body)?;
    let mut c = Checks::default();
    c.required("Path", req.path.as_ref());
    c.length("Path", req.path.as_deref(), 1, 2048);
    c.range("MaxResults", req.max_results, 1, 10);
    c.done()?;
    let path = req.path.clone().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(validation(format!(
            "The path {path} is not valid: a path begins with a forward slash (/)."
        )));
    }
    param_filters::check(&req.parameter_filters, Place::ByPath)?;
    let items = all(st)
        .await?
        .into_iter()
        .filter(|p| param_filters::under(&path, &p.name, req.recursive))
        .filter(|p| {
            req.parameter_filters
                .iter()
                .all(|f| param_filters::matches(p, f))
        })
        .map(|p| (p.name.clone(), p))
        .collect();
    let (records, next) = page(items, req.next_token.as_deref(), req.max_results, 10)?;
    let mut out = Vec::new();
    for p in &records {
        if let Some(v) = p.latest() {
            out.push(parameter(
                st,
                p,
                v,
                &super::param_names::Selector::Latest,
                req.with_decryption,
            )?);
        }
    }
    let mut r = json!({"Parameters": out});
    if let Some(t) = next {
        r["NextToken"] = json!(t);
    }
    Ok(r)
}

pub async fn get_parameter_history<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: GetRequest = decode(body)?;
    let mut c = Checks::default();
    c.required("Name", req.name.as_ref());
    c.length("Name", req.name.as_deref(), 1, 2048);
    c.range("MaxResults", req.max_results, 1, 50);
    c.done()?;
    let (name, _) = reference(
        &st.config.region,
        &st.config.account_id,
        req.name.as_deref().unwrap_or_default(),
    )?;
    let p = load(st, &name).await?.ok_or_else(|| not_found(&name))?;
    let items = p
        .versions
        .iter()
        .map(|v| (format!("{:020}", v.version), v))
        .collect();
    let (versions, next) = page(items, req.next_token.as_deref(), req.max_results, 50)?;
    let list = versions
        .into_iter()
        .map(|v| history(st, &p, v, req.with_decryption))
        .collect::<Result<Vec<_>>>()?;
    let mut r = json!({"Parameters": list});
    if let Some(t) = next {
        r["NextToken"] = json!(t);
    }
    Ok(r)
}
