//! One registration attempt: `POST <server>/agent/v1/register`, signed when the link has
//! credentials.

use gantry_api::protocol::{RegisterRequest, RegisterResponse};

/// Why a registration attempt failed.
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
    #[error("could not sign the registration: {0}")]
    Unsigned(String),
    /// The server accepted the registration but its answer does not parse.
    #[error("the answer is not a RegisterResponse: {0}")]
    BadAnswer(String),
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
        .map_err(|e| RegisterError::Unavailable(e.to_string()))?;
    send(client, http).await
}

/// [`crate::Link::register`].
pub(crate) async fn register_signed(
    link: &crate::Link,
    req: &RegisterRequest,
) -> Result<RegisterResponse, RegisterError> {
    let mut http = link
        .http()
        .post(crate::register_url(link.server_url()))
        .json(req)
        .build()
        .map_err(|e| RegisterError::Unavailable(e.to_string()))?;
    link.sign(&mut http)
        .map_err(|e| RegisterError::Unsigned(e.to_string()))?;
    send(link.http(), http).await
}

async fn send(
    client: &reqwest::Client,
    http: reqwest::Request,
) -> Result<RegisterResponse, RegisterError> {
    let resp = client
        .execute(http)
        .await
        .map_err(|e| RegisterError::Unavailable(e.to_string()))?;
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
