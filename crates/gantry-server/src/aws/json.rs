//! AWS JSON 1.0/1.1 framing: `POST /` with `X-Amz-Target`, a size-capped JSON body in, JSON
//! or an error `{"__type", "message"}` out, with a request id and a `Date`. Every request
//! passes the gate first ([`crate::auth`]: SigV4, then the operation's accesses against the
//! caller's policies) and is written to the audit log. Which service the target names is
//! [`crate::registry`]'s business.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gantry_api::{ApiError, ErrorKind, CONTENT_TYPE};
use gantry_aws::sigv4::Protocol;
use gantry_store::Store;
use serde_json::Value;

use super::request_id;
use crate::auth::audit::{Decision, Record};
use crate::auth::deny::Refusal;
use crate::auth::gate::Wire;
use crate::auth::{authorize, gate, respond};
use crate::registry::Service;
use crate::state::AppState;

/// Why a JSON request was not answered with a result.
enum Failure {
    /// The gate refused it.
    Refused(Refusal),
    /// The framing or the operation failed.
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// The handler of `POST /`.
pub async fn handle<S: Store>(State(state): State<Arc<AppState<S>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // No target and a form body: the query protocol (IAM, STS, ELBv2), answered in XML.
    if super::query::is_query(&parts.headers) {
        return super::query::handle(&state, &parts, body).await;
    }
    let rid = request_id::new();
    let wire = Wire::of(&parts);
    let now = state.clock.now();
    let mut audit = Record::begin(now, &rid, wire.source_ip, Service::Ecs.signing_name());
    let mut resp = match call(&state, &wire, body, &mut audit).await {
        Ok(value) => respond_with(StatusCode::OK, &value, &rid),
        Err(Failure::Refused(r)) => {
            audit.error_code = Some(r.code(Protocol::Json).to_string());
            respond::refusal(&r, Protocol::Json, &rid)
        }
        Err(Failure::Api(e)) => {
            audit.error_code = Some(e.kind.name().to_string());
            error_response_with(&e, &rid)
        }
    };
    state.audit.record(audit);
    respond::stamp(&mut resp, now);
    resp
}

async fn call<S: Store>(
    state: &AppState<S>,
    wire: &Wire<'_>,
    body: axum::body::Body,
    audit: &mut Record,
) -> Result<Value, Failure> {
    let headers = &wire.parts.headers;
    let bytes = super::body::read(state.config.max_body_bytes, headers, body).await?;
    // The signature is checked first: an unsigned request learns nothing, not even whether
    // its target exists. Its scope must name the service the target belongs to.
    let target = operation_name(headers);
    let service = target.as_ref().map_or(Service::Ecs, |(s, _)| *s);
    // The record names the API the request was for (`ssm`, `gantry`, …), not only ECS.
    audit.service = service.signing_name().to_string();
    if let Ok((_, op)) = &target {
        audit.action = (*op).to_string();
    }
    let caller = gate::authenticate(state, wire, &bytes, service.signing_name())
        .await
        .map_err(Failure::Refused)?;
    audit.caller(&caller);
    let (service, op) = target?;
    if !service.implemented(op) {
        return Err(ApiError::client(format!(
            "Gantry does not implement {op} yet; gantry_server::IMPLEMENTED lists the operations it serves."
        ))
        .into());
    }
    check_content_type(headers)?;
    let value = service.parse(op, &bytes)?;
    let policies = authorize::policies(state, &caller)
        .await
        .map_err(Failure::Refused)?;
    let accesses = service
        .accesses(state, op, &value, policies.resource_tags, &caller)
        .await
        .map_err(|e| e.to_api())?;
    audit.accesses(&accesses);
    if let Err(r) = authorize::authorize_with(state, &caller, &policies.policies, &accesses) {
        // Within one account a resource-based policy's Allow is enough, unless an identity
        // policy denies explicitly.
        let implicit = matches!(&r, crate::auth::deny::Refusal::Denied(d) if !d.explicit);
        if !(implicit && service.resource_allows(state, &caller, &accesses).await) {
            return Err(Failure::Refused(r));
        }
    }
    audit.decision = Decision::Allow;
    gate::used(state, &caller, service.signing_name()).await;
    if service == Service::Ecs && op == crate::ecs::agent_api::DISCOVER {
        // The one answer about the request itself: the address it reached.
        return discover(value, wire).map_err(Failure::Api);
    }
    let out = service
        .dispatch(state, op, value, &caller)
        .await
        .map_err(|e| {
            let api = e.to_api();
            if api.kind == ErrorKind::Server {
                tracing::error!(operation = op, error = %e, "request failed");
            }
            api
        })?;
    Ok(out)
}

/// DiscoverPollEndpoint: the server's URL as the client reached it (scheme from the
/// listener, authority from the signed `Host`).
fn discover(value: Value, wire: &Wire<'_>) -> Result<Value, ApiError> {
    let host = wire
        .parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| wire.parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let scheme = if wire.secure { "https" } else { "http" };
    let req = serde_json::from_value(value)
        .map_err(|e| ApiError::client(format!("The request does not match the ECS model: {e}.")))?;
    let out = crate::ecs::agent_api::discover_poll_endpoint(req, &format!("{scheme}://{host}/"));
    serde_json::to_value(out).map_err(|e| ApiError::server(format!("encoding the response: {e}")))
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

fn respond_with(status: StatusCode, value: &Value, rid: &str) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(rid) {
        h.insert(request_id::HEADER, id);
    }
    resp
}

/// The JSON error response for `err`: `{"__type", "message"}`, its HTTP status and
/// `x-amzn-ErrorType`.
pub fn error_response(err: &ApiError) -> Response {
    error_response_with(err, &request_id::new())
}

/// [`error_response`] with request id `rid`.
pub fn error_response_with(err: &ApiError, rid: &str) -> Response {
    let status =
        StatusCode::from_u16(err.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let value = serde_json::to_value(err.body()).unwrap_or(Value::Null);
    let mut resp = respond_with(status, &value, rid);
    if let Ok(v) = HeaderValue::from_str(err.kind.name()) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}
