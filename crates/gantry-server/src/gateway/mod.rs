//! The agent gateway: registration, the agent sessions, reports, the task index, task
//! slices and the log relay (DESIGN.md §4).

pub mod logs;
pub mod reports;
pub mod session;
pub mod task_index;
pub mod task_slices;
