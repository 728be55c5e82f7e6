//! CreateSecret, PutSecretValue, UpdateSecret, GetSecretValue: the operations that write or
//! read a value.

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{exists, invalid_request, marked_for_deletion, not_found, stage_not_found};
use super::input::{check_name, decode, refuse, refuse_kms, value, Checks, Tag};
use super::records::{find_live, secret_key, SecretRecord, CURRENT};
use super::versions::{self, Added};
use crate::error::Result;
use crate::persistence::update::{self, Edit};
use crate::state::AppState;

fn suffix() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // 248 = 4 × 62: bytes above it are drawn again, so every character is equally likely.
    let mut out = String::new();
    while out.len() < 6 {
        let b = usize::from(rand::random::<u8>());
        if b < 4 * ALPHABET.len() {
            out.push(char::from(ALPHABET[b % ALPHABET.len()]));
        }
    }
    out
}

/// Tags as a list of pairs, later keys replacing earlier ones.
pub fn merge_tags(into: &mut Vec<(String, String)>, tags: &[Tag]) {
    for t in tags {
        let k = t.key.clone().unwrap_or_default();
        let v = t.value.clone().unwrap_or_default();
        match into.iter_mut().find(|(ek, _)| *ek == k) {
            Some(e) => e.1 = v,
            None => into.push((k, v)),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateSecret {
    name: Option<String>,
    client_request_token: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    secret_binary: Option<String>,
    secret_string: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    add_replica_regions: Vec<Value>,
    #[serde(default)]
    force_overwrite_replica_secret: bool,
    #[serde(rename = "Type")]
    kind: Option<String>,
}

pub async fn create_secret<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: CreateSecret = decode(body)?;
    let mut c = Checks::default();
    c.required("Name", req.name.as_ref());
    c.length("Name", req.name.as_deref(), 1, 512);
    c.token(req.client_request_token.as_ref());
    c.length("Description", req.description.as_deref(), 0, 2048);
    c.length("Type", req.kind.as_deref(), 0, 256);
    c.tags(&req.tags);
    c.done()?;
    let name = req.name.clone().unwrap_or_default();
    check_name(&name)?;
    refuse_kms(req.kms_key_id.as_ref())?;
    refuse(
        "AddReplicaRegions",
        !req.add_replica_regions.is_empty() || req.force_overwrite_replica_secret,
        "a Gantry cluster is one region; secrets are not replicated.",
    )?;
    let plain = value(req.secret_string.clone(), req.secret_binary.clone())?;
    let vid = plain
        .as_ref()
        .map(|_| versions::version_id(req.client_request_token.as_ref()));
    let now = st.clock.now();
    let arn = format!(
        "arn:aws:secretsmanager:{}:{}:secret:{name}-{}",
        st.config.region,
        st.config.account_id,
        suffix()
    );
    let ring = &st.secrets_ring;
    let rec = update::update(&st.store, &secret_key(&name), |cur: Option<SecretRecord>| {
        if let Some(cur) = cur.filter(|c| !c.purged(now)) {
            if cur.scheduled() {
                return Err(invalid_request(
                    "You can't create this secret because a secret with this name is already scheduled for deletion.",
                ));
            }
            return Err(exists(&name));
        }
        let mut rec = SecretRecord {
            name: name.clone(),
            arn: arn.clone(),
            description: req.description.clone(),
            kind: req.kind.clone(),
            created: now,
            last_changed: now,
            last_accessed: None,
            deleted: None,
            deletion_date: None,
            tags: Vec::new(),
            resource_policy: None,
            versions: Default::default(),
        };
        merge_tags(&mut rec.tags, &req.tags);
        if let (Some(p), Some(id)) = (&plain, &vid) {
            versions::add(ring, &mut rec, id, p, &[CURRENT.to_string()], now)?;
        }
        Ok(Edit::put(rec.clone(), rec))
    })
    .await?;
    let mut out = json!({"ARN": rec.arn, "Name": rec.name, "ReplicationStatus": []});
    if let Some(id) = vid {
        out["VersionId"] = json!(id);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutSecretValue {
    secret_id: Option<String>,
    client_request_token: Option<String>,
    secret_binary: Option<String>,
    secret_string: Option<String>,
    version_stages: Option<Vec<String>>,
    rotation_token: Option<String>,
}

/// Applies `f` to the live secret `id` names; returns what it returns.
pub async fn edit<S: Store, R>(
    st: &AppState<S>,
    id: &str,
    mut f: impl FnMut(&mut SecretRecord) -> Result<(bool, R)>,
) -> Result<(SecretRecord, R)> {
    let name = find_live(st, id).await?.name;
    let now = st.clock.now();
    update::update(
        &st.store,
        &secret_key(&name),
        |cur: Option<SecretRecord>| {
            let mut rec = cur.filter(|c| !c.purged(now)).ok_or_else(not_found)?;
            if rec.scheduled() {
                return Err(marked_for_deletion());
            }
            let (changed, r) = f(&mut rec)?;
            Ok(if changed {
                Edit::put(rec.clone(), (rec, r))
            } else {
                Edit::Keep((rec, r))
            })
        },
    )
    .await
}

pub async fn put_secret_value<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: PutSecretValue = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.token(req.client_request_token.as_ref());
    if let Some(stages) = &req.version_stages {
        if stages.is_empty() || stages.len() > 20 {
            c.length("VersionStages", Some(""), 1, 0);
        }
        for (i, s) in stages.iter().enumerate() {
            c.length(&format!("VersionStages.{}.member", i + 1), Some(s), 1, 256);
        }
    }
    c.done()?;
    refuse(
        "RotationToken",
        req.rotation_token.is_some(),
        "Gantry runs no rotation functions.",
    )?;
    let plain = value(req.secret_string.clone(), req.secret_binary.clone())?
        .ok_or_else(|| invalid_request("You must provide either SecretString or SecretBinary."))?;
    let vid = versions::version_id(req.client_request_token.as_ref());
    let stages = req
        .version_stages
        .clone()
        .unwrap_or_else(|| vec![CURRENT.to_string()]);
    let now = st.clock.now();
    let ring = &st.secrets_ring;
    let (rec, _) = edit(st, req.secret_id.as_deref().unwrap_or_default(), |rec| {
        let added = versions::add(ring, rec, &vid, &plain, &stages, now)?;
        Ok((added == Added::New, ()))
    })
    .await?;
    let staged = rec
        .versions
        .get(&vid)
        .map(|v| v.stages.clone())
        .unwrap_or_default();
    Ok(json!({"ARN": rec.arn, "Name": rec.name, "VersionId": vid, "VersionStages": staged}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateSecret {
    secret_id: Option<String>,
    client_request_token: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    secret_binary: Option<String>,
    secret_string: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
}

pub async fn update_secret<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: UpdateSecret = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.token(req.client_request_token.as_ref());
    c.length("Description", req.description.as_deref(), 0, 2048);
    c.length("Type", req.kind.as_deref(), 0, 256);
    c.done()?;
    refuse_kms(req.kms_key_id.as_ref())?;
    let plain = value(req.secret_string.clone(), req.secret_binary.clone())?;
    let vid = plain
        .as_ref()
        .map(|_| versions::version_id(req.client_request_token.as_ref()));
    let now = st.clock.now();
    let ring = &st.secrets_ring;
    let (rec, _) = edit(st, req.secret_id.as_deref().unwrap_or_default(), |rec| {
        let mut changed = false;
        if let Some(d) = &req.description {
            rec.description = Some(d.clone());
            changed = true;
        }
        if let Some(k) = &req.kind {
            rec.kind = Some(k.clone());
            changed = true;
        }
        if let (Some(p), Some(id)) = (&plain, &vid) {
            changed |= versions::add(ring, rec, id, p, &[CURRENT.to_string()], now)? == Added::New;
        }
        if changed {
            rec.last_changed = now;
        }
        Ok((changed, ()))
    })
    .await?;
    let mut out = json!({"ARN": rec.arn, "Name": rec.name});
    if let Some(id) = vid {
        out["VersionId"] = json!(id);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetSecretValue {
    secret_id: Option<String>,
    version_id: Option<String>,
    version_stage: Option<String>,
}

/// The version of `rec` that `version_id` and `version_stage` select (AWSCURRENT when neither).
pub fn select(rec: &SecretRecord, version_id: Option<&str>, stage: Option<&str>) -> Result<String> {
    match (version_id, stage) {
        (Some(id), stage) => {
            let v = rec
                .versions
                .get(id)
                .ok_or_else(|| super::error::version_not_found(id))?;
            if let Some(s) = stage {
                if !v.stages.iter().any(|x| x == s) {
                    return Err(invalid_request(
                        "You provided a VersionStage that is not associated to the provided VersionId.",
                    ));
                }
            }
            Ok(id.to_string())
        }
        (None, stage) => {
            let s = stage.unwrap_or(CURRENT);
            rec.staged(s)
                .map(|(id, _)| id.clone())
                .ok_or_else(|| stage_not_found(s))
        }
    }
}

pub async fn get_secret_value<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: GetSecretValue = decode(body)?;
    let mut c = Checks::default();
    c.secret_id(req.secret_id.as_ref());
    c.version_id("VersionId", req.version_id.as_ref());
    c.length("VersionStage", req.version_stage.as_deref(), 1, 256);
    c.done()?;
    let rec = find_live(st, req.secret_id.as_deref().unwrap_or_default()).await?;
    let id = select(
        &rec,
        req.version_id.as_deref(),
        req.version_stage.as_deref(),
    )?;
    let out = versions::value_entry(&st.secrets_ring, &rec, &id)?;
    touch(st, &rec, &id).await;
    Ok(out)
}

/// Records the day of this read (once a day per secret and version: a write per read would
/// make reads as costly as writes). Best effort: a failure loses a date, not the read.
pub async fn touch<S: Store>(st: &AppState<S>, rec: &SecretRecord, id: &str) {
    let day = (st.clock.now() / 86400.0).floor() * 86400.0;
    let fresh = rec.last_accessed == Some(day)
        && rec.versions.get(id).and_then(|v| v.last_accessed) == Some(day);
    if fresh {
        return;
    }
    let r = update::update(
        &st.store,
        &secret_key(&rec.name),
        |cur: Option<SecretRecord>| {
            let Some(mut cur) = cur else {
                return Ok(Edit::Keep(()));
            };
            cur.last_accessed = Some(day);
            if let Some(v) = cur.versions.get_mut(id) {
                v.last_accessed = Some(day);
            }
            Ok(Edit::put(cur, ()))
        },
    )
    .await;
    if let Err(e) = r {
        tracing::debug!(error = %e, "recording a secret's last access failed");
    }
}
