//! DeleteSecret, RestoreSecret, UpdateSecretVersionStage, TagResource and UntagResource.

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{invalid_parameter, invalid_request, not_found, version_not_found};
use super::input::{decode, Checks, Tag};
use super::records::{find, secret_key, SecretRecord, CURRENT};
use super::values::{edit, merge_tags};
use crate::error::Result;
use crate::persistence::update::{self, Edit};
use crate::state::AppState;

const DAY: f64 = 86400.0;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteSecret {
    secret_id: Option<String>,
    recovery_window_in_days: Option<i64>,
    #[serde(default)]
    force_delete_without_recovery: bool,
}

pub async fn delete_secret<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: DeleteSecret = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.done()?;
    if req.force_delete_without_recovery && req.recovery_window_in_days.is_some() {
        return Err(invalid_parameter(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    let days = req.recovery_window_in_days.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(invalid_parameter(
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
        ));
    }
    let rec = find(st, req.secret_id.as_deref().unwrap_or_default()).await?;
    let now = st.clock.now();
    let key = secret_key(&rec.name);
    if req.force_delete_without_recovery {
        // Gone at once, values and all: nothing is kept to restore.
        st.store
            .txn(Vec::new(), vec![gantry_store::Op::Delete { key }])
            .await?;
        return Ok(json!({"ARN": rec.arn, "Name": rec.name, "DeletionDate": now}));
    }
    #[allow(clippy::cast_precision_loss)]
    let window = days as f64 * DAY;
    let rec = update::update(&st.store, &key, |cur: Option<SecretRecord>| {
        let mut r = cur.filter(|c| !c.purged(now)).ok_or_else(not_found)?;
        if r.scheduled() {
            return Err(invalid_request(
                "You can't perform this operation on the secret because it was already scheduled for deletion.",
            ));
        }
        r.deleted = Some(now);
        r.deletion_date = Some(now + window);
        Ok(Edit::put(r.clone(), r))
    })
    .await?;
    Ok(json!({"ARN": rec.arn, "Name": rec.name, "DeletionDate": rec.deletion_date}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretIdOnly {
    secret_id: Option<String>,
}

pub async fn restore_secret<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: SecretIdOnly = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.done()?;
    let rec = find(st, req.secret_id.as_deref().unwrap_or_default()).await?;
    let now = st.clock.now();
    let rec = update::update(
        &st.store,
        &secret_key(&rec.name),
        |cur: Option<SecretRecord>| {
            let mut r = cur.filter(|c| !c.purged(now)).ok_or_else(not_found)?;
            if !r.scheduled() {
                return Ok(Edit::Keep(r));
            }
            r.deleted = None;
            r.deletion_date = None;
            Ok(Edit::put(r.clone(), r))
        },
    )
    .await?;
    Ok(json!({"ARN": rec.arn, "Name": rec.name}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateStage {
    secret_id: Option<String>,
    version_stage: Option<String>,
    remove_from_version_id: Option<String>,
    move_to_version_id: Option<String>,
}

pub async fn update_secret_version_stage<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: UpdateStage = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.required("VersionStage", req.version_stage.as_ref());
    c.length("VersionStage", req.version_stage.as_deref(), 1, 256);
    c.version_id("RemoveFromVersionId", req.remove_from_version_id.as_ref());
    c.version_id("MoveToVersionId", req.move_to_version_id.as_ref());
    c.done()?;
    let stage = req.version_stage.clone().unwrap_or_default();
    let now = st.clock.now();
    let (rec, ()) = edit(st, req.secret_id.as_deref().unwrap_or_default(), |rec| {
        let holder = rec.staged(&stage).map(|(id, _)| id.clone());
        if let Some(to) = &req.move_to_version_id {
            if !rec.versions.contains_key(to) {
                return Err(version_not_found(to));
            }
        }
        if let Some(from) = &req.remove_from_version_id {
            if !rec.versions.contains_key(from) {
                return Err(version_not_found(from));
            }
            if holder.as_deref() != Some(from) {
                return Err(invalid_parameter(format!(
                    "The staging label {stage} is currently not attached to version {from}, so it can't be removed from it."
                )));
            }
        }
        match (&req.move_to_version_id, &holder, &req.remove_from_version_id) {
            (Some(to), Some(h), None) if h != to => {
                return Err(invalid_parameter(format!(
                    "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {h}, so you must explicitly reference that version in RemoveFromVersionId."
                )));
            }
            (Some(to), _, _) => {
                if stage != CURRENT && rec.versions[to].stages.len() >= 20 {
                    return Err(super::error::limit(
                        "A version can have at most 20 staging labels.",
                    ));
                }
                rec.move_stage(&stage, to);
            }
            (None, _, Some(from)) => {
                if stage == CURRENT {
                    return Err(invalid_parameter(
                        "You can't remove the staging label AWSCURRENT from a version without moving it to another version with MoveToVersionId.",
                    ));
                }
                if let Some(v) = rec.versions.get_mut(from) {
                    v.stages.retain(|s| s != &stage);
                }
            }
            (None, _, None) => {
                return Err(invalid_parameter(
                    "You must specify MoveToVersionId, RemoveFromVersionId, or both.",
                ));
            }
        }
        rec.last_changed = now;
        Ok((true, ()))
    })
    .await?;
    Ok(json!({"ARN": rec.arn, "Name": rec.name}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagRequest {
    secret_id: Option<String>,
    tags: Option<Vec<Tag>>,
    tag_keys: Option<Vec<String>>,
}

pub async fn tag_resource<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: TagRequest = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.required("Tags", req.tags.as_ref());
    c.tags(req.tags.as_deref().unwrap_or_default());
    c.done()?;
    let tags = req.tags.clone().unwrap_or_default();
    edit(st, req.secret_id.as_deref().unwrap_or_default(), |rec| {
        merge_tags(&mut rec.tags, &tags);
        if rec.tags.len() > 50 {
            return Err(super::error::limit(
                "The request failed because it would exceed the maximum number of tags (50) for a secret.",
            ));
        }
        Ok((true, ()))
    })
    .await?;
    Ok(json!({}))
}

pub async fn untag_resource<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: TagRequest = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.required("TagKeys", req.tag_keys.as_ref());
    c.done()?;
    let keys = req.tag_keys.clone().unwrap_or_default();
    edit(st, req.secret_id.as_deref().unwrap_or_default(), |rec| {
        rec.tags.retain(|(k, _)| !keys.contains(k));
        Ok((true, ()))
    })
    .await?;
    Ok(json!({}))
}
