//! What RunTask, StartTask and the service controller share.

pub mod constraints;
pub mod placement;
