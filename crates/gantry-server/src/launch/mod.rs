//! What RunTask, StartTask and the service controller share: preparing a launch, resource
//! needs, capacity provider strategies, making task records, placement strategies and constraints, placement itself, and
//! stopping a task.

pub mod capacity;
pub mod constraints;
pub mod needs;
pub mod placement;
pub mod prepare;
pub mod stop;
pub mod strategies;
pub mod task_record;
