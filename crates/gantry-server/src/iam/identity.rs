//! The lookups the auth gate makes: an access key's identity and secret, and the policies
//! that apply to a principal. SKELETON: only the administrator key from
//! [`crate::ServerConfig::admin_key`] is known; the IAM store replaces this.

use gantry_aws::policy::Policy;
use gantry_store::Store;

use crate::auth::{Principal, PrincipalKind};
use crate::error::Result;
use crate::state::AppState;

/// AWS's `AdministratorAccess` managed policy document.
pub const ADMINISTRATOR_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

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

/// The identity of `access_key_id`, if any key has that id.
pub async fn by_access_key<S: Store>(
    st: &AppState<S>,
    access_key_id: &str,
) -> Result<Option<KeyIdentity>> {
    let Some(admin) = st.config.admin_key.as_ref() else {
        return Ok(None);
    };
    if admin.access_key_id != access_key_id {
        return Ok(None);
    }
    let account = st.config.account_id.clone();
    Ok(Some(KeyIdentity {
        principal: Principal {
            arn: format!("arn:aws:iam::{account}:user/admin"),
            user_id: "AIDAGANTRYADMIN00000".into(),
            account,
            kind: PrincipalKind::User {
                name: "admin".into(),
            },
            tags: Default::default(),
        },
        secret: admin.secret_access_key.clone(),
        active: true,
        session_token: None,
        expires_at: None,
    }))
}

/// Every identity-based policy that applies to `p` (inline, attached, and its groups').
pub async fn policies_of<S: Store>(st: &AppState<S>, p: &Principal) -> Result<Vec<Policy>> {
    let _ = (st, p);
    Ok(Policy::parse(ADMINISTRATOR_ACCESS).into_iter().collect())
}
