//! The text of service events and stop reasons, in ECS's words.

use gantry_scheduler::Reason;

/// The stop reason of a task replaced for failing its health checks (ECS's words).
pub const UNHEALTHY_REASON: &str = "Task failed container health checks";

/// "has stopped N tasks: ...", ten tasks an event.
pub fn chunks(name: &str, verb: &str, ids: &[String], out: &mut Vec<String>) {
    for part in ids.chunks(10) {
        let list: Vec<String> = part.iter().map(|id| format!("(task {id})")).collect();
        out.push(format!(
            "(service {name}) has {verb} {} tasks: {}.",
            part.len(),
            list.join(" ")
        ));
    }
}

/// The "has started N tasks" events for tasks the shell placed.
pub fn started_events(service: &str, task_ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    chunks(service, "started", task_ids, &mut out);
    out
}

/// The event for tasks that could not be placed, ECS's wording.
pub fn unplaced_event(service: &str, reason: Reason) -> String {
    let what = match reason {
        Reason::Cpu => "has insufficient CPU units available",
        Reason::Memory => "has insufficient memory available",
        Reason::Ports => "is already using a port required by your task",
        Reason::Attribute => "is missing an attribute required by your task",
        _ => "is not available (no ACTIVE container instance with a connected agent)",
    };
    format!(
        "(service {service}) was unable to place a task because no container instance met all of its requirements. The closest matching container-instance {what}. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
    )
}

/// The event for a task replaced for failing its health checks.
pub fn unhealthy(service: &str, task_id: &str) -> String {
    format!("(service {service}) (task {task_id}) failed container health checks.")
}

/// The stop reason of a task on a DRAINING (or gone) instance.
pub fn draining_reason(instance: &str) -> String {
    format!("Task stopped because container instance {instance} is DRAINING.")
}

/// The stop reason of a DAEMON task on an instance that left its constraints.
pub fn unmatched_reason(instance: &str, service: &str) -> String {
    format!(
        "Task stopped because container instance {instance} no longer meets the placement constraints of service {service}."
    )
}

/// The stop reason of the tasks of a service being deleted.
pub fn deleting_reason(service: &str) -> String {
    format!("Service {service} is being deleted.")
}

/// The stop reason of an old or surplus task.
pub fn scaling_reason(primary_id: &str) -> String {
    format!("Scaling activity initiated by (deployment {primary_id})")
}
