//! The controllers: node liveness and the service controller.

pub mod liveness;
pub mod service;
