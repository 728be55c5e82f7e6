//! Create/Get/List/Update/DeleteUser.

use gantry_store::Store;

use super::error::{IamError, IamResult};
use super::holders::Holder;
use super::store::{self, Attempt};
use super::tags;
use super::values::{self, iso};
use crate::auth::{Caller, PrincipalKind};
use crate::aws::query::QueryRequest;
use crate::aws::xml::Xml;
use crate::persistence::iam_records::{self as rec, AccessKeyRecord, UserRecord};
use crate::persistence::update::Edit;
use crate::state::AppState;

pub const MAX_USER_NAME: usize = 64;

/// The user an operation is about: `UserName`, or else the calling user (IAM's default for
/// GetUser, the access key operations, …).
pub fn target_user(req: &QueryRequest, caller: &Caller) -> IamResult<String> {
    if let Some(n) = req.get("UserName") {
        values::check_name("UserName", n, 128)?;
        return Ok(n.to_string());
    }
    match &caller.principal.kind {
        PrincipalKind::User { name } => Ok(name.clone()),
        PrincipalKind::AssumedRole { .. } => Err(IamError::validation(
            "Must specify userName when calling with non-User credentials",
        )),
    }
}

pub fn arn_of(account: &str, u: &UserRecord) -> String {
    values::arn(account, "user", &u.path, &u.name)
}

pub fn write_user(x: &mut Xml, account: &str, u: &UserRecord, with_tags: bool) {
    x.leaf("Path", &u.path)
        .leaf("UserName", &u.name)
        .leaf("UserId", &u.id)
        .leaf("Arn", &arn_of(account, u))
        .leaf("CreateDate", &iso(u.created));
    if with_tags && !u.tags.is_empty() {
        tags::write(x, &u.tags);
    }
}

/// Reads a user or fails with IAM's NoSuchEntity.
pub async fn load<S: Store>(st: &AppState<S>, name: &str) -> IamResult<UserRecord> {
    Ok(store::get(&st.store, &rec::user_key(name))
        .await?
        .ok_or_else(|| UserRecord::not_found(name))?
        .value)
}

/// Makes a user; shared with [`super::identity::bootstrap`].
pub async fn create<S: Store>(
    st: &AppState<S>,
    name: &str,
    path: &str,
    tags: Vec<(String, String)>,
) -> IamResult<UserRecord> {
    let user = UserRecord {
        name: name.to_string(),
        path: path.to_string(),
        id: values::unique_id("AIDA"),
        created: st.clock.now(),
        tags,
        policies: Default::default(),
        groups: Vec::new(),
        access_keys: Vec::new(),
    };
    store::edit(
        &st.store,
        &rec::user_key(name),
        |cur: Option<UserRecord>| {
            if let Some(u) = cur {
                return Err(IamError::already_exists(format!(
                    "User with name {} already exists.",
                    u.name
                )));
            }
            Ok(Edit::put(user.clone(), user.clone()))
        },
    )
    .await
}

pub async fn create_user<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    values::refuse(req, &["PermissionsBoundary"])?;
    let name = values::name(req, "UserName", MAX_USER_NAME)?;
    let path = values::path(req, "Path")?;
    let tags = tags::parse(req)?;
    let user = create(st, name, &path, tags).await?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.element("User", |u| write_user(u, &account, &user, true));
    })
}

pub async fn get_user<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    caller: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = target_user(req, caller)?;
    let user = load(st, &name).await?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.element("User", |u| write_user(u, &account, &user, true));
    })
}

pub async fn list_users<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let prefix = req.get("PathPrefix").unwrap_or("/").to_string();
    values::check_len("PathPrefix", &prefix, 1, 512)?;
    let mut all: Vec<UserRecord> = store::list(&st.store, rec::USERS).await?;
    all.retain(|u| u.path.starts_with(&prefix));
    let (users, next) = values::page(req, all, |u| u.name.to_lowercase())?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.list("Users", &users, |m, u| write_user(m, &account, u, false));
        values::write_paging(x, next.as_deref());
    })
}

pub async fn update_user<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, "UserName", 128)?;
    let new_name = match req.get("NewUserName") {
        Some(n) => {
            values::check_name("NewUserName", n, MAX_USER_NAME)?;
            Some(n)
        }
        None => None,
    };
    let new_path = match req.get("NewPath") {
        Some(_) => Some(values::path(req, "NewPath")?),
        None => None,
    };
    let old_key = rec::user_key(name);
    store::retry(&format!("the user {name}"), || async {
        let cur = store::get::<S, UserRecord>(&st.store, &old_key)
            .await?
            .ok_or_else(|| UserRecord::not_found(name))?;
        let mut user = cur.value.clone();
        if let Some(p) = &new_path {
            user.path.clone_from(p);
        }
        let mut compares = vec![store::unchanged(&old_key, cur.revision)];
        let mut ops = Vec::new();
        let new_key = new_name.map_or_else(|| old_key.clone(), rec::user_key);
        if let Some(n) = new_name {
            if new_key != old_key {
                if store::get::<S, UserRecord>(&st.store, &new_key)
                    .await?
                    .is_some()
                {
                    return Err(IamError::already_exists(format!(
                        "User with name {n} already exists."
                    )));
                }
                compares.push(store::unchanged(&new_key, 0));
                ops.push(store::delete(&old_key));
            }
            user.name = n.to_string();
            // The keys name their owner.
            for id in &user.access_keys {
                let k = rec::access_key_key(id);
                if let Some(v) = store::get::<S, AccessKeyRecord>(&st.store, &k).await? {
                    let mut key = v.value;
                    key.user_name = n.to_string();
                    compares.push(store::unchanged(&k, v.revision));
                    ops.push(store::put(&k, &key)?);
                }
            }
        }
        ops.push(store::put(&new_key, &user)?);
        Ok(if store::commit(&st.store, compares, ops).await? {
            Attempt::Done(())
        } else {
            Attempt::Conflict
        })
    })
    .await?;
    Ok(|_: &mut Xml| {})
}

pub async fn delete_user<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, "UserName", 128)?;
    let key = rec::user_key(name);
    store::retry(&format!("the user {name}"), || async {
        let cur = store::get::<S, UserRecord>(&st.store, &key)
            .await?
            .ok_or_else(|| UserRecord::not_found(name))?;
        let u = &cur.value;
        // IAM refuses while anything still hangs off the user, in this order.
        let conflict = if !u.access_keys.is_empty() {
            Some("Cannot delete entity, must delete access keys first.")
        } else if let Some(why) = super::holders::policies_left(&u.policies) {
            Some(why)
        } else if !u.groups.is_empty() {
            Some("Cannot delete entity, must remove users from group first.")
        } else {
            None
        };
        if let Some(m) = conflict {
            return Err(IamError::delete_conflict(m));
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
