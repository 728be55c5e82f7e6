//! AWS Systems Manager, the part ECS Anywhere uses: activations and the managed instances
//! registered through them (JSON 1.1, `X-Amz-Target: AmazonSSM.<Operation>`, shapes from
//! botocore's `ssm` model), and Parameter Store (`param_*`: String, StringList and
//! SecureString parameters, sealed at rest, with versions, labels and hierarchies).
//!
//! Records live under `ssm/` in the store ([`records`]); an activation code is kept only as
//! its hash ([`code`]). A host redeems an activation through the agent gateway's join
//! ([`activations::redeem`]), which makes its managed instance `mi-…`; its ECS container
//! instance then carries that id as `node_id` and the `EXTERNAL` launch type.

mod activation_list;
pub mod activations;
mod authz;
mod code;
mod error;
mod input;
pub mod instances;
mod paging;
mod param_describe;
mod param_errors;
mod param_filters;
mod param_get;
mod param_labels;
pub mod param_names;
pub mod param_put;
pub mod param_records;
mod param_seal;
pub mod param_view;
pub mod records;
pub mod role;
mod tags;

use gantry_api::{ApiError, ErrorKind};
use gantry_store::Store;
use serde_json::Value;

use crate::auth::{Access, Caller};
use crate::error::{Error, Result};
use crate::state::AppState;

pub use authz::managed_instance_arn;

/// The `X-Amz-Target` prefix of SSM's operations.
pub const TARGET_PREFIX: &str = "AmazonSSM.";

/// The SSM operations Gantry serves.
pub const IMPLEMENTED: &[&str] = &[
    "CreateActivation",
    "DescribeActivations",
    "DeleteActivation",
    "DescribeInstanceInformation",
    "DeregisterManagedInstance",
    "AddTagsToResource",
    "ListTagsForResource",
    "RemoveTagsFromResource",
    "PutParameter",
    "GetParameter",
    "GetParameters",
    "GetParametersByPath",
    "GetParameterHistory",
    "DescribeParameters",
    "DeleteParameter",
    "DeleteParameters",
    "LabelParameterVersion",
    "UnlabelParameterVersion",
];

/// Parses a request body: a JSON object (an empty body is `{}`).
pub fn parse(body: &[u8]) -> std::result::Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::new(
            ErrorKind::Serialization,
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::new(
            ErrorKind::Serialization,
            format!("The request body is not valid JSON: {e}"),
        )),
    }
}

/// What operation `op` with body `body` is authorized on.
pub fn accesses<S: Store>(st: &AppState<S>, op: &str, body: &Value) -> Vec<Access> {
    authz::accesses(st, op, body)
}

/// Runs operation `op`; failures come back with SSM's exception names.
pub async fn dispatch<S: Store>(
    st: &AppState<S>,
    op: &str,
    body: Value,
    caller: &Caller,
) -> Result<Value> {
    let r = match op {
        "CreateActivation" => activations::create_activation(st, body).await,
        "DescribeActivations" => activation_list::describe_activations(st, body).await,
        "DeleteActivation" => activations::delete_activation(st, body).await,
        "DescribeInstanceInformation" => instances::describe_instance_information(st, body).await,
        "DeregisterManagedInstance" => instances::deregister_managed_instance(st, body).await,
        "AddTagsToResource" => tags::add_tags_to_resource(st, body).await,
        "ListTagsForResource" => tags::list_tags_for_resource(st, body).await,
        "RemoveTagsFromResource" => tags::remove_tags_from_resource(st, body).await,
        "PutParameter" => param_put::put_parameter(st, Some(caller), body).await,
        "GetParameter" => param_get::get_parameter(st, body).await,
        "GetParameters" => param_get::get_parameters(st, body).await,
        "GetParametersByPath" => param_get::get_parameters_by_path(st, body).await,
        "GetParameterHistory" => param_get::get_parameter_history(st, body).await,
        "DescribeParameters" => param_describe::describe_parameters(st, body).await,
        "DeleteParameter" => param_put::delete_parameter(st, body).await,
        "DeleteParameters" => param_put::delete_parameters(st, body).await,
        "LabelParameterVersion" => param_labels::label_parameter_version(st, body).await,
        "UnlabelParameterVersion" => param_labels::unlabel_parameter_version(st, body).await,
        other => Err(crate::error::client(format!(
            "Gantry does not implement {other} yet."
        ))),
    };
    r.map_err(|e| {
        let api = error::to_ssm(&e);
        if api.kind == ErrorKind::SsmInternalServerError {
            tracing::error!(operation = op, error = %e, "SSM request failed");
        }
        Error::Api(api)
    })
}

/// ISO 8601 for the texts of errors.
mod dates {
    pub fn iso(t: f64) -> String {
        #[allow(clippy::cast_possible_truncation)]
        let secs = t as i64;
        crate::auth::dates::rfc3339(secs)
    }
}
