//! What each IAM and STS operation is authorized on, after AWS's Service Authorization
//! Reference: the action is `iam:<Operation>` / `sts:<Operation>`; the resource is the
//! user, group, role or policy the request names (`arn:aws:iam::<account>:user/<name>`;
//! Gantry builds the ARN from the name, so a policy matching paths in user ARNs sees the
//! name without its path). An operation not listed is authorized on `*`.
//!
//! `sts:GetCallerIdentity` and `sts:GetSessionToken` need no permission, as in AWS.

use super::{Access, Caller, PrincipalKind};
use crate::aws::query::QueryRequest;

fn iam_arn(account: &str, kind: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{kind}/{name}")
}

/// The user an operation acts on: `UserName`, or the caller when it names none (IAM's rule
/// for GetUser, CreateAccessKey, ListAccessKeys, …).
fn user(account: &str, req: &QueryRequest, caller: &Caller) -> String {
    match (req.get("UserName"), &caller.principal.kind) {
        (Some(name), _) => iam_arn(account, "user", name),
        (None, PrincipalKind::User { name }) => iam_arn(account, "user", name),
        (None, PrincipalKind::AssumedRole { .. }) => caller.principal.arn.clone(),
    }
}

fn tags(req: &QueryRequest) -> Vec<(String, String)> {
    req.structs("Tags")
        .into_iter()
        .filter_map(|t| {
            Some((
                t.get("Key")?.to_string(),
                t.get("Value").unwrap_or(&"").to_string(),
            ))
        })
        .collect()
}

fn with_tags(a: Access, req: &QueryRequest) -> Access {
    let t = tags(req);
    a.with_request_tags(t.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The accesses a query-protocol request of service `service` (its SigV4 signing name)
/// needs.
pub fn accesses(account: &str, service: &str, req: &QueryRequest, caller: &Caller) -> Vec<Access> {
    let op = req.action.as_str();
    let action = format!("{service}:{op}");
    let named = |kind: &str, param: &str| {
        req.get(param)
            .map_or_else(|| "*".to_string(), |n| iam_arn(account, kind, n))
    };
    match (service, op) {
        ("sts", "GetCallerIdentity" | "GetSessionToken") => Vec::new(),
        ("sts", "AssumeRole") => vec![Access::new(action, req.get("RoleArn").unwrap_or("*"))],
        ("iam", "CreateUser" | "TagUser") => {
            vec![with_tags(
                Access::new(action, user(account, req, caller)),
                req,
            )]
        }
        ("iam", "UntagUser" | "UntagRole") => {
            let resource = if op == "UntagUser" {
                user(account, req, caller)
            } else {
                named("role", "RoleName")
            };
            vec![Access::new(action, resource).with("aws:TagKeys", req.list("TagKeys"))]
        }
        (
            "iam",
            "GetUser"
            | "UpdateUser"
            | "DeleteUser"
            | "CreateAccessKey"
            | "ListAccessKeys"
            | "UpdateAccessKey"
            | "DeleteAccessKey"
            | "PutUserPolicy"
            | "GetUserPolicy"
            | "ListUserPolicies"
            | "DeleteUserPolicy"
            | "ListAttachedUserPolicies"
            | "ListGroupsForUser"
            | "ListUserTags",
        ) => vec![Access::new(action, user(account, req, caller))],
        ("iam", "AttachUserPolicy" | "DetachUserPolicy") => {
            vec![Access::new(action, user(account, req, caller))
                .with("iam:PolicyARN", req.get("PolicyArn"))]
        }
        ("iam", "AttachGroupPolicy" | "DetachGroupPolicy") => {
            vec![Access::new(action, named("group", "GroupName"))
                .with("iam:PolicyARN", req.get("PolicyArn"))]
        }
        ("iam", "AttachRolePolicy" | "DetachRolePolicy") => {
            vec![Access::new(action, named("role", "RoleName"))
                .with("iam:PolicyARN", req.get("PolicyArn"))]
        }
        (
            "iam",
            "CreateGroup"
            | "GetGroup"
            | "DeleteGroup"
            | "AddUserToGroup"
            | "RemoveUserFromGroup"
            | "PutGroupPolicy"
            | "GetGroupPolicy"
            | "ListGroupPolicies"
            | "DeleteGroupPolicy"
            | "ListAttachedGroupPolicies",
        ) => vec![Access::new(action, named("group", "GroupName"))],
        ("iam", "CreateRole" | "TagRole") => {
            vec![with_tags(
                Access::new(action, named("role", "RoleName")),
                req,
            )]
        }
        (
            "iam",
            "GetRole"
            | "DeleteRole"
            | "UpdateAssumeRolePolicy"
            | "PutRolePolicy"
            | "GetRolePolicy"
            | "ListRolePolicies"
            | "DeleteRolePolicy"
            | "ListAttachedRolePolicies"
            | "ListRoleTags",
        ) => vec![Access::new(action, named("role", "RoleName"))],
        ("iam", "CreatePolicy") => {
            vec![with_tags(
                Access::new(action, named("policy", "PolicyName")),
                req,
            )]
        }
        (
            "iam",
            "GetPolicy"
            | "DeletePolicy"
            | "CreatePolicyVersion"
            | "GetPolicyVersion"
            | "ListPolicyVersions"
            | "DeletePolicyVersion"
            | "SetDefaultPolicyVersion",
        ) => vec![Access::new(action, req.get("PolicyArn").unwrap_or("*"))],
        _ => vec![Access::new(action, "*")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;

    fn caller() -> Caller {
        Caller {
            principal: Principal {
                arn: "arn:aws:iam::123456789012:user/alice".into(),
                user_id: "AIDA1".into(),
                account: "123456789012".into(),
                kind: PrincipalKind::User {
                    name: "alice".into(),
                },
                tags: Default::default(),
            }
            .into(),
            access_key_id: "AKIA1".into(),
            source_ip: [127, 0, 0, 1].into(),
            secure: false,
        }
    }

    fn of(service: &str, body: &str) -> Vec<Access> {
        let req = QueryRequest::parse(body.as_bytes()).unwrap();
        accesses("123456789012", service, &req, &caller())
    }

    #[test]
    fn names_the_resource_the_request_acts_on() {
        let a = of("iam", "Action=CreateUser&Version=2010-05-08&UserName=bob&Tags.member.1.Key=team&Tags.member.1.Value=web");
        assert_eq!(a[0].action, "iam:CreateUser");
        assert_eq!(a[0].resource, "arn:aws:iam::123456789012:user/bob");
        assert_eq!(a[0].keys["aws:RequestTag/team"], ["web"]);
        assert_eq!(a[0].keys["aws:TagKeys"], ["team"]);
        // No UserName: the caller's own user.
        let a = of("iam", "Action=ListAccessKeys&Version=2010-05-08");
        assert_eq!(a[0].resource, "arn:aws:iam::123456789012:user/alice");
        let a = of("iam", "Action=ListUsers&Version=2010-05-08");
        assert_eq!(a[0].resource, "*");
        assert!(of("sts", "Action=GetCallerIdentity&Version=2011-06-15").is_empty());
        let a = of("sts", "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/r&RoleSessionName=s");
        assert_eq!(a[0].resource, "arn:aws:iam::123456789012:role/r");
    }
}
