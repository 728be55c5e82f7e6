//! PutAccountSetting, PutAccountSettingDefault, ListAccountSettings, DeleteAccountSetting:
//! ECS's account settings per principal (an IAM user, an IAM role — an assumed role's
//! session counts as its role — or the account's root, whose settings are the account
//! default), and [`effective`]: the principal's own, else the account default, else ECS's
//! default.
//!
//! Gantry has no root user; its bootstrap administrator (the IAM user `admin`) stands in for
//! it where ECS requires the root: to set or list another principal's settings, and to set
//! `fargateTaskRetirementWaitPeriod`.
//!
//! The messages ECS is recorded answering: `Invalid setting 'value'` for a value the setting
//! does not take, and `You can no longer disable Long Arn settings` for the long-ARN
//! settings. The others (another principal's settings, a read-only setting, `value` without
//! `name`) are Gantry's wording, ECS's not being on record.

use gantry_api::model::{
    DeleteAccountSettingRequest, DeleteAccountSettingResponse, ListAccountSettingsRequest,
    ListAccountSettingsResponse, PutAccountSettingDefaultRequest, PutAccountSettingDefaultResponse,
    PutAccountSettingRequest, PutAccountSettingResponse, Setting,
};
use gantry_api::{ApiError, ErrorKind};
use gantry_store::{Op, Store};

use crate::auth::{Caller, PrincipalKind};
use crate::error::{invalid, Error, Result};
use crate::iam::identity::ADMIN_USER;
use crate::persistence::account_setting_records::{
    account_setting_key, account_settings_of, AccountSettingRecord,
};
use crate::persistence::db;
use crate::state::AppState;

/// One setting of the model's `SettingName` enum.
struct Known {
    name: &'static str,
    values: &'static [&'static str],
    /// ECS's value when neither the principal nor the account set one.
    default: &'static str,
}

const ENABLED: &[&str] = &["enabled", "disabled"];

/// Sorted by name: the order ListAccountSettings answers in.
const KNOWN: &[Known] = &[
    Known {
        name: "awsvpcTrunking",
        values: ENABLED,
        default: "disabled",
    },
    Known {
        name: "containerInsights",
        values: &["enabled", "disabled", "enhanced"],
        default: "disabled",
    },
    Known {
        name: "containerInstanceLongArnFormat",
        values: ENABLED,
        default: "enabled",
    },
    Known {
        name: "defaultLogDriverMode",
        values: &["blocking", "non-blocking"],
        default: "non-blocking",
    },
    Known {
        name: "fargateEventWindows",
        values: ENABLED,
        default: "disabled",
    },
    Known {
        name: "fargateFIPSMode",
        values: ENABLED,
        default: "disabled",
    },
    Known {
        name: "fargateTaskRetirementWaitPeriod",
        values: &["0", "7", "14"],
        default: "7",
    },
    Known {
        name: "guardDutyActivate",
        values: &["on", "off"],
        default: "off",
    },
    Known {
        name: "serviceLongArnFormat",
        values: ENABLED,
        default: "enabled",
    },
    Known {
        name: "tagResourceAuthorization",
        values: &["on", "off"],
        default: "on",
    },
    Known {
        name: "taskLongArnFormat",
        values: ENABLED,
        default: "enabled",
    },
];

const LONG_ARNS: &[&str] = &[
    "serviceLongArnFormat",
    "taskLongArnFormat",
    "containerInstanceLongArnFormat",
];

/// Settings AWS manages: read-only (`type: aws_managed`).
const AWS_MANAGED: &[&str] = &["guardDutyActivate"];

/// Settings only the root may set, and only as the account default.
const ROOT_ONLY: &[&str] = &["fargateTaskRetirementWaitPeriod"];

/// The most ListAccountSettings returns in a page, and its default.
const MAX_RESULTS: i32 = 10;

fn known(name: &str) -> Result<&'static Known> {
    KNOWN
        .iter()
        .find(|k| k.name == name)
        .ok_or_else(|| invalid("Invalid setting 'name'"))
}

/// The account's root ARN: where the account default is kept.
pub fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// The principal whose settings apply to `caller`: a user's ARN, or an assumed role's role.
pub fn principal_of(caller: &Caller) -> String {
    match &caller.principal.kind {
        PrincipalKind::User { .. } => caller.principal.arn.clone(),
        PrincipalKind::AssumedRole { role_arn, .. } => role_arn.clone(),
    }
}

/// Gantry's stand-in for the root user: the bootstrap administrator.
fn is_root(caller: &Caller) -> bool {
    matches!(&caller.principal.kind, PrincipalKind::User { name } if name == ADMIN_USER)
}

/// The principal a request names (`principalArn`), or the caller's own; refused unless the
/// caller is that principal or the root.
fn named_principal<S>(st: &AppState<S>, caller: &Caller, arn: Option<&str>) -> Result<String> {
    let own = principal_of(caller);
    let Some(arn) = arn.filter(|a| !a.is_empty()) else {
        return Ok(own);
    };
    let account = &st.config.account_id;
    let ours = arn == root_arn(account)
        || [":user/", ":role/"]
            .iter()
            .any(|k| arn.starts_with(&format!("arn:aws:iam::{account}{k}")));
    if !ours {
        return Err(invalid(format!(
            "principalArn {arn} is not a user, role or the root of account {account}."
        )));
    }
    if arn == own || is_root(caller) {
        Ok(arn.to_string())
    } else {
        Err(Error::Api(ApiError::new(
            ErrorKind::AccessDenied,
            format!(
                "User: {} is not authorized to change or list the account settings of {arn}: only the principal itself or the root can.",
                caller.principal.arn
            ),
        )))
    }
}

fn check_value(k: &Known, value: &str) -> Result<()> {
    if AWS_MANAGED.contains(&k.name) {
        return Err(invalid(format!(
            "{} is managed by Amazon Web Services and is read-only.",
            k.name
        )));
    }
    if LONG_ARNS.contains(&k.name) && value == "disabled" {
        return Err(invalid("You can no longer disable Long Arn settings"));
    }
    if k.values.contains(&value) {
        Ok(())
    } else {
        Err(invalid("Invalid setting 'value'"))
    }
}

fn setting(name: &str, value: &str, principal: &str) -> Setting {
    Setting {
        name: Some(name.to_string()),
        value: Some(value.to_string()),
        principal_arn: Some(principal.to_string()),
        r#type: Some(
            if AWS_MANAGED.contains(&name) {
                "aws_managed"
            } else {
                "user"
            }
            .to_string(),
        ),
    }
}

async fn stored<S: Store>(
    st: &AppState<S>,
    principal: &str,
    name: &str,
) -> Result<Option<AccountSettingRecord>> {
    Ok(
        db::get::<S, AccountSettingRecord>(&st.store, &account_setting_key(principal, name))
            .await?
            .map(|v| v.value),
    )
}

/// The value of setting `name` for `principal`: its own, else the account default, else
/// ECS's default. `None` for a name ECS does not have.
pub async fn effective<S: Store>(
    st: &AppState<S>,
    principal: &str,
    name: &str,
) -> Result<Option<String>> {
    let Some(k) = KNOWN.iter().find(|k| k.name == name) else {
        return Ok(None);
    };
    if let Some(r) = stored(st, principal, name).await? {
        return Ok(Some(r.value));
    }
    let root = root_arn(&st.config.account_id);
    if let Some(r) = stored(st, &root, name).await? {
        return Ok(Some(r.value));
    }
    Ok(Some(k.default.to_string()))
}

/// [`effective`] for the principal `caller` acts as.
pub async fn effective_for<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    name: &str,
) -> Result<Option<String>> {
    effective(st, &principal_of(caller), name).await
}

async fn put<S: Store>(st: &AppState<S>, principal: &str, name: &str, value: &str) -> Result<()> {
    let record = AccountSettingRecord {
        name: name.to_string(),
        value: value.to_string(),
        principal_arn: principal.to_string(),
    };
    // Last writer wins, as in ECS: the write does not depend on what was there.
    db::commit(
        &st.store,
        Vec::new(),
        vec![db::put(&account_setting_key(principal, name), &record)?],
    )
    .await?;
    tracing::info!(principal, setting = name, value, "account setting changed");
    Ok(())
}

pub async fn put_account_setting<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    req: PutAccountSettingRequest,
) -> Result<PutAccountSettingResponse> {
    let name = req.name.unwrap_or_default();
    let value = req.value.unwrap_or_default();
    let k = known(&name)?;
    let principal = named_principal(st, caller, req.principal_arn.as_deref())?;
    check_value(k, &value)?;
    let root = root_arn(&st.config.account_id);
    if ROOT_ONLY.contains(&k.name) && !(principal == root && is_root(caller)) {
        return Err(invalid(format!(
            "{name} can only be set by the root user, for the account (principalArn {root})."
        )));
    }
    put(st, &principal, &name, &value).await?;
    Ok(PutAccountSettingResponse {
        setting: Some(setting(&name, &value, &principal)),
    })
}

pub async fn put_account_setting_default<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    req: PutAccountSettingDefaultRequest,
) -> Result<PutAccountSettingDefaultResponse> {
    let name = req.name.unwrap_or_default();
    let value = req.value.unwrap_or_default();
    let k = known(&name)?;
    check_value(k, &value)?;
    if ROOT_ONLY.contains(&k.name) && !is_root(caller) {
        return Err(invalid(format!("{name} can only be set by the root user.")));
    }
    let root = root_arn(&st.config.account_id);
    put(st, &root, &name, &value).await?;
    Ok(PutAccountSettingDefaultResponse {
        setting: Some(setting(&name, &value, &root)),
    })
}

pub async fn delete_account_setting<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    req: DeleteAccountSettingRequest,
) -> Result<DeleteAccountSettingResponse> {
    let name = req.name.unwrap_or_default();
    let k = known(&name)?;
    if AWS_MANAGED.contains(&k.name) {
        return Err(invalid(format!(
            "{name} is managed by Amazon Web Services and is read-only."
        )));
    }
    let principal = named_principal(st, caller, req.principal_arn.as_deref())?;
    let key = account_setting_key(&principal, &name);
    let value = match stored(st, &principal, &name).await? {
        Some(r) => {
            db::commit(&st.store, Vec::new(), vec![Op::Delete { key }]).await?;
            tracing::info!(principal, setting = name, "account setting deleted");
            r.value
        }
        // Nothing to delete: say what now applies, as a repeated delete would.
        None => effective(st, &principal, &name)
            .await?
            .unwrap_or_else(|| k.default.to_string()),
    };
    Ok(DeleteAccountSettingResponse {
        setting: Some(setting(&name, &value, &principal)),
    })
}

pub async fn list_account_settings<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    req: ListAccountSettingsRequest,
) -> Result<ListAccountSettingsResponse> {
    if req.value.is_some() && req.name.is_none() {
        return Err(invalid(
            "value can only be used together with name: name the setting to filter on.",
        ));
    }
    let size = match req.max_results {
        None => MAX_RESULTS,
        Some(n) if (1..=MAX_RESULTS).contains(&n) => n,
        Some(n) => {
            return Err(invalid(format!(
                "maxResults is {n}; it must be between 1 and {MAX_RESULTS}."
            )))
        }
    };
    if let Some(n) = &req.name {
        known(n)?;
    }
    let principal = named_principal(st, caller, req.principal_arn.as_deref())?;
    let mut all: Vec<Setting> = Vec::new();
    if req.effective_settings == Some(true) {
        for k in KNOWN {
            if req.name.as_deref().is_some_and(|n| n != k.name) {
                continue;
            }
            if let Some(v) = effective(st, &principal, k.name).await? {
                all.push(setting(k.name, &v, &principal));
            }
        }
    } else {
        let mut own =
            db::list::<S, AccountSettingRecord>(&st.store, &account_settings_of(&principal))
                .await?
                .into_iter()
                .map(|v| v.value)
                // A user's ARN can be a prefix of another's (`user/a` and `user/a/b`).
                .filter(|r| r.principal_arn == principal)
                .filter(|r| req.name.as_deref().is_none_or(|n| n == r.name))
                .collect::<Vec<_>>();
        own.sort_by(|a, b| a.name.cmp(&b.name));
        all.extend(
            own.iter()
                .map(|r| setting(&r.name, &r.value, &r.principal_arn)),
        );
    }
    if let Some(v) = &req.value {
        all.retain(|s| s.value.as_deref() == Some(v.as_str()));
    }
    let items = all
        .into_iter()
        .map(|s| (s.name.clone().unwrap_or_default(), s))
        .collect();
    let (settings, next_token) =
        crate::aws::paging::page(items, req.next_token.as_deref(), Some(size), true)?;
    Ok(ListAccountSettingsResponse {
        settings: Some(settings),
        next_token,
    })
}
