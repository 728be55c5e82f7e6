//! gantry-server: the control plane. It serves the ECS API (AWS JSON 1.1 on `POST /`), keeps
//! every object in a [`gantry_store::Store`] as versioned records written by compare-and-swap,
//! places tasks with [`gantry_scheduler::place_with`] and commits each instance's share with a
//! re-check, runs the agent gateway that pushes desired task sets to node agents, and runs
//! the controllers: node liveness and services (a pure reconciler, `reconcile`, inside an
//! I/O loop, `controller`). `GET /gantry/v1/logs` relays a task's logs from its agent.
//!
//! It must never run containers or touch a node: agents do that. A rejected request writes
//! nothing.

mod api;
mod attributes;
mod clock;
mod clusters;
mod constraints;
mod controller;
mod db;
mod error;
mod gateway;
mod instances;
mod liveness;
mod logs;
mod paging;
mod placement;
mod protocol;
mod reconcile;
mod records;
mod reports;
mod routes;
mod run_task;
mod server;
mod service_records;
mod service_render;
mod services;
mod state;
mod tags;
mod task_definitions;
mod task_slices;
mod taskdef_deps;
mod taskdef_ports;
mod taskdef_rules;
mod tasks;

pub use api::IMPLEMENTED;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ServerError};
pub use server::{bind, router, serve, Bound};
pub use state::{AppState, ControllerConfig, ServerConfig};
pub use task_slices::TaskNetwork;
