//! SSM activations: `CreateActivation`, `DeleteActivation`, and the redemption a joining host
//! makes through the agent gateway ([`redeem`]). DescribeActivations is in
//! [`super::activation_list`].

use gantry_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::code;
use super::error::{invalid_activation, invalid_activation_id, invalid_parameters};
use super::input::{decode, Checks, Tag};
use super::records::{
    activation_key, managed_instance_key, ActivationRecord, ManagedInstanceRecord,
};
use crate::error::Result;
use crate::persistence::db;
use crate::persistence::update::{self, Attempt};
use crate::state::AppState;

/// An activation lives a day unless its request says otherwise.
pub const DEFAULT_TTL_SECS: f64 = 24.0 * 3600.0;
/// ... and at most 30 days.
pub const MAX_TTL_SECS: f64 = 30.0 * 24.0 * 3600.0;

/// What a redeemed activation gives the host that joins with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Redeemed {
    /// The new managed instance's id, `mi-` + 17 hex digits.
    pub managed_instance_id: String,
    /// The activation's IAM role (its name, as `create-activation --iam-role` gave it).
    pub iam_role: String,
    /// The activation's default instance name, if it has one.
    pub default_instance_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateActivationRequest {
    description: Option<String>,
    default_instance_name: Option<String>,
    iam_role: Option<String>,
    registration_limit: Option<i64>,
    expiration_date: Option<f64>,
    #[serde(default)]
    tags: Vec<Tag>,
    registration_metadata: Option<Value>,
}

pub async fn create_activation<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: CreateActivationRequest = decode(body)?;
    let mut c = Checks::default();
    c.length("Description", req.description.as_deref(), 0, 256);
    c.length(
        "DefaultInstanceName",
        req.default_instance_name.as_deref(),
        0,
        256,
    );
    c.name_chars("DefaultInstanceName", req.default_instance_name.as_deref());
    c.required("IamRole", req.iam_role.as_ref());
    c.length("IamRole", req.iam_role.as_deref(), 0, 64);
    c.range("RegistrationLimit", req.registration_limit, 1, 1000);
    c.tags("Tags", &req.tags);
    c.done()?;
    if req.registration_metadata.is_some() {
        return Err(invalid_parameters(
            "RegistrationMetadata is reserved for SSM's internal use and Gantry does not accept it; leave it out.",
        ));
    }
    let iam_role = req.iam_role.unwrap_or_default();
    let now = st.clock.now();
    let expires = match req.expiration_date {
        None => now + DEFAULT_TTL_SECS,
        Some(t) if t <= now => {
            return Err(invalid_parameters(format!(
                "ExpirationDate {} is in the past; give a date up to 30 days ahead.",
                super::dates::iso(t)
            )))
        }
        Some(t) if t > now + MAX_TTL_SECS => {
            return Err(invalid_parameters(format!(
                "ExpirationDate {} is more than 30 days ahead; an activation can be valid for at most 30 days.",
                super::dates::iso(t)
            )))
        }
        Some(t) => t,
    };
    // The role last: its answer is the same for an empty name as for any role not there.
    super::role::check(st, &iam_role).await?;
    let id = code::new_activation_id();
    let secret = code::new_code();
    let record = ActivationRecord {
        id: id.clone(),
        code_sha256: code::hash(&secret),
        iam_role,
        description: req.description,
        default_instance_name: req.default_instance_name,
        registration_limit: req.registration_limit.unwrap_or(1),
        registrations_count: 0,
        created: now,
        expires,
        tags: req.tags.into_iter().map(|t| (t.key, t.value)).collect(),
    };
    let key = activation_key(&id);
    // A fresh uuid: the compare only guards against the impossible collision.
    if !db::commit(
        &st.store,
        vec![db::unchanged(&key, 0)],
        vec![db::put(&key, &record)?],
    )
    .await?
    {
        return Err(crate::error::Error::Contention { what: key });
    }
    Ok(json!({"ActivationId": id, "ActivationCode": secret}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteActivationRequest {
    activation_id: Option<String>,
}

/// Deletes the activation; the managed instances registered with it stay registered.
pub async fn delete_activation<S: Store>(st: &AppState<S>, body: Value) -> Result<Value> {
    let req: DeleteActivationRequest = decode(body)?;
    let mut c = Checks::default();
    c.required("ActivationId", req.activation_id.as_ref());
    c.activation_id("ActivationId", req.activation_id.as_deref());
    c.done()?;
    let id = req.activation_id.unwrap_or_default();
    let key = activation_key(&id);
    update::retry(
        || format!("activation {id}"),
        || async {
            let Some(cur) = db::get::<S, ActivationRecord>(&st.store, &key).await? else {
                return Err(invalid_activation_id(&id));
            };
            let ok = db::commit(
                &st.store,
                vec![db::unchanged(&key, cur.revision)],
                vec![gantry_store::Op::Delete { key: key.clone() }],
            )
            .await?;
            Ok(if ok {
                Attempt::Done(())
            } else {
                Attempt::Conflict
            })
        },
    )
    .await?;
    Ok(json!({}))
}

/// Redeems activation `id` with `code` for one host named `hostname`: checks the code
/// (constant time), the expiry and the registration limit, counts the registration and
/// creates the managed instance record, all in one compare-and-swap. The error for a wrong,
/// expired, deleted or used-up activation says which, without revealing a code.
pub async fn redeem<S: Store>(
    st: &AppState<S>,
    id: &str,
    code: &str,
    hostname: &str,
) -> Result<Redeemed> {
    if !super::input::is_activation_id(id) {
        return Err(invalid_activation_id(id));
    }
    if hostname.is_empty() || hostname.len() > 255 {
        return Err(invalid_parameters(
            "The host name must be 1 to 255 characters long.",
        ));
    }
    let key = activation_key(id);
    update::retry(
        || format!("activation {id}"),
        || async {
            let Some(cur) = db::get::<S, ActivationRecord>(&st.store, &key).await? else {
                return Err(crate::error::Error::Api(gantry_api::ApiError::new(
                    gantry_api::ErrorKind::SsmInvalidActivationId,
                    format!("Activation {id} does not exist or was deleted; create a new activation."),
                )));
            };
            let mut a = cur.value;
            // The code first: without it, nothing else about the activation is revealed.
            if !code::matches(code, &a.code_sha256) {
                return Err(invalid_activation(format!(
                    "The activation code does not match activation {id}; check the code the activation was created with."
                )));
            }
            let now = st.clock.now();
            if a.expired(now) {
                return Err(invalid_activation(format!(
                    "Activation {id} expired at {}; create a new activation.",
                    super::dates::iso(a.expires)
                )));
            }
            if a.registrations_count >= a.registration_limit {
                return Err(invalid_activation(format!(
                    "Activation {id} has already registered its limit of {} managed node(s); create a new activation.",
                    a.registration_limit
                )));
            }
            a.registrations_count += 1;
            let mi = ManagedInstanceRecord {
                id: code::new_managed_instance_id(),
                activation_id: id.to_string(),
                iam_role: a.iam_role.clone(),
                name: a.default_instance_name.clone(),
                computer_name: hostname.to_string(),
                registered: now,
                deregistered: None,
                tags: a.tags.clone(),
            };
            let mi_key = managed_instance_key(&mi.id);
            let ok = db::commit(
                &st.store,
                vec![db::unchanged(&key, cur.revision), db::unchanged(&mi_key, 0)],
                vec![db::put(&key, &a)?, db::put(&mi_key, &mi)?],
            )
            .await?;
            Ok(if ok {
                Attempt::Done(Redeemed {
                    managed_instance_id: mi.id,
                    iam_role: a.iam_role,
                    default_instance_name: a.default_instance_name,
                })
            } else {
                Attempt::Conflict
            })
        },
    )
    .await
}
