//! UpdateCluster, UpdateClusterSettings and PutClusterCapacityProviders, and the checks
//! CreateCluster shares with them: cluster settings (`containerInsights`), `configuration`
//! (execute command and managed storage: accepted, stored and shown — Gantry has neither
//! ECS Exec nor managed storage, so they change nothing on the nodes), the default Service
//! Connect namespace (stored and shown as given; Gantry has no Cloud Map), and capacity
//! providers with the cluster's default strategy.

use gantry_api::model::{
    CapacityProviderStrategyItem, ClusterConfiguration, ClusterSetting,
    PutClusterCapacityProvidersRequest, PutClusterCapacityProvidersResponse, UpdateClusterRequest,
    UpdateClusterResponse, UpdateClusterSettingsRequest, UpdateClusterSettingsResponse,
};
use gantry_store::Store;
use serde_json::{json, Value};

use super::account_settings;
use super::clusters::{self, cluster_name};
use crate::auth::Caller;
use crate::error::{invalid, Result};
use crate::persistence::db;
use crate::persistence::records::ClusterRecord;
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// What UpdateCluster and friends show of the cluster they changed.
const SHOWN: &[&str] = &["STATISTICS", "SETTINGS", "TAGS", "CONFIGURATIONS"];

/// The capacity providers ECS reserves for Fargate (issue 14 brings them to Gantry).
pub const FARGATE_PROVIDERS: &[&str] = &["FARGATE", "FARGATE_SPOT"];

/// Cluster settings ECS takes: `containerInsights` (the model's only `ClusterSettingName`)
/// with `enabled`, `disabled` or `enhanced`.
pub fn check_settings(settings: &[ClusterSetting]) -> Result<()> {
    for s in settings {
        let value = s.value.as_deref().unwrap_or("");
        if s.name.as_deref() != Some("containerInsights") {
            return Err(invalid("Invalid setting 'name'"));
        }
        if !["enabled", "disabled", "enhanced"].contains(&value) {
            return Err(invalid("Invalid setting 'value'"));
        }
    }
    Ok(())
}

/// `settings` over `current`, by name.
fn merge_settings(current: &mut Vec<ClusterSetting>, settings: &[ClusterSetting]) {
    for s in settings {
        match current.iter_mut().find(|c| c.name == s.name) {
            Some(c) => c.value = s.value.clone(),
            None => current.push(s.clone()),
        }
    }
}

/// An execute-command configuration as ECS takes it: `logConfiguration` with `OVERRIDE`
/// logging only, and required by it.
pub fn check_configuration(c: &ClusterConfiguration) -> Result<()> {
    let Some(e) = &c.execute_command_configuration else {
        return Ok(());
    };
    let logging = e.logging.as_deref().unwrap_or("DEFAULT");
    match (logging, e.log_configuration.is_some()) {
        ("OVERRIDE", false) => Err(invalid(
            "executeCommandConfiguration.logConfiguration is required when logging is OVERRIDE.",
        )),
        ("NONE" | "DEFAULT", true) => Err(invalid(format!(
            "executeCommandConfiguration.logConfiguration can only be given when logging is OVERRIDE, not {logging}."
        ))),
        _ => Ok(()),
    }
}

/// Does capacity provider `name` exist (and is it usable by a cluster)?
async fn provider_exists<S: Store>(st: &AppState<S>, name: &str) -> Result<bool> {
    super::capacity_providers::exists(st, name).await
}

/// Capacity providers and a default strategy as ECS takes them: every provider exists,
/// every strategy item names one of them, once, with `weight` 0–1000 and `base` 0–100000,
/// and at most one item has a base.
pub async fn check_capacity_providers<S: Store>(
    st: &AppState<S>,
    providers: &[String],
    strategy: &[CapacityProviderStrategyItem],
) -> Result<()> {
    for (i, p) in providers.iter().enumerate() {
        if providers[..i].contains(p) {
            return Err(invalid(format!(
                "The capacity provider {p} is listed more than once."
            )));
        }
        if FARGATE_PROVIDERS.contains(&p.as_str()) {
            return Err(invalid(format!(
                "The capacity provider {p} is not available: Gantry has no Fargate capacity yet."
            )));
        }
        if !provider_exists(st, p).await? {
            return Err(invalid(
                "The specified capacity provider does not exist. Specify a valid capacity provider and try again.",
            ));
        }
    }
    check_strategy(providers, strategy)
}

/// A capacity provider strategy over `providers` (a cluster's): every item names one of
/// them, once, with `weight` 0–1000 and `base` 0–100000, and at most one item has a base.
pub fn check_strategy(
    providers: &[String],
    strategy: &[CapacityProviderStrategyItem],
) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    let mut with_base = 0;
    for item in strategy {
        let name = item.capacity_provider.as_deref().unwrap_or("");
        if !providers.iter().any(|p| p == name) {
            return Err(invalid(
                "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.",
            ));
        }
        if seen.contains(&name) {
            return Err(invalid(format!(
                "The capacity provider strategy names {name} more than once."
            )));
        }
        seen.push(name);
        let weight = item.weight.unwrap_or(0);
        let base = item.base.unwrap_or(0);
        if !(0..=1000).contains(&weight) {
            return Err(invalid(format!(
                "The weight of capacity provider {name} is {weight}; it must be between 0 and 1000."
            )));
        }
        if !(0..=100_000).contains(&base) {
            return Err(invalid(format!(
                "The base of capacity provider {name} is {base}; it must be between 0 and 100000."
            )));
        }
        if base > 0 {
            with_base += 1;
        }
    }
    if with_base > 1 {
        return Err(invalid(
            "Only one capacity provider in a capacity provider strategy can have a base defined.",
        ));
    }
    Ok(())
}

/// The strategy as ECS shows it: `weight` and `base` filled in.
pub fn filled(strategy: &[CapacityProviderStrategyItem]) -> Vec<CapacityProviderStrategyItem> {
    strategy
        .iter()
        .map(|i| CapacityProviderStrategyItem {
            capacity_provider: i.capacity_provider.clone(),
            weight: Some(i.weight.unwrap_or(0)),
            base: Some(i.base.unwrap_or(0)),
        })
        .collect()
}

/// CreateCluster without a `containerInsights` setting gets the caller's effective
/// `containerInsights` account setting, as ECS gives it.
pub async fn default_insights<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    body: &mut Value,
) -> Result<()> {
    let named = body["settings"]
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s["name"] == "containerInsights"));
    if named {
        return Ok(());
    }
    let Some(value) = account_settings::effective_for(st, caller, "containerInsights").await?
    else {
        return Ok(());
    };
    let setting = json!({"name": "containerInsights", "value": value});
    match body["settings"].as_array_mut() {
        Some(a) => a.push(setting),
        None => {
            if let Some(o) = body.as_object_mut() {
                o.insert("settings".into(), json!([setting]));
            }
        }
    }
    Ok(())
}

/// Changes the ACTIVE cluster `name` with `f`, and renders it.
async fn change<S: Store>(
    st: &AppState<S>,
    name: &str,
    f: impl Fn(&mut ClusterRecord),
) -> Result<gantry_api::model::Cluster> {
    let f = &f;
    let record = retry(
        || format!("cluster {name}"),
        || async move {
            let c = clusters::active(st, name).await?;
            let mut record = c.value.clone();
            f(&mut record);
            if record == c.value {
                return Ok(Attempt::Done(record));
            }
            if db::commit(
                &st.store,
                vec![db::unchanged(&c.key, c.revision)],
                vec![db::put(&c.key, &record)?],
            )
            .await?
            {
                tracing::info!(cluster = name, "cluster updated");
                return Ok(Attempt::Done(record));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await?;
    let shown: Vec<String> = SHOWN.iter().map(|s| s.to_string()).collect();
    clusters::render(st, &record, &shown).await
}

pub async fn update_cluster<S: Store>(
    st: &AppState<S>,
    req: UpdateClusterRequest,
) -> Result<UpdateClusterResponse> {
    let name = cluster_name(req.cluster.as_deref()).to_string();
    let settings = req.settings.unwrap_or_default();
    check_settings(&settings)?;
    if let Some(c) = &req.configuration {
        check_configuration(c)?;
    }
    let namespace = req.service_connect_defaults.map(|d| d.namespace);
    let cluster = change(st, &name, |r| {
        merge_settings(&mut r.settings, &settings);
        if let Some(c) = &req.configuration {
            r.configuration = Some(c.clone());
        }
        // An empty namespace removes the default, as in ECS.
        if let Some(ns) = &namespace {
            r.service_connect_namespace = ns.clone().filter(|n| !n.is_empty());
        }
    })
    .await?;
    Ok(UpdateClusterResponse {
        cluster: Some(cluster),
    })
}

pub async fn update_cluster_settings<S: Store>(
    st: &AppState<S>,
    req: UpdateClusterSettingsRequest,
) -> Result<UpdateClusterSettingsResponse> {
    let name = cluster_name(req.cluster.as_deref()).to_string();
    let settings = req.settings.unwrap_or_default();
    check_settings(&settings)?;
    let cluster = change(st, &name, |r| merge_settings(&mut r.settings, &settings)).await?;
    Ok(UpdateClusterSettingsResponse {
        cluster: Some(cluster),
    })
}

pub async fn put_cluster_capacity_providers<S: Store>(
    st: &AppState<S>,
    req: PutClusterCapacityProvidersRequest,
) -> Result<PutClusterCapacityProvidersResponse> {
    let name = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &name).await?;
    let providers = req.capacity_providers.unwrap_or_default();
    let strategy = req.default_capacity_provider_strategy.unwrap_or_default();
    check_capacity_providers(st, &providers, &strategy).await?;
    let strategy = filled(&strategy);
    let cluster = change(st, &name, |r| {
        r.capacity_providers = providers.clone();
        r.default_capacity_provider_strategy = strategy.clone();
    })
    .await?;
    Ok(PutClusterCapacityProvidersResponse {
        cluster: Some(cluster),
    })
}
