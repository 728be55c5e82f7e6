//! Put/Get/List/Delete{User,Group,Role}Policy: documents embedded in one user, group or role.
//! Get answers with the document URL-encoded, as IAM does.

use gantry_store::Store;

use super::error::{IamError, IamResult};
use super::holders::Holder;
use super::store;
use super::values;
use crate::aws::query::QueryRequest;
use crate::aws::xml::Xml;
use crate::persistence::update::Edit;
use crate::state::AppState;

fn no_policy<T: Holder>(policy: &str) -> IamError {
    IamError::no_such_entity(format!(
        "The {} policy with name {policy} cannot be found.",
        T::KIND
    ))
}

pub async fn put<S: Store, T: Holder>(st: &AppState<S>, req: &QueryRequest) -> IamResult<()> {
    let name = values::name(req, T::MEMBER, T::MAX_NAME)?;
    let policy = values::name(req, "PolicyName", 128)?;
    let doc = values::document(req, "PolicyDocument")?;
    store::edit(&st.store, &T::key(name), |cur: Option<T>| {
        let mut h = cur.ok_or_else(|| T::not_found(name))?;
        h.policies_mut()
            .inline
            .insert(policy.to_string(), doc.to_string());
        Ok(Edit::put(h, ()))
    })
    .await
}

pub async fn get<S: Store, T: Holder>(
    st: &AppState<S>,
    req: &QueryRequest,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, T::MEMBER, T::MAX_NAME)?;
    let policy = values::name(req, "PolicyName", 128)?;
    let h: T = store::get(&st.store, &T::key(name))
        .await?
        .ok_or_else(|| T::not_found(name))?
        .value;
    let doc = h
        .policies()
        .inline
        .get(policy)
        .cloned()
        .ok_or_else(|| no_policy::<T>(policy))?;
    let holder = h.name().to_string();
    let policy = policy.to_string();
    Ok(move |x: &mut Xml| {
        x.leaf(T::MEMBER, &holder)
            .leaf("PolicyName", &policy)
            .leaf("PolicyDocument", &values::url_encode(&doc));
    })
}

pub async fn list<S: Store, T: Holder>(
    st: &AppState<S>,
    req: &QueryRequest,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, T::MEMBER, T::MAX_NAME)?;
    let h: T = store::get(&st.store, &T::key(name))
        .await?
        .ok_or_else(|| T::not_found(name))?
        .value;
    let names: Vec<String> = h.policies().inline.keys().cloned().collect();
    let (names, next) = values::page(req, names, String::clone)?;
    Ok(move |x: &mut Xml| {
        x.element("PolicyNames", |l| {
            for n in &names {
                l.leaf("member", n);
            }
        });
        values::write_paging(x, next.as_deref());
    })
}

pub async fn delete<S: Store, T: Holder>(st: &AppState<S>, req: &QueryRequest) -> IamResult<()> {
    let name = values::name(req, T::MEMBER, T::MAX_NAME)?;
    let policy = values::name(req, "PolicyName", 128)?;
    store::edit(&st.store, &T::key(name), |cur: Option<T>| {
        let mut h = cur.ok_or_else(|| T::not_found(name))?;
        if h.policies_mut().inline.remove(policy).is_none() {
            return Err(no_policy::<T>(policy));
        }
        Ok(Edit::put(h, ()))
    })
    .await
}
