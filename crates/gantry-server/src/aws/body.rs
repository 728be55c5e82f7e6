//! Reading a request body, capped at the configured size before it is parsed.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use gantry_api::{ApiError, ErrorKind};

/// The body, or `RequestEntityTooLarge` if it (or its declared length) passes `limit`.
pub async fn read(limit: usize, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::RequestEntityTooLarge,
            format!("The request body is larger than the {limit} bytes this server accepts; send a smaller request."),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}
