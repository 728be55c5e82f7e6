//! Adding a version to a secret: its value sealed under a fresh data key, its stages moved
//! onto it, and `ClientRequestToken` idempotency (the token is the version id: the same
//! token with the same value is the same answer, with another value `ResourceExistsException`).

use base64::Engine;
use serde_json::{json, Map, Value};

use super::envelope::{self, Plain};
use super::error::{envelope as envelope_error, version_exists};
use super::keyring::KeyRing;
use super::records::{SecretRecord, VersionRecord};
use crate::error::Result;

/// The version id of a request: its token, or a new UUID (the SDKs and the CLI always send one).
pub fn version_id(token: Option<&String>) -> String {
    token
        .cloned()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Whether [`add`] wrote anything.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    New,
    /// The token's version already holds this value: nothing changes.
    Same,
}

/// Adds version `id` holding `value` with `stages` to `rec` at `now`.
pub fn add(
    ring: &KeyRing,
    rec: &mut SecretRecord,
    id: &str,
    value: &Plain,
    stages: &[String],
    now: f64,
) -> Result<Added> {
    if let Some(existing) = rec.versions.get(id) {
        let old = envelope::open(ring, &rec.arn, id, &existing.value)
            .map_err(|e| envelope_error(&e, false))?;
        return if &old == value {
            Ok(Added::Same)
        } else {
            Err(version_exists())
        };
    }
    let sealed = envelope::seal(ring, &rec.arn, id, value).map_err(|e| envelope_error(&e, true))?;
    rec.versions.insert(
        id.to_string(),
        VersionRecord {
            stages: Vec::new(),
            created: now,
            last_accessed: None,
            value: sealed,
        },
    );
    for s in stages {
        rec.move_stage(s, id);
    }
    rec.last_changed = now;
    rec.trim();
    Ok(Added::New)
}

/// Puts the SecretString or SecretBinary (base64) member of `value` into `out`.
pub fn put_value(out: &mut Map<String, Value>, value: Plain) {
    match value {
        Plain::String(s) => {
            out.insert("SecretString".into(), Value::String(s));
        }
        Plain::Binary(b) => {
            out.insert(
                "SecretBinary".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(b)),
            );
        }
    }
}

/// The value entry of version `id` of `rec` (GetSecretValue's output and
/// BatchGetSecretValue's `SecretValueEntry`).
pub fn value_entry(ring: &KeyRing, rec: &SecretRecord, id: &str) -> Result<Value> {
    let Some(v) = rec.versions.get(id) else {
        return Err(super::error::version_not_found(id));
    };
    let plain =
        envelope::open(ring, &rec.arn, id, &v.value).map_err(|e| envelope_error(&e, false))?;
    let mut out = Map::new();
    out.insert("ARN".into(), json!(rec.arn));
    out.insert("Name".into(), json!(rec.name));
    out.insert("VersionId".into(), json!(id));
    put_value(&mut out, plain);
    out.insert("VersionStages".into(), json!(v.stages));
    out.insert("CreatedDate".into(), json!(v.created));
    Ok(Value::Object(out))
}
