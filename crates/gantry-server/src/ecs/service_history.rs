//! The records a new deployment of a service adds beside it: its service revision and its
//! service deployment (status PENDING), written by CreateService and UpdateService in the
//! same transaction as the service record. From then on only the service controller changes
//! them ([`crate::controllers::service::history`]).

use gantry_api::Timestamp;
use gantry_store::Op;

use crate::error::Result;
use crate::persistence::db;
use crate::persistence::deployment_records::{
    deployment_key, new_service_deployment_id, revision_key, ContainerImageRecord, SdStatus,
    ServiceDeploymentRecord, ServiceRevisionRecord,
};
use crate::persistence::records::TaskDefRecord;
use crate::persistence::service_records::{DeploymentRecord, ServiceRecord};

/// The containers' names and images of a task definition, for its service revisions.
pub fn images_of(def: &TaskDefRecord) -> Vec<ContainerImageRecord> {
    def.definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c| ContainerImageRecord {
            name: c.name.clone().unwrap_or_default(),
            image: c.image.clone().unwrap_or_default(),
        })
        .collect()
}

/// Makes `dep` (a new PRIMARY deployment, not yet in `svc.deployments`) part of a new
/// service deployment from the revisions `svc` runs now; returns the writes that add the
/// service deployment and `dep`'s revision (their ids are random, so they are new).
pub fn begin(
    svc: &ServiceRecord,
    dep: &mut DeploymentRecord,
    images: Vec<ContainerImageRecord>,
    now: Timestamp,
) -> Result<Vec<Op>> {
    let id = new_service_deployment_id();
    dep.service_deployment = Some(id.clone());
    let mut sources: Vec<String> = Vec::new();
    for d in &svc.deployments {
        let r = d.revision();
        if !sources.contains(&r) {
            sources.push(r);
        }
    }
    let target = dep.revision();
    sources.retain(|r| *r != target);
    let sd = ServiceDeploymentRecord {
        id: id.clone(),
        cluster: svc.cluster.clone(),
        service: svc.name.clone(),
        status: SdStatus::Pending,
        status_reason: None,
        created_at: now,
        started_at: None,
        finished_at: None,
        stopped_at: None,
        updated_at: now,
        source_revisions: sources,
        target_revision: target.clone(),
        settings: svc.deployment,
        alarms: svc.alarms.clone(),
        bake_time_in_minutes: svc.bake_time_in_minutes,
        rollback: None,
        breaker_triggered: false,
        failure_count: 0,
        threshold: 0,
    };
    let revision = ServiceRevisionRecord {
        id: target.clone(),
        cluster: svc.cluster.clone(),
        service: svc.name.clone(),
        task_definition: dep.task_definition.clone(),
        launch_type: svc.launch_type.clone(),
        container_images: images,
        created_at: now,
    };
    let sd_key = deployment_key(&svc.cluster, &svc.name, &id);
    let rev_key = revision_key(&svc.cluster, &svc.name, &target);
    Ok(vec![db::put(&sd_key, &sd)?, db::put(&rev_key, &revision)?])
}
