//! Who is calling, and may they. SKELETON: [`Caller`] and [`Principal`] are the interface
//! between the auth gate (SigV4 verification, authorization, audit) and the services that
//! need to know their caller (STS's GetCallerIdentity and AssumeRole, IAM's defaults).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// An IAM identity a request is made as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `arn:aws:iam::<account>:user/<name>` or `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub arn: String,
    /// `AIDA…` for a user; `AROA…:<session>` for an assumed role (what `aws:userid` holds).
    pub user_id: String,
    pub account: String,
    pub kind: PrincipalKind,
    /// The principal's tags (`aws:PrincipalTag/*`).
    pub tags: BTreeMap<String, String>,
}

/// What kind of identity a [`Principal`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    User {
        name: String,
    },
    AssumedRole {
        role_name: String,
        role_arn: String,
        session_name: String,
    },
}

/// An authenticated request's caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Shared with the auth cache's entry for the key: a request does not copy it.
    pub principal: Arc<Principal>,
    pub access_key_id: String,
    pub source_ip: IpAddr,
    /// Came over TLS (`aws:SecureTransport`).
    pub secure: bool,
}

pub mod access;
pub mod audit;
pub mod authorize;
pub mod cache;
pub mod dates;
pub mod deny;
pub mod gate;
pub mod global_keys;
pub mod iam_actions;
pub mod respond;

pub use access::Access;
pub use gate::authenticate;

/// How a request reached the server, set as a request extension by the listener (the TLS
/// acceptor inserts `Transport { secure: true }`); absent means plain HTTP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transport {
    pub secure: bool,
}

/// What each ECS operation is authorized on ([`crate::ecs::authz`]), for tests and benches.
pub use crate::ecs::authz::accesses as ecs_accesses;
