//! AWS JSON 1.0/1.1 framing: `POST /` with `X-Amz-Target`, a size-capped JSON body in, JSON
//! or an error `{"__type", "message"}` out, with a request id. Which service the target
//! names is [`crate::registry`]'s business. The SigV4 `Authorization` header is accepted and
//! not yet verified.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gantry_api::{ApiError, ErrorKind, CONTENT_TYPE};
use gantry_store::Store;
use serde_json::Value;

use super::request_id;
use crate::registry::Service;
use crate::state::AppState;

/// The handler of `POST /`.
pub async fn handle<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // No target and a form body: the query protocol (IAM, STS, ELBv2), answered in XML.
    if super::query::is_query(&headers) {
        return super::query::handle(&state, &headers, body).await;
    }
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
    let bytes = super::body::read(state.config.max_body_bytes, headers, body).await?;
    let (service, op) = operation_name(headers)?;
    if !service.implemented(op) {
        return Err(ApiError::client(format!(
            "Gantry does not implement {op} yet; gantry_server::IMPLEMENTED lists the operations it serves."
        )));
    }
    check_content_type(headers)?;
    let value = service.parse(op, &bytes)?;
    service.dispatch(state, op, value).await.map_err(|e| {
        let api = e.to_api();
        if api.kind == ErrorKind::Server {
            tracing::error!(operation = op, error = %e, "request failed");
        }
        api
    })
}

fn operation_name(headers: &HeaderMap) -> Result<(Service, &str), ApiError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::UnknownOperation,
                format!(
                    "The X-Amz-Target header is missing; send X-Amz-Target: {}<Operation>.",
                    Service::default_target_prefix()
                ),
            )
        })?;
    match Service::for_target(target) {
        Some((service, op)) if !op.is_empty() && service.knows(op) => Ok((service, op)),
        found => Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!(
                "{target} is not an operation of the {} API; check the X-Amz-Target header.",
                found.map_or(Service::Ecs.name(), |(s, _)| s.name())
            ),
        )),
    }
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
    if let Ok(id) = HeaderValue::from_str(&request_id::new()) {
        h.insert(request_id::HEADER, id);
    }
    resp
}

/// The JSON error response for `err`: `{"__type", "message"}`, its HTTP status and
/// `x-amzn-ErrorType`.
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
