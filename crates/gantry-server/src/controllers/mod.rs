//! The controllers: node liveness, the service controller and stopped-task expiry.

pub mod expiry;
pub mod liveness;
pub mod service;
