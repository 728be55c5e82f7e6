//! The AWS services this endpoint speaks, in one place (DESIGN.md §3: one listener, several
//! APIs). A JSON request names its service by the `X-Amz-Target` prefix; a query-protocol
//! request (IAM, STS, ELBv2, when they come) by its SigV4 scope's service name. Adding a
//! service is a folder beside `ecs/` and one row here plus its arms in [`Service`]'s
//! methods; the framing in [`crate::aws`] never names a service.

use gantry_api::ApiError;
use gantry_store::Store;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::Result;
use crate::state::AppState;

/// An AWS service Gantry serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ecs,
    Iam,
    Sts,
    /// Gantry's own: cluster join tokens for hosts (`gantry token create`).
    Nodes,
    Ssm,
    SecretsManager,
}

/// JSON services by the `X-Amz-Target` prefix their operations carry.
const JSON_TARGETS: &[(&str, Service)] = &[
    (gantry_api::TARGET_PREFIX, Service::Ecs),
    (crate::nodes::api::TARGET_PREFIX, Service::Nodes),
    (crate::ssm::TARGET_PREFIX, Service::Ssm),
    (
        crate::secretsmanager::TARGET_PREFIX,
        Service::SecretsManager,
    ),
];

/// Query-protocol services by the service name of their SigV4 scope.
const QUERY_SCOPES: &[(&str, Service)] = &[("iam", Service::Iam), ("sts", Service::Sts)];

impl Service {
    /// The service and operation an `X-Amz-Target` header names.
    pub fn for_target(target: &str) -> Option<(Self, &str)> {
        JSON_TARGETS
            .iter()
            .find_map(|(prefix, s)| target.strip_prefix(prefix).map(|op| (*s, op)))
    }

    /// The query-protocol service of SigV4 scope service `name`.
    pub fn for_scope(name: &str) -> Option<Self> {
        QUERY_SCOPES
            .iter()
            .find_map(|(n, s)| (*n == name).then_some(*s))
    }

    /// The target prefix to suggest when a request names none.
    pub fn default_target_prefix() -> &'static str {
        JSON_TARGETS.first().map_or("", |(p, _)| p)
    }

    /// Its name in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ecs => "ECS",
            Self::Iam => "IAM",
            Self::Sts => "STS",
            Self::Nodes => "Gantry nodes",
            Self::Ssm => "SSM",
            Self::SecretsManager => "Secrets Manager",
        }
    }

    /// The name its requests are signed for (the SigV4 scope's service).
    pub fn signing_name(self) -> &'static str {
        match self {
            Self::Ecs => "ecs",
            Self::Iam => "iam",
            Self::Sts => "sts",
            Self::Nodes => crate::nodes::api::SIGNING_NAME,
            Self::Ssm => "ssm",
            Self::SecretsManager => crate::secretsmanager::SIGNING_NAME,
        }
    }

    /// The accesses operation `op` with parsed body `body` is authorized on.
    pub async fn accesses<S: Store>(
        self,
        st: &AppState<S>,
        op: &str,
        body: &Value,
        resource_tags: bool,
        caller: &Caller,
    ) -> Result<Vec<crate::auth::Access>> {
        match self {
            Self::Ecs => {
                let mut out = crate::ecs::authz::accesses(st, op, body, resource_tags).await?;
                out.extend(crate::ecs::tag_authorization::on_create(st, caller, op, body).await?);
                Ok(out)
            }
            Self::Nodes => crate::nodes::api::accesses(st, op, body).await,
            Self::Ssm => Ok(crate::ssm::accesses(st, op, body)),
            Self::SecretsManager => crate::secretsmanager::accesses(st, op, body).await,
            // Query services are authorized by `crate::auth::iam_actions`; a JSON request for
            // one never gets this far (`parse` refuses it), and if it did it would need
            // the action on `*`.
            Self::Iam | Self::Sts => Ok(vec![crate::auth::Access::new(
                format!("{}:{op}", self.signing_name()),
                "*",
            )]),
        }
    }

    /// Is `op` an operation of its model (served or not)?
    pub fn knows(self, op: &str) -> bool {
        match self {
            Self::Ecs => gantry_api::ecs::operation(op).is_some(),
            Self::Nodes => crate::nodes::api::IMPLEMENTED.contains(&op),
            Self::Ssm => crate::ssm::IMPLEMENTED.contains(&op),
            Self::SecretsManager => crate::secretsmanager::knows(op),
            Self::Iam => crate::iam::IMPLEMENTED.contains(&op),
            Self::Sts => crate::sts::IMPLEMENTED.contains(&op),
        }
    }

    /// Does Gantry serve `op` of this service?
    pub fn implemented(self, op: &str) -> bool {
        match self {
            Self::Ecs => crate::ecs::implemented(op),
            Self::Nodes => crate::nodes::api::IMPLEMENTED.contains(&op),
            Self::Ssm => crate::ssm::IMPLEMENTED.contains(&op),
            Self::SecretsManager => crate::secretsmanager::IMPLEMENTED.contains(&op),
            Self::Iam => crate::iam::IMPLEMENTED.contains(&op),
            Self::Sts => crate::sts::IMPLEMENTED.contains(&op),
        }
    }

    /// May `caller` do `accesses` by a resource-based policy, when no identity policy
    /// allowed them (Secrets Manager's secret policies; no other service has any).
    pub async fn resource_allows<S: Store>(
        self,
        st: &AppState<S>,
        caller: &Caller,
        accesses: &[crate::auth::Access],
    ) -> bool {
        match self {
            Self::SecretsManager => {
                crate::secretsmanager::resource_policy_allows(st, caller, accesses).await
            }
            _ => false,
        }
    }

    /// Checks a request body against the model and parses it.
    pub fn parse(self, op: &str, body: &[u8]) -> std::result::Result<Value, ApiError> {
        match self {
            // The same parser the fuzz target (crates/gantry-api/fuzz) exercises.
            Self::Ecs => gantry_api::ecs::parse_request(op, body),
            Self::Nodes => crate::nodes::api::parse(op, body),
            Self::Ssm => crate::ssm::parse(body),
            Self::SecretsManager => crate::secretsmanager::parse(body),
            Self::Iam | Self::Sts => Err(self.not_json(op)),
        }
    }

    fn not_json(self, op: &str) -> ApiError {
        ApiError::client(format!(
            "{} speaks the query protocol; send {op} as a form-encoded POST, not AWS JSON.",
            self.name()
        ))
    }

    /// Runs a query-protocol request (only services listed in `QUERY_SCOPES` get here).
    pub async fn dispatch_query<S: Store>(
        self,
        st: &AppState<S>,
        req: &crate::aws::query::QueryRequest,
        caller: &Caller,
    ) -> axum::response::Response {
        match self {
            Self::Iam => crate::iam::dispatch(st, req, caller).await,
            Self::Sts => crate::sts::dispatch(st, req, caller).await,
            Self::Ecs | Self::Nodes | Self::Ssm | Self::SecretsManager => {
                crate::aws::query::error_response(&ApiError::client(format!(
                "{} does not speak the query protocol; send {} as AWS JSON 1.1 with X-Amz-Target.",
                self.name(),
                req.action
            )))
            }
        }
    }

    /// Runs operation `op` on a parsed body.
    pub async fn dispatch<S: Store>(
        self,
        st: &AppState<S>,
        op: &str,
        body: Value,
        caller: &Caller,
    ) -> Result<Value> {
        match self {
            Self::Ecs => crate::ecs::dispatch_as(st, op, body, caller).await,
            Self::Nodes => crate::nodes::api::dispatch(st, op, body).await,
            Self::Ssm => crate::ssm::dispatch(st, op, body, caller).await,
            Self::SecretsManager => crate::secretsmanager::dispatch(st, caller, op, body).await,
            Self::Iam | Self::Sts => Err(self.not_json(op).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_their_service() {
        assert_eq!(
            Service::for_target("AmazonEC2ContainerServiceV20141113.RunTask"),
            Some((Service::Ecs, "RunTask"))
        );
        assert_eq!(Service::for_target("Logs_20140328.PutLogEvents"), None);
        assert_eq!(
            Service::for_target("AmazonSSM.CreateActivation"),
            Some((Service::Ssm, "CreateActivation"))
        );
        assert!(Service::Ecs.knows("RunTask"));
        assert!(!Service::Ecs.knows("Nope"));
        assert_eq!(Service::for_scope("iam"), Some(Service::Iam));
        assert_eq!(Service::for_scope("sts"), Some(Service::Sts));
        assert_eq!(Service::for_scope("elasticloadbalancing"), None);
        assert_eq!(
            Service::for_target("secretsmanager.GetSecretValue"),
            Some((Service::SecretsManager, "GetSecretValue"))
        );
        assert!(Service::SecretsManager.knows("RotateSecret"));
        assert!(!Service::SecretsManager.implemented("RotateSecret"));
        assert_eq!(Service::SecretsManager.signing_name(), "secretsmanager");
        assert_eq!(
            Service::for_target("GantryNodes_20261201.CreateJoinToken"),
            Some((Service::Nodes, "CreateJoinToken"))
        );
    }
}
