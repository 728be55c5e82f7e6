//! Node liveness: an instance whose agent has been silent for `agent_lost_after` is marked
//! `agentConnected=false`, its session (if any) is closed, and its tasks that are not yet
//! STOPPED are marked STOPPED with stopCode `InfrastructureHealth` and their resources given
//! back, so services replace them elsewhere. Silence is measured from the last frame of its
//! session here, from the end of its last session, or from this server's start when it had
//! none (after a restart nobody's session survives). When the agent comes back, the desired
//! set it gets no longer holds those tasks, so it stops them.
//!
//! The rule is [`sweep`], a pure function of the instances, when each was last heard from
//! and `now` (all by the server's [`crate::Clock`]); [`run`] reads, sweeps and applies.

use std::sync::Arc;
use std::time::Duration;

use gantry_api::status::stop_code;
use gantry_api::{TaskStatus, Timestamp};
use gantry_store::Store;

use crate::error::Result;
use crate::gateway::connection::set_connected;
use crate::ha::presence::Holder;
use crate::launch::stop::finish;
use crate::persistence::db;
use crate::persistence::records::{
    instance_key, task_key, tasks_of, InstanceRecord, InstanceStatus, TaskRecord,
};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// Is an agent last heard from at `last_seen` (or never, since `started`) lost at `now`?
pub fn is_lost(
    last_seen: Option<Timestamp>,
    started: Timestamp,
    now: Timestamp,
    after: Duration,
) -> bool {
    now - last_seen.unwrap_or(started) > after.as_secs_f64()
}

/// What one sweep found to do about one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Its agent is silent and still marked connected: close its session, mark it
    /// `agentConnected=false`.
    Disconnect { cluster: String, id: String },
    /// It is lost: stop its tasks that are not STOPPED yet (again every sweep, so a task
    /// placed meanwhile does not outlive it).
    LoseTasks { cluster: String, id: String },
}

/// One pass over `instances` at `now`: which are lost, and what to do about them. Pure.
pub fn sweep(
    instances: &[InstanceRecord],
    last_seen: impl Fn(&str) -> Option<Timestamp>,
    started: Timestamp,
    now: Timestamp,
    after: Duration,
) -> Vec<Action> {
    let mut out = Vec::new();
    for r in instances {
        if r.status == InstanceStatus::Inactive || !is_lost(last_seen(&r.id), started, now, after) {
            continue;
        }
        if r.agent_connected {
            out.push(Action::Disconnect {
                cluster: r.cluster.clone(),
                id: r.id.clone(),
            });
        }
        out.push(Action::LoseTasks {
            cluster: r.cluster.clone(),
            id: r.id.clone(),
        });
    }
    out
}

/// Says why `t`, a task of lost instance `instance_id`, stops; [`finish`] then stops it. A
/// task already being stopped keeps the reason it had.
pub fn lose(t: &mut TaskRecord, instance_id: &str, after: Duration) {
    if t.desired_status == TaskStatus::Stopped && t.stop_code.is_some() {
        return;
    }
    t.stop_code = Some(stop_code::INFRASTRUCTURE_HEALTH.to_string());
    let secs = after.as_secs_f64();
    let secs = if secs.fract() == 0.0 {
        format!("{secs:.0}")
    } else {
        format!("{secs:.1}")
    };
    t.stopped_reason = Some(format!(
        "Task stopped because the container instance {instance_id} was lost (no heartbeat for {secs} s)."
    ));
}

/// One pass: reads the instances, sweeps them at the clock's `now` and applies the actions.
/// Returns how many instances it marked disconnected.
pub async fn sweep_once<S: Store>(st: &AppState<S>) -> Result<usize> {
    let instances: Vec<InstanceRecord> = db::list::<S, InstanceRecord>(&st.store, "instances/")
        .await?
        .into_iter()
        .map(|i| i.value)
        .collect();
    // An agent with a session on another replica is that replica's to watch (it closes
    // silent sessions itself). One with none anywhere was last heard from when it was last
    // seen here or elsewhere, or, never seen, since this replica started or took the lead
    // (its session may have been on the replica that led before). One whose replica closed
    // its session for silence has been silent for `agent_lost_after` already: lost now.
    let present = crate::ha::presence::present(st).await?;
    let now = st.clock.now();
    let after = st.config.agent_lost_after;
    for (id, holder) in &present {
        if !st.sessions.is_open(id) && matches!(holder, Holder::Live(_)) {
            st.presence.seen_elsewhere(id, now);
        }
    }
    let last_seen = |id: &str| {
        let here = st.sessions.last_seen(id);
        if st.sessions.is_open(id) {
            return here;
        }
        if matches!(present.get(id), Some(Holder::Silent(_))) {
            // Past the limit by a second, however the clocks of the replicas differ.
            return Some(now - after.as_secs_f64() - 1.0);
        }
        match (here, st.presence.last_elsewhere(id)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    };
    let started = st
        .started
        .max(st.presence.leading_since().unwrap_or(st.started));
    let actions = sweep(&instances, last_seen, started, now, after);
    let mut marked = 0;
    for a in actions {
        match a {
            Action::Disconnect { cluster, id } => {
                tracing::warn!(instance = %id, cluster = %cluster, "agent silent too long; marking it disconnected");
                st.sessions.drop_session(&id);
                set_connected(st, &cluster, &id, false).await?;
                marked += 1;
            }
            Action::LoseTasks { cluster, id } => lose_tasks(st, &cluster, &id).await?,
        }
    }
    Ok(marked)
}

/// Stops every task of lost instance `id` that is not STOPPED yet, in one write with the
/// instance record so the resources go back with them.
async fn lose_tasks<S: Store>(st: &AppState<S>, cluster: &str, id: &str) -> Result<()> {
    let ikey = instance_key(cluster, id);
    let ikey = &ikey;
    retry(
        || format!("the tasks of lost instance {id}"),
        || async move {
            let lost: Vec<_> = db::list::<S, TaskRecord>(&st.store, &tasks_of(cluster))
                .await?
                .into_iter()
                .filter(|t| {
                    t.value.instance_id.as_deref() == Some(id)
                        && t.value.last_status != TaskStatus::Stopped
                })
                .collect();
            if lost.is_empty() {
                return Ok(Attempt::Done(()));
            }
            let Some(mut inst) = db::get::<S, InstanceRecord>(&st.store, ikey).await? else {
                return Ok(Attempt::Done(()));
            };
            let at = st.clock.now();
            let mut compares = vec![db::unchanged(ikey, inst.revision)];
            let mut ops = Vec::new();
            for t in &lost {
                let mut task = t.value.clone();
                lose(&mut task, id, st.config.agent_lost_after);
                finish(&mut task, Some(&mut inst.value), at);
                compares.push(db::unchanged(&t.key, t.revision));
                ops.push(db::put(&task_key(cluster, &task.id), &task)?);
            }
            ops.push(db::put(ikey, &inst.value)?);
            if db::commit(&st.store, compares, ops).await? {
                tracing::warn!(
                    instance = id,
                    tasks = lost.len(),
                    "instance lost; its tasks are STOPPED (InfrastructureHealth)"
                );
                return Ok(Attempt::Done(()));
            }
            Ok(Attempt::Conflict)
        },
    )
    .await
}

/// Sweeps every quarter of `agent_lost_after` until the task is aborted.
pub async fn run<S: Store>(st: Arc<AppState<S>>) {
    let period = (st.config.agent_lost_after / 4).max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep_once(&st).await {
            tracing::warn!(error = %e, "liveness sweep failed; retrying next period");
        }
    }
}

#[cfg(test)]
#[path = "liveness_tests.rs"]
mod tests;
