//! CreateGroup, GetGroup, ListGroups, DeleteGroup, AddUserToGroup, RemoveUserFromGroup,
//! ListGroupsForUser. Membership lives on the user record; adding a member also rewrites
//! the group, so a concurrent DeleteGroup sees the change and re-checks.

use gantry_store::Store;

use super::error::{IamError, IamResult};
use super::holders::{self, Holder};
use super::store::{self, Attempt};
use super::users::{self, write_user};
use super::values::{self, iso};
use crate::auth::Caller;
use crate::aws::query::QueryRequest;
use crate::aws::xml::Xml;
use crate::persistence::iam_records::{self as rec, GroupRecord, UserRecord};
use crate::persistence::update::Edit;
use crate::state::AppState;

fn write_group(x: &mut Xml, account: &str, g: &GroupRecord) {
    x.leaf("Path", &g.path)
        .leaf("GroupName", &g.name)
        .leaf("GroupId", &g.id)
        .leaf("Arn", &values::arn(account, "group", &g.path, &g.name))
        .leaf("CreateDate", &iso(g.created));
}

async fn load<S: Store>(st: &AppState<S>, name: &str) -> IamResult<GroupRecord> {
    Ok(store::get(&st.store, &rec::group_key(name))
        .await?
        .ok_or_else(|| GroupRecord::not_found(name))?
        .value)
}

async fn members<S: Store>(st: &AppState<S>, group: &str) -> IamResult<Vec<UserRecord>> {
    let mut all: Vec<UserRecord> = store::list(&st.store, rec::USERS).await?;
    all.retain(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(group)));
    Ok(all)
}

pub async fn create_group<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, "GroupName", 128)?;
    let path = values::path(req, "Path")?;
    let g = GroupRecord {
        name: name.to_string(),
        path,
        id: values::unique_id("AGPA"),
        created: st.clock.now(),
        policies: Default::default(),
    };
    let g = store::edit(
        &st.store,
        &rec::group_key(name),
        |cur: Option<GroupRecord>| {
            if let Some(c) = cur {
                return Err(IamError::already_exists(format!(
                    "Group with name {} already exists.",
                    c.name
                )));
            }
            Ok(Edit::put(g.clone(), g.clone()))
        },
    )
    .await?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.element("Group", |e| write_group(e, &account, &g));
    })
}

pub async fn get_group<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, "GroupName", 128)?;
    let g = load(st, name).await?;
    let (users, next) = values::page(req, members(st, name).await?, |u| u.name.to_lowercase())?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.element("Group", |e| write_group(e, &account, &g));
        x.list("Users", &users, |m, u| write_user(m, &account, u, false));
        values::write_paging(x, next.as_deref());
    })
}

pub async fn list_groups<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let prefix = req.get("PathPrefix").unwrap_or("/").to_string();
    let mut all: Vec<GroupRecord> = store::list(&st.store, rec::GROUPS).await?;
    all.retain(|g| g.path.starts_with(&prefix));
    let (groups, next) = values::page(req, all, |g| g.name.to_lowercase())?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.list("Groups", &groups, |m, g| write_group(m, &account, g));
        values::write_paging(x, next.as_deref());
    })
}

pub async fn list_groups_for_user<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, "UserName", 128)?;
    let u = users::load(st, name).await?;
    let mut groups = Vec::new();
    for g in &u.groups {
        if let Some(g) = store::get::<S, GroupRecord>(&st.store, &rec::group_key(g)).await? {
            groups.push(g.value);
        }
    }
    let (groups, next) = values::page(req, groups, |g| g.name.to_lowercase())?;
    let account = st.config.account_id.clone();
    Ok(move |x: &mut Xml| {
        x.list("Groups", &groups, |m, g| write_group(m, &account, g));
        values::write_paging(x, next.as_deref());
    })
}

pub async fn delete_group<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, "GroupName", 128)?;
    let key = rec::group_key(name);
    store::retry(&format!("the group {name}"), || async {
        let cur = store::get::<S, GroupRecord>(&st.store, &key)
            .await?
            .ok_or_else(|| GroupRecord::not_found(name))?;
        if !members(st, name).await?.is_empty() {
            return Err(IamError::delete_conflict(
                "Cannot delete entity, must remove users from group first.",
            ));
        }
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

/// Adds (`add`) or removes the user from the group, in one transaction with both records.
async fn membership<S: Store>(st: &AppState<S>, req: &QueryRequest, add: bool) -> IamResult<()> {
    let group = values::name(req, "GroupName", 128)?;
    let user = values::name(req, "UserName", 128)?;
    let gkey = rec::group_key(group);
    let ukey = rec::user_key(user);
    store::retry(&format!("the group {group}"), || async {
        let g = store::get::<S, GroupRecord>(&st.store, &gkey)
            .await?
            .ok_or_else(|| GroupRecord::not_found(group))?;
        let u = store::get::<S, UserRecord>(&st.store, &ukey)
            .await?
            .ok_or_else(|| UserRecord::not_found(user))?;
        let mut record = u.value;
        let member = record.groups.iter().any(|n| n.eq_ignore_ascii_case(group));
        match (add, member) {
            (true, true) => return Ok(Attempt::Done(())),
            (true, false) => record.groups.push(g.value.name.clone()),
            (false, true) => record.groups.retain(|n| !n.eq_ignore_ascii_case(group)),
            (false, false) => return Err(UserRecord::not_found(user)),
        }
        let ok = store::commit(
            &st.store,
            vec![
                store::unchanged(&gkey, g.revision),
                store::unchanged(&ukey, u.revision),
            ],
            vec![store::put(&gkey, &g.value)?, store::put(&ukey, &record)?],
        )
        .await?;
        Ok(if ok {
            Attempt::Done(())
        } else {
            Attempt::Conflict
        })
    })
    .await
}

pub async fn add_user_to_group<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    membership(st, req, true).await?;
    Ok(|_: &mut Xml| {})
}

pub async fn remove_user_from_group<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    membership(st, req, false).await?;
    Ok(|_: &mut Xml| {})
}
