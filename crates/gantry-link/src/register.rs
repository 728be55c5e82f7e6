//! One registration attempt: `POST <server>/agent/v1/register`, signed when the link has
//! credentials; and the JSON `POST` every agent call (join, rotate) shares.

use gantry_api::protocol::{RegisterRequest, RegisterResponse};

/// Why a registration attempt (or a join, or a rotation) failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The server answered with a client error: retrying will not help.
    #[error("{status}: {body}")]
    Refused {
        status: reqwest::StatusCode,
        body: String,
    },
    /// The server is not reachable or not ready (connection error, 5xx).
    #[error("{0}")]
    Unavailable(String),
    /// The request could not be signed (retrying will not help).
    #[error("could not sign the request: {0}")]
    Unsigned(String),
    /// The server accepted the registration but its answer does not parse.
    #[error("the server's answer does not parse: {0}")]
    BadAnswer(String),
}

impl RegisterError {
    /// What the server said, as it said it: the `message` of its JSON error body (else the
    /// body, else this error).
    pub fn server_message(&self) -> String {
        match self {
            Self::Refused { body, .. } => serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .or_else(|| v.get("Message"))
                        .and_then(|m| m.as_str())
                        .map(String::from)
                })
                .unwrap_or_else(|| body.clone()),
            other => other.to_string(),
        }
    }

    /// A refusal of the node's credential itself (HTTP 401/403): expired, revoked, unknown.
    pub fn is_credential_refused(&self) -> bool {
        matches!(self, Self::Refused { status, .. } if *status == reqwest::StatusCode::FORBIDDEN || *status == reqwest::StatusCode::UNAUTHORIZED)
    }
}

/// Registers once with the server at `server_url` (`http://host:port`), unsigned (see
/// [`crate::Link::register`] for the signed form).
pub async fn register(
    client: &reqwest::Client,
    server_url: &str,
    req: &RegisterRequest,
) -> Result<RegisterResponse, RegisterError> {
    let http = client
        .post(crate::register_url(server_url))
        .json(req)
        .build()
        .map_err(|e| RegisterError::Unavailable(chain(&e)))?;
    send(client, http).await
}

/// [`crate::Link::register`].
pub(crate) async fn register_signed(
    link: &crate::Link,
    req: &RegisterRequest,
) -> Result<RegisterResponse, RegisterError> {
    post(link, gantry_api::protocol::REGISTER_PATH, req, true).await
}

/// `POST`s `req` as JSON to `path` of the server in use over `link` (signed with its
/// credentials when `signed`) and reads the JSON answer. When that server cannot be reached
/// or is not ready, the link moves on to its next address, so the caller's retry goes there:
/// every replica answers these calls alike.
pub(crate) async fn post<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
    link: &crate::Link,
    path: &str,
    req: &Req,
    signed: bool,
) -> Result<Resp, RegisterError> {
    let at = link.servers().current();
    let mut http = link
        .http()
        .post(format!("{}{path}", at.url))
        .json(req)
        .build()
        .map_err(|e| RegisterError::Unavailable(chain(&e)))?;
    if signed {
        link.sign(&mut http).map_err(RegisterError::Unsigned)?;
    }
    let res = send(link.http(), http).await;
    if let Err(RegisterError::Unavailable(e)) = &res {
        if link.servers().len() > 1 {
            let next = link.servers().failed(&at);
            tracing::warn!(server = %at.url, next = %next.url, error = %e, "server unavailable; trying the next address");
        }
    }
    res
}

async fn send<Resp: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    http: reqwest::Request,
) -> Result<Resp, RegisterError> {
    let resp = client
        .execute(http)
        .await
        .map_err(|e| RegisterError::Unavailable(chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(if status.is_client_error() {
            RegisterError::Refused { status, body }
        } else {
            RegisterError::Unavailable(format!("{status}: {body}"))
        });
    }
    resp.json()
        .await
        .map_err(|e| RegisterError::BadAnswer(e.to_string()))
}

/// An error with its causes (`error sending request: … : certificate …`): reqwest's own text
/// names only the first.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
