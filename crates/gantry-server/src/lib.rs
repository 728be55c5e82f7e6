//! gantry-server: the control plane. It serves the ECS API (AWS JSON 1.1 on `POST /`), keeps
//! every object in a [`gantry_store::Store`] as versioned records written by compare-and-swap,
//! places tasks with [`gantry_scheduler::place_with`] and commits each instance's share with a
//! re-check, runs the agent gateway that pushes desired task sets to node agents, and runs
//! the controllers: node liveness and services (a pure reconciler, `reconcile`, inside an
//! I/O loop, `controller`). `GET /gantry/v1/logs` relays a task's logs from its agent.
//!
//! It must never run containers or touch a node: agents do that. A rejected request writes
//! nothing.

pub mod aws;
mod clock;
mod controllers;
mod ecs;
mod error;
mod gateway;
mod launch;
mod persistence;
pub mod registry;
mod server;
mod state;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ecs::IMPLEMENTED;
pub use error::{Error, ServerError};
pub use gateway::task_network::TaskNetwork;
pub use server::{bind, router, serve, Bound};
pub use state::{AppState, ControllerConfig, ServerConfig};
