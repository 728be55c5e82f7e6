//! `AddTagsToResource`, `ListTagsForResource`, `RemoveTagsFromResource` for the SSM
//! resource types Gantry keeps: `ManagedInstance` and `Parameter` (its `ResourceId` is the
//! parameter's name). Activations take their tags at creation only, as in SSM, whose tagging
//! API has no Activation type.

use std::collections::BTreeMap;

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{invalid_resource_id, invalid_resource_type, too_many_tags};
use super::input::{decode, Checks, Tag};
use super::param_records::{parameter_key, ParameterRecord};
use super::records::{managed_instance_key, ManagedInstanceRecord};
use crate::error::Result;
use crate::persistence::update::{self, Edit};
use crate::state::AppState;

/// `[{Key, Value}]`, sorted by key.
pub fn render(tags: &BTreeMap<String, String>) -> Value {
    tags.iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagRequest {
    resource_type: Option<String>,
    resource_id: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    tag_keys: Vec<String>,
}

enum Target {
    Instance(String),
    Parameter(String),
}

fn target(req: &TagRequest) -> Result<Target> {
    let mut c = Checks::default();
    c.required("ResourceType", req.resource_type.as_ref());
    c.required("ResourceId", req.resource_id.as_ref());
    c.done()?;
    let ty = req.resource_type.as_deref().unwrap_or_default();
    let id = req.resource_id.clone().unwrap_or_default();
    match ty {
        "ManagedInstance" => Ok(Target::Instance(id)),
        "Parameter" => Ok(Target::Parameter(id)),
        _ => Err(invalid_resource_type(format!(
            "Gantry keeps SSM tags only on ManagedInstance and Parameter resources, not {ty}."
        ))),
    }
}

/// Applies `f` to the tags of the target.
async fn edit<S: Store>(
    st: &AppState<S>,
    t: &Target,
    f: impl Fn(&mut BTreeMap<String, String>) -> Result<()>,
) -> Result<BTreeMap<String, String>> {
    let id = match t {
        Target::Instance(id) => id,
        Target::Parameter(name) => {
            return update::update(
                &st.store,
                &parameter_key(name),
                |cur: Option<ParameterRecord>| match cur {
                    Some(mut p) => {
                        f(&mut p.tags)?;
                        let tags = p.tags.clone();
                        Ok(Edit::put(p, tags))
                    }
                    None => Err(invalid_resource_id(name)),
                },
            )
            .await
        }
    };
    update::update(
        &st.store,
        &managed_instance_key(id),
        |cur: Option<ManagedInstanceRecord>| match cur {
            Some(mut m) if m.deregistered.is_none() => {
                f(&mut m.tags)?;
                let tags = m.tags.clone();
                Ok(Edit::put(m, tags))
            }
            _ => Err(invalid_resource_id(id)),
        },
    )
    .await
}

pub async fn add_tags_to_resource<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: TagRequest = decode(body)?;
    let target = target(&req)?;
    let mut c = Checks::default();
    c.tags("Tags", &req.tags);
    c.done()?;
    edit(st, &target, |tags| {
        for t in &req.tags {
            tags.insert(t.key.clone(), t.value.clone());
        }
        if tags.len() > 1000 {
            return Err(too_many_tags());
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn remove_tags_from_resource<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: TagRequest = decode(body)?;
    let target = target(&req)?;
    edit(st, &target, |tags| {
        for k in &req.tag_keys {
            tags.remove(k);
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn list_tags_for_resource<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: TagRequest = decode(body)?;
    let tags = match target(&req)? {
        Target::Instance(id) => {
            super::instances::registered(st, &id)
                .await
                .map_err(|_| invalid_resource_id(&id))?
                .tags
        }
        Target::Parameter(name) => {
            super::param_view::load(st, &name)
                .await?
                .ok_or_else(|| invalid_resource_id(&name))?
                .tags
        }
    };
    Ok(json!({"TagList": render(&tags)}))
}
