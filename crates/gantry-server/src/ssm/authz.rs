//! What each SSM operation is authorized on, after AWS's Service Authorization Reference
//! ("Actions, resources, and condition keys for AWS Systems Manager"): `ssm:<Operation>`;
//! the activation operations and DescribeInstanceInformation list no resource type (`*`);
//! DeregisterManagedInstance and the tagging operations name the managed instance,
//! `arn:aws:ssm:<region>:<account>:managed-instance/<mi-id>`. CreateActivation carries the
//! request's tags as `aws:RequestTag/*` and `aws:TagKeys`.
//!
//! CreateActivation also needs `iam:PassRole` on the activation's role,
//! `arn:aws:iam::<account>:role/<IamRole>`, with `iam:PassedToService` =
//! `ssm.amazonaws.com` (IAM's "Grant a user permissions to pass a role to an AWS service");
//! a caller without it is refused by the gate like any other denial — AccessDeniedException,
//! "User: <arn> is not authorized to perform: iam:PassRole on resource: <role arn> because
//! no identity-based policy allows the iam:PassRole action" — and audited.

use gantry_store::Store;
use serde_json::Value;

use crate::auth::Access;
use crate::state::AppState;

pub fn managed_instance_arn<S>(st: &AppState<S>, id: &str) -> String {
    format!(
        "arn:aws:ssm:{}:{}:managed-instance/{id}",
        st.config.region, st.config.account_id
    )
}

fn tags(body: &Value) -> Vec<(&str, &str)> {
    body["Tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| Some((t["Key"].as_str()?, t["Value"].as_str().unwrap_or(""))))
                .collect()
        })
        .unwrap_or_default()
}

pub fn accesses<S: Store>(st: &AppState<S>, op: &str, body: &Value) -> Vec<Access> {
    let action = format!("ssm:{op}");
    let access = match op {
        "CreateActivation" => {
            let create = Access::new(action, "*").with_request_tags(tags(body));
            // No role named, no role passed: the request then fails its validation.
            return match body["IamRole"].as_str().filter(|r| !r.is_empty()) {
                Some(role) => vec![
                    create,
                    Access::new("iam:PassRole", super::role::role_arn(st, role))
                        .with("iam:PassedToService", [super::role::SSM_PRINCIPAL]),
                ],
                None => vec![create],
            };
        }
        "DeregisterManagedInstance" => {
            let id = body["InstanceId"].as_str().unwrap_or("");
            Access::new(action, managed_instance_arn(st, id))
        }
        "AddTagsToResource" | "RemoveTagsFromResource" | "ListTagsForResource" => {
            let id = body["ResourceId"].as_str().unwrap_or("");
            let resource = if body["ResourceType"] == "ManagedInstance" {
                managed_instance_arn(st, id)
            } else {
                "*".to_string()
            };
            let a = Access::new(action, resource);
            if op == "AddTagsToResource" {
                a.with_request_tags(tags(body))
            } else {
                a
            }
        }
        _ => Access::new(action, "*"),
    };
    vec![access]
}
