//! gantry-server: the control plane. It serves the ECS API (AWS JSON 1.1 on `POST /`), keeps
//! every object in a [`gantry_store::Store`] as versioned records written by compare-and-swap,
//! places tasks with [`gantry_scheduler::place`] and commits each instance's share with a
//! re-check, and runs the agent gateway that pushes desired task sets to node agents.
//!
//! It must never run containers or touch a node: agents do that. A rejected request writes
//! nothing.

mod api;
mod attributes;
mod clusters;
mod db;
mod error;
mod gateway;
mod instances;
mod liveness;
mod paging;
mod placement;
mod protocol;
mod records;
mod reports;
mod run_task;
mod server;
mod state;
mod tags;
mod task_definitions;
mod taskdef_rules;
mod tasks;

pub use api::IMPLEMENTED;
pub use error::{Error, ServerError};
pub use server::{bind, router, serve, Bound};
pub use state::{AppState, ServerConfig};
