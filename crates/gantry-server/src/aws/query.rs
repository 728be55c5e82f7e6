//! The AWS query protocol that IAM, STS and ELBv2 speak: `POST /` with a form-encoded body
//! `Action=<Operation>&Version=<API date>&<parameters>`, answered in XML ([`super::xml`]).
//! Parameters are flat: a list is `Name.member.1`, `Name.member.2`, …; a structure in a list
//! is `Name.member.N.Field`; a map is `Name.entry.N.key` and `Name.entry.N.value` (botocore's
//! query serializer). This module parses the body and answers; which service the request is
//! for comes from its SigV4 scope ([`crate::registry::Service::for_scope`]).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gantry_api::{ApiError, ErrorKind};
use gantry_store::Store;

use axum::http::request::Parts;
use gantry_aws::sigv4::Protocol;

use super::request_id;
use super::xml::{self, Fault};
use crate::auth::audit::{Decision, Record};
use crate::auth::authorize::authorize;
use crate::auth::deny::Refusal;
use crate::auth::gate::{self, Wire};
use crate::auth::{iam_actions, respond};
use crate::registry::Service;
use crate::state::AppState;

/// Why a query request could not be read; the codes are AWS's common errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("The request body is not a valid form-encoded query string: {0}.")]
    Malformed(String),
    #[error("The request is missing the Action parameter; send Action=<Operation>.")]
    MissingAction,
    #[error("The request is missing the Version parameter; send the API version date, e.g. Version=2010-05-08.")]
    MissingVersion,
}

impl QueryError {
    /// AWS's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "MalformedQueryString",
            Self::MissingAction => "MissingAction",
            Self::MissingVersion => "MissingParameter",
        }
    }
}

/// A parsed query-protocol request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    pub action: String,
    pub version: String,
    params: BTreeMap<String, String>,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
fn decode(s: &str) -> Result<String, QueryError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = b
                    .get(i + 1)
                    .and_then(|h| hex(*h))
                    .zip(b.get(i + 2).and_then(|l| hex(*l)))
                    .map(|(h, l)| h << 4 | l)
                    .ok_or_else(|| QueryError::Malformed(format!("bad percent escape in {s:?}")))?;
                out.push(byte);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| QueryError::Malformed(format!("{s:?} is not UTF-8")))
}

impl QueryRequest {
    /// Parses a form-encoded body. A repeated parameter keeps its last value, as AWS does.
    pub fn parse(body: &[u8]) -> Result<Self, QueryError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| QueryError::Malformed("the body is not UTF-8".to_string()))?;
        let mut params = BTreeMap::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(decode(k)?, decode(v)?);
        }
        let action = params
            .remove("Action")
            .filter(|a| !a.is_empty())
            .ok_or(QueryError::MissingAction)?;
        let version = params
            .remove("Version")
            .filter(|v| !v.is_empty())
            .ok_or(QueryError::MissingVersion)?;
        Ok(Self {
            action,
            version,
            params,
        })
    }

    /// A scalar parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Was member `name` sent at all (as a scalar, or as a list, structure or map)?
    pub fn has_prefix(&self, name: &str) -> bool {
        let dotted = format!("{name}.");
        self.params
            .range(name.to_string()..)
            .next()
            .is_some_and(|(k, _)| k == name || k.starts_with(&dotted))
            || self
                .params
                .range(dotted.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&dotted))
    }

    /// A list of scalars, `name.member.1` onwards, in order, up to the first gap.
    pub fn list(&self, name: &str) -> Vec<&str> {
        (1..)
            .map_while(|n| self.get(&format!("{name}.member.{n}")))
            .collect()
    }

    /// A list of structures, `name.member.N.Field`, each as field → value.
    pub fn structs(&self, name: &str) -> Vec<BTreeMap<&str, &str>> {
        let mut out = Vec::new();
        for n in 1.. {
            let prefix = format!("{name}.member.{n}.");
            let one: BTreeMap<&str, &str> = self
                .params
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, v)| (&k[prefix.len()..], v.as_str()))
                .collect();
            if one.is_empty() {
                break;
            }
            out.push(one);
        }
        out
    }

    /// A map, `name.entry.N.key` / `name.entry.N.value`.
    pub fn map(&self, name: &str) -> BTreeMap<&str, &str> {
        (1..)
            .map_while(|n| {
                let key = self.get(&format!("{name}.entry.{n}.key"))?;
                let value = self.get(&format!("{name}.entry.{n}.value")).unwrap_or("");
                Some((key, value))
            })
            .collect()
    }
}

fn xml_response(status: StatusCode, body: String, rid: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(rid) {
        h.insert(request_id::HEADER, id);
    }
    resp
}

/// A successful answer to `action`; `result` writes the children of `<{action}Result>`.
pub fn respond(action: &str, namespace: &str, result: impl FnOnce(&mut xml::Xml)) -> Response {
    let rid = request_id::new();
    let body = xml::response(action, namespace, &rid, result);
    xml_response(StatusCode::OK, body, &rid)
}

/// The XML error answer for `err`: its HTTP status, `Sender` or `Receiver` by that status,
/// and the exception name as the code.
pub fn error_response(err: &ApiError) -> Response {
    error_response_with(err, &request_id::new())
}

/// [`error_response`] with request id `rid`.
pub fn error_response_with(err: &ApiError, rid: &str) -> Response {
    let status = err.kind.http_status();
    let body = xml::error(Fault::of_status(status), err.kind.name(), &err.message, rid);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    xml_response(status, body, rid)
}

/// The XML error answer with a service's own `code` (IAM's `NoSuchEntity`, …) and `status`.
pub fn coded_error_response(status: u16, code: &str, message: &str) -> Response {
    let rid = request_id::new();
    let body = xml::error(Fault::of_status(status), code, message, &rid);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    xml_response(status, body, &rid)
}

/// The XML error answer for a request that could not be read.
pub fn malformed_response(err: &QueryError) -> Response {
    malformed_response_with(err, &request_id::new())
}

fn malformed_response_with(err: &QueryError, rid: &str) -> Response {
    let body = xml::error(Fault::Sender, err.code(), &err.to_string(), rid);
    xml_response(StatusCode::BAD_REQUEST, body, rid)
}

/// Is this a query-protocol request: a form body and no `X-Amz-Target`?
pub fn is_query(headers: &HeaderMap) -> bool {
    headers.get("x-amz-target").is_none()
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

/// The service of a SigV4 `Authorization` header's scope:
/// `Credential=<key id>/<date>/<region>/<service>/aws4_request`.
pub fn scope_service(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let cred = auth
        .split([' ', ','])
        .find_map(|p| p.strip_prefix("Credential="))?;
    let parts: Vec<&str> = cred.split('/').collect();
    match parts.as_slice() {
        [.., service, "aws4_request"] if parts.len() >= 5 => Some(service),
        _ => None,
    }
}

/// The service of a presigned request's `X-Amz-Credential` query parameter.
fn presigned_scope_service(query: &str) -> Option<String> {
    let cred = query
        .split('&')
        .find_map(|p| p.strip_prefix("X-Amz-Credential="))?;
    let cred = decode(cred).ok()?;
    let parts: Vec<&str> = cred.split('/').collect();
    match parts.as_slice() {
        [.., service, "aws4_request"] if parts.len() >= 5 => Some((*service).to_string()),
        _ => None,
    }
}

/// `POST /` in the query protocol: authenticate (the scope names the service), parse,
/// authorize ([`crate::auth::iam_actions`]), dispatch; audited and dated like JSON requests.
pub async fn handle<S: Store>(st: &AppState<S>, parts: &Parts, body: Body) -> Response {
    let rid = request_id::new();
    let wire = Wire::of(parts);
    let now = st.clock.now();
    let scope = scope_service(&parts.headers)
        .map(str::to_string)
        .or_else(|| presigned_scope_service(parts.uri.query().unwrap_or("")))
        .unwrap_or_default();
    let mut audit = Record::begin(now, &rid, wire.source_ip, &scope);
    let mut resp = match call(st, &wire, body, &scope, &mut audit).await {
        Ok(resp) => resp,
        Err(Failure::Refused(r)) => {
            audit.error_code = Some(r.code(Protocol::Query).to_string());
            respond::refusal(&r, Protocol::Query, &rid)
        }
        Err(Failure::Api(e)) => {
            audit.error_code = Some(e.kind.name().to_string());
            error_response_with(&e, &rid)
        }
        Err(Failure::Malformed(e)) => {
            audit.error_code = Some(e.code().to_string());
            malformed_response_with(&e, &rid)
        }
    };
    st.audit.record(audit);
    respond::stamp(&mut resp, now);
    resp
}

enum Failure {
    Refused(Refusal),
    Api(ApiError),
    Malformed(QueryError),
}

async fn call<S: Store>(
    st: &AppState<S>,
    wire: &Wire<'_>,
    body: Body,
    scope: &str,
    audit: &mut Record,
) -> Result<Response, Failure> {
    let bytes = super::body::read(st.config.max_body_bytes, &wire.parts.headers, body)
        .await
        .map_err(Failure::Api)?;
    let caller = gate::authenticate(st, wire, &bytes, scope)
        .await
        .map_err(Failure::Refused)?;
    audit.caller(&caller);
    let req = QueryRequest::parse(&bytes).map_err(Failure::Malformed)?;
    audit.action.clone_from(&req.action);
    let Some(service) = Service::for_scope(scope) else {
        return Err(Failure::Api(ApiError::new(
            ErrorKind::UnknownOperation,
            format!(
                "{} of service {} is not served here: this endpoint speaks the query protocol for IAM and STS only; ECS is served as AWS JSON 1.1 with X-Amz-Target.",
                req.action,
                if scope.is_empty() { "(no SigV4 scope)" } else { scope }
            ),
        )));
    };
    let accesses = iam_actions::accesses(&st.config.account_id, scope, &req, &caller);
    audit.accesses(&accesses);
    authorize(st, &caller, &accesses)
        .await
        .map_err(Failure::Refused)?;
    audit.decision = Decision::Allow;
    gate::used(st, &caller, scope).await;
    Ok(service.dispatch_query(st, &req, &caller).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_action_version_and_flattened_members() {
        let body = b"Action=CreateUser&Version=2010-05-08&UserName=al%20ice&Path=%2Fteam%2B1%2F\
            &Tags.member.1.Key=team&Tags.member.1.Value=web+dev&Tags.member.2.Key=env\
            &Tags.member.2.Value=prod&ArnList.member.1=a&ArnList.member.2=b&ArnList.member.4=skipped\
            &Attributes.entry.1.key=k&Attributes.entry.1.value=v";
        let q = QueryRequest::parse(body).unwrap();
        assert_eq!(
            (q.action.as_str(), q.version.as_str()),
            ("CreateUser", "2010-05-08")
        );
        assert_eq!(q.get("UserName"), Some("al ice"));
        assert_eq!(q.get("Path"), Some("/team+1/"));
        assert_eq!(q.list("ArnList"), ["a", "b"]);
        let tags = q.structs("Tags");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0]["Key"], "team");
        assert_eq!(tags[0]["Value"], "web dev");
        assert_eq!(tags[1]["Value"], "prod");
        assert_eq!(q.map("Attributes").get("k"), Some(&"v"));
        assert!(q.structs("Nothing").is_empty());
    }

    #[test]
    fn refuses_what_aws_refuses() {
        assert_eq!(
            QueryRequest::parse(b"Version=2011-06-15"),
            Err(QueryError::MissingAction)
        );
        assert_eq!(
            QueryRequest::parse(b"Action=GetCallerIdentity"),
            Err(QueryError::MissingVersion)
        );
        let bad = QueryRequest::parse(b"Action=A&Version=1&X=%zz").unwrap_err();
        assert_eq!(bad.code(), "MalformedQueryString");
        assert_eq!(
            QueryRequest::parse(b"Action=A&Version=1&X=%C3%A9")
                .unwrap()
                .get("X"),
            Some("é")
        );
    }

    #[test]
    fn the_scope_names_the_service() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0"),
        );
        assert_eq!(scope_service(&h), Some("sts"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic x"));
        assert_eq!(scope_service(&h), None);
        assert_eq!(
            presigned_scope_service("Action=X&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fiam%2Faws4_request&X-Amz-Signature=0"),
            Some("iam".to_string())
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        assert!(is_query(&h));
        h.insert("x-amz-target", HeaderValue::from_static("X.Y"));
        assert!(!is_query(&h));
    }

    #[tokio::test]
    async fn errors_are_xml_with_a_request_id() {
        let resp = error_response(&ApiError::invalid_parameter("bad <thing>"));
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/xml");
        let rid = resp.headers()[request_id::HEADER]
            .to_str()
            .unwrap()
            .to_string();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = std::str::from_utf8(&body).unwrap();
        assert!(body.starts_with("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterException</Code><Message>bad &lt;thing&gt;</Message></Error>"), "{body}");
        assert!(body.ends_with(&format!("<RequestId>{rid}</RequestId></ErrorResponse>")));
    }
}
