//! Gantry's wire vocabulary: the ECS API shapes (generated from the official service model),
//! their validation, ECS error shapes, ARNs, the task lifecycle, and the agent <-> server
//! protocol. This crate does no I/O and holds no policy: it only says what goes on the wire.

pub mod arn;
pub mod depends;
pub mod ecs;
pub mod error;
pub mod logconfig;
pub mod node;
pub mod protocol;
pub mod status;
pub mod task_secrets;
pub mod units;

pub use ecs::model;
pub use error::{ApiError, ErrorKind};
pub use status::TaskStatus;

/// The `X-Amz-Target` prefix of every ECS operation.
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";

/// The content type of the AWS JSON 1.1 protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Seconds since the Unix epoch, as ECS puts timestamps on the wire.
pub type Timestamp = f64;
