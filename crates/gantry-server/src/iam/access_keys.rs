//! Create/List/Update/DeleteAccessKey and GetAccessKeyLastUsed. At most two keys a user; the
//! secret is sealed before it is stored and shown once, in CreateAccessKey's answer.

use gantry_store::Store;

use super::error::{IamError, IamResult};
use super::holders::Holder;
use super::secrets::Sealer;
use super::store::{self, Attempt};
use super::users::target_user;
use super::values::{self, iso};
use crate::auth::Caller;
use crate::aws::query::QueryRequest;
use crate::aws::xml::Xml;
use crate::persistence::iam_records::{self as rec, AccessKeyRecord, KeyStatus, UserRecord};
use crate::persistence::update::Edit;
use crate::state::AppState;

pub const MAX_KEYS_PER_USER: usize = 2;

/// The sealer for this server's secret key (`--secret-key-file`, or in its state dir).
pub fn sealer<S>(st: &AppState<S>) -> IamResult<Sealer> {
    Sealer::for_config(
        st.config.state_dir.as_deref(),
        st.config.secret_key_file.as_deref(),
    )
    .map_err(|e| IamError::new("ServiceFailure", 500, e.to_string()))
}

fn not_found(id: &str) -> IamError {
    IamError::no_such_entity(format!("The Access Key with id {id} cannot be found."))
}

/// Gives `user` the key `id`/`secret`, unless it has it already; refuses a third key.
/// Returns the stored record.
pub async fn add_key<S: Store>(
    st: &AppState<S>,
    user: &str,
    id: &str,
    secret: &str,
) -> IamResult<AccessKeyRecord> {
    let sealed = sealer(st)?
        .seal(id, secret)
        .map_err(|e| IamError::new("ServiceFailure", 500, e.to_string()))?;
    let ukey = rec::user_key(user);
    let kkey = rec::access_key_key(id);
    store::retry(&format!("the user {user}"), || async {
        let cur = store::get::<S, UserRecord>(&st.store, &ukey)
            .await?
            .ok_or_else(|| UserRecord::not_found(user))?;
        let mut u = cur.value;
        if u.access_keys.len() >= MAX_KEYS_PER_USER {
            return Err(IamError::limit_exceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}"
            )));
        }
        u.access_keys.push(id.to_string());
        let key = AccessKeyRecord {
            id: id.to_string(),
            user_name: u.name.clone(),
            status: KeyStatus::Active,
            created: st.clock.now(),
            secret: sealed.clone(),
            last_used: None,
            session: None,
        };
        let ok = store::commit(
            &st.store,
            vec![
                store::unchanged(&ukey, cur.revision),
                store::unchanged(&kkey, 0),
            ],
            vec![store::put(&ukey, &u)?, store::put(&kkey, &key)?],
        )
        .await?;
        Ok(if ok {
            Attempt::Done(key)
        } else {
            Attempt::Conflict
        })
    })
    .await
}

pub async fn create_access_key<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    caller: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let user = target_user(req, caller)?;
    let id = values::access_key_id("AKIA");
    let secret = values::secret_access_key();
    let key = add_key(st, &user, &id, &secret).await?;
    Ok(move |x: &mut Xml| {
        x.element("AccessKey", |k| {
            k.leaf("UserName", &key.user_name)
                .leaf("AccessKeyId", &key.id)
                .leaf("Status", key.status.as_str())
                .leaf("SecretAccessKey", &secret)
                .leaf("CreateDate", &iso(key.created));
        });
    })
}

pub async fn list_access_keys<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    caller: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let user = target_user(req, caller)?;
    let u = super::users::load(st, &user).await?;
    let mut keys = Vec::new();
    for id in &u.access_keys {
        if let Some(k) =
            store::get::<S, AccessKeyRecord>(&st.store, &rec::access_key_key(id)).await?
        {
            keys.push(k.value);
        }
    }
    let (keys, next) = values::page(req, keys, |k| k.id.clone())?;
    Ok(move |x: &mut Xml| {
        x.list("AccessKeyMetadata", &keys, |m, k| {
            m.leaf("UserName", &k.user_name)
                .leaf("AccessKeyId", &k.id)
                .leaf("Status", k.status.as_str())
                .leaf("CreateDate", &iso(k.created));
        });
        values::write_paging(x, next.as_deref());
    })
}

fn key_id(req: &QueryRequest) -> IamResult<&str> {
    let id = values::required(req, "AccessKeyId")?;
    values::check_len("AccessKeyId", id, 16, 128)?;
    Ok(id)
}

pub async fn update_access_key<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    caller: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let id = key_id(req)?;
    let status = match values::required(req, "Status")? {
        "Active" => KeyStatus::Active,
        "Inactive" => KeyStatus::Inactive,
        other => {
            return Err(IamError::validation(format!(
                "1 validation error detected: Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
            )))
        }
    };
    let user = target_user(req, caller)?;
    store::edit(
        &st.store,
        &rec::access_key_key(id),
        |cur: Option<AccessKeyRecord>| {
            let mut k = cur
                .filter(|k| k.session.is_none() && k.user_name.eq_ignore_ascii_case(&user))
                .ok_or_else(|| not_found(id))?;
            k.status = status;
            Ok(Edit::put(k, ()))
        },
    )
    .await?;
    Ok(|_: &mut Xml| {})
}

pub async fn delete_access_key<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    caller: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let id = key_id(req)?;
    let user = target_user(req, caller)?;
    let ukey = rec::user_key(&user);
    let kkey = rec::access_key_key(id);
    store::retry(&format!("the user {user}"), || async {
        let u = store::get::<S, UserRecord>(&st.store, &ukey)
            .await?
            .ok_or_else(|| UserRecord::not_found(&user))?;
        let k = store::get::<S, AccessKeyRecord>(&st.store, &kkey)
            .await?
            .filter(|k| k.value.session.is_none() && u.value.access_keys.iter().any(|i| i == id))
            .ok_or_else(|| not_found(id))?;
        let mut record = u.value;
        record.access_keys.retain(|i| i != id);
        let ok = store::commit(
            &st.store,
            vec![
                store::unchanged(&ukey, u.revision),
                store::unchanged(&kkey, k.revision),
            ],
            vec![store::put(&ukey, &record)?, store::delete(&kkey)],
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

pub async fn get_access_key_last_used<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    _: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let id = key_id(req)?;
    let k = store::get::<S, AccessKeyRecord>(&st.store, &rec::access_key_key(id))
        .await?
        .filter(|k| k.value.session.is_none())
        .ok_or_else(|| not_found(id))?
        .value;
    Ok(move |x: &mut Xml| {
        x.leaf("UserName", &k.user_name);
        x.element("AccessKeyLastUsed", |l| match &k.last_used {
            Some(u) => {
                l.leaf("LastUsedDate", &iso(u.at))
                    .leaf("ServiceName", &u.service)
                    .leaf("Region", &u.region);
            }
            // IAM's answer for a key never used.
            None => {
                l.leaf("ServiceName", "N/A").leaf("Region", "N/A");
            }
        });
    })
}
