//! The service controller: a pure reconciler ([`reconcile`], its rules in [`counting`],
//! [`breaker`], [`rollout`] and [`events`]) inside an I/O loop ([`controller`]).

pub mod actions;
pub mod breaker;
pub mod controller;
pub mod counting;
pub mod dirty;
pub mod events;
pub mod history;
pub mod reconcile;
pub mod rollout;
