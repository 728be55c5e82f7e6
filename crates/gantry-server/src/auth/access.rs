//! What a request does, in IAM's terms: one action on one resource with the condition keys
//! that go with it. A service maps each operation to the list AWS's Service Authorization
//! Reference gives (`crate::ecs::authz`, [`super::iam_actions`]); the gate authorizes every
//! entry and the audit log records their resources.

use std::collections::BTreeMap;

/// One action on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `service:Operation`, e.g. `ecs:RunTask`.
    pub action: String,
    /// The resource ARN, or `*` for actions that take no resource.
    pub resource: String,
    /// Service condition keys (`ecs:cluster`, `aws:RequestTag/team`, …).
    pub keys: BTreeMap<String, Vec<String>>,
}

impl Access {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            keys: BTreeMap::new(),
        }
    }

    /// The same with condition key `key` = `values`.
    pub fn with(mut self, key: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.keys.insert(
            key.to_string(),
            values.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// Adds `aws:RequestTag/<k>` and `aws:TagKeys` for tags a request attaches.
    pub fn with_request_tags<'a>(
        mut self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let mut keys = Vec::new();
        for (k, v) in tags {
            self.keys
                .insert(format!("aws:RequestTag/{k}"), vec![v.to_string()]);
            keys.push(k.to_string());
        }
        if !keys.is_empty() {
            self.keys.insert("aws:TagKeys".into(), keys);
        }
        self
    }

    /// Adds `<prefix>:ResourceTag/<k>` (and `aws:ResourceTag/<k>`) for a resource's stored tags.
    pub fn with_resource_tags<'a>(
        mut self,
        prefix: &str,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        for (k, v) in tags {
            self.keys
                .insert(format!("{prefix}:ResourceTag/{k}"), vec![v.to_string()]);
            self.keys
                .insert(format!("aws:ResourceTag/{k}"), vec![v.to_string()]);
        }
        self
    }
}
