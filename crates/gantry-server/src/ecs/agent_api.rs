//! The agent-facing operations of the ECS model, and the two ECS answers for what a Gantry
//! node cannot do.
//!
//! - **RegisterContainerInstance, SubmitTaskStateChange, SubmitContainerStateChange,
//!   SubmitAttachmentStateChanges** are how Amazon's agent registers and reports. A Gantry
//!   agent does both over the agent gateway, signed with its node credential (docs/security.md,
//!   Node identity), which binds it to one node and one container instance; an IAM principal
//!   is no node, so on the ECS API these are refused with `AccessDeniedException` for every
//!   principal, the administrator included (a policy cannot make a user a node).
//! - **DiscoverPollEndpoint** answers the server's own address (the one the request reached)
//!   for all three endpoints: the gateway serves the session, telemetry and everything else
//!   on one listener.
//! - **UpdateContainerAgent**: a Gantry agent is updated with the `gantry` binary on its host,
//!   never by the control plane, so ECS's answer for an agent it has no update for:
//!   `NoUpdateAvailableException`.
//! - **ExecuteCommand**: Gantry has no SSM Session Manager, so no task runs with execute
//!   command enabled (`enableExecuteCommand` is always false); ECS's answer for such a task.
//! - **ListServicesByNamespace**: Gantry has no Cloud Map. A namespace some cluster names as
//!   its `serviceConnectDefaults` exists, with no services in it (no service can use
//!   Service Connect); any other is `NamespaceNotFoundException`.

use gantry_api::model::{
    DiscoverPollEndpointRequest, DiscoverPollEndpointResponse, ExecuteCommandRequest,
    ExecuteCommandResponse, ListServicesByNamespaceRequest, ListServicesByNamespaceResponse,
    RegisterContainerInstanceRequest, RegisterContainerInstanceResponse,
    SubmitAttachmentStateChangesRequest, SubmitAttachmentStateChangesResponse,
    SubmitContainerStateChangeRequest, SubmitContainerStateChangeResponse,
    SubmitTaskStateChangeRequest, SubmitTaskStateChangeResponse, UpdateContainerAgentRequest,
    UpdateContainerAgentResponse,
};
use gantry_api::{arn, ApiError, ErrorKind};
use gantry_store::Store;

use super::clusters::{self, cluster_name};
use crate::auth::Caller;
use crate::aws::paging;
use crate::error::{invalid, Error, Result};
use crate::persistence::db;
use crate::persistence::records::{task_key, ClusterRecord, ClusterStatus, TaskRecord, CLUSTERS};
use crate::state::AppState;

/// ECS's answer to ExecuteCommand on a task without execute command.
pub const EXEC_NOT_ENABLED: &str = "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn\u{2019}t running. Wait and try again or run a new task with execute command enabled and try again.";

/// ECS's answer to UpdateContainerAgent when it has no update for the agent.
pub const NO_UPDATE: &str = "There is no update available for your container agent.";

/// Answered by the framing with the address the request reached ([`discover_poll_endpoint`]).
pub const DISCOVER: &str = "DiscoverPollEndpoint";

/// The refusal of a node-only operation `op` on `cluster` to `caller`.
fn not_a_node<S>(st: &AppState<S>, caller: &Caller, op: &str, cluster: Option<&str>) -> Error {
    let resource = st.arns.cluster(cluster_name(cluster));
    Error::Api(ApiError::new(
        ErrorKind::AccessDenied,
        format!(
            "User: {} is not authorized to perform: ecs:{op} on resource: {resource}",
            caller.principal.arn
        ),
    ))
}

pub async fn register_container_instance<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    req: RegisterContainerInstanceRequest,
) -> Result<RegisterContainerInstanceResponse> {
    Err(not_a_node(
        st,
        caller,
        "RegisterContainerInstance",
        req.cluster.as_deref(),
    ))
}

pub async fn submit_task_state_change<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    req: SubmitTaskStateChangeRequest,
) -> Result<SubmitTaskStateChangeResponse> {
    Err(not_a_node(
        st,
        caller,
        "SubmitTaskStateChange",
        req.cluster.as_deref(),
    ))
}

pub async fn submit_container_state_change<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    req: SubmitContainerStateChangeRequest,
) -> Result<SubmitContainerStateChangeResponse> {
    Err(not_a_node(
        st,
        caller,
        "SubmitContainerStateChange",
        req.cluster.as_deref(),
    ))
}

pub async fn submit_attachment_state_changes<S: Store>(
    st: &AppState<S>,
    caller: &Caller,
    req: SubmitAttachmentStateChangesRequest,
) -> Result<SubmitAttachmentStateChangesResponse> {
    Err(not_a_node(
        st,
        caller,
        "SubmitAttachmentStateChanges",
        req.cluster.as_deref(),
    ))
}

/// DiscoverPollEndpoint, answered with `base`, the server's URL as the request reached it
/// (`https://host:port/`).
pub fn discover_poll_endpoint(
    _req: DiscoverPollEndpointRequest,
    base: &str,
) -> DiscoverPollEndpointResponse {
    DiscoverPollEndpointResponse {
        endpoint: Some(base.to_string()),
        telemetry_endpoint: Some(base.to_string()),
        service_connect_endpoint: Some(base.to_string()),
    }
}

pub async fn update_container_agent<S: Store>(
    st: &AppState<S>,
    req: UpdateContainerAgentRequest,
) -> Result<UpdateContainerAgentResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let id = arn::short_id(req.container_instance.as_deref().unwrap_or_default());
    super::instances::registered(st, &cluster, id).await?;
    Err(Error::Api(ApiError::new(
        ErrorKind::NoUpdateAvailable,
        NO_UPDATE,
    )))
}

pub async fn execute_command<S: Store>(
    st: &AppState<S>,
    req: ExecuteCommandRequest,
) -> Result<ExecuteCommandResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let id = arn::short_id(req.task.as_deref().unwrap_or_default());
    if db::get::<S, TaskRecord>(&st.store, &task_key(&cluster, id))
        .await?
        .is_none()
    {
        return Err(invalid(format!(
            "Task {id} was not found in cluster {cluster}; check the id with ListTasks."
        )));
    }
    Err(invalid(EXEC_NOT_ENABLED))
}

pub async fn list_services_by_namespace<S: Store>(
    st: &AppState<S>,
    req: ListServicesByNamespaceRequest,
) -> Result<ListServicesByNamespaceResponse> {
    let namespace = req.namespace.unwrap_or_default();
    let known = db::list::<S, ClusterRecord>(&st.store, CLUSTERS)
        .await?
        .into_iter()
        .any(|c| {
            c.value.status == ClusterStatus::Active
                && c.value.service_connect_namespace.as_deref() == Some(namespace.as_str())
        });
    if !known {
        return Err(Error::Api(ApiError::new(
            ErrorKind::NamespaceNotFound,
            "The specified namespace wasn't found.",
        )));
    }
    // No service is in a namespace: Service Connect needs Cloud Map.
    let (service_arns, next_token) =
        paging::page::<String>(Vec::new(), req.next_token.as_deref(), req.max_results, true)?;
    Ok(ListServicesByNamespaceResponse {
        service_arns: Some(service_arns),
        next_token,
    })
}
