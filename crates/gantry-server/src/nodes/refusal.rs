//! Why a node's request was refused, in words the agent logs as they are: each says what to
//! do next. Answered `403 AccessDeniedException` (the JSON error form of the gateway).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::dates::rfc3339;

/// The agent's way back in, named in every refusal of a credential.
const JOIN_AGAIN: &str =
    "join the host again with a new token (`gantry token create`) or activation (`aws ssm create-activation`)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRefusal {
    /// No node signature at all.
    Missing,
    /// Signed with an IAM access key (SigV4) instead.
    IamKey,
    Malformed(String),
    Skew {
        date: String,
        now: i64,
    },
    /// Not a certificate of this cluster's CA for client authentication.
    Certificate,
    Expired {
        node_id: String,
        at: i64,
    },
    Signature {
        node_id: String,
    },
    Unknown {
        node_id: String,
    },
    Revoked {
        node_id: String,
        at: i64,
        reason: String,
    },
    /// Verified, but not allowed to do this (another instance, another cluster).
    Forbidden(String),
    /// The server could not decide.
    Internal(String),
}

impl NodeRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Internal(_) => "ServerException",
            _ => "AccessDeniedException",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::FORBIDDEN,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::Missing => format!("This request needs a node signature (the {} headers): agents sign with the node credential they got when the host joined; {JOIN_AGAIN}.", gantry_api::node::SCHEME),
            Self::IamKey => format!("Agent sessions take a node credential, not an IAM access key: {JOIN_AGAIN}, and run the agent with the credential it stores."),
            Self::Malformed(what) => format!("The node signature is malformed: {what}."),
            Self::Skew { date, now } => format!(
                "The node request date {date} is more than {} s from the server's clock ({}): fix the host's clock (NTP) and retry.",
                gantry_api::node::MAX_SKEW_SECS,
                rfc3339(*now)
            ),
            Self::Certificate => format!("The node certificate is not from this cluster's CA, not for client authentication, or malformed: {JOIN_AGAIN}."),
            Self::Expired { node_id, at } => format!(
                "The node credential of {node_id} expired at {}: the agent rotates it before expiry; once expired, {JOIN_AGAIN}.",
                rfc3339(*at)
            ),
            Self::Signature { node_id } => format!("The node signature of {node_id} does not verify with its certificate's key: sign with the key the certificate was issued for."),
            Self::Unknown { node_id } => format!("The node {node_id} is not known to this server: {JOIN_AGAIN}."),
            Self::Revoked { node_id, at, reason } => {
                let why = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
                format!("The node credential of {node_id} was revoked at {}{why}: {JOIN_AGAIN}.", rfc3339(*at))
            }
            Self::Forbidden(m) | Self::Internal(m) => m.clone(),
        }
    }

    /// The answer, with request id `rid`.
    pub fn response(&self, rid: &str) -> Response {
        let code = self.code();
        let body = json!({ "__type": code, "message": self.message() }).to_string();
        let mut resp = (self.status(), body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(gantry_api::CONTENT_TYPE),
        );
        h.insert("x-amzn-errortype", HeaderValue::from_static(code));
        if let Ok(id) = HeaderValue::from_str(rid) {
            h.insert(crate::aws::request_id::HEADER, id);
        }
        resp
    }
}
