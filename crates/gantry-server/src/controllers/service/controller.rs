//! The service controller's I/O shell around [`super::reconcile`]. It keeps a set of
//! services to look at (see [`super::dirty`]), fed by store watches (a service, one of its
//! tasks, or an instance of its cluster changed), by a periodic resync that marks every
//! service, and by the requeue time a reconcile asked for (a grace period ends), and
//! reconciles them one at a time, so two reconciles of one service never overlap.
//!
//! A round: read the service, its tasks and the cluster's instances; compute the actions;
//! write the service's new status and events (a compare-and-swap on the revision read: if
//! the service changed meanwhile, nothing else happens and the service is looked at again);
//! then start tasks through the placement path RunTask uses, stop tasks through the path
//! StopTask uses, and record what was started or could not be placed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use gantry_api::status::stop_code;
use gantry_api::{TaskStatus, Timestamp};
use gantry_store::Store;

use super::dirty::{lift, sleep_for, Dirty, Requeue};
use super::reconcile::{self, Actions};
use super::{events, history};
use crate::ecs::service_render::tasks_of_service;
use crate::ecs::task_definitions;
use crate::error::Result;
use crate::launch::capacity::{self, Capacity};
use crate::launch::placement::{self, Rules};
use crate::launch::{constraints, prepare, stop, strategies, task_record};
use crate::persistence::db;
use crate::persistence::deployment_records::{deployment_key, ServiceDeploymentRecord};
use crate::persistence::records::{instances_of, InstanceRecord, TaskRecord};
use crate::persistence::service_records::SchedulingStrategy;
use crate::persistence::service_records::{
    service_group, service_key, services_of, EventRecord, ServiceRecord, ServiceStatus, SERVICES,
};
use crate::persistence::update::{update, Edit};
use crate::state::AppState;
use gantry_scheduler::{Constraint, Reason};

/// Runs the service controller until the task is aborted.
pub async fn run<S: Store>(st: Arc<AppState<S>>) {
    let mut watches = [
        st.store.watch(SERVICES),
        st.store.watch("tasks/"),
        st.store.watch("instances/"),
    ];
    let mut tick = tokio::time::interval(st.controllers.service_resync);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = Dirty {
        all: true,
        ..Default::default()
    };
    let mut requeue = Requeue::default();
    loop {
        if dirty.is_empty() {
            let [a, b, c] = &mut watches;
            let wake = requeue.next_in(st.clock.now());
            tokio::select! {
                ev = a.recv() => { dirty.note(lift(ev)); }
                ev = b.recv() => { dirty.note(lift(ev)); }
                ev = c.recv() => { dirty.note(lift(ev)); }
                _ = tick.tick() => dirty.all = true,
                () = sleep_for(wake) => {}
            }
        }
        requeue.take_due(st.clock.now(), &mut dirty);
        // Coalesce whatever else arrived.
        for w in &mut watches {
            while dirty.note(w.try_recv()) {}
        }
        let batch = std::mem::take(&mut dirty);
        let keys = match expand(&st, batch).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "could not list services; retrying at the next resync");
                continue;
            }
        };
        for key in keys {
            match reconcile_one(&st, &key).await {
                Ok(Round::Done { requeue_at }) => match requeue_at {
                    Some(at) => requeue.at(&key, at),
                    None => requeue.forget(&key),
                },
                Ok(Round::Changed) => {
                    dirty.services.insert(key);
                }
                Err(e) => {
                    tracing::warn!(service = %key, error = %e, "service reconcile failed; retrying at the next resync");
                }
            }
        }
    }
}

async fn expand<S: Store>(st: &AppState<S>, d: Dirty) -> Result<BTreeSet<String>> {
    let mut keys = d.services;
    let prefixes: Vec<String> = if d.all {
        vec![SERVICES.to_string()]
    } else {
        d.clusters.iter().map(|c| services_of(c)).collect()
    };
    for p in prefixes {
        for r in st.store.list(&p).await? {
            keys.insert(r.key);
        }
    }
    Ok(keys)
}

/// How one round for a service ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Round {
    /// Applied; look again at `requeue_at` even if nothing changes.
    Done { requeue_at: Option<Timestamp> },
    /// The service changed under us: look again now.
    Changed,
}

/// One round for the service at `key`.
pub async fn reconcile_one<S: Store>(st: &AppState<S>, key: &str) -> Result<Round> {
    let done = Round::Done { requeue_at: None };
    let Some(v) = db::get::<S, ServiceRecord>(&st.store, key).await? else {
        return Ok(done);
    };
    if v.value.status == ServiceStatus::Inactive {
        return Ok(done);
    }
    let svc = v.value.clone();
    let tasks = tasks_of_service(st, &svc).await?;
    let (instances, unmatched) = instances_for(st, &svc).await?;
    let now = st.clock.now();
    let actions = reconcile::reconcile_within(&svc, &tasks, &instances, &unmatched, now);
    let history = history_ops(st, &svc, &actions, now).await?;
    if actions.status.differs(&svc) || !actions.events.is_empty() || !history.is_empty() {
        let mut rec = svc.clone();
        actions.status.apply_to(&mut rec);
        rec.push_events(stamp(&actions.events, now));
        let mut ops = vec![db::put(key, &rec)?];
        ops.extend(history);
        if !db::commit(&st.store, vec![db::unchanged(key, v.revision)], ops).await? {
            return Ok(Round::Changed);
        }
        if rec.status == ServiceStatus::Inactive {
            tracing::info!(service = %rec.name, cluster = %rec.cluster, "service drained; now INACTIVE");
        }
    }
    apply(st, &svc, &tasks, &actions).await?;
    Ok(Round::Done {
        requeue_at: actions.requeue_at,
    })
}

/// The writes that move the service's deployments (the records its deployments, before and
/// after this round, belong to) to their next state. Only the controller changes a
/// service deployment once it exists, and always with the service record, whose revision
/// the transaction compares, so no other compare is needed.
async fn history_ops<S: Store>(
    st: &AppState<S>,
    svc: &ServiceRecord,
    actions: &Actions,
    now: Timestamp,
) -> Result<Vec<gantry_store::Op>> {
    let ids: BTreeSet<&str> = svc
        .deployments
        .iter()
        .chain(&actions.status.deployments)
        .filter_map(|d| d.service_deployment.as_deref())
        .collect();
    let deleting = svc.status != ServiceStatus::Active;
    let mut ops = Vec::new();
    for id in ids {
        let key = deployment_key(&svc.cluster, &svc.name, id);
        let Some(mut sd) = db::get::<S, ServiceDeploymentRecord>(&st.store, &key).await? else {
            continue;
        };
        if history::advance(
            &mut sd.value,
            &actions.status,
            deleting,
            actions.status.desired_count,
            now,
        ) {
            ops.push(db::put(&key, &sd.value)?);
        }
    }
    Ok(ops)
}

/// The cluster's instances and, for a DAEMON service, the ids of those that do not meet its
/// placement constraints (the service's and its task definition's `memberOf` expressions,
/// evaluated as placement evaluates them).
async fn instances_for<S: Store>(
    st: &AppState<S>,
    svc: &ServiceRecord,
) -> Result<(Vec<InstanceRecord>, BTreeSet<String>)> {
    let mut unmatched = BTreeSet::new();
    if svc.scheduling_strategy != SchedulingStrategy::Daemon {
        let instances = db::list::<S, InstanceRecord>(&st.store, &instances_of(&svc.cluster))
            .await?
            .into_iter()
            .map(|i| i.value)
            .collect();
        return Ok((instances, unmatched));
    }
    let mut all = constraints::of_request(&svc.placement_constraints)?;
    let def = task_definitions::resolve(st, &svc.task_definition).await?;
    all.extend(constraints::of_definition(
        def.value
            .definition
            .placement_constraints
            .as_deref()
            .unwrap_or_default(),
    )?);
    let (instances, views) = placement::snapshot(st, &svc.cluster).await?;
    let launch_type = prepare::launch_type_of(&svc.launch_type);
    for v in &views {
        // A daemon runs on the instances of its launch type only.
        let outside = v.launch_type != launch_type
            || all
                .iter()
                .any(|c| matches!(c, Constraint::MemberOf(e) if !e.matches(v)));
        if outside {
            unmatched.insert(v.id.clone());
        }
    }
    Ok((instances.into_iter().map(|i| i.value).collect(), unmatched))
}

/// What the service's tasks run on: its capacity provider strategy, else its launch type.
fn service_capacity(svc: &ServiceRecord) -> Capacity {
    if svc.capacity_provider_strategy.is_empty() {
        Capacity::LaunchType(prepare::launch_type_of(&svc.launch_type))
    } else {
        Capacity::Strategy(svc.capacity_provider_strategy.clone())
    }
}

/// The tasks of deployment `deployment` still wanted running, by capacity provider: the
/// strategy's `base` and `weight` count them.
fn per_provider(tasks: &[TaskRecord], deployment: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in tasks {
        if t.started_by.as_deref() == Some(deployment) && t.desired_status == TaskStatus::Running {
            if let Some(p) = &t.capacity_provider_name {
                *out.entry(p.clone()).or_default() += 1;
            }
        }
    }
    out
}

fn stamp(messages: &[String], now: f64) -> Vec<EventRecord> {
    messages
        .iter()
        .map(|m| EventRecord {
            id: uuid::Uuid::new_v4().to_string(),
            created_at: now,
            message: m.clone(),
        })
        .collect()
}

/// Starts first (a replacement before the task it replaces), then stops.
async fn apply<S: Store>(
    st: &AppState<S>,
    svc: &ServiceRecord,
    tasks: &[TaskRecord],
    a: &Actions,
) -> Result<()> {
    let cluster = svc.cluster.as_str();
    let mut started = Vec::new();
    let mut unplaced: Option<String> = None;
    for s in &a.start {
        let p = match prepare::prepare_for_service(
            st,
            &s.task_definition,
            service_group(&svc.name),
            s.deployment_id.clone(),
            true,
        )
        .await
        {
            Ok(p) => p,
            Err(e) => {
                unplaced = Some(format!(
                    "(service {}) was unable to start tasks of {}: {}",
                    svc.name,
                    s.task_definition,
                    e.to_api().message
                ));
                continue;
            }
        };
        let launch_type = prepare::launch_type_of(&svc.launch_type);
        let make = |id: &str| task_record::make_task(cluster, id, &p, launch_type, st.clock.now());
        match &s.instance {
            Some(id) => {
                let mode = p.network_mode();
                match placement::start_on(
                    st,
                    cluster,
                    id,
                    &p.allocation,
                    mode,
                    Some(launch_type),
                    |_| make(id),
                    &p.tags,
                )
                .await?
                {
                    Ok(t) => started.push(t.id),
                    Err(reason) => {
                        unplaced = Some(events::unplaced_event(&svc.name, reason));
                    }
                }
            }
            None => {
                let strategies = strategies::strategies(&svc.placement_strategy)?;
                let group = service_group(&svc.name);
                // Checked when the service was created or updated; a stored list that no
                // longer parses places nothing and says why.
                let mut all = match constraints::of_request(&svc.placement_constraints) {
                    Ok(c) => c,
                    Err(e) => {
                        unplaced = Some(format!(
                            "(service {}) was unable to place tasks: {}",
                            svc.name,
                            e.to_api().message
                        ));
                        continue;
                    }
                };
                all.extend(p.constraints.iter().cloned());
                let rules = Rules {
                    strategies: &strategies,
                    group: &group,
                    constraints: &all,
                    network_mode: p.network_mode(),
                    launch_type,
                };
                let out = capacity::place(
                    st,
                    cluster,
                    s.count,
                    &p.allocation,
                    rules,
                    &service_capacity(svc),
                    &per_provider(tasks, &s.deployment_id),
                    &p.tags,
                    make,
                )
                .await?;
                started.extend(out.tasks.into_iter().map(|t| t.id));
                if let Some(f) = out.failures.first() {
                    let reason = f.reason.as_deref().and_then(Reason::from_text);
                    let reason = reason.unwrap_or(Reason::Missing);
                    unplaced = Some(events::unplaced_event(&svc.name, reason));
                }
            }
        }
    }
    for (id, reason) in &a.stop {
        stop::stop(
            st,
            cluster,
            id,
            stop_code::SERVICE_SCHEDULER_INITIATED,
            reason,
        )
        .await?;
    }
    let mut messages = events::started_events(&svc.name, &started);
    messages.extend(unplaced);
    if !messages.is_empty() {
        add_events(st, svc, messages).await?;
    }
    Ok(())
}

/// Adds events to the service, skipping one that repeats the newest (a placement failure
/// is said once, not every resync).
async fn add_events<S: Store>(
    st: &AppState<S>,
    svc: &ServiceRecord,
    messages: Vec<String>,
) -> Result<()> {
    let key = service_key(&svc.cluster, &svc.name);
    let now = st.clock.now();
    let added = update(&st.store, &key, |v: Option<ServiceRecord>| {
        let Some(mut rec) = v else {
            return Ok(Edit::Keep(()));
        };
        let newest = rec.events.first().map(|e| e.message.clone());
        let fresh: Vec<String> = messages
            .iter()
            .filter(|m| Some(*m) != newest.as_ref())
            .cloned()
            .collect();
        if fresh.is_empty() {
            return Ok(Edit::Keep(()));
        }
        rec.push_events(stamp(&fresh, now));
        Ok(Edit::put(rec, ()))
    })
    .await;
    match added {
        // Events are news, not state: one lost to contention is not worth failing the round.
        Err(crate::error::Error::Contention { .. }) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
#[path = "controller_tests.rs"]
mod tests;
