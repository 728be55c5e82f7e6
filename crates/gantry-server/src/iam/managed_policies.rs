//! Managed policies: Create/Get/List/DeletePolicy (their versions are in
//! [`super::policy_versions`]). AWS's own `AdministratorAccess` exists in every account,
//! read-only.

use std::collections::HashMap;

use gantry_api::Timestamp;
use gantry_store::Store;

use super::error::{IamError, IamResult};
use super::store::{self, Attempt};
use super::values::{self, iso};
use crate::auth::Caller;
use crate::aws::query::QueryRequest;
use crate::aws::xml::Xml;
use crate::persistence::iam_records::{
    self as rec, GroupRecord, PolicyRecord, PolicyVersionRecord, RoleRecord, UserRecord,
};
use crate::persistence::update::Edit;
use crate::state::AppState;

pub const ADMINISTRATOR_ACCESS_ARN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
/// IAM's versions quota per managed policy.
pub const MAX_VERSIONS: usize = 5;

/// AWS's AdministratorAccess as IAM shows it.
fn administrator_access() -> PolicyRecord {
    const CREATED: Timestamp = 1_423_247_986.0; // 2015-02-06T18:39:46Z
    PolicyRecord {
        name: "AdministratorAccess".into(),
        path: "/".into(),
        id: "ANPAIWMBCKSKIEE64ZLYK".into(),
        created: CREATED,
        updated: CREATED,
        description: Some("Provides full access to AWS services and resources.".into()),
        default_version: "v1".into(),
        versions: vec![PolicyVersionRecord {
            id: "v1".into(),
            document: super::identity::ADMINISTRATOR_ACCESS.into(),
            created: CREATED,
        }],
        next_version: 2,
    }
}

pub fn arn_of(account: &str, p: &PolicyRecord) -> String {
    values::arn(account, "policy", &p.path, &p.name)
}

/// A policy's ARN, AWS's own or the account's.
fn policy_arn(account: &str, p: &PolicyRecord) -> String {
    if p.id == administrator_access().id {
        ADMINISTRATOR_ACCESS_ARN.to_string()
    } else {
        arn_of(account, p)
    }
}

pub fn not_attachable(arn: &str) -> IamError {
    IamError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
}

/// What a policy ARN names.
pub enum Named {
    Aws(PolicyRecord),
    /// A customer managed policy's name (the store key's part).
    Local(String),
}

/// Reads `PolicyArn` and says what it names (whether or not it exists).
pub fn parse_arn<S>(st: &AppState<S>, arn: &str) -> IamResult<Named> {
    values::check_len("PolicyArn", arn, 20, 2048)?;
    if arn == ADMINISTRATOR_ACCESS_ARN {
        return Ok(Named::Aws(administrator_access()));
    }
    let local = format!("arn:aws:iam::{}:policy/", st.config.account_id);
    match arn
        .strip_prefix(&local)
        .and_then(|rest| rest.rsplit('/').next())
    {
        Some(name) if !name.is_empty() => Ok(Named::Local(name.to_string())),
        _ if arn.starts_with("arn:") => Err(not_attachable(arn)),
        _ => Err(IamError::invalid_input(format!("ARN {arn} is not valid."))),
    }
}

/// The policy `arn` names, if it exists.
pub async fn find<S: Store>(st: &AppState<S>, arn: &str) -> IamResult<Option<PolicyRecord>> {
    match parse_arn(st, arn)? {
        Named::Aws(p) => Ok(Some(p)),
        Named::Local(name) => Ok(
            store::get::<S, PolicyRecord>(&st.store, &rec::policy_key(&name))
                .await?
                .map(|v| v.value)
                .filter(|p| arn_of(&st.config.account_id, p) == arn),
        ),
    }
}

pub async fn load<S: Store>(st: &AppState<S>, arn: &str) -> IamResult<PolicyRecord> {
    find(st, arn).await?.ok_or_else(|| not_attachable(arn))
}

/// The default version's document of the managed policy `arn`, for the auth gate.
pub async fn default_document<S: Store>(st: &AppState<S>, arn: &str) -> IamResult<Option<String>> {
    Ok(find(st, arn).await?.and_then(|p| {
        p.versions
            .into_iter()
            .find(|v| v.id == p.default_version)
            .map(|v| v.document)
    }))
}

/// How many users, groups and roles have each policy ARN attached.
pub async fn attachment_counts<S: Store>(st: &AppState<S>) -> IamResult<HashMap<String, usize>> {
    let users: Vec<UserRecord> = store::list(&st.store, rec::USERS).await?;
    let groups: Vec<GroupRecord> = store::list(&st.store, rec::GROUPS).await?;
    let roles: Vec<RoleRecord> = store::list(&st.store, rec::ROLES).await?;
    let mut counts = HashMap::new();
    let attached = users
        .iter()
        .map(|u| &u.policies)
        .chain(groups.iter().map(|g| &g.policies))
        .chain(roles.iter().map(|r| &r.policies))
        .flat_map(|p| p.attached.iter());
    for arn in attached {
        *counts.entry(arn.clone()).or_insert(0) += 1;
    }
    Ok(counts)
}

/// How many users, groups and roles have `arn` attached.
pub async fn attachment_count<S: Store>(st: &AppState<S>, arn: &str) -> IamResult<usize> {
    Ok(attachment_counts(st).await?.get(arn).copied().unwrap_or(0))
}

pub fn write_policy(x: &mut Xml, account: &str, p: &PolicyRecord, attached: usize, full: bool) {
    let arn = policy_arn(account, p);
    x.leaf("PolicyName", &p.name)
        .leaf("PolicyId", &p.id)
        .leaf("Arn", &arn)
        .leaf("Path", &p.path)
        .leaf("DefaultVersionId", &p.default_version)
        .leaf("AttachmentCount", &attached.to_string())
        .leaf("PermissionsBoundaryUsageCount", "0")
        .leaf("IsAttachable", "true");
    if full {
        if let Some(d) = &p.description {
            x.leaf("Description", d);
        }
    }
    x.leaf("CreateDate", &iso(p.created))
        .leaf("UpdateDate", &iso(p.updated));
}

pub async fn create_policy<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    values::refuse(req, &["Tags"])?;
    let name = values::name(req, "PolicyName", 128)?;
    let path = req.get("Path").unwrap_or("/");
    values::check_len("Path", path, 1, 512)?;
    let path_ok = path.starts_with('/')
        && path.ends_with('/')
        && path.split('/').all(|seg| {
            seg.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".,+@=_-".contains(c))
        });
    if !path_ok {
        return Err(IamError::validation(format!(
            "1 validation error detected: Value '{path}' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: ((/[A-Za-z0-9\\.,\\+@=_-]+)*)/"
        )));
    }
    let doc = values::document(req, "PolicyDocument")?;
    let description = req.get("Description").map(str::to_string);
    if let Some(d) = &description {
        values::check_len("Description", d, 0, 1000)?;
    }
    let now = st.clock.now();
    let p = PolicyRecord {
        name: name.to_string(),
        path: path.to_string(),
        id: values::unique_id("ANPA"),
        created: now,
        updated: now,
        description,
        default_version: "v1".into(),
        versions: vec![PolicyVersionRecord {
            id: "v1".into(),
            document: doc.to_string(),
            created: now,
        }],
        next_version: 2,
    };
    let p = store::edit(
        &st.store,
        &rec::policy_key(name),
        |cur: Option<PolicyRecord>| {
            if cur.is_some() {
                return Err(IamError::already_exists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            Ok(Edit::put(p.clone(), p.clone()))
        },
    )
    .await?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.element("Policy", |e| write_policy(e, &account, &p, 0, true));
    })
}

pub async fn get_policy<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let arn = values::required(req, "PolicyArn")?;
    let p = load(st, arn).await?;
    let n = attachment_count(st, arn).await?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.element("Policy", |e| write_policy(e, &account, &p, n, true));
    })
}

pub async fn list_policies<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    values::refuse(req, &["PolicyUsageFilter"])?;
    let scope = req.get("Scope").unwrap_or("All");
    let only_attached = req.get("OnlyAttached") == Some("true");
    let prefix = req.get("PathPrefix").unwrap_or("/");
    let mut all: Vec<PolicyRecord> = Vec::new();
    match scope {
        "All" | "AWS" | "Local" => {}
        other => {
            return Err(IamError::validation(format!(
                "1 validation error detected: Value '{other}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"
            )))
        }
    }
    if scope != "Local" {
        all.push(administrator_access());
    }
    if scope != "AWS" {
        all.extend(store::list::<S, PolicyRecord>(&st.store, rec::POLICIES).await?);
    }
    all.retain(|p| p.path.starts_with(prefix));
    let account = st.config.account_id.clone();
    let counts = attachment_counts(st).await?;
    let mut counted = Vec::new();
    for p in all {
        let n = counts.get(&policy_arn(&account, &p)).copied().unwrap_or(0);
        if !only_attached || n > 0 {
            counted.push((p, n));
        }
    }
    let (page, next) = values::page(req, counted, |(p, _)| p.name.to_lowercase())?;
    Ok(move |x: &mut Xml| {
        x.list("Policies", &page, |m, (p, n)| {
            write_policy(m, &account, p, *n, false)
        });
        values::write_paging(x, next.as_deref());
    })
}

/// Runs `f` on the customer managed policy `arn` (AWS's own cannot be changed).
pub async fn delete_policy<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let arn = values::required(req, "PolicyArn")?;
    let p = load(st, arn).await?;
    if matches!(parse_arn(st, arn)?, Named::Aws(_)) {
        return Err(IamError::unmodifiable(format!(
            "Cannot perform the operation on the protected policy {arn}."
        )));
    }
    let key = rec::policy_key(&p.name);
    store::retry(&format!("the policy {arn}"), || async {
        if attachment_count(st, arn).await? > 0 {
            return Err(IamError::delete_conflict(
                "Cannot delete a policy attached to entities.",
            ));
        }
        let cur = store::get::<S, PolicyRecord>(&st.store, &key)
            .await?
            .ok_or_else(|| not_attachable(arn))?;
        if cur.value.versions.len() > 1 {
            return Err(IamError::delete_conflict("This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy."));
        }
        let ok = store::commit(
            &st.store,
            vec![store::unchanged(&key, cur.revision)],
            vec![store::delete(&key)],
        )
        .await?;
        Ok(if ok { Attempt::Done(()) } else { Attempt::Conflict })
    })
    .await?;
    Ok(|_: &mut Xml| {})
}
