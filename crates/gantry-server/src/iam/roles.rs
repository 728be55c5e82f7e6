//! Create/Get/List/DeleteRole: roles with the trust policy (`AssumeRolePolicyDocument`)
//! STS's AssumeRole checks, and their session length limit.

use gantry_store::Store;

use super::error::{IamError, IamResult};
use super::holders::{self, Holder};
use super::store::{self, Attempt};
use super::tags;
use super::values::{self, iso, url_encode};
use crate::auth::Caller;
use crate::aws::query::QueryRequest;
use crate::aws::xml::Xml;
use crate::persistence::iam_records::{self as rec, RoleRecord};
use crate::persistence::update::Edit;
use crate::state::AppState;

pub const MAX_ROLE_NAME: usize = 64;
pub const DEFAULT_MAX_SESSION: i64 = 3600;
pub const MAX_MAX_SESSION: i64 = 43_200;

pub fn arn_of(account: &str, r: &RoleRecord) -> String {
    values::arn(account, "role", &r.path, &r.name)
}

fn write_role(x: &mut Xml, account: &str, r: &RoleRecord, with_tags: bool) {
    x.leaf("Path", &r.path)
        .leaf("RoleName", &r.name)
        .leaf("RoleId", &r.id)
        .leaf("Arn", &arn_of(account, r))
        .leaf("CreateDate", &iso(r.created))
        .leaf("AssumeRolePolicyDocument", &url_encode(&r.trust_policy));
    if let Some(d) = &r.description {
        x.leaf("Description", d);
    }
    x.leaf("MaxSessionDuration", &r.max_session_duration.to_string());
    if with_tags && !r.tags.is_empty() {
        tags::write(x, &r.tags);
    }
}

/// Reads a role or fails with NoSuchEntity.
pub async fn load<S: Store>(st: &AppState<S>, name: &str) -> IamResult<RoleRecord> {
    Ok(store::get(&st.store, &rec::role_key(name))
        .await?
        .ok_or_else(|| RoleRecord::not_found(name))?
        .value)
}

pub async fn create_role<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    values::refuse(req, &["PermissionsBoundary"])?;
    let name = values::name(req, "RoleName", MAX_ROLE_NAME)?;
    let path = values::path(req, "Path")?;
    let trust = values::required(req, "AssumeRolePolicyDocument")?;
    values::check_len("AssumeRolePolicyDocument", trust, 1, 131_072)?;
    gantry_aws::policy::Policy::parse_trust(trust)
        .map_err(|e| IamError::malformed_policy(e.to_string()))?;
    let description = req.get("Description").map(str::to_string);
    if let Some(d) = &description {
        values::check_len("Description", d, 0, 1000)?;
    }
    let max_session = values::int(
        req,
        "MaxSessionDuration",
        DEFAULT_MAX_SESSION,
        MAX_MAX_SESSION,
    )?
    .unwrap_or(DEFAULT_MAX_SESSION);
    let r = RoleRecord {
        name: name.to_string(),
        path,
        id: values::unique_id("AROA"),
        created: st.clock.now(),
        trust_policy: trust.to_string(),
        description,
        max_session_duration: max_session,
        tags: tags::parse(req)?,
        policies: Default::default(),
    };
    let r = store::edit(
        &st.store,
        &rec::role_key(name),
        |cur: Option<RoleRecord>| {
            if let Some(c) = cur {
                return Err(IamError::already_exists(format!(
                    "Role with name {} already exists.",
                    c.name
                )));
            }
            Ok(Edit::put(r.clone(), r.clone()))
        },
    )
    .await?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.element("Role", |e| write_role(e, &account, &r, true));
    })
}

pub async fn get_role<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, "RoleName", MAX_ROLE_NAME)?;
    let r = load(st, name).await?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.element("Role", |e| write_role(e, &account, &r, true));
    })
}

pub async fn list_roles<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let prefix = req.get("PathPrefix").unwrap_or("/").to_string();
    let mut all: Vec<RoleRecord> = store::list(&st.store, rec::ROLES).await?;
    all.retain(|r| r.path.starts_with(&prefix));
    let (roles, next) = values::page(req, all, |r| r.name.to_lowercase())?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.list("Roles", &roles, |m, r| write_role(m, &account, r, false));
        values::write_paging(x, next.as_deref());
    })
}

pub async fn delete_role<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, "RoleName", MAX_ROLE_NAME)?;
    let key = rec::role_key(name);
    store::retry(&format!("the role {name}"), || async {
        let cur = store::get::<S, RoleRecord>(&st.store, &key)
            .await?
            .ok_or_else(|| RoleRecord::not_found(name))?;
        if let Some(why) = holders::policies_left(&cur.value.policies) {
            return Err(IamError::delete_conflict(why));
        }
        let ok = store::commit(
            &st.store,
            vec![store::unchanged(&key, cur.revision)],
            vec![store::delete(&key)],
        )
        .await?;
        Ok(if ok {
            Attempt::Done(())
        } else {
            Attempt::Conflict
        })
    })
    .await?;
    Ok(|_: &mut Xml| {})
}
