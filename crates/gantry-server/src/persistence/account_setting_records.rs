//! ECS account settings as stored: one record per principal and setting name.
//!
//! Keys: `account-settings/<principal ARN>/<setting name>`. The account default is the
//! record of the account's root ARN (`arn:aws:iam::<account>:root`), as ECS shows it.

use serde::{Deserialize, Serialize};

pub fn account_setting_key(principal_arn: &str, name: &str) -> String {
    format!("account-settings/{principal_arn}/{name}")
}

pub fn account_settings_of(principal_arn: &str) -> String {
    format!("account-settings/{principal_arn}/")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSettingRecord {
    pub name: String,
    pub value: String,
    pub principal_arn: String,
}
