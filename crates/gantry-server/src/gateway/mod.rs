//! The agent gateway (DESIGN.md §4): registration, the agent sessions and the desired sets
//! they push, reports, the task index that tells a session which tasks are its node's, task
//! slices for awsvpc, and the log relay.

pub mod connection;
pub mod desired;
pub mod logs;
pub mod registration;
pub mod reports;
pub mod session;
pub mod sessions;
pub mod task_index;
pub mod task_network;
pub mod task_slices;
