//! What Secrets Manager keeps in the store, under its own prefix `secretsmanager/`: one
//! record per secret, by name, holding its versions. A version's value is only ever stored
//! sealed ([`super::envelope::Sealed`]).

use std::collections::BTreeMap;

use gantry_api::Timestamp;
use gantry_store::Store;
use serde::{Deserialize, Serialize};

use super::envelope::Sealed;
use super::error::{marked_for_deletion, not_found};
use crate::error::Result;
use crate::persistence::db;
use crate::state::AppState;

/// Secrets, by name.
pub const SECRETS: &str = "secretsmanager/secrets/";

pub const CURRENT: &str = "AWSCURRENT";
pub const PREVIOUS: &str = "AWSPREVIOUS";
/// Versions kept besides the staged ones; older unstaged versions are dropped (the service
/// keeps about 100).
pub const MAX_VERSIONS: usize = 100;

pub fn secret_key(name: &str) -> String {
    format!("{SECRETS}{name}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRecord {
    pub name: String,
    /// `arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random characters>`.
    pub arn: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The `Type` member, kept and returned.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub created: Timestamp,
    pub last_changed: Timestamp,
    /// The day (midnight UTC) of the last GetSecretValue, as the service reports it.
    #[serde(default)]
    pub last_accessed: Option<Timestamp>,
    /// When DeleteSecret was called, while the deletion is scheduled.
    #[serde(default)]
    pub deleted: Option<Timestamp>,
    /// When the secret goes for good.
    #[serde(default)]
    pub deletion_date: Option<Timestamp>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub resource_policy: Option<String>,
    #[serde(default)]
    pub versions: BTreeMap<String, VersionRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionRecord {
    pub stages: Vec<String>,
    pub created: Timestamp,
    #[serde(default)]
    pub last_accessed: Option<Timestamp>,
    pub value: Sealed,
}

impl SecretRecord {
    /// Scheduled for deletion (and not yet gone).
    pub fn scheduled(&self) -> bool {
        self.deleted.is_some()
    }

    /// Past its deletion date: as good as gone.
    pub fn purged(&self, now: Timestamp) -> bool {
        self.deletion_date.is_some_and(|d| now >= d)
    }

    /// The version carrying `stage`.
    pub fn staged(&self, stage: &str) -> Option<(&String, &VersionRecord)> {
        self.versions
            .iter()
            .find(|(_, v)| v.stages.iter().any(|s| s == stage))
    }

    /// Version ids to their stages, for the versions that carry any.
    pub fn version_stages(&self) -> BTreeMap<String, Vec<String>> {
        self.versions
            .iter()
            .filter(|(_, v)| !v.stages.is_empty())
            .map(|(id, v)| (id.clone(), v.stages.clone()))
            .collect()
    }

    /// Takes `stage` off every version but `to`, and puts it on `to`. Moving AWSCURRENT
    /// gives the version that had it AWSPREVIOUS (taken off the one that had that).
    pub fn move_stage(&mut self, stage: &str, to: &str) {
        let from = self
            .staged(stage)
            .map(|(id, _)| id.clone())
            .filter(|id| id != to);
        for v in self.versions.values_mut() {
            v.stages.retain(|s| s != stage);
        }
        if let Some(v) = self.versions.get_mut(to) {
            if !v.stages.iter().any(|s| s == stage) {
                v.stages.push(stage.to_string());
            }
        }
        if stage == CURRENT {
            if let Some(from) = from {
                self.move_stage(PREVIOUS, &from);
            }
        }
    }

    /// Drops the oldest unstaged versions beyond [`MAX_VERSIONS`].
    pub fn trim(&mut self) {
        while self.versions.len() > MAX_VERSIONS {
            let oldest = self
                .versions
                .iter()
                .filter(|(_, v)| v.stages.is_empty())
                .min_by(|a, b| a.1.created.total_cmp(&b.1.created))
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => {
                    self.versions.remove(&id);
                }
                None => break,
            }
        }
    }
}

/// Every secret not past its deletion date.
pub async fn all<S: Store>(st: &AppState<S>) -> Result<Vec<SecretRecord>> {
    let now = st.clock.now();
    Ok(db::list::<S, SecretRecord>(&st.store, SECRETS)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|s| !s.purged(now))
        .collect())
}

/// The name `SecretId` (a name, a full ARN or a partial ARN: one without the random suffix)
/// refers to, from what is stored. `None`: no such secret.
pub async fn resolve<S: Store>(st: &AppState<S>, id: &str) -> Result<Option<SecretRecord>> {
    let now = st.clock.now();
    let get = |name: String| async move {
        let rec: Option<SecretRecord> = db::get::<S, SecretRecord>(&st.store, &secret_key(&name))
            .await?
            .map(|c| c.value);
        Ok::<_, crate::error::Error>(rec.filter(|r| !r.purged(now)))
    };
    let Some(rest) = id.strip_prefix("arn:") else {
        return get(id.to_string()).await;
    };
    let prefix = format!(
        "aws:secretsmanager:{}:{}:secret:",
        st.config.region, st.config.account_id
    );
    let Some(name) = rest.strip_prefix(&prefix) else {
        return Ok(None);
    };
    // A full ARN: the name, a hyphen and the six characters of this secret's own ARN.
    if name.len() > 7 && name.is_char_boundary(name.len() - 7) {
        let (base, suffix) = name.split_at(name.len() - 7);
        if suffix.starts_with('-') {
            if let Some(r) = get(base.to_string()).await? {
                if r.arn == id {
                    return Ok(Some(r));
                }
            }
        }
    }
    // A partial ARN names the secret without its suffix.
    get(name.to_string()).await
}

/// The secret `id` names, or ResourceNotFoundException.
pub async fn find<S: Store>(st: &AppState<S>, id: &str) -> Result<SecretRecord> {
    resolve(st, id).await?.ok_or_else(not_found)
}

/// The secret `id` names, refused with InvalidRequestException while its deletion is
/// scheduled.
pub async fn find_live<S: Store>(st: &AppState<S>, id: &str) -> Result<SecretRecord> {
    let r = find(st, id).await?;
    if r.scheduled() {
        return Err(marked_for_deletion());
    }
    Ok(r)
}
