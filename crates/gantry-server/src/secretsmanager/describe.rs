//! DescribeSecret, ListSecrets (filters, sorting, paging) and ListSecretVersionIds: what a
//! secret is, never what it holds.

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::{invalid_next_token, invalid_parameter};
use super::input::{decode, Checks};
use super::records::{all, find, SecretRecord};
use crate::error::Result;
use crate::state::AppState;

fn tags(rec: &SecretRecord) -> Value {
    rec.tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect()
}

/// The members DescribeSecret and a `SecretListEntry` share.
fn common(rec: &SecretRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ARN".into(), json!(rec.arn));
    m.insert("Name".into(), json!(rec.name));
    if let Some(d) = &rec.description {
        m.insert("Description".into(), json!(d));
    }
    if let Some(k) = &rec.kind {
        m.insert("Type".into(), json!(k));
    }
    m.insert("RotationEnabled".into(), json!(false));
    m.insert("LastChangedDate".into(), json!(rec.last_changed));
    if let Some(a) = rec.last_accessed {
        m.insert("LastAccessedDate".into(), json!(a));
    }
    if let Some(d) = rec.deleted {
        m.insert("DeletedDate".into(), json!(d));
    }
    if !rec.tags.is_empty() {
        m.insert("Tags".into(), tags(rec));
    }
    m.insert("CreatedDate".into(), json!(rec.created));
    m
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretIdOnly {
    secret_id: Option<String>,
}

pub async fn describe_secret<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: SecretIdOnly = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.done()?;
    let rec = find(st, req.secret_id.as_deref().unwrap_or_default()).await?;
    let mut m = common(&rec);
    m.insert("VersionIdsToStages".into(), json!(rec.version_stages()));
    Ok(Value::Object(m))
}

/// One `Filter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    key: Option<String>,
    #[serde(default)]
    values: Vec<String>,
}

const FILTER_KEYS: &[&str] = &[
    "description",
    "name",
    "tag-key",
    "tag-value",
    "primary-region",
    "owning-service",
    "all",
];

/// Checks `filters` against the model (keys from its enum, 1 to 10 values of at most 512
/// characters).
pub fn check_filters(filters: &[Filter]) -> Result<()> {
    for f in filters {
        let key = f.key.as_deref().unwrap_or_default();
        if !FILTER_KEYS.contains(&key) {
            return Err(invalid_parameter(format!(
                "Invalid filter key: {key}. Valid keys are: {}.",
                FILTER_KEYS.join(", ")
            )));
        }
        if f.values.is_empty() || f.values.len() > 10 {
            return Err(invalid_parameter(format!(
                "The filter {key} must have between 1 and 10 values."
            )));
        }
        if f.values.iter().any(|v| v.chars().count() > 512) {
            return Err(invalid_parameter(format!(
                "A value of the filter {key} is longer than 512 characters."
            )));
        }
    }
    Ok(())
}

fn prefix(hay: &str, needle: &str, case_sensitive: bool) -> bool {
    if case_sensitive {
        hay.starts_with(needle)
    } else {
        hay.to_lowercase().starts_with(&needle.to_lowercase())
    }
}

fn value_matches(rec: &SecretRecord, key: &str, v: &str) -> bool {
    match key {
        "name" => prefix(&rec.name, v, true),
        "description" => rec
            .description
            .as_deref()
            .is_some_and(|d| prefix(d, v, false)),
        "tag-key" => rec.tags.iter().any(|(k, _)| prefix(k, v, true)),
        "tag-value" => rec.tags.iter().any(|(_, tv)| prefix(tv, v, true)),
        // Not replicated, and owned by no other service: these match nothing.
        "primary-region" | "owning-service" => false,
        // Every word must start some attribute's word, case-insensitively.
        _ => {
            let mut words: Vec<String> = Vec::new();
            let mut add = |s: &str| {
                words.extend(
                    s.split(|c: char| !c.is_alphanumeric())
                        .filter(|w| !w.is_empty())
                        .map(str::to_lowercase),
                );
            };
            add(&rec.name);
            add(rec.description.as_deref().unwrap_or_default());
            for (k, tv) in &rec.tags {
                add(k);
                add(tv);
            }
            v.split_whitespace()
                .all(|q| words.iter().any(|w| w.starts_with(&q.to_lowercase())))
        }
    }
}

/// Does `rec` pass every filter (a filter passes when any value does; `!v` negates)?
pub fn matches(rec: &SecretRecord, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let key = f.key.as_deref().unwrap_or_default();
        f.values.iter().any(|v| match v.strip_prefix('!') {
            Some(neg) => !value_matches(rec, key, neg),
            None => value_matches(rec, key, v),
        })
    })
}

/// One page of `items` after offset token `token`.
pub fn page<T>(items: Vec<T>, token: Option<&str>, max: usize) -> Result<(Vec<T>, Option<String>)> {
    let start = match token {
        None => 0,
        Some(t) => hex::decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("sm:").and_then(|n| n.parse::<usize>().ok()))
            .ok_or_else(invalid_next_token)?,
    };
    let total = items.len();
    let out: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next =
        (start + out.len() < total).then(|| hex::encode(format!("sm:{}", start + out.len())));
    Ok((out, next))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListSecrets {
    #[serde(default)]
    include_planned_deletion: bool,
    max_results: Option<i64>,
    next_token: Option<String>,
    #[serde(default)]
    filters: Vec<Filter>,
    sort_order: Option<String>,
    sort_by: Option<String>,
}

pub async fn list_secrets<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: ListSecrets = decode(body)?;
    let mut c = Checks::default();
    c.range("MaxResults", req.max_results, 1, 100);
    c.length("NextToken", req.next_token.as_deref(), 1, 4096);
    c.done()?;
    check_filters(&req.filters)?;
    let mut items: Vec<SecretRecord> = all(st)
        .await?
        .into_iter()
        .filter(|r| req.include_planned_deletion || !r.scheduled())
        .filter(|r| matches(r, &req.filters))
        .collect();
    let by = req.sort_by.as_deref().unwrap_or("created-date");
    match by {
        "created-date" => items.sort_by(|a, b| a.created.total_cmp(&b.created)),
        "last-changed-date" => items.sort_by(|a, b| a.last_changed.total_cmp(&b.last_changed)),
        "last-accessed-date" => items.sort_by(|a, b| {
            a.last_accessed
                .unwrap_or(0.0)
                .total_cmp(&b.last_accessed.unwrap_or(0.0))
        }),
        "name" => items.sort_by(|a, b| a.name.cmp(&b.name)),
        other => {
            return Err(invalid_parameter(format!(
                "Invalid SortBy: {other}. Valid values are created-date, last-accessed-date, last-changed-date, name."
            )))
        }
    }
    match req.sort_order.as_deref() {
        None | Some("desc") => items.reverse(),
        Some("asc") => {}
        Some(other) => {
            return Err(invalid_parameter(format!(
                "Invalid SortOrder: {other}. Valid values are asc, desc."
            )))
        }
    }
    let max = req
        .max_results
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(100);
    let (page, next) = page(items, req.next_token.as_deref(), max)?;
    let list: Vec<Value> = page
        .iter()
        .map(|r| {
            let mut m = common(r);
            m.insert("SecretVersionsToStages".into(), json!(r.version_stages()));
            Value::Object(m)
        })
        .collect();
    let mut out = json!({"SecretList": list});
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListVersionIds {
    secret_id: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
    #[serde(default)]
    include_deprecated: bool,
}

pub async fn list_secret_version_ids<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: ListVersionIds = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.range("MaxResults", req.max_results, 1, 100);
    c.length("NextToken", req.next_token.as_deref(), 1, 4096);
    c.done()?;
    let rec = find(st, req.secret_id.as_deref().unwrap_or_default()).await?;
    let mut versions: Vec<_> = rec
        .versions
        .iter()
        .filter(|(_, v)| req.include_deprecated || !v.stages.is_empty())
        .collect();
    // Newest first.
    versions.sort_by(|a, b| b.1.created.total_cmp(&a.1.created).then(a.0.cmp(b.0)));
    let max = req
        .max_results
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(100);
    let (page, next) = page(versions, req.next_token.as_deref(), max)?;
    let list: Vec<Value> = page
        .into_iter()
        .map(|(id, v)| {
            let mut m =
                json!({"VersionId": id, "VersionStages": v.stages, "CreatedDate": v.created});
            if let Some(a) = v.last_accessed {
                m["LastAccessedDate"] = json!(a);
            }
            m
        })
        .collect();
    let mut out = json!({"Versions": list, "ARN": rec.arn, "Name": rec.name});
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}
