//! Attach/Detach/ListAttached{User,Group,Role}Policies: managed policies by ARN.

use gantry_store::Store;

use super::error::{IamError, IamResult};
use super::holders::Holder;
use super::managed_policies::{self, not_attachable};
use super::store;
use super::values;
use crate::aws::query::QueryRequest;
use crate::aws::xml::Xml;
use crate::persistence::update::Edit;
use crate::state::AppState;

/// IAM's quota of managed policies attached to one user, group or role.
pub const MAX_ATTACHED: usize = 10;

pub async fn attach<S: Store, T: Holder>(st: &AppState<S>, req: &QueryRequest) -> IamResult<()> {
    let name = values::name(req, T::MEMBER, T::MAX_NAME)?;
    let arn = values::required(req, "PolicyArn")?;
    if managed_policies::find(st, arn).await?.is_none() {
        return Err(not_attachable(arn));
    }
    store::edit(&st.store, &T::key(name), |cur: Option<T>| {
        let mut h = cur.ok_or_else(|| T::not_found(name))?;
        let attached = &mut h.policies_mut().attached;
        if attached.iter().any(|a| a == arn) {
            return Ok(Edit::Keep(()));
        }
        if attached.len() >= MAX_ATTACHED {
            let kind = T::KIND;
            let mut k = kind.chars();
            let kind: String = k
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(k)
                .collect();
            return Err(IamError::limit_exceeded(format!(
                "Cannot exceed quota for PoliciesPer{kind}: {MAX_ATTACHED}"
            )));
        }
        attached.push(arn.to_string());
        Ok(Edit::put(h, ()))
    })
    .await
}

pub async fn detach<S: Store, T: Holder>(st: &AppState<S>, req: &QueryRequest) -> IamResult<()> {
    let name = values::name(req, T::MEMBER, T::MAX_NAME)?;
    let arn = values::required(req, "PolicyArn")?;
    managed_policies::parse_arn(st, arn)?;
    store::edit(&st.store, &T::key(name), |cur: Option<T>| {
        let mut h = cur.ok_or_else(|| T::not_found(name))?;
        let attached = &mut h.policies_mut().attached;
        let before = attached.len();
        attached.retain(|a| a != arn);
        if attached.len() == before {
            return Err(IamError::no_such_entity(format!(
                "Policy {arn} was not found."
            )));
        }
        Ok(Edit::put(h, ()))
    })
    .await
}

pub async fn list<S: Store, T: Holder>(
    st: &AppState<S>,
    req: &QueryRequest,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let name = values::name(req, T::MEMBER, T::MAX_NAME)?;
    let prefix = req.get("PathPrefix").unwrap_or("/");
    let h: T = store::get(&st.store, &T::key(name))
        .await?
        .ok_or_else(|| T::not_found(name))?
        .value;
    let mut found = Vec::new();
    for arn in &h.policies().attached {
        if let Some(p) = managed_policies::find(st, arn).await? {
            if p.path.starts_with(prefix) {
                found.push((p.name, arn.clone()));
            }
        }
    }
    let (page, next) = values::page(req, found, |(n, _)| n.to_lowercase())?;
    Ok(move |x: &mut Xml| {
        x.list("AttachedPolicies", &page, |m, (n, arn)| {
            m.leaf("PolicyName", n).leaf("PolicyArn", arn);
        });
        values::write_paging(x, next.as_deref());
    })
}
