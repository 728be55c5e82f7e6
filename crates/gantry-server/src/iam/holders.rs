//! Users, groups and roles alike hold inline policies and attached managed policies; the
//! policy operations are written once over [`Holder`].

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::IamError;
use crate::persistence::iam_records::{self as rec, GroupRecord, Policies, RoleRecord, UserRecord};

pub trait Holder: Serialize + DeserializeOwned + Send {
    /// `user`, `group`, `role` (in messages).
    const KIND: &'static str;
    /// The member that names it: `UserName`, `GroupName`, `RoleName`.
    const MEMBER: &'static str;
    const MAX_NAME: usize;
    fn key(name: &str) -> String;
    fn name(&self) -> &str;
    fn policies(&self) -> &Policies;
    fn policies_mut(&mut self) -> &mut Policies;

    fn not_found(name: &str) -> IamError {
        IamError::no_such_entity(format!(
            "The {} with name {name} cannot be found.",
            Self::KIND
        ))
    }
}

impl Holder for UserRecord {
    const KIND: &'static str = "user";
    const MEMBER: &'static str = "UserName";
    const MAX_NAME: usize = 128;
    fn key(name: &str) -> String {
        rec::user_key(name)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn policies(&self) -> &Policies {
        &self.policies
    }
    fn policies_mut(&mut self) -> &mut Policies {
        &mut self.policies
    }
}

impl Holder for GroupRecord {
    const KIND: &'static str = "group";
    const MEMBER: &'static str = "GroupName";
    const MAX_NAME: usize = 128;
    fn key(name: &str) -> String {
        rec::group_key(name)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn policies(&self) -> &Policies {
        &self.policies
    }
    fn policies_mut(&mut self) -> &mut Policies {
        &mut self.policies
    }
}

impl Holder for RoleRecord {
    const KIND: &'static str = "role";
    const MEMBER: &'static str = "RoleName";
    const MAX_NAME: usize = 64;
    fn key(name: &str) -> String {
        rec::role_key(name)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn policies(&self) -> &Policies {
        &self.policies
    }
    fn policies_mut(&mut self) -> &mut Policies {
        &mut self.policies
    }
}

/// Why a user, group or role cannot be deleted yet because of its policies (IAM's
/// DeleteConflict texts), or None.
pub fn policies_left(p: &Policies) -> Option<&'static str> {
    if !p.inline.is_empty() {
        Some("Cannot delete entity, must delete policies first.")
    } else if !p.attached.is_empty() {
        Some("Cannot delete entity, must detach all policies first.")
    } else {
        None
    }
}
