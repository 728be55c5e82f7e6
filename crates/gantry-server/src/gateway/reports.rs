//! Applying an agent's task report. A report is accepted only where it moves the task (or one
//! of its containers) forward in the lifecycle; anything else is stale and changes nothing.
//! When a task reaches STOPPED its resources go back to the instance in the same write.

use gantry_api::protocol::TaskReport;
use gantry_api::{arn, TaskStatus, Timestamp};
use gantry_store::Store;

use crate::error::Result;
use crate::launch::stop::finish;
use crate::persistence::db;
use crate::persistence::records::{
    instance_key, task_key, InstanceRecord, TaskNetwork, TaskRecord,
};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// What a report did to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing new, or older than what we know.
    Stale,
    Advanced,
    /// Advanced to STOPPED: release its resources.
    Stopped,
    /// About a task that is not on the reporting instance: refused, nothing changed.
    Foreign,
}

/// Moves `t` forward as far as `r` allows. Pure: `at` is the server's clock.
pub fn advance(t: &mut TaskRecord, r: &TaskReport, at: Timestamp) -> Effect {
    if t.last_status == TaskStatus::Stopped {
        return Effect::Stale;
    }
    let mut changed = false;
    for cr in &r.containers {
        let Some(c) = t.containers.iter_mut().find(|c| c.name == cr.name) else {
            continue;
        };
        let forward = cr.last_status.is_some_and(|s| s > c.last_status);
        let new_exit = c.exit_code.is_none() && cr.exit_code.is_some();
        // Health moves both ways while the container runs; it is news whenever it differs.
        let health = cr.health_status.as_ref().filter(|h| {
            c.last_status < TaskStatus::Stopped && Some(*h) != c.health_status.as_ref()
        });
        if let Some(h) = health {
            c.health_status = Some(h.clone());
            changed = true;
        }
        if !forward && !new_exit {
            continue;
        }
        if let Some(s) = cr.last_status.filter(|s| *s > c.last_status) {
            c.last_status = s;
        }
        c.exit_code = cr.exit_code.or(c.exit_code);
        c.reason = cr.reason.clone().or(c.reason.take());
        c.runtime_id = cr.runtime_id.clone().or(c.runtime_id.take());
        c.image_digest = cr.image_digest.clone().or(c.image_digest.take());
        if !cr.network_bindings.is_empty() {
            c.network_bindings = cr.network_bindings.clone();
        }
        changed = true;
    }
    if let Some(n) = &r.network {
        let net = TaskNetwork {
            private_ipv4_address: n.private_ipv4_address.clone(),
            mac_address: n.mac_address.clone(),
            subnet: n.subnet.clone(),
        };
        // News whenever it differs, forward or not: an address is not a lifecycle step.
        if t.network.as_ref() != Some(&net) {
            t.network = Some(net);
            changed = true;
        }
    }
    let next = r.last_status.filter(|s| *s > t.last_status);
    if let Some(s) = next {
        t.last_status = s;
        changed = true;
    }
    if let Some(h) = r
        .health_status
        .as_ref()
        .filter(|h| Some(*h) != t.health_status.as_ref())
    {
        t.health_status = Some(h.clone());
        if h == "HEALTHY" && t.first_healthy_at.is_none() {
            t.first_healthy_at = Some(at);
        }
        changed = true;
    }
    if !changed {
        return Effect::Stale;
    }
    t.pull_started_at = t.pull_started_at.or(r.pull_started_at);
    t.pull_stopped_at = t.pull_stopped_at.or(r.pull_stopped_at);
    t.started_at = t.started_at.or(r.started_at);
    // A task that went straight to STOPPED never started: no startedAt.
    if t.last_status >= TaskStatus::Running
        && t.last_status < TaskStatus::Stopped
        && t.started_at.is_none()
    {
        t.started_at = Some(at);
    }
    if t.last_status >= TaskStatus::Deactivating && t.stopping_at.is_none() {
        t.stopping_at = Some(at);
    }
    t.execution_stopped_at = t.execution_stopped_at.or(r.execution_stopped_at);
    if t.stop_code.is_none() {
        t.stop_code = r.stop_code.clone();
    }
    if t.stopped_reason.is_none() {
        t.stopped_reason = r.stopped_reason.clone();
    }
    if t.last_status == TaskStatus::Stopped {
        Effect::Stopped
    } else {
        Effect::Advanced
    }
}

/// Applies a report from the agent of `instance_id` in `cluster`. Reports about tasks that
/// are not on this instance are ignored: an agent may change only its own tasks.
pub async fn apply<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    instance_id: &str,
    report: &TaskReport,
) -> Result<Effect> {
    let task_id = arn::short_id(&report.task_arn);
    let key = task_key(cluster, task_id);
    let ikey = instance_key(cluster, instance_id);
    let key = &key;
    let ikey = &ikey;
    retry(
        || format!("task {task_id}"),
        || async move {
            let Some(t) = db::get::<S, TaskRecord>(&st.store, key).await? else {
                tracing::warn!(task = %report.task_arn, instance = instance_id, "report about an unknown task ignored");
                return Ok(Attempt::Done(Effect::Stale));
            };
            if t.value.instance_id.as_deref() != Some(instance_id) {
                tracing::warn!(task = %report.task_arn, instance = instance_id, "report about another instance's task refused");
                return Ok(Attempt::Done(Effect::Foreign));
            }
            let mut task = t.value.clone();
            let at = st.clock.now();
            let effect = advance(&mut task, report, at);
            let mut compares = vec![db::unchanged(key, t.revision)];
            let mut ops = Vec::new();
            match effect {
                Effect::Stale | Effect::Foreign => return Ok(Attempt::Done(effect)),
                Effect::Advanced => {}
                Effect::Stopped => {
                    let inst = db::get::<S, InstanceRecord>(&st.store, ikey).await?;
                    let mut inst_value = inst.as_ref().map(|i| i.value.clone());
                    finish(&mut task, inst_value.as_mut(), at);
                    if let (Some(i), Some(v)) = (inst, inst_value) {
                        compares.push(db::unchanged(ikey, i.revision));
                        ops.push(db::put(ikey, &v)?);
                    }
                }
            }
            ops.push(db::put(key, &task)?);
            if db::commit(&st.store, compares, ops).await? {
                return Ok(Attempt::Done(effect));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_api::protocol::ContainerReport;

    fn task() -> TaskRecord {
        TaskRecord {
            instance_id: Some("i".into()),
            ..crate::persistence::testing::task("t")
        }
    }

    fn report(s: TaskStatus, exit: Option<i32>) -> TaskReport {
        TaskReport {
            task_arn: "t".into(),
            last_status: Some(s),
            containers: vec![ContainerReport {
                name: "app".into(),
                last_status: Some(s),
                exit_code: exit,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn moves_forward_only() {
        let mut t = task();
        assert_eq!(
            advance(&mut t, &report(TaskStatus::Running, None), 5.0),
            Effect::Advanced
        );
        assert_eq!(t.started_at, Some(5.0));
        assert_eq!(
            advance(&mut t, &report(TaskStatus::Pending, None), 6.0),
            Effect::Stale
        );
        assert_eq!(t.last_status, TaskStatus::Running);
        assert_eq!(
            advance(&mut t, &report(TaskStatus::Stopped, Some(3)), 7.0),
            Effect::Stopped
        );
        assert_eq!(t.containers[0].exit_code, Some(3));
        let before = t.clone();
        assert_eq!(
            advance(&mut t, &report(TaskStatus::Running, None), 8.0),
            Effect::Stale
        );
        assert_eq!(t, before);
    }

    #[test]
    fn a_network_report_is_kept_until_stopped() {
        let mut t = task();
        advance(&mut t, &report(TaskStatus::Running, None), 5.0);
        let mut r = report(TaskStatus::Running, None);
        r.network = Some(gantry_api::protocol::NetworkReport {
            private_ipv4_address: "10.1.0.5".into(),
            mac_address: "02:00:00:00:00:05".into(),
            subnet: "10.1.0.0/24".into(),
        });
        assert_eq!(advance(&mut t, &r, 6.0), Effect::Advanced);
        assert_eq!(
            t.network.as_ref().map(|n| n.private_ipv4_address.as_str()),
            Some("10.1.0.5")
        );
        assert_eq!(advance(&mut t, &r, 7.0), Effect::Stale);
        advance(&mut t, &report(TaskStatus::Stopped, Some(0)), 8.0);
        let mut moved = r.clone();
        if let Some(n) = moved.network.as_mut() {
            n.private_ipv4_address = "10.1.0.9".into();
        }
        assert_eq!(advance(&mut t, &moved, 9.0), Effect::Stale);
    }

    #[test]
    fn a_repeated_report_is_stale() {
        let mut t = task();
        advance(&mut t, &report(TaskStatus::Running, None), 5.0);
        assert_eq!(
            advance(&mut t, &report(TaskStatus::Running, None), 6.0),
            Effect::Stale
        );
    }
}
