//! DeleteTaskDefinitions, and the sweep that forgets deleted revisions.
//!
//! As ECS: only a deregistered (INACTIVE) revision can be deleted; it turns
//! DELETE_IN_PROGRESS at once, stays describable while a task or service still uses it
//! (existing services keep scaling it, nothing new can start from it, as for INACTIVE), and
//! is removed by [`purge`] once nothing does. The family's revision counter stays, so the
//! next registration of the family takes the next number. Per-revision problems are
//! `failures`, with ECS's reasons; the others are kept.

use std::collections::BTreeSet;

use gantry_api::arn;
use gantry_api::model::{DeleteTaskDefinitionsRequest, DeleteTaskDefinitionsResponse, Failure};
use gantry_api::TaskStatus;
use gantry_store::{Op, Store};
use serde::Deserialize;

use super::render;
use crate::error::{invalid, Result};
use crate::persistence::db;
use crate::persistence::records::{tags_key, taskdef_key, TaskDefRecord, TaskDefStatus, TASKDEFS};
use crate::persistence::service_records::{ServiceRecord, ServiceStatus, SERVICES};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// At most this many revisions a call (ECS's limit).
pub const MAX_PER_CALL: usize = 10;

const INVALID: &str =
    "The specified task definition identifier is invalid. Specify a valid name or ARN and try again.";
const MISSING: &str =
    "The specified task definition does not exist. Specify a valid account, family, revision and try again.";
const STILL_ACTIVE: &str =
    "The specified task definition is still in ACTIVE status. Please deregister the target and try again.";

fn failure(arn: &str, reason: &str) -> Failure {
    Failure {
        arn: Some(arn.to_string()),
        reason: Some(reason.to_string()),
        detail: None,
    }
}

/// `family:revision` of a reference (`family:revision` or a task definition ARN); `None`
/// when it names no revision.
fn family_revision(reference: &str) -> Option<(&str, i32)> {
    let short = match arn::parse(reference) {
        Some(_) => reference.split_once(":task-definition/")?.1,
        None => reference,
    };
    let (family, rev) = short.rsplit_once(':')?;
    let rev: i32 = rev.parse().ok().filter(|r| *r > 0)?;
    (!family.is_empty()).then_some((family, rev))
}

enum Outcome {
    Deleted(Box<TaskDefRecord>),
    Failed(Failure),
}

async fn delete_one<S: Store>(st: &AppState<S>, reference: &str) -> Result<Outcome> {
    let Some((family, revision)) = family_revision(reference) else {
        return Ok(Outcome::Failed(failure(reference, INVALID)));
    };
    let key = taskdef_key(family, revision);
    let key = &key;
    retry(
        || format!("task definition {family}:{revision}"),
        || async move {
            let Some(d) = db::get::<S, TaskDefRecord>(&st.store, key).await? else {
                return Ok(Attempt::Done(Outcome::Failed(failure(reference, MISSING))));
            };
            match d.value.status {
                TaskDefStatus::Active => {
                    let arn = st.arns.task_definition(family, i64::from(revision));
                    Ok(Attempt::Done(Outcome::Failed(failure(&arn, STILL_ACTIVE))))
                }
                TaskDefStatus::DeleteInProgress => {
                    Ok(Attempt::Done(Outcome::Deleted(Box::new(d.value))))
                }
                TaskDefStatus::Inactive => {
                    let mut rec = d.value.clone();
                    rec.status = TaskDefStatus::DeleteInProgress;
                    let ok = db::commit(
                        &st.store,
                        vec![db::unchanged(&d.key, d.revision)],
                        vec![db::put(&d.key, &rec)?],
                    )
                    .await?;
                    Ok(if ok {
                        Attempt::Done(Outcome::Deleted(Box::new(rec)))
                    } else {
                        Attempt::Conflict
                    })
                }
            }
        },
    )
    .await
}

pub async fn delete_task_definitions<S: Store>(
    st: &AppState<S>,
    req: DeleteTaskDefinitionsRequest,
) -> Result<DeleteTaskDefinitionsResponse> {
    let refs = req.task_definitions.unwrap_or_default();
    if refs.is_empty() {
        return Err(invalid(
            "taskDefinitions must name at least one task definition revision.",
        ));
    }
    if refs.len() > MAX_PER_CALL {
        return Err(invalid(format!(
            "taskDefinitions names {} task definitions; at most {MAX_PER_CALL} can be deleted at a time.",
            refs.len()
        )));
    }
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    for r in &refs {
        match delete_one(st, r).await? {
            Outcome::Deleted(rec) => deleted.push(render(st, &rec)),
            Outcome::Failed(f) => failures.push(f),
        }
    }
    Ok(DeleteTaskDefinitionsResponse {
        task_definitions: Some(deleted),
        failures: Some(failures),
    })
}

/// The fields of a task record [`purge`] looks at.
#[derive(Debug, Deserialize)]
struct TaskUse {
    last_status: TaskStatus,
    definition: Revision,
}

#[derive(Debug, Deserialize)]
struct Revision {
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    revision: Option<i32>,
}

/// The revisions (`family:revision`) a live task or an ACTIVE or DRAINING service (any of
/// its deployments) uses.
async fn in_use<S: Store>(st: &AppState<S>) -> Result<BTreeSet<String>> {
    let mut used = BTreeSet::new();
    for t in db::list::<S, TaskUse>(&st.store, "tasks/").await? {
        if t.value.last_status != TaskStatus::Stopped {
            if let (Some(f), Some(r)) = (t.value.definition.family, t.value.definition.revision) {
                used.insert(format!("{f}:{r}"));
            }
        }
    }
    for s in db::list::<S, ServiceRecord>(&st.store, SERVICES).await? {
        if s.value.status == ServiceStatus::Inactive {
            continue;
        }
        used.insert(s.value.task_definition.clone());
        for d in &s.value.deployments {
            used.insert(d.task_definition.clone());
        }
    }
    Ok(used)
}

/// One pass: removes the DELETE_IN_PROGRESS revisions nothing uses any more, with their
/// tags. Returns how many went. A revision that changed since it was read stays until the
/// next pass.
pub async fn purge<S: Store>(st: &AppState<S>) -> Result<usize> {
    let deleting = db::list_where::<S, TaskDefRecord, TaskDefRecord>(&st.store, TASKDEFS, |d| {
        d.status == TaskDefStatus::DeleteInProgress
    })
    .await?;
    if deleting.is_empty() {
        return Ok(0);
    }
    let used = in_use(st).await?;
    let mut gone = 0;
    for d in deleting {
        let name = format!("{}:{}", d.value.family, d.value.revision);
        if used.contains(&name) {
            continue;
        }
        let arn = st
            .arns
            .task_definition(&d.value.family, i64::from(d.value.revision));
        let ops = vec![
            Op::Delete { key: d.key.clone() },
            Op::Delete {
                key: tags_key(&arn),
            },
        ];
        if db::commit(&st.store, vec![db::unchanged(&d.key, d.revision)], ops).await? {
            gone += 1;
        }
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_must_name_a_revision() {
        assert_eq!(family_revision("web:3"), Some(("web", 3)));
        assert_eq!(
            family_revision("arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"),
            Some(("web", 3))
        );
        assert_eq!(family_revision("web"), None);
        assert_eq!(family_revision("web:x"), None);
        assert_eq!(family_revision("web:0"), None);
        assert_eq!(family_revision(":1"), None);
        assert_eq!(
            family_revision("arn:aws:ecs:us-east-1:123456789012:cluster/web:3"),
            None
        );
    }
}
