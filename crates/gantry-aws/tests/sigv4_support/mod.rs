//! Requests signed by the AWS SDK's own signer (`aws-sigv4`), as the wire would carry them,
//! for the cross-check and bad-request tests.

#![allow(dead_code)] // each test file uses a different part

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use gantry_aws::sigv4::{parse_basic, Request};

pub const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const HOST: &str = "127.0.0.1:7600";

/// Unix seconds of a basic-format stamp.
pub fn at(stamp: &str) -> i64 {
    parse_basic(stamp).unwrap()
}

/// An owned request on the wire; [`Wire::request`] borrows it as the verifier's input.
#[derive(Debug, Clone)]
pub struct Wire {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Wire {
    pub fn headers(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = value.to_owned(),
            None => self.headers.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Borrows `wire` as a [`Request`] for the duration of `f`.
pub fn with_request<T>(wire: &Wire, f: impl FnOnce(&Request<'_>) -> T) -> T {
    let headers = wire.headers();
    let req = Request {
        method: &wire.method,
        path: &wire.path,
        query: &wire.query,
        headers: &headers,
        body: &wire.body,
    };
    f(&req)
}

/// How to sign.
#[derive(Debug, Clone)]
pub struct Signing {
    pub time: i64,
    pub region: &'static str,
    pub service: &'static str,
    pub token: Option<&'static str>,
    /// `Some(secs)`: the query-string form valid for `secs`.
    pub presign: Option<u64>,
    /// Sign `x-amz-content-sha256` too.
    pub content_sha256: bool,
}

impl Default for Signing {
    fn default() -> Self {
        Self {
            time: at("20240101T000000Z"),
            region: "us-east-1",
            service: "ecs",
            token: None,
            presign: None,
            content_sha256: false,
        }
    }
}

/// `application/x-www-form-urlencoded`-safe encoding of a query value the signer returns raw.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len() * 3);
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Signs a request with `aws-sigv4` and returns it as a server would receive it. `target` is
/// the path and query as sent (already encoded); `headers` must not include `host` (added).
pub fn signed(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    how: &Signing,
) -> Wire {
    let creds = Credentials::new(AKID, SECRET, how.token.map(str::to_owned), None, "test");
    let identity = creds.into();
    let mut settings = SigningSettings::default();
    if let Some(secs) = how.presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(secs));
    }
    if how.content_sha256 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(how.time).unwrap());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(how.region)
        .name(how.service)
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut all: Vec<(String, String)> = vec![("Host".into(), HOST.into())];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    let uri = format!("http://{HOST}{target}");
    let signable = SignableRequest::new(
        method,
        uri.as_str(),
        all.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();
    let (new_headers, new_params) = instructions.into_parts();
    for h in new_headers {
        all.push((h.name().to_owned(), h.value().to_owned()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut query = query.to_owned();
    for (name, value) in new_params {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&encode(&value));
    }
    Wire {
        method: method.to_owned(),
        path: path.to_owned(),
        query,
        headers: all,
        body: body.to_vec(),
    }
}

/// The ECS JSON call every test starts from.
pub fn describe_clusters(how: &Signing) -> Wire {
    signed(
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            (
                "X-Amz-Target",
                "AmazonEC2ContainerServiceV20141113.DescribeClusters",
            ),
        ],
        br#"{"clusters":["default"]}"#,
        how,
    )
}
