//! Authentication: who signed this request. The request as it arrived (method, raw path
//! and query, headers in order, the body already read under the size cap) is checked with
//! [`gantry_aws::sigv4`] against the secret of the key it names
//! ([`crate::iam::identity::by_access_key`]), and becomes a [`Caller`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use gantry_aws::sigv4::{self, AuthError, Expect, Request};
use gantry_store::Store;

use super::deny::Refusal;
use super::{Caller, Principal, PrincipalKind, Transport};
use crate::iam::identity;
use crate::state::AppState;

/// IAM is global: AWS signs it for `us-east-1` whatever region the client is in, and a
/// client given `--endpoint-url` signs with its configured region (the endpoint rules set no
/// signing region for a custom endpoint). Both are accepted for `iam`.
const IAM_GLOBAL_REGION: &str = "us-east-1";

/// A request as the gate sees it.
#[derive(Debug, Clone, Copy)]
pub struct Wire<'a> {
    pub parts: &'a Parts,
    pub source_ip: IpAddr,
    pub secure: bool,
}

impl<'a> Wire<'a> {
    /// The connection's address comes from `ConnectInfo` (the server is served with
    /// `into_make_service_with_connect_info`), TLS from the [`Transport`] extension.
    pub fn of(parts: &'a Parts) -> Self {
        // `Bound::run` serves every listener with the peer's address, and TLS listeners
        // with `Transport { secure: true }`.
        let source_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let secure = parts
            .extensions
            .get::<Transport>()
            .is_some_and(|t| t.secure);
        Self {
            parts,
            source_ip,
            secure,
        }
    }
}

/// Compares two secrets in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The principal requests are made as when authentication is off (the throughput bench's
/// baseline, `ServerConfig::authenticate = false`).
fn unauthenticated<S>(st: &AppState<S>, wire: &Wire<'_>) -> Caller {
    let account = st.config.account_id.clone();
    Caller {
        principal: Principal {
            arn: format!("arn:aws:iam::{account}:user/admin"),
            user_id: "AIDAGANTRYADMIN00000".into(),
            account,
            kind: PrincipalKind::User {
                name: "admin".into(),
            },
            tags: Default::default(),
        }
        .into(),
        access_key_id: String::new(),
        source_ip: wire.source_ip,
        secure: wire.secure,
    }
}

/// Verifies the signature of `wire` + `body` for the API whose signing name is `service`
/// (`ecs`, `iam`, `sts`, …) and says who made it.
pub async fn authenticate<S: Store>(
    st: &AppState<S>,
    wire: &Wire<'_>,
    body: &[u8],
    service: &str,
) -> Result<Caller, Refusal> {
    if !st.config.authenticate {
        return Ok(unauthenticated(st, wire));
    }
    let parts = wire.parts;
    // Values are taken as UTF-8, not only visible ASCII, so a header the client signed with
    // non-ASCII text still takes part; one that is not UTF-8 cannot have been signed as text.
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), std::str::from_utf8(v.as_bytes()).ok()?)))
        .collect();
    let req = Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body,
    };
    let claim = sigv4::parse(&req)?;
    let entry = st
        .auth_cache
        .key(st, &claim.access_key_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the access key lookup failed");
            // The store's own words (which store, what failed) when it cannot be reached:
            // the operator reading the client's error learns where to look.
            Refusal::Internal(match &e {
                crate::error::Error::Store(gantry_store::StoreError::Unavailable(m)) => {
                    format!("The server could not look up the access key: {m}; try again.")
                }
                _ => "The server could not look up the access key; try again.".to_string(),
            })
        })?
        .filter(|k| k.identity.active)
        .ok_or(AuthError::UnrecognizedClient)?;
    let cached = &*entry;
    let key = &cached.identity;
    // A temporary key must come with its own token; a permanent key with none (AWS answers
    // both mismatches "The security token included in the request is invalid").
    match (&key.session_token, &claim.security_token) {
        (None, None) => {}
        (Some(want), Some(got)) if same(want.as_bytes(), got.as_bytes()) => {}
        _ => return Err(AuthError::UnrecognizedClient.into()),
    }
    #[allow(clippy::cast_possible_truncation)]
    let now = st.clock.now().floor() as i64;
    let region = if service == "iam" && claim.region == IAM_GLOBAL_REGION {
        IAM_GLOBAL_REGION
    } else {
        st.config.region.as_str()
    };
    let expect = Expect {
        now,
        region,
        service,
    };
    cached.verify(&req, &claim, &expect)?;
    if key.expires_at.is_some_and(|t| now >= t) {
        return Err(AuthError::ExpiredToken.into());
    }

    Ok(Caller {
        principal: cached.principal.clone(),
        access_key_id: claim.access_key_id,
        source_ip: wire.source_ip,
        secure: wire.secure,
    })
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn compares_whole_secrets() {
        assert!(same(b"token", b"token"));
        assert!(!same(b"token", b"tokeN"));
        assert!(!same(b"token", b"token2"));
        assert!(!same(b"", b"x"));
    }
}

/// Notes an authorized request's key use for GetAccessKeyLastUsed (a store write at most
/// once a minute per key and service; a refused request writes nothing).
pub async fn used<S: Store>(st: &AppState<S>, caller: &Caller, service: &str) {
    if caller.access_key_id.is_empty() {
        return;
    }
    let region = st.config.region.as_str();
    if let Err(e) = identity::record_use(st, &caller.access_key_id, service, region).await {
        tracing::warn!(error = %e, "could not record the access key's use");
    }
}

/// One gated request outside the AWS framing (the agent gateway, the logs endpoint): its
/// request id, its audit record and its `Date`, answered in the ECS JSON error form.
#[derive(Debug)]
pub struct Gated {
    pub rid: String,
    pub now: f64,
    pub audit: super::audit::Record,
}

impl Gated {
    /// Starts the record for operation `action` of `service`.
    pub fn begin<S>(st: &AppState<S>, wire: &Wire<'_>, service: &str, action: &str) -> Self {
        let rid = crate::aws::request_id::new();
        let now = st.clock.now();
        let mut audit = super::audit::Record::begin(now, &rid, wire.source_ip, service);
        audit.action = action.to_string();
        Self { rid, now, audit }
    }

    /// Authenticates for `service`.
    pub async fn check<S: Store>(
        &mut self,
        st: &AppState<S>,
        wire: &Wire<'_>,
        body: &[u8],
        service: &str,
    ) -> Result<Caller, Refusal> {
        let caller = authenticate(st, wire, body, service).await?;
        self.audit.caller(&caller);
        Ok(caller)
    }

    /// Authorizes `accesses` for `caller`.
    pub async fn allow<S: Store>(
        &mut self,
        st: &AppState<S>,
        caller: &Caller,
        accesses: &[super::Access],
    ) -> Result<(), Refusal> {
        self.audit.accesses(accesses);
        super::authorize::authorize(st, caller, accesses).await?;
        self.audit.decision = super::audit::Decision::Allow;
        used(st, caller, &self.audit.service).await;
        Ok(())
    }

    /// The JSON answer to a refusal, recorded.
    pub fn refused<S>(mut self, st: &AppState<S>, r: &Refusal) -> axum::response::Response {
        use gantry_aws::sigv4::Protocol;
        self.audit.error_code = Some(r.code(Protocol::Json).to_string());
        let resp = super::respond::refusal(r, Protocol::Json, &self.rid);
        self.finish(st, resp)
    }

    /// Records the request (with `error_code` when it failed) and dates `resp`.
    pub fn finish<S>(
        self,
        st: &AppState<S>,
        mut resp: axum::response::Response,
    ) -> axum::response::Response {
        let Self {
            rid,
            now,
            mut audit,
        } = self;
        if audit.error_code.is_none() && !resp.status().is_success() {
            audit.error_code = resp
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
        if !resp.headers().contains_key(crate::aws::request_id::HEADER) {
            if let Ok(v) = axum::http::HeaderValue::from_str(&rid) {
                resp.headers_mut().insert(crate::aws::request_id::HEADER, v);
            }
        }
        st.audit.record(audit);
        super::respond::stamp(&mut resp, now);
        resp
    }
}
