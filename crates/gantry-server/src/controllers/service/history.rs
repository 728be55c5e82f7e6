//! Service deployments follow the ECS deployments they are made of: a pure function from a
//! service deployment record and the controller's new [`Status`] to the record's next state,
//! written by the controller in the same fenced transaction as the service.
//!
//! PENDING becomes IN_PROGRESS on the first reconcile; IN_PROGRESS ends SUCCESSFUL when its
//! deployment completes, STOPPED when the circuit breaker fails it without rollback, when a
//! newer deployment replaces it or when the service is deleted; a rollback (the circuit
//! breaker's, or StopServiceDeployment's) is ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL or
//! ROLLBACK_FAILED.

use gantry_api::Timestamp;

use super::actions::Status;
use super::breaker::failure_threshold;
use crate::persistence::deployment_records::{RollbackRecord, SdStatus, ServiceDeploymentRecord};
use crate::persistence::service_records::{DeploymentStatus, RolloutState};

/// The status reason of a service deployment a newer one replaced.
pub const SUPERSEDED: &str = "Service deployment stopped: a newer service deployment replaced it.";
/// The status reason of a service deployment whose service was deleted.
pub const DELETED: &str = "Service deployment stopped: the service was deleted.";

/// The next state of `sd` after a reconcile that left the service at `st`, with `desired`
/// tasks wanted, at `now`. Returns whether it changed.
pub fn advance(
    sd: &mut ServiceDeploymentRecord,
    st: &Status,
    deleting: bool,
    desired: i32,
    now: Timestamp,
) -> bool {
    if sd.status.is_final() {
        return false;
    }
    let before = sd.clone();
    let mine: Vec<_> = st
        .deployments
        .iter()
        .filter(|d| d.service_deployment.as_deref() == Some(sd.id.as_str()))
        .collect();
    let primary = mine
        .iter()
        .find(|d| d.status == DeploymentStatus::Primary)
        .copied();
    if let Some(first) = mine.iter().find(|d| !d.rollback) {
        sd.failure_count = first.failed_tasks;
        if first.rollout_state == RolloutState::Failed
            && first
                .rollout_state_reason
                .starts_with("ECS deployment circuit breaker")
        {
            sd.breaker_triggered = true;
        }
    }
    sd.threshold = failure_threshold(desired);
    match primary {
        _ if deleting => stop(sd, DELETED, now),
        None => stop(sd, SUPERSEDED, now),
        Some(p) => {
            if sd.started_at.is_none() {
                sd.started_at = Some(now);
            }
            if p.rollback {
                if sd.rollback.is_none() {
                    sd.rollback = Some(RollbackRecord {
                        reason: p.rollout_state_reason.clone(),
                        started_at: p.created_at,
                        revision: p.revision(),
                    });
                    sd.status_reason = Some(p.rollout_state_reason.clone());
                }
                match p.rollout_state {
                    RolloutState::InProgress => sd.status = SdStatus::RollbackInProgress,
                    RolloutState::Completed => {
                        sd.status = SdStatus::RollbackSuccessful;
                        sd.finished_at = Some(now);
                    }
                    RolloutState::Failed => {
                        sd.status = SdStatus::RollbackFailed;
                        sd.status_reason = Some(p.rollout_state_reason.clone());
                        sd.finished_at = Some(now);
                    }
                }
            } else {
                match p.rollout_state {
                    RolloutState::InProgress => sd.status = SdStatus::InProgress,
                    RolloutState::Completed => {
                        sd.status = SdStatus::Successful;
                        sd.finished_at = Some(now);
                    }
                    RolloutState::Failed => {
                        let reason = p.rollout_state_reason.clone();
                        stop(sd, &reason, now);
                    }
                }
            }
        }
    }
    let changed = *sd != before;
    if changed {
        sd.updated_at = now;
    }
    changed
}

fn stop(sd: &mut ServiceDeploymentRecord, reason: &str, now: Timestamp) {
    sd.status = SdStatus::Stopped;
    sd.status_reason = Some(reason.to_string());
    sd.stopped_at = Some(now);
    sd.finished_at = Some(now);
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
