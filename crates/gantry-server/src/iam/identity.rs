//! The lookups the auth gate makes: an access key's identity and secret, and the policies
//! that apply to a principal, read from the IAM records in the store. Also the first start's
//! administrator ([`bootstrap`]) and GetAccessKeyLastUsed's bookkeeping ([`record_use`]).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use gantry_api::ApiError;
use gantry_aws::policy::Policy;
use gantry_store::Store;

use super::error::IamError;
use super::{access_keys, managed_policies, store};
use crate::auth::{Principal, PrincipalKind};
use crate::error::{Error, Result};
use crate::persistence::iam_records::{
    self as rec, AccessKeyRecord, GroupRecord, KeyStatus, LastUsed, Policies, RoleRecord,
    SessionOf, UserRecord,
};
use crate::persistence::update::Edit;
use crate::state::AppState;

/// AWS's `AdministratorAccess` managed policy document.
pub const ADMINISTRATOR_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// The ARN of AWS's `AdministratorAccess` managed policy.
pub use super::managed_policies::ADMINISTRATOR_ACCESS_ARN;

/// The administrator [`bootstrap`] makes.
pub const ADMIN_USER: &str = "admin";

/// An access key and who it belongs to.
#[derive(Debug, Clone)]
pub struct KeyIdentity {
    pub principal: Principal,
    /// The secret access key, decrypted.
    pub secret: String,
    /// `Active` (false: `Inactive`).
    pub active: bool,
    /// Temporary credentials: the session token that must come with the key.
    pub session_token: Option<String>,
    /// Temporary credentials: when they stop working (Unix seconds).
    pub expires_at: Option<i64>,
}

fn to_error(e: IamError) -> Error {
    match e.status {
        500.. => Error::Api(ApiError::server(e.message)),
        _ => Error::Api(ApiError::client(format!("{}: {}", e.code, e.message))),
    }
}

/// The principal of a user.
pub fn user_principal(account: &str, u: &UserRecord) -> Principal {
    Principal {
        arn: super::users::arn_of(account, u),
        user_id: u.id.clone(),
        account: account.to_string(),
        kind: PrincipalKind::User {
            name: u.name.clone(),
        },
        tags: u.tags.iter().cloned().collect(),
    }
}

/// The principal of a session of role `r`.
pub fn role_principal(account: &str, r: &RoleRecord, session: &str) -> Principal {
    Principal {
        arn: format!("arn:aws:sts::{account}:assumed-role/{}/{session}", r.name),
        user_id: format!("{}:{session}", r.id),
        account: account.to_string(),
        kind: PrincipalKind::AssumedRole {
            role_name: r.name.clone(),
            role_arn: super::roles::arn_of(account, r),
            session_name: session.to_string(),
        },
        tags: r.tags.iter().cloned().collect(),
    }
}

/// The identity of `access_key_id`, if any key (permanent or temporary) has that id and
/// its user or role still exists.
pub async fn by_access_key<S: Store>(
    st: &AppState<S>,
    access_key_id: &str,
) -> Result<Option<KeyIdentity>> {
    let Some(k) = store::get::<S, AccessKeyRecord>(&st.store, &rec::access_key_key(access_key_id))
        .await
        .map_err(to_error)?
    else {
        return Ok(None);
    };
    let k = k.value;
    let sealer = access_keys::sealer(st).map_err(to_error)?;
    let open = |sealed: &str| {
        sealer
            .open(access_key_id, sealed)
            .map_err(|e| Error::Api(ApiError::server(e.to_string())))
    };
    let account = &st.config.account_id;
    let user = || async {
        store::get::<S, UserRecord>(&st.store, &rec::user_key(&k.user_name))
            .await
            .map_err(to_error)
    };
    let issued_to = k.session.as_ref().map(|s| s.principal_id.as_str());
    let principal = match k.session.as_ref().map(|s| &s.of) {
        None | Some(SessionOf::User) => match user().await? {
            // A permanent key is the user's while the user lists it; a session while the
            // user is the one it was issued to.
            Some(u)
                if issued_to.map_or_else(
                    || u.value.access_keys.iter().any(|i| i == access_key_id),
                    |id| id == u.value.id,
                ) =>
            {
                user_principal(account, &u.value)
            }
            _ => return Ok(None),
        },
        Some(SessionOf::Role {
            role_name,
            session_name,
        }) => match store::get::<S, RoleRecord>(&st.store, &rec::role_key(role_name))
            .await
            .map_err(to_error)?
        {
            Some(r) if issued_to == Some(r.value.id.as_str()) => {
                role_principal(account, &r.value, session_name)
            }
            _ => return Ok(None),
        },
    };
    let session_token = k.session.as_ref().map(|s| open(&s.token)).transpose()?;
    Ok(Some(KeyIdentity {
        principal,
        secret: open(&k.secret)?,
        active: k.status == KeyStatus::Active,
        session_token,
        expires_at: k.session.as_ref().map(|s| s.expires_at),
    }))
}

async fn add_policies<S: Store>(
    st: &AppState<S>,
    from: &Policies,
    out: &mut Vec<Policy>,
) -> Result<()> {
    let mut docs: Vec<String> = from.inline.values().cloned().collect();
    for arn in &from.attached {
        if let Some(d) = managed_policies::default_document(st, arn)
            .await
            .map_err(to_error)?
        {
            docs.push(d);
        }
    }
    for d in docs {
        match Policy::parse(&d) {
            Ok(p) => out.push(p),
            // Checked when written; a document that no longer parses grants nothing.
            Err(e) => tracing::warn!("a stored policy document does not parse: {e}"),
        }
    }
    Ok(())
}

/// Every identity-based policy that applies to `p`: a user's inline and attached policies
/// and those of each of its groups; an assumed role's inline and attached policies.
pub async fn policies_of<S: Store>(st: &AppState<S>, p: &Principal) -> Result<Vec<Policy>> {
    let mut out = Vec::new();
    match &p.kind {
        PrincipalKind::User { name } => {
            let Some(u) = store::get::<S, UserRecord>(&st.store, &rec::user_key(name))
                .await
                .map_err(to_error)?
            else {
                return Ok(out);
            };
            add_policies(st, &u.value.policies, &mut out).await?;
            for g in &u.value.groups {
                if let Some(g) = store::get::<S, GroupRecord>(&st.store, &rec::group_key(g))
                    .await
                    .map_err(to_error)?
                {
                    add_policies(st, &g.value.policies, &mut out).await?;
                }
            }
        }
        PrincipalKind::AssumedRole { role_name, .. } => {
            if let Some(r) = store::get::<S, RoleRecord>(&st.store, &rec::role_key(role_name))
                .await
                .map_err(to_error)?
            {
                add_policies(st, &r.value.policies, &mut out).await?;
            }
        }
    }
    Ok(out)
}

/// With [`crate::ServerConfig::admin_key`] set: the user `admin` exists, has
/// `AdministratorAccess` attached, and owns that key, active. Idempotent; run at start.
pub async fn bootstrap<S: Store>(st: &AppState<S>) -> Result<()> {
    let Some(admin) = st.config.admin_key.as_ref() else {
        return Ok(());
    };
    match super::users::create(st, ADMIN_USER, "/", Vec::new()).await {
        Ok(_) => {}
        Err(e) if e.code == "EntityAlreadyExists" => {}
        Err(e) => return Err(to_error(e)),
    }
    store::edit(
        &st.store,
        &rec::user_key(ADMIN_USER),
        |cur: Option<UserRecord>| {
            let Some(mut u) = cur else {
                return Ok(Edit::Keep(()));
            };
            let arn = managed_policies::ADMINISTRATOR_ACCESS_ARN;
            if u.policies.attached.iter().any(|a| a == arn) {
                return Ok(Edit::Keep(()));
            }
            u.policies.attached.push(arn.to_string());
            Ok(Edit::put(u, ()))
        },
    )
    .await
    .map_err(to_error)?;
    let id = &admin.access_key_id;
    let kkey = rec::access_key_key(id);
    let existing = store::get::<S, AccessKeyRecord>(&st.store, &kkey)
        .await
        .map_err(to_error)?;
    match existing {
        None => {
            access_keys::add_key(st, ADMIN_USER, id, &admin.secret_access_key)
                .await
                .map_err(to_error)?;
        }
        Some(_) => {
            // The operator's key wins: reactivate it, reseal its secret if it changed.
            let sealer = access_keys::sealer(st).map_err(to_error)?;
            let secret = &admin.secret_access_key;
            let sealed = sealer
                .seal(id, secret)
                .map_err(|e| Error::Api(ApiError::server(e.to_string())))?;
            store::edit(&st.store, &kkey, |cur: Option<AccessKeyRecord>| {
                let Some(mut k) = cur else {
                    return Ok(Edit::Keep(()));
                };
                let same = sealer.open(id, &k.secret).is_ok_and(|s| &s == secret);
                if same && k.status == KeyStatus::Active && k.user_name == ADMIN_USER {
                    return Ok(Edit::Keep(()));
                }
                k.status = KeyStatus::Active;
                k.user_name = ADMIN_USER.to_string();
                k.session = None;
                if !same {
                    k.secret.clone_from(&sealed);
                }
                Ok(Edit::put(k, ()))
            })
            .await
            .map_err(to_error)?;
        }
    }
    Ok(())
}

/// How often [`record_use`] writes for one key: the store is spared a write per request.
const RECORD_EVERY_SECS: f64 = 60.0;

/// Notes that `access_key_id` was used for `service` in `region` (GetAccessKeyLastUsed), at
/// most once a minute per key and service.
pub async fn record_use<S: Store>(
    st: &AppState<S>,
    access_key_id: &str,
    service: &str,
    region: &str,
) -> Result<()> {
    static LAST: OnceLock<Mutex<HashMap<String, f64>>> = OnceLock::new();
    let now = st.clock.now();
    let slot = format!("{access_key_id}/{service}/{region}");
    {
        let mut last = LAST
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last
            .get(&slot)
            .is_some_and(|t| now - t < RECORD_EVERY_SECS && now >= *t)
        {
            return Ok(());
        }
        last.insert(slot, now);
    }
    store::edit(
        &st.store,
        &rec::access_key_key(access_key_id),
        |cur: Option<AccessKeyRecord>| {
            let Some(mut k) = cur else {
                return Ok(Edit::Keep(()));
            };
            k.last_used = Some(LastUsed {
                at: now,
                service: service.to_string(),
                region: region.to_string(),
            });
            Ok(Edit::put(k, ()))
        },
    )
    .await
    .map_err(to_error)
}
