//! IAM, as the botocore `iam` model defines it (query protocol, XML answers in the
//! `https://iam.amazonaws.com/doc/2010-05-08/` namespace): users, access keys, inline and
//! managed policies, groups, roles and tags, one file per resource group, every object a
//! record in the store ([`crate::persistence::iam_records`]). [`identity`] is what the auth
//! gate reads; secrets are sealed at rest by [`secrets`].

pub(crate) mod access_keys;
pub(crate) mod attached_policies;
pub mod error;
pub(crate) mod groups;
pub(crate) mod holders;
pub mod identity;
pub(crate) mod inline_policies;
pub(crate) mod managed_policies;
pub(crate) mod policy_versions;
pub(crate) mod roles;
pub mod secrets;
pub(crate) mod store;
pub(crate) mod tags;
pub(crate) mod users;
pub(crate) mod values;

use axum::response::Response;
use gantry_store::Store;

use crate::auth::Caller;
use crate::aws::query::{respond, QueryRequest};
use crate::aws::xml::Xml;
use crate::persistence::iam_records::{GroupRecord, RoleRecord, UserRecord};
use crate::state::AppState;
use error::{IamError, IamResult};

pub const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub const VERSION: &str = "2010-05-08";

/// Answers with an empty `<{action}Result/>` when `r` is Ok.
fn empty(r: IamResult<()>) -> IamResult<impl FnOnce(&mut Xml)> {
    r.map(|()| |_: &mut Xml| {})
}

macro_rules! operations {
    ($($name:literal => $call:expr,)*) => {
        /// The IAM operations Gantry serves.
        pub const IMPLEMENTED: &[&str] = &[$($name,)*];

        /// Runs an IAM query request.
        pub async fn dispatch<S: Store>(st: &AppState<S>, req: &QueryRequest, caller: &Caller) -> Response {
            if req.version != VERSION {
                return IamError::invalid_input(format!(
                    "Version {} is not an IAM API version; send Version={VERSION}.", req.version
                )).response();
            }
            match req.action.as_str() {
                $($name => match $call(st, req, caller).await {
                    Ok(f) => respond($name, NAMESPACE, f),
                    Err(e) => e.response(),
                },)*
                other => IamError::new(
                    "InvalidAction",
                    400,
                    format!("Gantry does not implement the IAM action {other}."),
                ).response(),
            }
        }
    };
}

// The per-holder policy operations, bound to their record type.
macro_rules! holder_ops {
    ($($fname:ident => $module:ident :: $op:ident < $t:ty > $(, $wrap:ident)?;)*) => {
        $(async fn $fname<S: Store>(st: &AppState<S>, req: &QueryRequest, _: &Caller) -> IamResult<impl FnOnce(&mut Xml)> {
            holder_ops!(@call $module::$op::<S, $t>(st, req) $(, $wrap)?)
        })*
    };
    (@call $e:expr, empty) => { empty($e.await) };
    (@call $e:expr) => { $e.await };
}

holder_ops! {
    put_user_policy => inline_policies::put<UserRecord>, empty;
    get_user_policy => inline_policies::get<UserRecord>;
    list_user_policies => inline_policies::list<UserRecord>;
    delete_user_policy => inline_policies::delete<UserRecord>, empty;
    put_group_policy => inline_policies::put<GroupRecord>, empty;
    get_group_policy => inline_policies::get<GroupRecord>;
    list_group_policies => inline_policies::list<GroupRecord>;
    delete_group_policy => inline_policies::delete<GroupRecord>, empty;
    put_role_policy => inline_policies::put<RoleRecord>, empty;
    get_role_policy => inline_policies::get<RoleRecord>;
    list_role_policies => inline_policies::list<RoleRecord>;
    delete_role_policy => inline_policies::delete<RoleRecord>, empty;
    attach_user_policy => attached_policies::attach<UserRecord>, empty;
    detach_user_policy => attached_policies::detach<UserRecord>, empty;
    list_attached_user_policies => attached_policies::list<UserRecord>;
    attach_group_policy => attached_policies::attach<GroupRecord>, empty;
    detach_group_policy => attached_policies::detach<GroupRecord>, empty;
    list_attached_group_policies => attached_policies::list<GroupRecord>;
    attach_role_policy => attached_policies::attach<RoleRecord>, empty;
    detach_role_policy => attached_policies::detach<RoleRecord>, empty;
    list_attached_role_policies => attached_policies::list<RoleRecord>;
}

operations! {
    "CreateUser" => users::create_user,
    "GetUser" => users::get_user,
    "ListUsers" => users::list_users,
    "UpdateUser" => users::update_user,
    "DeleteUser" => users::delete_user,
    "CreateAccessKey" => access_keys::create_access_key,
    "ListAccessKeys" => access_keys::list_access_keys,
    "UpdateAccessKey" => access_keys::update_access_key,
    "DeleteAccessKey" => access_keys::delete_access_key,
    "GetAccessKeyLastUsed" => access_keys::get_access_key_last_used,
    "PutUserPolicy" => put_user_policy,
    "GetUserPolicy" => get_user_policy,
    "ListUserPolicies" => list_user_policies,
    "DeleteUserPolicy" => delete_user_policy,
    "PutGroupPolicy" => put_group_policy,
    "GetGroupPolicy" => get_group_policy,
    "ListGroupPolicies" => list_group_policies,
    "DeleteGroupPolicy" => delete_group_policy,
    "PutRolePolicy" => put_role_policy,
    "GetRolePolicy" => get_role_policy,
    "ListRolePolicies" => list_role_policies,
    "DeleteRolePolicy" => delete_role_policy,
    "CreatePolicy" => managed_policies::create_policy,
    "GetPolicy" => managed_policies::get_policy,
    "ListPolicies" => managed_policies::list_policies,
    "DeletePolicy" => managed_policies::delete_policy,
    "CreatePolicyVersion" => policy_versions::create_policy_version,
    "GetPolicyVersion" => policy_versions::get_policy_version,
    "ListPolicyVersions" => policy_versions::list_policy_versions,
    "DeletePolicyVersion" => policy_versions::delete_policy_version,
    "SetDefaultPolicyVersion" => policy_versions::set_default_policy_version,
    "AttachUserPolicy" => attach_user_policy,
    "DetachUserPolicy" => detach_user_policy,
    "ListAttachedUserPolicies" => list_attached_user_policies,
    "AttachGroupPolicy" => attach_group_policy,
    "DetachGroupPolicy" => detach_group_policy,
    "ListAttachedGroupPolicies" => list_attached_group_policies,
    "AttachRolePolicy" => attach_role_policy,
    "DetachRolePolicy" => detach_role_policy,
    "ListAttachedRolePolicies" => list_attached_role_policies,
    "CreateGroup" => groups::create_group,
    "GetGroup" => groups::get_group,
    "ListGroups" => groups::list_groups,
    "DeleteGroup" => groups::delete_group,
    "AddUserToGroup" => groups::add_user_to_group,
    "RemoveUserFromGroup" => groups::remove_user_from_group,
    "ListGroupsForUser" => groups::list_groups_for_user,
    "CreateRole" => roles::create_role,
    "GetRole" => roles::get_role,
    "ListRoles" => roles::list_roles,
    "DeleteRole" => roles::delete_role,
    "TagUser" => tags::tag_user,
    "UntagUser" => tags::untag_user,
    "ListUserTags" => tags::list_user_tags,
    "TagRole" => tags::tag_role,
    "UntagRole" => tags::untag_role,
    "ListRoleTags" => tags::list_role_tags,
}
