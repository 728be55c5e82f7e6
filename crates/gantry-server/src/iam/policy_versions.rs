//! Managed policy versions: Create/Get/List/DeletePolicyVersion and
//! SetDefaultPolicyVersion. IAM keeps at most five and never reuses a version number.

use gantry_store::Store;

use super::error::{IamError, IamResult};
use super::managed_policies::{arn_of, find, load, not_attachable, parse_arn, Named, MAX_VERSIONS};
use super::store;
use super::values::{self, iso, url_encode};
use crate::auth::Caller;
use crate::aws::query::QueryRequest;
use crate::aws::xml::Xml;
use crate::persistence::iam_records::{self as rec, PolicyRecord, PolicyVersionRecord};
use crate::persistence::update::Edit;
use crate::state::AppState;

fn write_version(x: &mut Xml, p: &PolicyRecord, v: &PolicyVersionRecord, document: bool) {
    if document {
        x.leaf("Document", &url_encode(&v.document));
    }
    x.leaf("VersionId", &v.id)
        .leaf(
            "IsDefaultVersion",
            if v.id == p.default_version {
                "true"
            } else {
                "false"
            },
        )
        .leaf("CreateDate", &iso(v.created));
}

async fn edit_local<S: Store, R>(
    st: &AppState<S>,
    arn: &str,
    mut f: impl FnMut(&mut PolicyRecord) -> IamResult<R>,
) -> IamResult<R> {
    let name = match parse_arn(st, arn)? {
        Named::Aws(_) => {
            return Err(IamError::unmodifiable(format!(
                "Cannot perform the operation on the protected policy {arn}."
            )))
        }
        Named::Local(n) => n,
    };
    let account = st.config.account_id.clone();
    store::edit(
        &st.store,
        &rec::policy_key(&name),
        |cur: Option<PolicyRecord>| {
            let mut p = cur
                .filter(|p| arn_of(&account, p) == arn)
                .ok_or_else(|| not_attachable(arn))?;
            let r = f(&mut p)?;
            Ok(Edit::put(p, r))
        },
    )
    .await
}

fn version_id(req: &QueryRequest) -> IamResult<&str> {
    let v = values::required(req, "VersionId")?;
    let ok = v
        .strip_prefix('v')
        .and_then(|n| n.split('.').next())
        .is_some_and(|n| {
            !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit())
        });
    if !ok {
        return Err(IamError::validation(format!(
            "1 validation error detected: Value '{v}' at 'versionId' failed to satisfy constraint: Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?"
        )));
    }
    Ok(v)
}

fn no_version(arn: &str, v: &str) -> IamError {
    IamError::no_such_entity(format!(
        "Policy {arn} version {v} does not exist or is not attachable."
    ))
}

pub async fn create_policy_version<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let arn = values::required(req, "PolicyArn")?;
    let doc = values::document(req, "PolicyDocument")?;
    let set_default = req.get("SetAsDefault") == Some("true");
    let now = st.clock.now();
    let (p, v) = edit_local(st, arn, |p| {
        if p.versions.len() >= MAX_VERSIONS {
            return Err(IamError::limit_exceeded(format!("A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, you must delete an existing version.")));
        }
        let v = PolicyVersionRecord {
            id: format!("v{}", p.next_version),
            document: doc.to_string(),
            created: now,
        };
        p.next_version += 1;
        p.versions.push(v.clone());
        if set_default {
            p.default_version.clone_from(&v.id);
            p.updated = now;
        }
        Ok((p.clone(), v))
    })
    .await?;
    Ok(move |x: &mut Xml| {
        x.element("PolicyVersion", |e| write_version(e, &p, &v, false));
    })
}

pub async fn get_policy_version<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let arn = values::required(req, "PolicyArn")?;
    let vid = version_id(req)?;
    let p = find(st, arn).await?.ok_or_else(|| no_version(arn, vid))?;
    let v = p
        .versions
        .iter()
        .find(|v| v.id == vid)
        .cloned()
        .ok_or_else(|| no_version(arn, vid))?;
    Ok(move |x: &mut Xml| {
        x.element("PolicyVersion", |e| write_version(e, &p, &v, true));
    })
}

pub async fn list_policy_versions<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let arn = values::required(req, "PolicyArn")?;
    let p = load(st, arn).await?;
    // Newest first, as IAM lists them.
    let mut versions = p.versions.clone();
    versions.reverse();
    let (page, next) = values::page(req, versions, |v| {
        let n: u32 = v.id[1..].parse().unwrap_or(0);
        format!("{:010}", u32::MAX - n)
    })?;
    Ok(move |x: &mut Xml| {
        x.list("Versions", &page, |m, v| write_version(m, &p, v, false));
        values::write_paging(x, next.as_deref());
    })
}

pub async fn delete_policy_version<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let arn = values::required(req, "PolicyArn")?;
    let vid = version_id(req)?;
    edit_local(st, arn, |p| {
        if p.default_version == vid {
            return Err(IamError::delete_conflict(
                "Cannot delete the default version of a policy.",
            ));
        }
        let before = p.versions.len();
        p.versions.retain(|v| v.id != vid);
        if p.versions.len() == before {
            return Err(no_version(arn, vid));
        }
        Ok(())
    })
    .await?;
    Ok(|_: &mut Xml| {})
}

pub async fn set_default_policy_version<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let arn = values::required(req, "PolicyArn")?;
    let vid = version_id(req)?;
    let now = st.clock.now();
    edit_local(st, arn, |p| {
        if !p.versions.iter().any(|v| v.id == vid) {
            return Err(no_version(arn, vid));
        }
        p.default_version = vid.to_string();
        p.updated = now;
        Ok(())
    })
    .await?;
    Ok(|_: &mut Xml| {})
}
