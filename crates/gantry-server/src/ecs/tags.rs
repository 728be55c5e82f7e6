//! TagResource, UntagResource, ListTagsForResource, and the tag records other resources write
//! when they are created (`tags/<arn>`).

use std::collections::BTreeMap;

use gantry_api::model::{
    ListTagsForResourceRequest, ListTagsForResourceResponse, Tag, TagResourceRequest,
    TagResourceResponse, UntagResourceRequest, UntagResourceResponse,
};
use gantry_api::{arn, ApiError, ErrorKind};
use gantry_store::{Op, Store};

use crate::error::{invalid, Error, Result};
use crate::persistence::db;
use crate::persistence::records::{
    cluster_key, instance_key, tags_key, task_key, taskdef_key, ClusterRecord, ClusterStatus,
    TagsRecord,
};
use crate::persistence::update::{update, Edit};
use crate::state::AppState;

const MAX_TAGS: usize = 50;

fn tag_chars_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || "+-=._:/@".contains(c))
}

/// Checks tags the way ECS does and returns them by key.
pub fn validated(tags: &[Tag]) -> Result<BTreeMap<String, String>> {
    if tags.len() > MAX_TAGS {
        return Err(invalid(format!(
            "A resource can have at most {MAX_TAGS} tags; the request has {}.",
            tags.len()
        )));
    }
    let mut out = BTreeMap::new();
    for t in tags {
        let key = t.key.clone().unwrap_or_default();
        let value = t.value.clone().unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 || !tag_chars_ok(&key) {
            return Err(invalid(format!(
                "Tag key {key:?} is invalid: use 1 to 128 letters, digits, spaces and + - = . _ : / @."
            )));
        }
        if value.chars().count() > 256 || !tag_chars_ok(&value) {
            return Err(invalid(format!(
                "The value of tag {key:?} is invalid: use up to 256 letters, digits, spaces and + - = . _ : / @."
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(format!(
                "Tag key {key:?} uses the reserved prefix aws:; choose another key."
            )));
        }
        out.insert(key, value);
    }
    Ok(out)
}

pub fn render(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// The write that gives a newly created resource exactly these tags.
pub fn put_op(resource_arn: &str, tags: BTreeMap<String, String>) -> Result<Op> {
    db::put(&tags_key(resource_arn), &TagsRecord { tags })
}

/// The tags of a resource.
pub async fn read<S: Store>(st: &AppState<S>, resource_arn: &str) -> Result<Vec<Tag>> {
    let rec = db::get::<S, TagsRecord>(&st.store, &tags_key(resource_arn)).await?;
    Ok(rec.map(|r| render(&r.value.tags)).unwrap_or_default())
}

fn not_found() -> Error {
    Error::Api(ApiError::new(
        ErrorKind::ResourceNotFound,
        "The specified resource wasn't found. Check the resource ARN.",
    ))
}

/// Checks that the ARN names an existing cluster, task definition, task or container
/// instance, and returns the ARN in its canonical form.
async fn existing<S: Store>(st: &AppState<S>, resource_arn: &str) -> Result<String> {
    let parsed = arn::parse(resource_arn).ok_or_else(|| {
        invalid(format!(
            "resourceArn {resource_arn:?} is not an ECS ARN (arn:aws:ecs:<region>:<account>:<type>/<id>)."
        ))
    })?;
    let parts: Vec<&str> = parsed.resource.split('/').collect();
    let (key, canonical) = match (parsed.resource_type, parts.as_slice()) {
        ("cluster", [name]) => {
            let c = db::get::<S, ClusterRecord>(&st.store, &cluster_key(name)).await?;
            if !c.is_some_and(|c| c.value.status == ClusterStatus::Active) {
                return Err(Error::Api(ApiError::cluster_not_found()));
            }
            return Ok(st.arns.cluster(name));
        }
        ("task-definition", [fr]) => {
            let (family, rev) = fr.rsplit_once(':').ok_or_else(not_found)?;
            let rev: i32 = rev.parse().map_err(|_| not_found())?;
            (taskdef_key(family, rev), st.arns.task_definition(family, i64::from(rev)))
        }
        ("task", [cluster, id]) => (task_key(cluster, id), st.arns.task(cluster, id)),
        ("container-instance", [cluster, id]) => (
            instance_key(cluster, id),
            st.arns.container_instance(cluster, id),
        ),
        ("service", [cluster, name]) => (
            crate::persistence::service_records::service_key(cluster, name),
            st.arns.service(cluster, name),
        ),
        _ => {
            return Err(invalid(format!(
                "resourceArn {resource_arn:?} does not name a cluster, task definition, task, container instance or service."
            )))
        }
    };
    match st.store.get(&key).await? {
        Some(_) => Ok(canonical),
        None => Err(not_found()),
    }
}

async fn change_tags<S: Store>(
    st: &AppState<S>,
    resource_arn: &str,
    change: impl Fn(&mut BTreeMap<String, String>) -> Result<()>,
) -> Result<()> {
    let canonical = existing(st, resource_arn).await?;
    update(
        &st.store,
        &tags_key(&canonical),
        |current: Option<TagsRecord>| {
            let mut tags = current.map(|c| c.tags).unwrap_or_default();
            change(&mut tags)?;
            if tags.len() > MAX_TAGS {
                return Err(invalid(format!(
                "A resource can have at most {MAX_TAGS} tags; remove some with UntagResource first."
            )));
            }
            Ok(Edit::put(TagsRecord { tags }, ()))
        },
    )
    .await
}

pub async fn tag_resource<S: Store>(
    st: &AppState<S>,
    req: TagResourceRequest,
) -> Result<TagResourceResponse> {
    let resource_arn = req.resource_arn.unwrap_or_default();
    let new = validated(req.tags.as_deref().unwrap_or_default())?;
    change_tags(st, &resource_arn, |tags| {
        tags.extend(new.clone());
        Ok(())
    })
    .await?;
    Ok(TagResourceResponse {})
}

pub async fn untag_resource<S: Store>(
    st: &AppState<S>,
    req: UntagResourceRequest,
) -> Result<UntagResourceResponse> {
    let resource_arn = req.resource_arn.unwrap_or_default();
    let keys = req.tag_keys.unwrap_or_default();
    change_tags(st, &resource_arn, |tags| {
        for k in &keys {
            tags.remove(k);
        }
        Ok(())
    })
    .await?;
    Ok(UntagResourceResponse {})
}

pub async fn list_tags_for_resource<S: Store>(
    st: &AppState<S>,
    req: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse> {
    let canonical = existing(st, req.resource_arn.as_deref().unwrap_or_default()).await?;
    Ok(ListTagsForResourceResponse {
        tags: Some(read(st, &canonical).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: Some(k.into()),
            value: Some(v.into()),
        }
    }

    #[test]
    fn checks_keys_and_values() {
        assert!(validated(&[tag("team", "web")]).is_ok());
        assert!(validated(&[tag("aws:owner", "x")]).is_err());
        assert!(validated(&[tag("", "x")]).is_err());
        assert!(validated(&[tag("a", "semi;colon")]).is_err());
        let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert!(validated(&many).is_err());
    }
}
