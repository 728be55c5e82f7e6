//! SigV4 signatures on what a client sends the control plane: the ECS JSON calls, the agent's
//! registration, the session's WebSocket upgrade and the logs endpoint. Every one is signed
//! for the service `ecs` in the server's region, with the official `aws-sigv4` signer, so
//! a request from `gantry` verifies exactly as one from the AWS CLI does.

use std::borrow::Cow;
use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The signing name of the ECS API, and of Gantry's own endpoints beside it.
pub const SERVICE: &str = "ecs";

/// Headers of the WebSocket handshake that are left out of the signature: they belong to the
/// connection (a proxy may rewrite them), not to what the request asks for.
const WEBSOCKET_HEADERS: [&str; 6] = [
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
];

/// An access key: permanent, or temporary with its session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The `X-Amz-Security-Token` of temporary credentials.
    pub session_token: Option<String>,
}

impl Credentials {
    /// Permanent credentials.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }
}

impl std::fmt::Debug for Credentials {
    // Neither the secret nor the token ever reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("temporary", &self.session_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the request to {url} has no host to sign")]
    NoHost { url: String },
    #[error("the request's body is a stream and cannot be signed")]
    StreamingBody,
    #[error("header {0} is not valid text and cannot be signed")]
    Header(String),
    #[error("could not sign the request: {0}")]
    Signer(String),
}

/// Signs requests with one set of credentials for one region and service.
#[derive(Debug, Clone)]
pub struct Signer {
    creds: Credentials,
    region: String,
    service: String,
}

impl Signer {
    /// Signs for [`SERVICE`] in `region` (which must be the server's region).
    pub fn new(creds: Credentials, region: impl Into<String>) -> Self {
        Self {
            creds,
            region: region.into(),
            service: SERVICE.to_string(),
        }
    }

    /// Another signing name (`iam`, `sts`, …).
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn access_key_id(&self) -> &str {
        &self.creds.access_key_id
    }

    /// The credentials, e.g. to hand to a child process through its environment.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Adds `x-amz-date`, `authorization` (and `x-amz-security-token`) to `headers`, signing
    /// `method`, `url`, every header already in `headers` except `unsigned`, and `body`.
    /// `headers` must hold `host` as it will be sent.
    pub fn sign_parts(
        &self,
        method: &str,
        url: &str,
        headers: &mut HeaderMap,
        body: &[u8],
        time: SystemTime,
        unsigned: &[&'static str],
    ) -> Result<(), SignError> {
        let identity: Identity = aws_credential_types::Credentials::new(
            self.creds.access_key_id.clone(),
            self.creds.secret_access_key.clone(),
            self.creds.session_token.clone(),
            None,
            "gantry",
        )
        .into();
        let mut settings = SigningSettings::default();
        let excluded = settings.excluded_headers.get_or_insert_with(Vec::new);
        excluded.extend(unsigned.iter().map(|h| Cow::Borrowed(*h)));
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| SignError::Signer(e.to_string()))?
            .into();
        let pairs = headers
            .iter()
            .map(|(k, v)| {
                v.to_str()
                    .map(|v| (k.as_str(), v))
                    .map_err(|_| SignError::Header(k.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let signable =
            SignableRequest::new(method, url, pairs.into_iter(), SignableBody::Bytes(body))
                .map_err(|e| SignError::Signer(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| SignError::Signer(e.to_string()))?
            .into_parts();
        let (added, _) = instructions.into_parts();
        for h in added {
            let bad = || SignError::Header(h.name().to_string());
            let name = HeaderName::from_bytes(h.name().as_bytes()).map_err(|_| bad())?;
            let mut value = HeaderValue::from_str(h.value()).map_err(|_| bad())?;
            value.set_sensitive(h.sensitive());
            headers.insert(name, value);
        }
        Ok(())
    }

    /// Signs a built `reqwest` request in place (its body must be in memory).
    pub fn sign_reqwest(&self, req: &mut reqwest::Request) -> Result<(), SignError> {
        let url = req.url().clone();
        let host = host_header(&url).ok_or_else(|| SignError::NoHost {
            url: url.to_string(),
        })?;
        let body: Vec<u8> = match req.body() {
            None => Vec::new(),
            Some(b) => b.as_bytes().ok_or(SignError::StreamingBody)?.to_vec(),
        };
        let method = req.method().as_str().to_string();
        let headers = req.headers_mut();
        // Sign the Host header that will be sent, not one the signer derives on its own.
        headers.insert(
            http::header::HOST,
            HeaderValue::from_str(&host).map_err(|_| SignError::Header("host".into()))?,
        );
        self.sign_parts(
            &method,
            url.as_str(),
            headers,
            &body,
            SystemTime::now(),
            &[],
        )
    }

    /// Signs a WebSocket upgrade request (as `IntoClientRequest` builds it) with the hash of
    /// an empty body; the handshake's own headers stay unsigned.
    pub fn sign_ws(&self, req: &mut http::Request<()>) -> Result<(), SignError> {
        let uri = req.uri().to_string();
        // A WebSocket URL signs like the HTTP request it travels as.
        let url = if let Some(rest) = uri.strip_prefix("wss://") {
            format!("https://{rest}")
        } else if let Some(rest) = uri.strip_prefix("ws://") {
            format!("http://{rest}")
        } else {
            uri
        };
        if !req.headers().contains_key(http::header::HOST) {
            return Err(SignError::NoHost { url });
        }
        let method = req.method().as_str().to_string();
        self.sign_parts(
            &method,
            &url,
            req.headers_mut(),
            &[],
            SystemTime::now(),
            &WEBSOCKET_HEADERS,
        )
    }
}

/// `host[:port]` as an HTTP client sends it for `url` (no port when it is the scheme's
/// default).
fn host_header(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(token: Option<&str>) -> Signer {
        let mut c = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        );
        c.session_token = token.map(String::from);
        Signer::new(c, "us-east-1")
    }

    fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[test]
    fn a_json_call_is_signed_for_ecs_in_the_region() {
        let http = reqwest::Client::new();
        let mut req = http
            .post("http://127.0.0.1:8080/")
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.ListClusters",
            )
            .body("{}")
            .build()
            .expect("request");
        signer(None).sign_reqwest(&mut req).expect("signed");
        let h = req.headers();
        let auth = header(h, "authorization");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"),
            "{auth}"
        );
        assert!(auth.contains("/us-east-1/ecs/aws4_request"), "{auth}");
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target"),
            "{auth}"
        );
        assert_eq!(header(h, "host"), "127.0.0.1:8080");
        assert!(!header(h, "x-amz-date").is_empty());
        assert!(h.get("x-amz-security-token").is_none());
        assert!(
            !format!("{:?}", signer(None)).contains("wJalr"),
            "Debug never shows the secret"
        );
    }

    #[test]
    fn temporary_credentials_sign_their_token() {
        let http = reqwest::Client::new();
        let mut req = http
            .get("https://h/gantry/v1/logs?task=t")
            .build()
            .expect("request");
        signer(Some("TOKEN"))
            .sign_reqwest(&mut req)
            .expect("signed");
        let h = req.headers();
        assert_eq!(header(h, "x-amz-security-token"), "TOKEN");
        assert!(header(h, "authorization").contains("x-amz-security-token"));
        assert_eq!(header(h, "host"), "h", "the default port is not sent");
    }

    #[test]
    fn a_websocket_upgrade_signs_only_its_request_headers() {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = "ws://127.0.0.1:9/agent/v1/session?instance=i-1"
            .into_client_request()
            .expect("request");
        signer(None).sign_ws(&mut req).expect("signed");
        let auth = header(req.headers(), "authorization");
        assert!(auth.contains("SignedHeaders=host;x-amz-date,"), "{auth}");
        assert!(!header(req.headers(), "sec-websocket-key").is_empty());
    }
}
