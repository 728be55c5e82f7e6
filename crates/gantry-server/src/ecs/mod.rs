//! The ECS API: one file per resource or operation group, and the dispatch of ECS operations to their handlers. An operation of the model that is not listed
//! here answers `ClientException: Gantry does not implement <Op> yet`.

pub mod account_settings;
pub mod agent_api;
pub mod attributes;
pub mod authz;
pub mod capacity_providers;
pub mod capacity_scaling;
pub mod cluster_update;
pub mod clusters;
pub mod instances;
pub mod members;
pub mod run_task;
pub mod service_deployments;
pub mod service_history;
pub mod service_render;
pub mod service_settings;
pub mod services;
pub mod tag_authorization;
pub mod tags;
pub mod task_definitions;
pub mod task_protection;
pub mod tasks;
pub mod unavailable;

use gantry_store::Store;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::{client, Error, Result};
use crate::state::AppState;

fn decode<T: DeserializeOwned>(value: Value) -> Result<T> {
    // `validate` already checked the shape, so this only fails on values it lets through
    // (say, an integer too large for its Rust type).
    serde_json::from_value(value)
        .map_err(|e| client(format!("The request does not match the ECS model: {e}.")))
}

fn encode<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|source| Error::Encode {
        what: "the response",
        source,
    })
}

macro_rules! operations {
    ($($name:literal => $handler:path,)* ; $($cname:literal => $chandler:path,)*) => {
        /// The operations Gantry serves (DiscoverPollEndpoint is answered by the framing,
        /// [`crate::aws::json`], as it is about the address the request reached).
        pub const IMPLEMENTED: &[&str] = &[$($name,)* $($cname,)* agent_api::DISCOVER];

        /// The operations whose answer depends on who asks.
        const WITH_CALLER: &[&str] = &[$($cname,)*];

        /// Runs operation `op` on a body that passed validation.
        pub async fn dispatch<S: Store>(state: &AppState<S>, op: &str, body: Value) -> Result<Value> {
            match op {
                $($name => encode(&$handler(state, decode(body)?).await?),)*
                other => Err(client(format!("Gantry does not implement {other} yet."))),
            }
        }

        /// Runs `op` if it is one whose answer depends on who asks (account settings are
        /// per principal).
        async fn dispatch_caller<S: Store>(
            state: &AppState<S>,
            op: &str,
            body: Value,
            caller: &Caller,
        ) -> Result<Value> {
            match op {
                $($cname => encode(&$chandler(state, caller, decode(body)?).await?),)*
                other => Err(client(format!("Gantry does not implement {other} yet."))),
            }
        }
    };
}

operations! {
    "CreateCluster" => clusters::create_cluster,
    "DeleteCluster" => clusters::delete_cluster,
    "DescribeClusters" => clusters::describe_clusters,
    "ListClusters" => clusters::list_clusters,
    "RegisterTaskDefinition" => task_definitions::register_task_definition,
    "DescribeTaskDefinition" => task_definitions::describe_task_definition,
    "DeregisterTaskDefinition" => task_definitions::deregister_task_definition,
    "ListTaskDefinitions" => task_definitions::list_task_definitions,
    "ListTaskDefinitionFamilies" => task_definitions::list_task_definition_families,
    "ListContainerInstances" => instances::list_container_instances,
    "DescribeContainerInstances" => instances::describe_container_instances,
    "UpdateContainerInstancesState" => instances::update_container_instances_state,
    "DeregisterContainerInstance" => instances::deregister_container_instance,
    "PutAttributes" => attributes::put_attributes,
    "ListAttributes" => attributes::list_attributes,
    "DeleteAttributes" => attributes::delete_attributes,
    "TagResource" => tags::tag_resource,
    "UntagResource" => tags::untag_resource,
    "ListTagsForResource" => tags::list_tags_for_resource,
    "RunTask" => run_task::run_task,
    "StartTask" => run_task::start_task,
    "StopTask" => tasks::stop_task,
    "ListTasks" => tasks::list_tasks,
    "DescribeTasks" => tasks::describe_tasks,
    "CreateService" => services::create_service,
    "UpdateService" => services::update_service,
    "DeleteService" => services::delete_service,
    "DescribeServices" => service_render::describe_services,
    "ListServices" => services::list_services,
    "ListServiceDeployments" => service_deployments::list_service_deployments,
    "DescribeServiceDeployments" => service_deployments::describe_service_deployments,
    "DescribeServiceRevisions" => service_deployments::describe_service_revisions,
    "StopServiceDeployment" => service_deployments::stop_service_deployment,
    "UpdateCluster" => cluster_update::update_cluster,
    "UpdateClusterSettings" => cluster_update::update_cluster_settings,
    "PutClusterCapacityProviders" => cluster_update::put_cluster_capacity_providers,
    "CreateCapacityProvider" => capacity_providers::create_capacity_provider,
    "DescribeCapacityProviders" => capacity_providers::describe_capacity_providers,
    "UpdateCapacityProvider" => capacity_providers::update_capacity_provider,
    "DeleteCapacityProvider" => capacity_providers::delete_capacity_provider,
    // ops13: task definition deletion, task protection, the agent-facing operations.
    "DeleteTaskDefinitions" => task_definitions::delete::delete_task_definitions,
    "GetTaskProtection" => task_protection::get_task_protection,
    "UpdateTaskProtection" => task_protection::update_task_protection,
    "UpdateContainerAgent" => agent_api::update_container_agent,
    "ExecuteCommand" => agent_api::execute_command,
    "ListServicesByNamespace" => agent_api::list_services_by_namespace,
    ;
    "PutAccountSetting" => account_settings::put_account_setting,
    "PutAccountSettingDefault" => account_settings::put_account_setting_default,
    "ListAccountSettings" => account_settings::list_account_settings,
    "DeleteAccountSetting" => account_settings::delete_account_setting,
    // ops13: node-only operations, refused to IAM principals.
    "RegisterContainerInstance" => agent_api::register_container_instance,
    "SubmitTaskStateChange" => agent_api::submit_task_state_change,
    "SubmitContainerStateChange" => agent_api::submit_container_state_change,
    "SubmitAttachmentStateChanges" => agent_api::submit_attachment_state_changes,
}

/// Does Gantry answer `op`: serve it, or refuse it as ECS refuses a feature it does not
/// offer ([`unavailable`])?
pub fn implemented(op: &str) -> bool {
    IMPLEMENTED.contains(&op) || unavailable::refused(op)
}

/// Runs operation `op` on a body that passed validation, for `caller`.
pub async fn dispatch_as<S: Store>(
    state: &AppState<S>,
    op: &str,
    mut body: Value,
    caller: &Caller,
) -> Result<Value> {
    if let Some(refusal) = unavailable::refusal(op) {
        return Err(refusal);
    }
    members::check(op, &body)?;
    if op == "CreateCluster" {
        cluster_update::default_insights(state, caller, &mut body).await?;
    }
    if WITH_CALLER.contains(&op) {
        dispatch_caller(state, op, body, caller).await
    } else {
        dispatch(state, op, body).await
    }
}
