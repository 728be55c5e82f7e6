//! Rollout: old deployments leave once drained; the PRIMARY one completes when it alone
//! runs, at the desired count and healthy; the service is then at steady state. A deleted
//! service becomes INACTIVE once its last task stopped.

use std::collections::BTreeMap;

use gantry_api::Timestamp;

use super::actions::Status;
use super::counting::live;
use crate::persistence::records::TaskRecord;
use crate::persistence::service_records::{DeploymentStatus, RolloutState, ServiceStatus};

/// What this round of the reconciler found and decided, as far as rollout cares.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    pub deleting: bool,
    pub has_primary: bool,
    /// Healthy tasks of the PRIMARY deployment.
    pub primary_healthy: usize,
    pub desired: usize,
    /// Live tasks of every deployment.
    pub total: usize,
    /// Nothing to start or stop this round.
    pub idle: bool,
}

/// Drops the drained old deployments and completes the PRIMARY one when it alone runs.
/// Returns the events to record.
pub fn settle(
    st: &mut Status,
    tasks: &[&TaskRecord],
    r: Round,
    name: &str,
    now: Timestamp,
) -> Vec<String> {
    let mut events = Vec::new();
    let live_by_dep: BTreeMap<&str, usize> =
        tasks
            .iter()
            .filter(|t| live(t))
            .fold(BTreeMap::new(), |mut m, t| {
                *m.entry(t.started_by.as_deref().unwrap_or_default())
                    .or_default() += 1;
                m
            });
    // A failed deployment stays visible (rolloutState FAILED) until its replacement
    // completes; other drained ones go at once.
    st.deployments.retain(|x| {
        x.status == DeploymentStatus::Primary
            || live_by_dep.get(x.id.as_str()).copied() > Some(0)
            || x.rollout_state == RolloutState::Failed
    });
    let others_live = st.deployments.iter().any(|x| {
        x.status != DeploymentStatus::Primary && live_by_dep.get(x.id.as_str()).copied() > Some(0)
    });
    let settled = !r.deleting
        && r.has_primary
        && !others_live
        && r.primary_healthy == r.desired
        && r.total == r.desired
        && r.idle;
    if let Some(p) = st
        .deployments
        .iter_mut()
        .find(|x| x.status == DeploymentStatus::Primary)
    {
        if settled && p.rollout_state == RolloutState::InProgress {
            p.rollout_state = RolloutState::Completed;
            p.rollout_state_reason = format!("ECS deployment {} completed.", p.id);
            p.updated_at = now;
            st.last_completed = Some(p.task_definition.clone());
            st.last_completed_revision = Some(p.revision());
            events.push(format!(
                "(service {name}) (deployment {}) deployment completed.",
                p.id
            ));
        }
    }
    if settled {
        st.deployments
            .retain(|x| x.status == DeploymentStatus::Primary);
    }
    if settled && !st.steady {
        events.push(format!("(service {name}) has reached a steady state."));
    }
    st.steady = settled;
    if r.deleting && r.total == 0 {
        st.status = ServiceStatus::Inactive;
        st.desired_count = 0;
    }
    events
}
