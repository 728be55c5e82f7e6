//! PutAttributes, ListAttributes, DeleteAttributes. Only container instances carry attributes;
//! custom ones live in the instance record, so placement sees them in the same snapshot.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use gantry_api::model::{
    Attribute, DeleteAttributesRequest, DeleteAttributesResponse, ListAttributesRequest,
    ListAttributesResponse, PutAttributesRequest, PutAttributesResponse,
};
use gantry_api::{arn, ApiError, ErrorKind};
use gantry_store::Store;
use regex::Regex;

use crate::aws::paging;
use crate::ecs::clusters::{self, cluster_name};
use crate::error::{invalid, Error, Result};
use crate::persistence::db::{self, Versioned};
use crate::persistence::records::{instance_key, instances_of, InstanceRecord, InstanceStatus};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

const TARGET_TYPE: &str = "container-instance";
/// Custom attributes one instance may carry.
const MAX_CUSTOM: usize = 10;

static NAME: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_./\\-]{1,128}$").ok());
static VALUE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_.@/\\: -]{1,128}$").ok());

fn check(a: &Attribute) -> Result<()> {
    let name = a.name.as_deref().unwrap_or_default();
    if !NAME.as_ref().is_some_and(|re| re.is_match(name)) {
        return Err(invalid(format!(
            "Attribute name {name:?} is invalid: use 1 to 128 letters, numbers, hyphens, underscores, slashes, backslashes or periods."
        )));
    }
    if let Some(v) = &a.value {
        if !VALUE.as_ref().is_some_and(|re| re.is_match(v))
            || v.starts_with(' ')
            || v.ends_with(' ')
        {
            return Err(invalid(format!(
                "The value of attribute {name} is invalid: use 1 to 128 letters, numbers, hyphens, underscores, periods, @, slashes, backslashes, colons or inner spaces."
            )));
        }
    }
    match a.target_type.as_deref() {
        None | Some(TARGET_TYPE) => Ok(()),
        Some(t) => Err(invalid(format!(
            "targetType {t} is not supported; attributes apply to container-instance targets."
        ))),
    }
}

fn target_missing(target: &str) -> Error {
    Error::Api(ApiError::new(
        ErrorKind::TargetNotFound,
        format!("Could not find the target {target}; give the id or ARN of a container instance in this cluster."),
    ))
}

/// Applies `change` to every targeted instance in one transaction, so the request either
/// changes every target or none.
async fn apply<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    attributes: &[Attribute],
    change: impl Fn(&mut InstanceRecord, &Attribute),
) -> Result<()> {
    if attributes.is_empty() || attributes.len() > MAX_CUSTOM {
        return Err(invalid(format!(
            "attributes must hold between 1 and {MAX_CUSTOM} attributes."
        )));
    }
    for a in attributes {
        check(a)?;
    }
    let change = &change;
    retry(
        || "the targeted container instances".to_string(),
        || async move {
            let mut targets: BTreeMap<String, Versioned<InstanceRecord>> = BTreeMap::new();
            for a in attributes {
                let target = a.target_id.as_deref().ok_or_else(|| {
                    invalid(format!(
                        "Attribute {} has no targetId; give the container instance it applies to.",
                        a.name.as_deref().unwrap_or_default()
                    ))
                })?;
                let id = arn::short_id(target).to_string();
                if !targets.contains_key(&id) {
                    let i = db::get::<S, InstanceRecord>(&st.store, &instance_key(cluster, &id))
                        .await?
                        .filter(|i| i.value.status != InstanceStatus::Inactive)
                        .ok_or_else(|| target_missing(target))?;
                    targets.insert(id.clone(), i);
                }
                if let Some(i) = targets.get_mut(&id) {
                    change(&mut i.value, a);
                }
            }
            let mut compares = Vec::new();
            let mut ops = Vec::new();
            for i in targets.values() {
                if i.value.custom_attributes.len() > MAX_CUSTOM {
                    return Err(Error::Api(ApiError::new(
                        ErrorKind::AttributeLimitExceeded,
                        format!(
                            "Container instance {} would have more than {MAX_CUSTOM} custom attributes; delete some with DeleteAttributes first.",
                            i.value.id
                        ),
                    )));
                }
                compares.push(db::unchanged(&i.key, i.revision));
                ops.push(db::put(&i.key, &i.value)?);
            }
            if db::commit(&st.store, compares, ops).await? {
                return Ok(Attempt::Done(()));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await
}

pub async fn put_attributes<S: Store>(
    st: &AppState<S>,
    req: PutAttributesRequest,
) -> Result<PutAttributesResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let attributes = req.attributes.unwrap_or_default();
    apply(st, &cluster, &attributes, |i, a| {
        i.custom_attributes
            .insert(a.name.clone().unwrap_or_default(), a.value.clone());
    })
    .await?;
    Ok(PutAttributesResponse {
        attributes: Some(attributes),
    })
}

pub async fn delete_attributes<S: Store>(
    st: &AppState<S>,
    req: DeleteAttributesRequest,
) -> Result<DeleteAttributesResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let attributes = req.attributes.unwrap_or_default();
    apply(st, &cluster, &attributes, |i, a| {
        i.custom_attributes
            .remove(a.name.as_deref().unwrap_or_default());
    })
    .await?;
    Ok(DeleteAttributesResponse {
        attributes: Some(attributes),
    })
}

pub async fn list_attributes<S: Store>(
    st: &AppState<S>,
    req: ListAttributesRequest,
) -> Result<ListAttributesResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    if req.target_type.as_deref() != Some(TARGET_TYPE) {
        return Err(invalid("targetType must be container-instance."));
    }
    if req.attribute_value.is_some() && req.attribute_name.is_none() {
        return Err(invalid(
            "attributeValue can only be given together with attributeName.",
        ));
    }
    let mut items = Vec::new();
    for i in db::list::<S, InstanceRecord>(&st.store, &instances_of(&cluster)).await? {
        if i.value.status == InstanceStatus::Inactive {
            continue;
        }
        let target = st.arns.container_instance(&cluster, &i.value.id);
        for (name, value) in i.value.attributes() {
            if req.attribute_name.as_ref().is_some_and(|n| *n != name)
                || req
                    .attribute_value
                    .as_ref()
                    .is_some_and(|v| Some(v) != value.as_ref())
            {
                continue;
            }
            items.push((
                format!("{}/{name}", i.value.id),
                Attribute {
                    name: Some(name),
                    value,
                    target_type: Some(TARGET_TYPE.to_string()),
                    target_id: Some(target.clone()),
                },
            ));
        }
    }
    let (attributes, next_token) =
        paging::page(items, req.next_token.as_deref(), req.max_results, true)?;
    Ok(ListAttributesResponse {
        attributes: Some(attributes),
        next_token,
    })
}
