//! AWS JSON 1.1 framing: `POST /` with `X-Amz-Target`, a size-capped JSON body in, JSON or an
//! ECS error `{"__type", "message"}` out. The SigV4 `Authorization` header is accepted and not
//! yet verified.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gantry_api::{ApiError, ErrorKind, CONTENT_TYPE, TARGET_PREFIX};
use gantry_store::Store;
use serde_json::Value;

use crate::ecs as api;
use crate::state::AppState;

/// The handler of `POST /`.
pub async fn handle<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match call(&state, &headers, body).await {
        Ok(value) => respond(StatusCode::OK, &value),
        Err(err) => error_response(&err),
    }
}

async fn call<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, ApiError> {
    let limit = state.config.max_body_bytes;
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
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;

    let op = operation_name(headers)?;
    if !api::implemented(op) {
        return Err(ApiError::client(format!(
            "Gantry does not implement {op} yet; gantry_server::IMPLEMENTED lists the operations it serves."
        )));
    }
    check_content_type(headers)?;
    // The same parser the fuzz target (crates/gantry-api/fuzz) exercises.
    let value = gantry_api::ecs::parse_request(op, &bytes)?;
    api::dispatch(state, op, value).await.map_err(|e| {
        let api = e.to_api();
        if api.kind == ErrorKind::Server {
            tracing::error!(operation = op, error = %e, "request failed");
        }
        api
    })
}

fn operation_name(headers: &HeaderMap) -> Result<&str, ApiError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::UnknownOperation,
                format!("The X-Amz-Target header is missing; send X-Amz-Target: {TARGET_PREFIX}<Operation>."),
            )
        })?;
    let op = target.strip_prefix(TARGET_PREFIX).unwrap_or_default();
    if op.is_empty() || gantry_api::ecs::operation(op).is_none() {
        return Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!("{target} is not an operation of the ECS API; check the X-Amz-Target header."),
        ));
    }
    Ok(op)
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    // Tolerant: the SDKs send x-amz-json-1.1, curl users send application/json, some send none.
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(()),
        Some(ct) if ct.contains("json") => Ok(()),
        Some(ct) => Err(ApiError::client(format!(
            "Content-Type {ct} is not supported; send {CONTENT_TYPE}."
        ))),
    }
}

fn respond(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-amzn-requestid", id);
    }
    resp
}

/// The ECS error response for `err`.
pub fn error_response(err: &ApiError) -> Response {
    let status =
        StatusCode::from_u16(err.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let value = serde_json::to_value(err.body()).unwrap_or(Value::Null);
    let mut resp = respond(status, &value);
    if let Ok(v) = HeaderValue::from_str(err.kind.name()) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}
