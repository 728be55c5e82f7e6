//! Tags on users and roles: the `Tags` member of CreateUser/CreateRole, and
//! Tag/Untag/List{User,Role}Tags. Keys are unique without regard to case, as in IAM.

use gantry_store::Store;

use super::error::{IamError, IamResult};
use super::holders::Holder;
use super::store;
use super::values::{self, check_len};
use crate::auth::Caller;
use crate::aws::query::QueryRequest;
use crate::aws::xml::Xml;
use crate::persistence::iam_records::{RoleRecord, UserRecord};
use crate::persistence::update::Edit;
use crate::state::AppState;

pub const MAX_TAGS: usize = 50;

pub trait Tagged: Holder {
    fn tags_mut(&mut self) -> &mut Vec<(String, String)>;
}
impl Tagged for UserRecord {
    fn tags_mut(&mut self) -> &mut Vec<(String, String)> {
        &mut self.tags
    }
}
impl Tagged for RoleRecord {
    fn tags_mut(&mut self) -> &mut Vec<(String, String)> {
        &mut self.tags
    }
}

fn check_tag_chars(member: &str, v: &str) -> IamResult<()> {
    let ok = v
        .chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(IamError::validation(format!(
            "1 validation error detected: Value '{v}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*"
        )))
    }
}

/// The `Tags` member: `Tags.member.N.Key` / `.Value`.
pub fn parse(req: &QueryRequest) -> IamResult<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in req.structs("Tags") {
        let key = t.get("Key").copied().ok_or_else(|| {
            IamError::validation("1 validation error detected: Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null")
        })?;
        let value = t.get("Value").copied().unwrap_or("");
        check_len("tags.member.key", key, 1, 128)?;
        check_tag_chars("tags.member.key", key)?;
        check_len("tags.member.value", value, 0, 256)?;
        check_tag_chars("tags.member.value", value)?;
        if out.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(IamError::invalid_input(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        out.push((key.to_string(), value.to_string()));
    }
    if out.len() > MAX_TAGS {
        return Err(IamError::limit_exceeded(format!(
            "The number of tags has reached the maximum limit of {MAX_TAGS}."
        )));
    }
    Ok(out)
}

pub fn write(x: &mut Xml, tags: &[(String, String)]) {
    x.list("Tags", tags, |m, (k, v)| {
        m.leaf("Key", k).leaf("Value", v);
    });
}

async fn tag<S: Store, T: Tagged>(st: &AppState<S>, req: &QueryRequest) -> IamResult<()> {
    let name = values::name(req, T::MEMBER, T::MAX_NAME)?;
    let new = parse(req)?;
    store::edit(&st.store, &T::key(name), |cur: Option<T>| {
        let mut r = cur.ok_or_else(|| T::not_found(name))?;
        let tags = r.tags_mut();
        for (k, v) in &new {
            match tags.iter_mut().find(|(tk, _)| tk.eq_ignore_ascii_case(k)) {
                Some(t) => t.1.clone_from(v),
                None => tags.push((k.clone(), v.clone())),
            }
        }
        if tags.len() > MAX_TAGS {
            return Err(IamError::limit_exceeded(format!(
                "The number of tags has reached the maximum limit of {MAX_TAGS}."
            )));
        }
        Ok(Edit::put(r, ()))
    })
    .await
}

async fn untag<S: Store, T: Tagged>(st: &AppState<S>, req: &QueryRequest) -> IamResult<()> {
    let name = values::name(req, T::MEMBER, T::MAX_NAME)?;
    let keys: Vec<String> = req
        .list("TagKeys")
        .into_iter()
        .map(str::to_string)
        .collect();
    store::edit(&st.store, &T::key(name), |cur: Option<T>| {
        let mut r = cur.ok_or_else(|| T::not_found(name))?;
        r.tags_mut()
            .retain(|(k, _)| !keys.iter().any(|d| d.eq_ignore_ascii_case(k)));
        Ok(Edit::put(r, ()))
    })
    .await
}

async fn list<S: Store, T: Tagged>(
    st: &AppState<S>,
    req: &QueryRequest,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, T::MEMBER, T::MAX_NAME)?;
    let mut r: T = store::get(&st.store, &T::key(name))
        .await?
        .ok_or_else(|| T::not_found(name))?
        .value;
    let all = std::mem::take(r.tags_mut());
    let (tags, next) = values::page(req, all, |(k, _)| k.clone())?;
    Ok(move |x: &mut Xml| {
        write(x, &tags);
        values::write_paging(x, next.as_deref());
    })
}

pub async fn tag_user<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    tag::<S, UserRecord>(st, req)
        .await
        .map(|()| |_: &mut Xml| {})
}
pub async fn untag_user<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    untag::<S, UserRecord>(st, req)
        .await
        .map(|()| |_: &mut Xml| {})
}
pub async fn list_user_tags<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    list::<S, UserRecord>(st, req).await
}
pub async fn tag_role<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    tag::<S, RoleRecord>(st, req)
        .await
        .map(|()| |_: &mut Xml| {})
}
pub async fn untag_role<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    untag::<S, RoleRecord>(st, req)
        .await
        .map(|()| |_: &mut Xml| {})
}
pub async fn list_role_tags<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    list::<S, RoleRecord>(st, req).await
}
