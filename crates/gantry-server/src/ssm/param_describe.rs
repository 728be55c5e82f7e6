//! DescribeParameters: the latest version's metadata of every parameter that passes
//! `Filters` or `ParameterFilters` (not both), by name, paged.

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{decode, Checks};
use super::paging::page;
use super::param_errors::validation;
use super::param_filters::{self, OldFilter, Place, StringFilter};
use super::param_view::{all, metadata};
use crate::error::Result;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeRequest {
    #[serde(default)]
    filters: Vec<OldFilter>,
    #[serde(default)]
    parameter_filters: Vec<StringFilter>,
    max_results: Option<i64>,
    next_token: Option<String>,
    /// Parameters shared from other accounts: Gantry has one account, so there are none.
    #[serde(default)]
    shared: bool,
}

pub async fn describe_parameters<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: DescribeRequest = decode(body)?;
    let mut c = Checks::default();
    c.range("MaxResults", req.max_results, 1, 50);
    c.done()?;
    if !req.filters.is_empty() && !req.parameter_filters.is_empty() {
        return Err(validation(
            "You can use either Filters or ParameterFilters in a single request.",
        ));
    }
    param_filters::check_old(&req.filters)?;
    param_filters::check(&req.parameter_filters, Place::Describe)?;
    let items = if req.shared {
        Vec::new()
    } else {
        all(st)
            .await?
            .into_iter()
            .filter(|p| req.filters.iter().all(|f| param_filters::old_matches(p, f)))
            .filter(|p| {
                req.parameter_filters
                    .iter()
                    .all(|f| param_filters::matches(p, f))
            })
            .map(|p| (p.name.clone(), p))
            .collect()
    };
    let (records, next) = page(items, req.next_token.as_deref(), req.max_results, 50)?;
    let list: Vec<Value> = records
        .iter()
        .filter_map(|p| p.latest().map(|v| metadata(st, p, v)))
        .collect();
    let mut r = json!({"Parameters": list});
    if let Some(t) = next {
        r["NextToken"] = json!(t);
    }
    Ok(r)
}
