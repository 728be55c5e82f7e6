//! gantry-runtime: everything that turns a task plan into running containers on this node.
//!
//! - [`spec`] builds each container's OCI runtime spec (Docker's default security profile).
//! - [`plan`] is the task plan the agent writes for the supervisor.
//! - [`supervisor`] is the per-task supervisor process: the only place that calls
//!   libcontainer, from a single-threaded process, never from the agent's async runtime.
//! - [`client`] is what the agent uses to start a supervisor ([`client::Launcher`]), read
//!   events and logs and stop it (plain std); [`prespawn`] keeps one supervisor waiting
//!   for the next task.
//! - [`task_dir`] names every path of a task's directory ([`TaskDir`]).
//! - [`logs`] is the container log format: JSON records, rotated by size.
//! - [`seccomp_bpf`] compiles each seccomp profile once and writes bundles with it.
//! - [`attach_warm`] overlaps the kernel's wait for a cgroup attach with a task's start.
//! - [`secret_env`] carries containers' secret variables from the agent to their
//!   environment through a pipe, never through a file.
//! - [`rlimit`] raises the agent's open-files limit and restores it for containers.
//!
//! This crate must never start a container from a multi-threaded process, and never leave
//! a cgroup, mount or process behind once a task has ended.

pub mod attach_warm;
pub mod cgroup;
pub mod client;
pub mod deps;
pub mod event;
pub mod logs;
pub mod plan;
pub mod prespawn;
pub mod rlimit;
pub mod seccomp_bpf;
pub mod secret_env;
pub mod spec;
pub mod supervisor;
pub mod task_dir;

pub use task_dir::TaskDir;
