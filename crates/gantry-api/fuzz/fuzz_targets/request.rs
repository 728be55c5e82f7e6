//! Fuzzes the ECS request parser: `gantry_api::ecs::parse_request` followed by the decode into
//! the typed request, as the server runs them on every call.
//!
//! Input: the first byte picks the operation (`OPERATIONS[byte]`, or an unknown name past the
//! end of the table), the rest is the raw body. Checked for every input:
//!
//! 1. `parse_request` never panics, and rejects only with the exceptions a client can act on.
//! 2. A body it accepts is a JSON object that decodes into `model::<Op>Request`: the validator
//!    and the generated types agree, so no validated request fails in the handler.
//! 3. The typed request, written back to JSON, validates again and decodes to the same value.

#![no_main]

use gantry_api::ecs::{parse_request, validate::validate, OPERATIONS};
use gantry_api::{model, ErrorKind};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let op = OPERATIONS
        .get(usize::from(selector))
        .map_or("NoSuchOperation", |o| o.name);

    match parse_request(op, body) {
        Ok(value) => {
            assert!(
                value.is_object(),
                "{op}: accepted a body that is not an object"
            );
            check_typed(op, value);
        }
        Err(err) => {
            assert!(
                matches!(
                    err.kind,
                    ErrorKind::Client | ErrorKind::InvalidParameter | ErrorKind::UnknownOperation
                ),
                "{op}: unexpected error kind {err}"
            );
            assert!(!err.message.is_empty(), "{op}: error without a message");
        }
    }
});

/// Decodes `value` into the typed request of `op` and checks the round trip. Every operation
/// with an input shape has an arm; when the model is regenerated with new operations the
/// fallback arm fails loudly, so the table is extended rather than silently skipped.
fn check_typed(op: &str, value: Value) {
    match op {
        "AssociateGatewayWithCluster" => {
            roundtrip::<model::AssociateGatewayWithClusterRequest>(op, value)
        }
        "ContinueServiceDeployment" => {
            roundtrip::<model::ContinueServiceDeploymentRequest>(op, value)
        }
        "CreateCapacityProvider" => roundtrip::<model::CreateCapacityProviderRequest>(op, value),
        "CreateCluster" => roundtrip::<model::CreateClusterRequest>(op, value),
        "CreateDaemon" => roundtrip::<model::CreateDaemonRequest>(op, value),
        "CreateExpressGatewayService" => {
            roundtrip::<model::CreateExpressGatewayServiceRequest>(op, value)
        }
        "CreateGateway" => roundtrip::<model::CreateGatewayRequest>(op, value),
        "CreateService" => roundtrip::<model::CreateServiceRequest>(op, value),
        "CreateTaskSet" => roundtrip::<model::CreateTaskSetRequest>(op, value),
        "DeleteAccountSetting" => roundtrip::<model::DeleteAccountSettingRequest>(op, value),
        "DeleteAttributes" => roundtrip::<model::DeleteAttributesRequest>(op, value),
        "DeleteCapacityProvider" => roundtrip::<model::DeleteCapacityProviderRequest>(op, value),
        "DeleteCluster" => roundtrip::<model::DeleteClusterRequest>(op, value),
        "DeleteDaemon" => roundtrip::<model::DeleteDaemonRequest>(op, value),
        "DeleteDaemonTaskDefinition" => {
            roundtrip::<model::DeleteDaemonTaskDefinitionRequest>(op, value)
        }
        "DeleteExpressGatewayService" => {
            roundtrip::<model::DeleteExpressGatewayServiceRequest>(op, value)
        }
        "DeleteGateway" => roundtrip::<model::DeleteGatewayRequest>(op, value),
        "DeleteService" => roundtrip::<model::DeleteServiceRequest>(op, value),
        "DeleteTaskDefinitions" => roundtrip::<model::DeleteTaskDefinitionsRequest>(op, value),
        "DeleteTaskSet" => roundtrip::<model::DeleteTaskSetRequest>(op, value),
        "DeregisterContainerInstance" => {
            roundtrip::<model::DeregisterContainerInstanceRequest>(op, value)
        }
        "DeregisterTaskDefinition" => {
            roundtrip::<model::DeregisterTaskDefinitionRequest>(op, value)
        }
        "DescribeCapacityProviders" => {
            roundtrip::<model::DescribeCapacityProvidersRequest>(op, value)
        }
        "DescribeClusters" => roundtrip::<model::DescribeClustersRequest>(op, value),
        "DescribeContainerInstances" => {
            roundtrip::<model::DescribeContainerInstancesRequest>(op, value)
        }
        "DescribeDaemon" => roundtrip::<model::DescribeDaemonRequest>(op, value),
        "DescribeDaemonDeployments" => {
            roundtrip::<model::DescribeDaemonDeploymentsRequest>(op, value)
        }
        "DescribeDaemonRevisions" => roundtrip::<model::DescribeDaemonRevisionsRequest>(op, value),
        "DescribeDaemonTaskDefinition" => {
            roundtrip::<model::DescribeDaemonTaskDefinitionRequest>(op, value)
        }
        "DescribeExpressGatewayService" => {
            roundtrip::<model::DescribeExpressGatewayServiceRequest>(op, value)
        }
        "DescribeGateway" => roundtrip::<model::DescribeGatewayRequest>(op, value),
        "DescribeGatewayResources" => {
            roundtrip::<model::DescribeGatewayResourcesRequest>(op, value)
        }
        "DescribeGatewayRoute" => roundtrip::<model::DescribeGatewayRouteRequest>(op, value),
        "DescribeServiceDeployments" => {
            roundtrip::<model::DescribeServiceDeploymentsRequest>(op, value)
        }
        "DescribeServiceRevisions" => {
            roundtrip::<model::DescribeServiceRevisionsRequest>(op, value)
        }
        "DescribeServices" => roundtrip::<model::DescribeServicesRequest>(op, value),
        "DescribeTaskDefinition" => roundtrip::<model::DescribeTaskDefinitionRequest>(op, value),
        "DescribeTaskSets" => roundtrip::<model::DescribeTaskSetsRequest>(op, value),
        "DescribeTasks" => roundtrip::<model::DescribeTasksRequest>(op, value),
        "DisassociateGatewayFromCluster" => {
            roundtrip::<model::DisassociateGatewayFromClusterRequest>(op, value)
        }
        "DiscoverPollEndpoint" => roundtrip::<model::DiscoverPollEndpointRequest>(op, value),
        "ExecuteCommand" => roundtrip::<model::ExecuteCommandRequest>(op, value),
        "GetTaskProtection" => roundtrip::<model::GetTaskProtectionRequest>(op, value),
        "ListAccountSettings" => roundtrip::<model::ListAccountSettingsRequest>(op, value),
        "ListAttributes" => roundtrip::<model::ListAttributesRequest>(op, value),
        "ListClusters" => roundtrip::<model::ListClustersRequest>(op, value),
        "ListContainerInstances" => roundtrip::<model::ListContainerInstancesRequest>(op, value),
        "ListDaemonDeployments" => roundtrip::<model::ListDaemonDeploymentsRequest>(op, value),
        "ListDaemonTaskDefinitions" => {
            roundtrip::<model::ListDaemonTaskDefinitionsRequest>(op, value)
        }
        "ListDaemons" => roundtrip::<model::ListDaemonsRequest>(op, value),
        "ListGatewayClusterAssociations" => {
            roundtrip::<model::ListGatewayClusterAssociationsRequest>(op, value)
        }
        "ListGatewayRoutes" => roundtrip::<model::ListGatewayRoutesRequest>(op, value),
        "ListGateways" => roundtrip::<model::ListGatewaysRequest>(op, value),
        "ListServiceDeployments" => roundtrip::<model::ListServiceDeploymentsRequest>(op, value),
        "ListServices" => roundtrip::<model::ListServicesRequest>(op, value),
        "ListServicesByNamespace" => roundtrip::<model::ListServicesByNamespaceRequest>(op, value),
        "ListTagsForResource" => roundtrip::<model::ListTagsForResourceRequest>(op, value),
        "ListTaskDefinitionFamilies" => {
            roundtrip::<model::ListTaskDefinitionFamiliesRequest>(op, value)
        }
        "ListTaskDefinitions" => roundtrip::<model::ListTaskDefinitionsRequest>(op, value),
        "ListTasks" => roundtrip::<model::ListTasksRequest>(op, value),
        "PutAccountSetting" => roundtrip::<model::PutAccountSettingRequest>(op, value),
        "PutAccountSettingDefault" => {
            roundtrip::<model::PutAccountSettingDefaultRequest>(op, value)
        }
        "PutAttributes" => roundtrip::<model::PutAttributesRequest>(op, value),
        "PutClusterCapacityProviders" => {
            roundtrip::<model::PutClusterCapacityProvidersRequest>(op, value)
        }
        "RegisterContainerInstance" => {
            roundtrip::<model::RegisterContainerInstanceRequest>(op, value)
        }
        "RegisterDaemonTaskDefinition" => {
            roundtrip::<model::RegisterDaemonTaskDefinitionRequest>(op, value)
        }
        "RegisterTaskDefinition" => roundtrip::<model::RegisterTaskDefinitionRequest>(op, value),
        "RunTask" => roundtrip::<model::RunTaskRequest>(op, value),
        "StartTask" => roundtrip::<model::StartTaskRequest>(op, value),
        "StopServiceDeployment" => roundtrip::<model::StopServiceDeploymentRequest>(op, value),
        "StopTask" => roundtrip::<model::StopTaskRequest>(op, value),
        "SubmitAttachmentStateChanges" => {
            roundtrip::<model::SubmitAttachmentStateChangesRequest>(op, value)
        }
        "SubmitContainerStateChange" => {
            roundtrip::<model::SubmitContainerStateChangeRequest>(op, value)
        }
        "SubmitTaskStateChange" => roundtrip::<model::SubmitTaskStateChangeRequest>(op, value),
        "TagResource" => roundtrip::<model::TagResourceRequest>(op, value),
        "UntagResource" => roundtrip::<model::UntagResourceRequest>(op, value),
        "UpdateCapacityProvider" => roundtrip::<model::UpdateCapacityProviderRequest>(op, value),
        "UpdateCluster" => roundtrip::<model::UpdateClusterRequest>(op, value),
        "UpdateClusterSettings" => roundtrip::<model::UpdateClusterSettingsRequest>(op, value),
        "UpdateContainerAgent" => roundtrip::<model::UpdateContainerAgentRequest>(op, value),
        "UpdateContainerInstancesState" => {
            roundtrip::<model::UpdateContainerInstancesStateRequest>(op, value)
        }
        "UpdateDaemon" => roundtrip::<model::UpdateDaemonRequest>(op, value),
        "UpdateExpressGatewayService" => {
            roundtrip::<model::UpdateExpressGatewayServiceRequest>(op, value)
        }
        "UpdateGateway" => roundtrip::<model::UpdateGatewayRequest>(op, value),
        "UpdateService" => roundtrip::<model::UpdateServiceRequest>(op, value),
        "UpdateServicePrimaryTaskSet" => {
            roundtrip::<model::UpdateServicePrimaryTaskSetRequest>(op, value)
        }
        "UpdateTaskProtection" => roundtrip::<model::UpdateTaskProtectionRequest>(op, value),
        "UpdateTaskSet" => roundtrip::<model::UpdateTaskSetRequest>(op, value),
        "NoSuchOperation" => panic!("parse_request accepted an unknown operation"),
        other => panic!("{other} is missing from the decode table of fuzz_targets/request.rs"),
    }
}

fn roundtrip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
    op: &str,
    value: Value,
) {
    let typed: T = match serde_json::from_value(value.clone()) {
        Ok(t) => t,
        Err(e) => panic!(
            "{op}: validated body does not decode into the typed request: {e}\nbody: {value}"
        ),
    };
    let again = serde_json::to_value(&typed).expect("typed requests always serialize");
    let shape = format!("{op}Request");
    if let Err(e) = validate(&shape, &again) {
        panic!("{op}: the typed request, written back, fails validation: {e}\nbody: {again}");
    }
    let back: T = serde_json::from_value(again).expect("a serialized request decodes");
    assert_eq!(
        typed, back,
        "{op}: the typed request does not survive a round trip"
    );
}
