//! CreateCapacityProvider, DescribeCapacityProviders, UpdateCapacityProvider and
//! DeleteCapacityProvider (docs/capacity-providers.md). Gantry's capacity providers are
//! EC2-style (`EC2_AUTOSCALING`): the `autoScalingGroupArn` names a group of container
//! instances — those with the attribute `gantry.capacity-provider` set to the provider's
//! name — that an operator's autoscaler grows and shrinks. Managed scaling and termination
//! protection are stored and shown with ECS's defaults filled in. `FARGATE` and
//! `FARGATE_SPOT` are ECS's reserved names (refused here, as any name starting with `aws`,
//! `ecs` or `fargate` is); Amazon ECS Managed Instances (`managedInstancesProvider`) is
//! AWS-managed capacity and is refused by name.

use std::sync::LazyLock;

use gantry_api::model::{
    AutoScalingGroupProvider, CapacityProvider, CreateCapacityProviderRequest,
    CreateCapacityProviderResponse, DeleteCapacityProviderRequest, DeleteCapacityProviderResponse,
    DescribeCapacityProvidersRequest, DescribeCapacityProvidersResponse, Failure, ManagedScaling,
    UpdateCapacityProviderRequest, UpdateCapacityProviderResponse,
};
use gantry_api::{ApiError, ErrorKind};
use gantry_store::Store;
use regex::Regex;

use super::tags;
use crate::error::{client, invalid, Error, Result};
use crate::persistence::capacity_provider_records::{
    capacity_provider_key, CapacityProviderRecord, CapacityProviderStatus, CAPACITY_PROVIDERS,
};
use crate::persistence::db;
use crate::persistence::records::{ClusterRecord, ClusterStatus, CLUSTERS};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// The container-instance attribute that puts an instance in a provider's group (set by
/// PutAttributes or the agent). Placement by `capacityProviderStrategy` reads it
/// ([`crate::launch::capacity`]).
pub const GROUP_ATTRIBUTE: &str = "gantry.capacity-provider";

static NAME: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new("^[a-zA-Z0-9_-]{1,255}$").ok());

/// The most DescribeCapacityProviders returns in a page, and its default.
const MAX_RESULTS: i32 = 10;

fn arn<S>(st: &AppState<S>, name: &str) -> String {
    format!(
        "arn:aws:ecs:{}:{}:capacity-provider/{name}",
        st.config.region, st.config.account_id
    )
}

/// Is `name` (a name or ARN) an ACTIVE capacity provider?
pub async fn exists<S: Store>(st: &AppState<S>, name: &str) -> Result<bool> {
    let name = gantry_api::arn::short_id(name);
    Ok(
        db::get::<S, CapacityProviderRecord>(&st.store, &capacity_provider_key(name))
            .await?
            .is_some_and(|c| c.value.status == CapacityProviderStatus::Active),
    )
}

fn check_name(name: &str) -> Result<()> {
    if !NAME.as_ref().is_some_and(|re| re.is_match(name)) {
        return Err(invalid(format!(
            "Capacity provider name {name:?} is invalid: use 1 to 255 letters, numbers, hyphens and underscores."
        )));
    }
    let lower = name.to_ascii_lowercase();
    if ["aws", "ecs", "fargate"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return Err(invalid(
            "The capacity provider name can't be prefixed with \"aws\", \"ecs\", or \"fargate\".",
        ));
    }
    Ok(())
}

/// `managedScaling` with ECS's defaults filled in, checked against ECS's ranges.
fn scaling(m: Option<&ManagedScaling>) -> Result<ManagedScaling> {
    let m = m.cloned().unwrap_or_default();
    let out = ManagedScaling {
        status: Some(m.status.unwrap_or_else(|| "DISABLED".to_string())),
        target_capacity: Some(m.target_capacity.unwrap_or(100)),
        minimum_scaling_step_size: Some(m.minimum_scaling_step_size.unwrap_or(1)),
        maximum_scaling_step_size: Some(m.maximum_scaling_step_size.unwrap_or(10_000)),
        instance_warmup_period: Some(m.instance_warmup_period.unwrap_or(300)),
    };
    let range = |what: &str, v: Option<i32>, lo: i32, hi: i32| -> Result<()> {
        let v = v.unwrap_or(lo);
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(invalid(format!(
                "managedScaling.{what} is {v}; it must be between {lo} and {hi}."
            )))
        }
    };
    range("targetCapacity", out.target_capacity, 1, 100)?;
    range(
        "minimumScalingStepSize",
        out.minimum_scaling_step_size,
        1,
        10_000,
    )?;
    range(
        "maximumScalingStepSize",
        out.maximum_scaling_step_size,
        1,
        10_000,
    )?;
    range(
        "instanceWarmupPeriod",
        out.instance_warmup_period,
        0,
        10_000,
    )?;
    if out.minimum_scaling_step_size > out.maximum_scaling_step_size {
        return Err(invalid(
            "managedScaling.minimumScalingStepSize cannot be greater than maximumScalingStepSize.",
        ));
    }
    Ok(out)
}

fn render<S>(
    st: &AppState<S>,
    r: &CapacityProviderRecord,
    tags: Option<Vec<gantry_api::model::Tag>>,
) -> CapacityProvider {
    CapacityProvider {
        capacity_provider_arn: Some(arn(st, &r.name)),
        name: Some(r.name.clone()),
        status: Some(
            match r.status {
                CapacityProviderStatus::Active => "ACTIVE",
                CapacityProviderStatus::Inactive => "INACTIVE",
            }
            .to_string(),
        ),
        auto_scaling_group_provider: Some(r.provider.clone()),
        update_status: r.update_status.clone(),
        tags,
        r#type: Some("EC2_AUTOSCALING".to_string()),
        ..Default::default()
    }
}

fn not_found() -> Error {
    Error::Api(ApiError::new(
        ErrorKind::Client,
        "The specified capacity provider does not exist. Specify a valid capacity provider and try again.",
    ))
}

pub async fn create_capacity_provider<S: Store>(
    st: &AppState<S>,
    req: CreateCapacityProviderRequest,
) -> Result<CreateCapacityProviderResponse> {
    if req.managed_instances_provider.is_some() || req.cluster.is_some() {
        return Err(Error::Api(ApiError::new(
            ErrorKind::UnsupportedFeature,
            "managedInstancesProvider (Amazon ECS Managed Instances) is not supported: Gantry runs on the instances you register; use autoScalingGroupProvider.",
        )));
    }
    let name = req.name.clone().unwrap_or_default();
    check_name(&name)?;
    let Some(asg) = req.auto_scaling_group_provider.clone() else {
        return Err(invalid(
            "autoScalingGroupProvider is required: it names the group of instances the capacity provider uses.",
        ));
    };
    let provider = AutoScalingGroupProvider {
        managed_scaling: Some(scaling(asg.managed_scaling.as_ref())?),
        managed_termination_protection: Some(
            asg.managed_termination_protection
                .clone()
                .unwrap_or_else(|| "DISABLED".to_string()),
        ),
        managed_draining: Some(
            asg.managed_draining
                .clone()
                .unwrap_or_else(|| "ENABLED".to_string()),
        ),
        auto_scaling_group_arn: asg.auto_scaling_group_arn.clone(),
    };
    let tag_map = tags::validated(req.tags.as_deref().unwrap_or_default())?;
    let key = capacity_provider_key(&name);
    let (key, name, tag_map, provider) = (&key, &name, &tag_map, &provider);
    let record = retry(
        || format!("capacity provider {name}"),
        || async move {
            let current = db::get::<S, CapacityProviderRecord>(&st.store, key).await?;
            if current.is_some() {
                return Err(client(
                    "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.",
                ));
            }
            let record = CapacityProviderRecord {
                name: name.clone(),
                status: CapacityProviderStatus::Active,
                provider: provider.clone(),
                update_status: None,
            };
            let ops = vec![
                db::put(key, &record)?,
                tags::put_op(&arn(st, name), tag_map.clone())?,
            ];
            if db::commit(&st.store, vec![db::unchanged(key, 0)], ops).await? {
                tracing::info!(capacity_provider = name.as_str(), "capacity provider created");
                return Ok(Attempt::Done(record));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await?;
    let t = tags::read(st, &arn(st, name)).await?;
    Ok(CreateCapacityProviderResponse {
        capacity_provider: Some(render(st, &record, Some(t))),
    })
}

pub async fn describe_capacity_providers<S: Store>(
    st: &AppState<S>,
    req: DescribeCapacityProvidersRequest,
) -> Result<DescribeCapacityProvidersResponse> {
    let size = match req.max_results {
        None => MAX_RESULTS,
        Some(n) if (1..=MAX_RESULTS).contains(&n) => n,
        Some(n) => {
            return Err(invalid(format!(
                "maxResults is {n}; it must be between 1 and {MAX_RESULTS}."
            )))
        }
    };
    let with_tags = req.include.unwrap_or_default().iter().any(|i| i == "TAGS");
    let mut found = Vec::new();
    let mut failures = Vec::new();
    match req.capacity_providers.filter(|c| !c.is_empty()) {
        Some(names) => {
            for n in &names {
                let short = gantry_api::arn::short_id(n);
                match db::get::<S, CapacityProviderRecord>(&st.store, &capacity_provider_key(short))
                    .await?
                {
                    Some(r) => found.push(r.value),
                    None => failures.push(Failure {
                        arn: Some(arn(st, short)),
                        reason: Some("MISSING".to_string()),
                        detail: None,
                    }),
                }
            }
        }
        None => {
            found = db::list::<S, CapacityProviderRecord>(&st.store, CAPACITY_PROVIDERS)
                .await?
                .into_iter()
                .map(|v| v.value)
                .filter(|r| r.status == CapacityProviderStatus::Active)
                .collect();
        }
    }
    let items = found.into_iter().map(|r| (r.name.clone(), r)).collect();
    let (page, next_token) =
        crate::aws::paging::page(items, req.next_token.as_deref(), Some(size), true)?;
    let mut out = Vec::with_capacity(page.len());
    for r in &page {
        let t = if with_tags {
            Some(tags::read(st, &arn(st, &r.name)).await?)
        } else {
            None
        };
        out.push(render(st, r, t));
    }
    Ok(DescribeCapacityProvidersResponse {
        capacity_providers: Some(out),
        failures: Some(failures),
        next_token,
    })
}

pub async fn update_capacity_provider<S: Store>(
    st: &AppState<S>,
    req: UpdateCapacityProviderRequest,
) -> Result<UpdateCapacityProviderResponse> {
    if req.managed_instances_provider.is_some() || req.cluster.is_some() {
        return Err(Error::Api(ApiError::new(
            ErrorKind::UnsupportedFeature,
            "managedInstancesProvider (Amazon ECS Managed Instances) is not supported: Gantry runs on the instances you register; use autoScalingGroupProvider.",
        )));
    }
    let name = gantry_api::arn::short_id(req.name.as_deref().unwrap_or("")).to_string();
    let update = req.auto_scaling_group_provider.unwrap_or_default();
    let scaling_update = match &update.managed_scaling {
        Some(m) => Some(scaling(Some(m))?),
        None => None,
    };
    let key = capacity_provider_key(&name);
    let record = crate::persistence::update::update(
        &st.store,
        &key,
        |cur: Option<CapacityProviderRecord>| {
            let Some(mut r) = cur.filter(|r| r.status == CapacityProviderStatus::Active) else {
                return Err(not_found());
            };
            if let Some(m) = &scaling_update {
                r.provider.managed_scaling = Some(m.clone());
            }
            if let Some(t) = &update.managed_termination_protection {
                r.provider.managed_termination_protection = Some(t.clone());
            }
            if let Some(d) = &update.managed_draining {
                r.provider.managed_draining = Some(d.clone());
            }
            r.update_status = Some("UPDATE_COMPLETE".to_string());
            Ok(crate::persistence::update::Edit::put(r.clone(), r))
        },
    )
    .await?;
    Ok(UpdateCapacityProviderResponse {
        capacity_provider: Some(render(st, &record, None)),
    })
}

pub async fn delete_capacity_provider<S: Store>(
    st: &AppState<S>,
    req: DeleteCapacityProviderRequest,
) -> Result<DeleteCapacityProviderResponse> {
    let name =
        gantry_api::arn::short_id(req.capacity_provider.as_deref().unwrap_or("")).to_string();
    let clusters = db::list::<S, ClusterRecord>(&st.store, CLUSTERS).await?;
    if clusters.iter().any(|c| {
        c.value.status == ClusterStatus::Active && c.value.capacity_providers.contains(&name)
    }) {
        return Err(client(
            "The specified capacity provider is in use and cannot be removed.",
        ));
    }
    let key = capacity_provider_key(&name);
    let record = crate::persistence::update::update(
        &st.store,
        &key,
        |cur: Option<CapacityProviderRecord>| {
            let Some(mut r) = cur.filter(|r| r.status == CapacityProviderStatus::Active) else {
                return Err(not_found());
            };
            r.status = CapacityProviderStatus::Inactive;
            r.update_status = Some("DELETE_COMPLETE".to_string());
            Ok(crate::persistence::update::Edit::put(r.clone(), r))
        },
    )
    .await?;
    tracing::info!(
        capacity_provider = name.as_str(),
        "capacity provider deleted"
    );
    Ok(DeleteCapacityProviderResponse {
        capacity_provider: Some(render(st, &record, None)),
    })
}
