//! The operation groups of the model Gantry answers as ECS answers where a feature is not
//! offered: ECS daemons (daemon task definitions and their deployments, a feature of ECS
//! Managed Instances), ECS gateways (a managed ingress in front of services, with routes)
//! and Express Mode gateway services (a managed load balancer, certificate and scaling per
//! service). Each needs AWS-managed infrastructure Gantry does not run (managed instances,
//! Application Load Balancers, ACM); docs/api-coverage.md gives the reason per group.
//!
//! Every operation of these groups is refused the same way, after validation and
//! authorization as any request: with `UnsupportedFeatureException` where the operation's
//! model lists it, else `ClientException` (the daemon task definition operations list no
//! UnsupportedFeatureException), and ECS's text for an operation a Region does not offer.

use gantry_api::{ApiError, ErrorKind};

use crate::error::Error;

/// ECS's words for an operation that is not offered where it is called.
pub const NOT_SUPPORTED: &str = "This operation isn't supported in this Region.";

/// The refused operations, by group, with the exception each answers (its model's).
pub const REFUSED: &[(&str, ErrorKind)] = &[
    // Daemons.
    ("CreateDaemon", ErrorKind::UnsupportedFeature),
    ("UpdateDaemon", ErrorKind::UnsupportedFeature),
    ("DeleteDaemon", ErrorKind::UnsupportedFeature),
    ("DescribeDaemon", ErrorKind::UnsupportedFeature),
    ("ListDaemons", ErrorKind::UnsupportedFeature),
    ("DescribeDaemonDeployments", ErrorKind::UnsupportedFeature),
    ("ListDaemonDeployments", ErrorKind::UnsupportedFeature),
    ("DescribeDaemonRevisions", ErrorKind::UnsupportedFeature),
    ("RegisterDaemonTaskDefinition", ErrorKind::Client),
    ("DescribeDaemonTaskDefinition", ErrorKind::Client),
    ("ListDaemonTaskDefinitions", ErrorKind::Client),
    ("DeleteDaemonTaskDefinition", ErrorKind::Client),
    // Gateways.
    ("CreateGateway", ErrorKind::UnsupportedFeature),
    ("UpdateGateway", ErrorKind::UnsupportedFeature),
    ("DeleteGateway", ErrorKind::UnsupportedFeature),
    ("DescribeGateway", ErrorKind::UnsupportedFeature),
    ("ListGateways", ErrorKind::UnsupportedFeature),
    ("DescribeGatewayResources", ErrorKind::UnsupportedFeature),
    ("AssociateGatewayWithCluster", ErrorKind::UnsupportedFeature),
    (
        "DisassociateGatewayFromCluster",
        ErrorKind::UnsupportedFeature,
    ),
    (
        "ListGatewayClusterAssociations",
        ErrorKind::UnsupportedFeature,
    ),
    ("DescribeGatewayRoute", ErrorKind::UnsupportedFeature),
    ("ListGatewayRoutes", ErrorKind::UnsupportedFeature),
    // Express Mode gateway services.
    ("CreateExpressGatewayService", ErrorKind::UnsupportedFeature),
    ("UpdateExpressGatewayService", ErrorKind::UnsupportedFeature),
    ("DeleteExpressGatewayService", ErrorKind::UnsupportedFeature),
    (
        "DescribeExpressGatewayService",
        ErrorKind::UnsupportedFeature,
    ),
];

/// The refusal of `op`, if it is one of [`REFUSED`].
pub fn refusal(op: &str) -> Option<Error> {
    REFUSED
        .iter()
        .find(|(name, _)| *name == op)
        .map(|(_, kind)| Error::Api(ApiError::new(*kind, NOT_SUPPORTED)))
}

/// Is `op` refused as unavailable?
pub fn refused(op: &str) -> bool {
    REFUSED.iter().any(|(name, _)| *name == op)
}
