//! One registration attempt: `POST <server>/agent/v1/register`.

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
    /// The server accepted the registration but its answer does not parse.
    #[error("the answer is not a RegisterResponse: {0}")]
    BadAnswer(String),
}

/// Registers once with the server at `server_url` (`http://host:port`).
pub async fn register(
    client: &reqwest::Client,
    server_url: &str,
    req: &RegisterRequest,
) -> Result<RegisterResponse, RegisterError> {
    let url = crate::register_url(server_url);
    let resp = client
        .post(&url)
        .json(req)
        .send()
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
