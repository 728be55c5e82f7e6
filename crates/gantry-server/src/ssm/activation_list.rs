//! `DescribeActivations`: the activations, newest last, filtered by id, default instance name
//! or IAM role, in pages of `MaxResults` (1–50).

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{decode, Checks};
use super::paging;
use super::records::{ActivationRecord, ACTIVATIONS};
use crate::error::Result;
use crate::persistence::db;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Filter {
    filter_key: Option<String>,
    #[serde(default)]
    filter_values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeActivationsRequest {
    #[serde(default)]
    filters: Vec<Filter>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

const FILTER_KEYS: &[&str] = &["ActivationIds", "DefaultInstanceName", "IamRole"];

fn keep(a: &ActivationRecord, filters: &[(String, Vec<String>)]) -> bool {
    filters.iter().all(|(k, vals)| {
        let field = match k.as_str() {
            "ActivationIds" => Some(a.id.as_str()),
            "DefaultInstanceName" => a.default_instance_name.as_deref(),
            _ => Some(a.iam_role.as_str()),
        };
        field.is_some_and(|f| vals.iter().any(|v| v == f))
    })
}

/// An activation as DescribeActivations shows it.
pub fn render(a: &ActivationRecord, now: f64) -> Value {
    let mut v = json!({
        "ActivationId": a.id,
        "IamRole": a.iam_role,
        "RegistrationLimit": a.registration_limit,
        "RegistrationsCount": a.registrations_count,
        "ExpirationDate": a.expires,
        "Expired": a.expired(now),
        "CreatedDate": a.created,
        "Tags": super::tags::render(&a.tags),
    });
    if let Some(d) = &a.description {
        v["Description"] = json!(d);
    }
    if let Some(n) = &a.default_instance_name {
        v["DefaultInstanceName"] = json!(n);
    }
    v
}

pub async fn describe_activations<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: DescribeActivationsRequest = decode(body)?;
    let mut c = Checks::default();
    c.range("MaxResults", req.max_results, 1, 50);
    // FilterKey is an enum of the model: AWS's front end refuses another value in its
    // ValidationException, as for every constrained member.
    for (i, f) in req.filters.iter().enumerate() {
        c.one_of(
            &format!("Filters.{}.member.filterKey", i + 1),
            f.filter_key.as_deref(),
            FILTER_KEYS,
        );
    }
    c.done()?;
    let filters: Vec<(String, Vec<String>)> = req
        .filters
        .into_iter()
        .filter_map(|f| Some((f.filter_key?, f.filter_values)))
        .collect();
    let now = st.clock.now();
    let mut all: Vec<ActivationRecord> = db::list(&st.store, ACTIVATIONS)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|a| keep(a, &filters))
        .collect();
    all.sort_by(|a, b| {
        a.created
            .total_cmp(&b.created)
            .then_with(|| a.id.cmp(&b.id))
    });
    let items = all
        .into_iter()
        .map(|a| (paging::cursor(a.created, &a.id), a))
        .collect();
    let (page, next) = paging::page(items, req.next_token.as_deref(), req.max_results, 50)?;
    let mut out = json!({
        "ActivationList": page.iter().map(|a| render(a, now)).collect::<Vec<_>>(),
    });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}
