//! gantry-server: the control plane. It serves the AWS APIs Gantry speaks on `POST /` (ECS
//! as AWS JSON 1.1 today; the query protocol's framing is ready for IAM, STS and ELBv2),
//! keeps every object in a [`gantry_store::Store`] as versioned records written by
//! compare-and-swap, places tasks with [`gantry_scheduler::place_with`] and commits each
//! instance's share with a re-check, runs the agent gateway that pushes desired task sets to
//! node agents, and runs the controllers (node liveness, services), each a pure function of
//! what it read and the clock, inside an I/O loop. `GET /gantry/v1/logs` relays a task's
//! logs from its agent. The folders: `aws/` (framing), `ecs/` (one file per resource),
//! `launch/`, `gateway/`, `controllers/`, `persistence/`; `registry.rs` lists the services.
//!
//! It must never run containers or touch a node: agents do that. A rejected request writes
//! nothing.

pub mod atomic_file;
pub mod auth;
pub mod aws;
mod clock;
mod controllers;
mod ecs;
mod error;
mod gateway;
pub mod ha;
pub mod iam;
mod launch;
pub mod nodes;
mod persistence;
pub mod registry;
pub mod secretsmanager;
mod server;
pub mod ssm;
mod state;
pub mod sts;
mod task_secrets;
pub mod tls;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ecs::members;
pub use ecs::unavailable::REFUSED as ECS_REFUSED;
pub use ecs::IMPLEMENTED;
pub use error::{Error, ServerError};
pub use gateway::task_network::TaskNetwork;
pub use server::{bind, router, serve, Bound};
pub use state::{AccessKeyPair, AppState, ControllerConfig, ServerConfig};
