//! PutParameter (create, or a new version with `Overwrite`), DeleteParameter and
//! DeleteParameters.

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{decode, Checks, Tag};
use super::param_errors::{
    already_exists, invalid_allowed_pattern, invalid_key_id, max_versions, not_found,
    pattern_mismatch, validation,
};
use super::param_names::check_new;
use super::param_records::{
    parameter_key, ParameterRecord, StoredValue, VersionRecord, DEFAULT_KEY_ID, MAX_VERSIONS,
};
use super::param_seal;
use crate::auth::Caller;
use crate::error::Result;
use crate::persistence::update::{self, Edit};
use crate::state::AppState;

/// Standard parameters hold up to 4 KB, advanced ones 8 KB.
const STANDARD_MAX: usize = 4096;
const ADVANCED_MAX: usize = 8192;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRequest {
    name: Option<String>,
    description: Option<String>,
    value: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    key_id: Option<String>,
    #[serde(default)]
    overwrite: bool,
    allowed_pattern: Option<String>,
    tags: Option<Vec<Tag>>,
    tier: Option<String>,
    policies: Option<String>,
    data_type: Option<String>,
}

fn check(req: &PutRequest) -> Result<()> {
    let mut c = Checks::default();
    c.required("Name", req.name.as_ref());
    c.required("Value", req.value.as_ref());
    c.length("Description", req.description.as_deref(), 0, 1024);
    c.length("AllowedPattern", req.allowed_pattern.as_deref(), 0, 1024);
    c.length("DataType", req.data_type.as_deref(), 0, 128);
    c.length("KeyId", req.key_id.as_deref(), 1, 256);
    if let Some(t) = &req.tags {
        c.tags("Tags", t);
    }
    c.done()?;
    if let Some(k) = req.kind.as_deref() {
        if !["String", "StringList", "SecureString"].contains(&k) {
            return Err(validation(format!("1 validation error detected: Value '{k}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]")));
        }
    }
    if let Some(t) = req.tier.as_deref() {
        if !["Standard", "Advanced", "Intelligent-Tiering"].contains(&t) {
            return Err(validation(format!("1 validation error detected: Value '{t}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Standard, Advanced, Intelligent-Tiering]")));
        }
    }
    if req.policies.is_some() {
        return Err(validation(
            "Gantry does not implement parameter policies: leave the Policies member out.",
        ));
    }
    if let Some(d) = req.data_type.as_deref() {
        if d != "text" {
            return Err(validation(format!(
                "The following data type is not supported: {d} (Gantry supports text)"
            )));
        }
    }
    if req.overwrite && req.tags.is_some() {
        return Err(validation("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource."));
    }
    Ok(())
}

/// The tier a value of `len` bytes is stored in, given the asked one and the current one.
fn tier(asked: Option<&str>, current: Option<&str>, len: usize) -> Result<String> {
    let t = match (asked, current) {
        (Some("Advanced"), _) | (None, Some("Advanced")) => "Advanced",
        (Some("Standard"), Some("Advanced")) => return Err(validation("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.")),
        (Some("Intelligent-Tiering"), _) if len > STANDARD_MAX => "Advanced",
        (Some("Intelligent-Tiering"), Some(c)) => c,
        _ => "Standard",
    };
    let max = if t == "Advanced" {
        ADVANCED_MAX
    } else {
        STANDARD_MAX
    };
    if len > max {
        return Err(validation(if t == "Advanced" {
            "Advanced tier parameters support a maximum parameter value of 8192 characters."
                .to_string()
        } else {
            "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.".to_string()
        }));
    }
    Ok(t.to_string())
}

fn allowed(pattern: Option<&str>, value: &str) -> Result<()> {
    let Some(p) = pattern.filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    // The service matches the whole value (Java's `String.matches`).
    let re = regex::Regex::new(&format!("^(?:{p})$"))
        .map_err(|e| invalid_allowed_pattern(&e.to_string()))?;
    if re.is_match(value) {
        Ok(())
    } else {
        Err(pattern_mismatch(p))
    }
}

pub async fn put_parameter<S: Store>(
    st: &AppState<S>,
    caller: Option<&Caller>,
    body: Value,
) -> Result<Value> {
    let req: PutRequest = decode(body)?;
    check(&req)?;
    let name = check_new(req.name.as_deref().unwrap_or_default())?;
    let value = req.value.clone().unwrap_or_default();
    let key_id = req.key_id.as_deref();
    if let Some(k) = key_id {
        if k != DEFAULT_KEY_ID {
            return Err(invalid_key_id(k));
        }
    }
    let now = st.clock.now();
    let user = caller.map_or_else(String::new, |c| c.principal.arn.clone());
    let (version, tier) = update::update(
        &st.store,
        &parameter_key(&name),
        |cur: Option<ParameterRecord>| {
            let latest_owned = cur.as_ref().and_then(ParameterRecord::latest).cloned();
            let latest = latest_owned.as_ref();
            if latest.is_some() && !req.overwrite {
                return Err(already_exists());
            }
            let kind = match (req.kind.as_deref(), latest) {
                (Some(k), _) => k.to_string(),
                (None, Some(l)) => l.kind.clone(),
                (None, None) => {
                    return Err(validation(
                        "A parameter type is required when you create a parameter.",
                    ))
                }
            };
            if key_id.is_some() && kind != "SecureString" {
                return Err(validation(
                    "KeyId is accepted only for SecureString parameters.",
                ));
            }
            let pattern = req
                .allowed_pattern
                .clone()
                .or_else(|| latest.and_then(|l| l.allowed_pattern.clone()));
            allowed(pattern.as_deref(), &value)?;
            let tier = tier(
                req.tier.as_deref(),
                latest.map(|l| l.tier.as_str()),
                value.len(),
            )?;
            let version = latest.map_or(1, |l| l.version + 1);
            let stored = if kind == "SecureString" {
                StoredValue::Sealed(param_seal::seal(st, &name, version, &value)?)
            } else {
                StoredValue::Plain(value.clone())
            };
            let mut rec = cur.unwrap_or_else(|| ParameterRecord {
                name: name.clone(),
                versions: Vec::new(),
                tags: req
                    .tags
                    .iter()
                    .flatten()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect(),
            });
            if rec.versions.len() >= MAX_VERSIONS {
                // The oldest goes, unless a label holds it.
                if let Some(o) = rec.versions.first().filter(|o| !o.labels.is_empty()) {
                    return Err(max_versions(&name, o.version));
                }
                rec.versions.remove(0);
            }
            rec.versions.push(VersionRecord {
                version,
                kind,
                value: stored,
                description: req
                    .description
                    .clone()
                    .or_else(|| latest.and_then(|l| l.description.clone())),
                allowed_pattern: pattern,
                tier: tier.clone(),
                data_type: "text".to_string(),
                labels: Vec::new(),
                modified: now,
                modified_user: user.clone(),
            });
            Ok(Edit::put(rec, (version, tier)))
        },
    )
    .await?;
    Ok(json!({"Version": version, "Tier": tier}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteRequest {
    name: Option<String>,
    names: Option<Vec<String>>,
}

/// Removes `name`; false when there was none.
async fn remove<S: Store>(st: &AppState<S>, name: &str) -> Result<bool> {
    let key = parameter_key(name);
    let Some(cur) = st.store.get(&key).await? else {
        return Ok(false);
    };
    let del = gantry_store::Op::Delete { key: key.clone() };
    let cmp = gantry_store::Compare::Revision {
        key,
        revision: cur.revision,
    };
    Ok(st.store.txn(vec![cmp], vec![del]).await?.succeeded)
}

pub async fn delete_parameter<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: DeleteRequest = decode(body)?;
    let mut c = Checks::default();
    c.required("Name", req.name.as_ref());
    c.length("Name", req.name.as_deref(), 1, 2048);
    c.done()?;
    let name = req.name.unwrap_or_default();
    if !remove(st, &name).await? {
        return Err(not_found(&name));
    }
    Ok(json!({}))
}

pub async fn delete_parameters<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: DeleteRequest = decode(body)?;
    let names = names_member(req.names.as_ref())?;
    let (mut deleted, mut invalid) = (Vec::new(), Vec::new());
    for n in names {
        if remove(st, n).await? {
            deleted.push(n.clone());
        } else {
            invalid.push(n.clone());
        }
    }
    let mut out = json!({"DeletedParameters": deleted});
    if !invalid.is_empty() {
        out["InvalidParameters"] = json!(invalid);
    }
    Ok(out)
}

/// The `Names` member of GetParameters and DeleteParameters: 1 to 10 names.
pub fn names_member(names: Option<&Vec<String>>) -> Result<&Vec<String>> {
    let mut c = Checks::default();
    c.required("Names", names);
    if let Some(n) = names {
        c.range("Names", Some(n.len() as i64), 1, 10);
        for (i, s) in n.iter().enumerate() {
            c.length(&format!("Names.{}.member", i + 1), Some(s), 1, 2048);
        }
    }
    c.done()?;
    names.ok_or_else(|| validation("Names is required."))
}
