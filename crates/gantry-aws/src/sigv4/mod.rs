//! Signature Version 4 verification, exactly as AWS's JSON and query services do it.
//!
//! [`parse`] reads what a request claims (the `Authorization` header, or the query-string
//! form of a presigned request) and refuses malformed ones with AWS's texts; the server then
//! looks up the claimed access key and calls [`verify`] with its secret. No I/O and no clock:
//! `now` comes in through [`Expect`].

mod canonical;
mod encode;
mod error;
mod fields;
mod header;
mod presign;
mod time;
mod verify;

pub use error::{AuthError, Protocol, CLOCK_SKEW_SECS, MAX_AUTHORIZATION_LEN, MAX_PRESIGN_EXPIRES};
pub use time::{format_basic, parse_basic};
pub use verify::signing_key;

/// A request as it arrived on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path exactly as received (still percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// The raw query string without `?` (empty when none).
    pub query: &'a str,
    /// Headers in arrival order; names in any case; a name may repeat.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body as received.
    pub body: &'a [u8],
}

/// What a request claims about its signer, read from `Authorization` or the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub access_key_id: String,
    /// The scope's date, `YYYYMMDD`.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// Lower-case, in the order the client listed them.
    pub signed_headers: Vec<String>,
    /// Hex, as sent.
    pub signature: String,
    /// `X-Amz-Date` (or `Date`) as Unix seconds.
    pub request_time: i64,
    /// `X-Amz-Security-Token`, when sent.
    pub security_token: Option<String>,
    /// Query-string (presigned) authentication: `X-Amz-Expires` in seconds. `Some` exactly
    /// when the request used the query-string form.
    pub presigned_expires: Option<u64>,
}

/// What the server expects of every signature.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// Now, Unix seconds.
    pub now: i64,
    /// The server's region.
    pub region: &'a str,
    /// The signing name of the API the request is for (`ecs`, `iam`, `sts`, …).
    pub service: &'a str,
}

/// Reads the claim of `req` (header or query-string form).
///
/// An `Authorization` header wins over query-string parameters; neither is
/// [`AuthError::MissingAuthenticationToken`]. Several `Authorization` headers, one over
/// [`MAX_AUTHORIZATION_LEN`] bytes, a missing part, an algorithm other than
/// `AWS4-HMAC-SHA256`, or `host` and the date header not among the signed headers are
/// [`AuthError::IncompleteSignature`]; a scope not ending in `aws4_request` is
/// [`AuthError::InvalidSignature`].
pub fn parse(req: &Request<'_>) -> Result<Claim, AuthError> {
    let mut auth = None;
    for (name, value) in req.headers {
        if name.eq_ignore_ascii_case("authorization") {
            if auth.is_some() {
                return Err(error::repeated_authorization());
            }
            auth = Some(*value);
        }
    }
    match auth {
        Some(value) => header::parse(req, value),
        None if presign::is_presigned(req.query) => presign::parse(req),
        None => Err(AuthError::MissingAuthenticationToken),
    }
}

/// Checks `claim` (from [`parse`] of the same request) against `secret` and `expect`: the
/// scope's date, region and service, the 5-minute window (and `X-Amz-Expires` when
/// presigned), `x-amz-content-sha256` against the body, and the signature in constant time.
/// Every failure is [`AuthError::InvalidSignature`] with AWS's text.
pub fn verify(
    req: &Request<'_>,
    claim: &Claim,
    secret: &str,
    expect: &Expect<'_>,
) -> Result<(), AuthError> {
    verify::verify(req, claim, secret, expect)
}

/// The canonical request AWS would compute for `req` (for diagnostics and tests; [`verify`]
/// hashes it without building it).
pub fn canonical_request(req: &Request<'_>, claim: &Claim) -> String {
    let payload = canonical::payload_hash(req.body);
    let mut out = Vec::with_capacity(256);
    canonical::write_canonical_request(&mut out, req, claim, &payload);
    String::from_utf8_lossy(&out).into_owned()
}

/// The string to sign for `req` (for diagnostics and tests).
pub fn string_to_sign(req: &Request<'_>, claim: &Claim) -> String {
    let payload = canonical::payload_hash(req.body);
    let mut creq = canonical::HashSink::new();
    canonical::write_canonical_request(&mut creq, req, claim, &payload);
    let mut out = Vec::with_capacity(160);
    canonical::write_string_to_sign(&mut out, claim, &creq.finish());
    String::from_utf8_lossy(&out).into_owned()
}
