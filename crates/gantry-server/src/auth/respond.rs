//! Error answers for refused requests in each protocol, and the `Date` header every answer
//! carries (from the server's clock, the one the signature window is judged by, so an SDK
//! that corrects its skew from it lands inside the window).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gantry_aws::sigv4::Protocol;
use serde_json::json;

use super::dates;
use super::deny::Refusal;
use crate::aws::request_id;
use crate::aws::xml::{self, Fault};

/// Sets `Date` to `now` (seconds since the epoch), RFC 1123.
pub fn stamp(resp: &mut Response, now: f64) {
    #[allow(clippy::cast_possible_truncation)]
    let secs = now.floor() as i64;
    if let Ok(v) = HeaderValue::from_str(&dates::rfc1123(secs)) {
        resp.headers_mut().insert(header::DATE, v);
    }
}

/// The answer to a refused request: `{"__type", "message"}` for JSON, `<ErrorResponse>` for
/// the query protocol, with `rid` as its request id.
pub fn refusal(r: &Refusal, proto: Protocol, rid: &str) -> Response {
    let status = StatusCode::from_u16(r.status(proto)).unwrap_or(StatusCode::FORBIDDEN);
    let code = r.code(proto);
    let mut resp = match proto {
        Protocol::Json => {
            let body = json!({ "__type": code, "message": r.message() }).to_string();
            let mut resp = (status, body).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(gantry_api::CONTENT_TYPE),
            );
            h.insert("x-amzn-errortype", HeaderValue::from_static(code));
            resp
        }
        Protocol::Query => {
            let body = xml::error(Fault::of_status(status.as_u16()), code, &r.message(), rid);
            let mut resp = (status, body).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
            resp
        }
    };
    if let Ok(id) = HeaderValue::from_str(rid) {
        resp.headers_mut().insert(request_id::HEADER, id);
    }
    resp
}
