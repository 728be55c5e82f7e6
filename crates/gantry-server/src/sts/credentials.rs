//! GetCallerIdentity, AssumeRole and GetSessionToken.

use std::collections::BTreeMap;

use gantry_aws::policy::{self, Context, Decision, Policy};
use gantry_store::Store;

use crate::auth::{Caller, PrincipalKind};
use crate::aws::query::QueryRequest;
use crate::aws::xml::Xml;
use crate::iam::access_keys::sealer;
use crate::iam::error::{IamError, IamResult};
use crate::iam::identity::{by_access_key, policies_of, role_principal};
use crate::iam::store;
use crate::iam::values::{self, iso};
use crate::persistence::iam_records::{
    self as rec, AccessKeyRecord, KeyStatus, RoleRecord, Session, SessionOf,
};
use crate::state::AppState;

/// The bounds of `DurationSeconds`.
pub const MIN_DURATION: i64 = 900;
pub const MAX_ROLE_DURATION: i64 = 43_200;
pub const MAX_SESSION_TOKEN_DURATION: i64 = 129_600;
pub const DEFAULT_SESSION_TOKEN_DURATION: i64 = 43_200;
pub const DEFAULT_ROLE_DURATION: i64 = 3600;

fn service_failure(e: impl std::fmt::Display) -> IamError {
    IamError::new("ServiceFailure", 500, e.to_string())
}

pub async fn get_caller_identity<S: Store>(
    _: &AppState<S>,
    _: &QueryRequest,
    caller: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    let p = caller.principal.clone();
    Ok(move |x: &mut Xml| {
        x.leaf("UserId", &p.user_id)
            .leaf("Account", &p.account)
            .leaf("Arn", &p.arn);
    })
}

/// The condition keys every STS check sees about its caller.
fn caller_keys(caller: &Caller) -> BTreeMap<String, Vec<String>> {
    let p = &caller.principal;
    let mut keys = BTreeMap::new();
    keys.insert("aws:userid".into(), vec![p.user_id.clone()]);
    keys.insert("aws:PrincipalArn".into(), vec![p.arn.clone()]);
    keys.insert("aws:PrincipalAccount".into(), vec![p.account.clone()]);
    keys.insert("aws:SourceIp".into(), vec![caller.source_ip.to_string()]);
    keys.insert(
        "aws:SecureTransport".into(),
        vec![caller.secure.to_string()],
    );
    if let PrincipalKind::User { name } = &p.kind {
        keys.insert("aws:username".into(), vec![name.clone()]);
    }
    for (k, v) in &p.tags {
        keys.insert(format!("aws:PrincipalTag/{k}"), vec![v.clone()]);
    }
    keys
}

/// A temporary credential: stored sealed, returned once.
struct Issued {
    id: String,
    secret: String,
    token: String,
    expires_at: i64,
}

async fn issue<S: Store>(
    st: &AppState<S>,
    user_name: &str,
    of: SessionOf,
    principal_id: &str,
    duration: i64,
) -> IamResult<Issued> {
    let sealer = sealer(st)?;
    let id = values::access_key_id("ASIA");
    let secret = values::secret_access_key();
    let token = values::session_token();
    let now = st.clock.now();
    // Whole seconds: Expiration is shown to the second.
    #[allow(clippy::cast_possible_truncation)]
    let expires_at = now.floor() as i64 + duration;
    let record = AccessKeyRecord {
        id: id.clone(),
        user_name: user_name.to_string(),
        status: KeyStatus::Active,
        created: now,
        secret: sealer.seal(&id, &secret).map_err(service_failure)?,
        last_used: None,
        session: Some(Session {
            of,
            principal_id: principal_id.to_string(),
            token: sealer.seal(&id, &token).map_err(service_failure)?,
            expires_at,
        }),
    };
    let key = rec::access_key_key(&id);
    let ok = store::commit(
        &st.store,
        vec![store::unchanged(&key, 0)],
        vec![store::put(&key, &record)?],
    )
    .await?;
    if !ok {
        return Err(service_failure("a fresh access key id collided; retry"));
    }
    Ok(Issued {
        id,
        secret,
        token,
        expires_at,
    })
}

fn write_credentials(x: &mut Xml, c: &Issued) {
    #[allow(clippy::cast_precision_loss)]
    let expiration = iso(c.expires_at as f64);
    x.element("Credentials", |e| {
        e.leaf("AccessKeyId", &c.id)
            .leaf("SecretAccessKey", &c.secret)
            .leaf("SessionToken", &c.token)
            .leaf("Expiration", &expiration);
    });
}

fn not_authorized(caller: &Caller, resource: &str, why: &str) -> IamError {
    IamError::access_denied(format!(
        "User: {} is not authorized to perform: sts:AssumeRole on resource: {resource}{why}",
        caller.principal.arn
    ))
}

pub async fn assume_role<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    caller: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    values::refuse(
        req,
        &[
            "Policy",
            "PolicyArns",
            "Tags",
            "TransitiveTagKeys",
            "SerialNumber",
            "TokenCode",
            "SourceIdentity",
            "ProvidedContexts",
        ],
    )?;
    let role_arn = values::required(req, "RoleArn")?;
    values::check_len("RoleArn", role_arn, 20, 2048)?;
    let session = values::required(req, "RoleSessionName")?;
    values::check_len("RoleSessionName", session, 2, 64)?;
    if !session
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(IamError::validation(format!(
            "1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    let duration = values::int(req, "DurationSeconds", MIN_DURATION, MAX_ROLE_DURATION)?;
    let account = &st.config.account_id;
    let role = match role_arn
        .strip_prefix(&format!("arn:aws:iam::{account}:role/"))
        .and_then(|rest| rest.rsplit('/').next())
    {
        Some(name) if !name.is_empty() => {
            store::get::<S, RoleRecord>(&st.store, &rec::role_key(name))
                .await?
                .map(|v| v.value)
                .filter(|r| crate::iam::roles::arn_of(account, r) == role_arn)
        }
        _ => None,
    };
    // A role that does not exist is denied the same way as one the caller may not assume.
    let role = role.ok_or_else(|| not_authorized(caller, role_arn, ""))?;
    let duration = duration.unwrap_or(DEFAULT_ROLE_DURATION);
    if duration > role.max_session_duration {
        return Err(IamError::validation(format!(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role ({} seconds).",
            role.max_session_duration
        )));
    }
    let mut keys = caller_keys(caller);
    if let Some(ext) = req.get("ExternalId") {
        values::check_len("ExternalId", ext, 2, 1224)?;
        keys.insert("sts:ExternalId".into(), vec![ext.to_string()]);
    }
    keys.insert("sts:RoleSessionName".into(), vec![session.to_string()]);
    let ctx = Context {
        action: "sts:AssumeRole".into(),
        resource: role_arn.to_string(),
        keys,
        principal_arn: Some(caller.principal.arn.clone()),
        principal_account: Some(caller.principal.account.clone()),
    };
    let own = policies_of(st, &caller.principal).await?;
    let refs: Vec<&Policy> = own.iter().collect();
    match policy::evaluate(&refs, &ctx) {
        Decision::Allow => {}
        Decision::ExplicitDeny => {
            return Err(not_authorized(
                caller,
                role_arn,
                " with an explicit deny in an identity-based policy",
            ))
        }
        Decision::ImplicitDeny => {
            return Err(not_authorized(
                caller,
                role_arn,
                " because no identity-based policy allows the sts:AssumeRole action",
            ))
        }
    }
    let trust = Policy::parse_trust(&role.trust_policy)
        .map_err(|e| service_failure(format!("the stored trust policy does not parse: {e}")))?;
    if policy::evaluate_trust(&trust, &ctx) != Decision::Allow {
        return Err(not_authorized(caller, role_arn, ""));
    }
    let owner = match &caller.principal.kind {
        PrincipalKind::User { name } => name.clone(),
        PrincipalKind::AssumedRole { .. } => String::new(),
    };
    let issued = issue(
        st,
        &owner,
        SessionOf::Role {
            role_name: role.name.clone(),
            session_name: session.to_string(),
        },
        &role.id,
        duration,
    )
    .await?;
    let assumed = role_principal(account, &role, session);
    Ok(move |x: &mut Xml| {
        write_credentials(x, &issued);
        x.element("AssumedRoleUser", |u| {
            u.leaf("AssumedRoleId", &assumed.user_id)
                .leaf("Arn", &assumed.arn);
        });
    })
}

pub async fn get_session_token<S: Store>(
    st: &AppState<S>,
    req: &QueryRequest,
    caller: &Caller,
) -> IamResult<impl FnOnce(&mut Xml)> {
    values::refuse(req, &["SerialNumber", "TokenCode"])?;
    let duration = values::int(
        req,
        "DurationSeconds",
        MIN_DURATION,
        MAX_SESSION_TOKEN_DURATION,
    )?
    .unwrap_or(DEFAULT_SESSION_TOKEN_DURATION);
    let PrincipalKind::User { name } = &caller.principal.kind else {
        return Err(IamError::access_denied(
            "Cannot call GetSessionToken with session credentials",
        ));
    };
    let key = by_access_key(st, &caller.access_key_id).await?;
    if key.as_ref().is_none_or(|k| k.session_token.is_some()) {
        return Err(IamError::access_denied(
            "Cannot call GetSessionToken with session credentials",
        ));
    }
    let issued = issue(
        st,
        name,
        SessionOf::User,
        &caller.principal.user_id,
        duration,
    )
    .await?;
    Ok(move |x: &mut Xml| write_credentials(x, &issued))
}
