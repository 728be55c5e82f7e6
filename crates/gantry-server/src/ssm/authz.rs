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
//!
//! Parameter Store: each operation on the parameter's ARN
//! (`arn:aws:ssm:<region>:<account>:parameter/<name without its leading slash>`, selectors
//! dropped); GetParameters and DeleteParameters one access per name; GetParametersByPath on
//! the path's ARN; DescribeParameters on `*`. PutParameter carries its tags as
//! `aws:RequestTag/*`.

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

/// The ARN of the parameter a `Name` member names (an ARN or a name, a selector dropped);
/// `*` when it names none Gantry could hold, so the handler's error is what the caller sees
/// only if it may call the action at all.
fn param_arn<S>(st: &AppState<S>, name: &Value) -> String {
    let raw = name.as_str().unwrap_or("");
    match super::param_names::reference(&st.config.region, &st.config.account_id, raw) {
        Ok((n, _)) if !n.is_empty() => {
            super::param_names::arn(&st.config.region, &st.config.account_id, &n)
        }
        _ => "*".to_string(),
    }
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
        "PutParameter" => {
            Access::new(action, param_arn(st, &body["Name"])).with_request_tags(tags(body))
        }
        "GetParameter"
        | "DeleteParameter"
        | "GetParameterHistory"
        | "LabelParameterVersion"
        | "UnlabelParameterVersion" => Access::new(action, param_arn(st, &body["Name"])),
        "GetParametersByPath" => {
            let path = body["Path"].as_str().unwrap_or("");
            Access::new(
                action,
                super::param_names::arn(&st.config.region, &st.config.account_id, path),
            )
        }
        "GetParameters" | "DeleteParameters" => {
            let names = body["Names"].as_array().cloned().unwrap_or_default();
            if names.is_empty() {
                return vec![Access::new(action, "*")];
            }
            return names
                .iter()
                .map(|n| Access::new(action.clone(), param_arn(st, n)))
                .collect();
        }
        "AddTagsToResource" | "RemoveTagsFromResource" | "ListTagsForResource" => {
            let id = body["ResourceId"].as_str().unwrap_or("");
            let resource = match body["ResourceType"].as_str() {
                Some("ManagedInstance") => managed_instance_arn(st, id),
                Some("Parameter") => param_arn(st, &body["ResourceId"]),
                _ => "*".to_string(),
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
