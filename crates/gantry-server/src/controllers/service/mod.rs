//! The service controller: a pure reconciler inside an I/O loop.

pub mod controller;
pub mod reconcile;
