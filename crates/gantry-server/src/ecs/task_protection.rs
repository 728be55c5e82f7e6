//! GetTaskProtection and UpdateTaskProtection: task scale-in protection.
//!
//! Only a service's task can be protected (a standalone one is a `TASK_NOT_VALID` failure,
//! an unknown one `MISSING`, as ECS answers). Protection lasts `expiresInMinutes` (1 to
//! 2,880, default 120) from the call, each call resetting it, and is kept on the task record
//! ([`TaskRecord::protected_until`]); once past, the task reads unprotected without anything
//! being written. While it holds, the service controller does not pick the task to stop when
//! it scales in or replaces an older deployment
//! ([`crate::controllers::service::reconcile`]); it still replaces an unhealthy task and
//! stops everything of a service being deleted.

use gantry_api::model::{
    Failure, GetTaskProtectionRequest, GetTaskProtectionResponse, ProtectedTask,
    UpdateTaskProtectionRequest, UpdateTaskProtectionResponse,
};
use gantry_api::{arn, Timestamp};
use gantry_store::Store;

use super::clusters::{self, cluster_name};
use crate::error::{invalid, Result};
use crate::persistence::db;
use crate::persistence::records::{task_key, TaskRecord};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// Minutes a protection lasts when the request names none.
pub const DEFAULT_MINUTES: i32 = 120;
/// The longest protection (48 hours).
pub const MAX_MINUTES: i32 = 2880;

/// Is `t` protected from scale-in at `now`?
pub fn protected(t: &TaskRecord, now: Timestamp) -> bool {
    t.protected_until.is_some_and(|until| now < until)
}

fn of<S>(st: &AppState<S>, t: &TaskRecord, now: Timestamp) -> ProtectedTask {
    let on = protected(t, now);
    ProtectedTask {
        task_arn: Some(st.arns.task(&t.cluster, &t.id)),
        protection_enabled: Some(on),
        expiration_date: if on { t.protected_until } else { None },
    }
}

fn failure<S>(st: &AppState<S>, cluster: &str, id: &str, reason: &str) -> Failure {
    Failure {
        arn: Some(st.arns.task(cluster, id)),
        reason: Some(reason.to_string()),
        detail: None,
    }
}

/// A task a service started (`group` `service:<name>`).
fn of_service(t: &TaskRecord) -> bool {
    t.group.starts_with("service:")
}

fn check_count(tasks: &[String], max: usize) -> Result<()> {
    if tasks.is_empty() || tasks.len() > max {
        return Err(invalid(format!(
            "tasks must name between 1 and {max} tasks."
        )));
    }
    Ok(())
}

pub async fn get_task_protection<S: Store>(
    st: &AppState<S>,
    req: GetTaskProtectionRequest,
) -> Result<GetTaskProtectionResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let wanted = req.tasks.unwrap_or_default();
    check_count(&wanted, 100)?;
    let now = st.clock.now();
    let (mut out, mut failures) = (Vec::new(), Vec::new());
    for w in &wanted {
        let id = arn::short_id(w);
        match db::get::<S, TaskRecord>(&st.store, &task_key(&cluster, id)).await? {
            Some(t) if of_service(&t.value) => out.push(of(st, &t.value, now)),
            Some(_) => failures.push(failure(st, &cluster, id, "TASK_NOT_VALID")),
            None => failures.push(failure(st, &cluster, id, "MISSING")),
        }
    }
    Ok(GetTaskProtectionResponse {
        protected_tasks: Some(out),
        failures: Some(failures),
    })
}

pub async fn update_task_protection<S: Store>(
    st: &AppState<S>,
    req: UpdateTaskProtectionRequest,
) -> Result<UpdateTaskProtectionResponse> {
    let cluster = cluster_name(req.cluster.as_deref()).to_string();
    clusters::active(st, &cluster).await?;
    let wanted = req.tasks.unwrap_or_default();
    check_count(&wanted, 10)?;
    let enable = req.protection_enabled.unwrap_or(false);
    let minutes = req.expires_in_minutes.unwrap_or(DEFAULT_MINUTES);
    if enable && !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(invalid(format!(
            "expiresInMinutes is {minutes}; it must be between 1 and {MAX_MINUTES}."
        )));
    }
    let (mut out, mut failures) = (Vec::new(), Vec::new());
    for w in &wanted {
        let id = arn::short_id(w);
        let key = task_key(&cluster, id);
        let key = &key;
        let result = retry(
            || format!("task {id}"),
            || async move {
                let Some(t) = db::get::<S, TaskRecord>(&st.store, key).await? else {
                    return Ok(Attempt::Done(Err("MISSING")));
                };
                if !of_service(&t.value) {
                    return Ok(Attempt::Done(Err("TASK_NOT_VALID")));
                }
                let now = st.clock.now();
                let mut rec = t.value.clone();
                rec.protected_until = enable.then(|| now + f64::from(minutes) * 60.0);
                let ok = db::commit(
                    &st.store,
                    vec![db::unchanged(&t.key, t.revision)],
                    vec![db::put(&t.key, &rec)?],
                )
                .await?;
                Ok(if ok {
                    Attempt::Done(Ok(of(st, &rec, now)))
                } else {
                    Attempt::Conflict
                })
            },
        )
        .await?;
        match result {
            Ok(p) => out.push(p),
            Err(reason) => failures.push(failure(st, &cluster, id, reason)),
        }
    }
    Ok(UpdateTaskProtectionResponse {
        protected_tasks: Some(out),
        failures: Some(failures),
    })
}
