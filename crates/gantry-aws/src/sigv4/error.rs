//! Why a request is not authenticated, with AWS's exception names, texts and statuses.
//!
//! The texts are the ones AWS's JSON and query services return (as clients and their issue
//! trackers quote them); where AWS's own text is not known, the text is written in its style
//! and says what to fix. Each constructor below names its case, so the parser and the
//! verifier never spell a message themselves.

use super::time::format_basic;

/// Why a request is not authenticated. [`AuthError::code`] and [`AuthError::message`] give
/// AWS's own exception names and texts for the JSON and the query protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header and no `X-Amz-Signature` query parameter.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// A malformed or incomplete signature (the text says what is missing).
    #[error("{0}")]
    IncompleteSignature(String),
    /// The signature does not match, or the date is outside the window (the text says which).
    #[error("{0}")]
    InvalidSignature(String),
    /// Unknown, inactive or deleted access key, or a token that does not belong to it.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// Temporary credentials past their expiry.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
}

/// Which wire protocol the error is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Query,
}

impl AuthError {
    /// The exception name (`__type` in JSON, `Code` in query XML).
    pub fn code(&self, proto: Protocol) -> &'static str {
        match (self, proto) {
            (Self::MissingAuthenticationToken, Protocol::Json) => {
                "MissingAuthenticationTokenException"
            }
            (Self::MissingAuthenticationToken, Protocol::Query) => "MissingAuthenticationToken",
            (Self::IncompleteSignature(_), Protocol::Json) => "IncompleteSignatureException",
            (Self::IncompleteSignature(_), Protocol::Query) => "IncompleteSignature",
            (Self::InvalidSignature(_), Protocol::Json) => "InvalidSignatureException",
            (Self::InvalidSignature(_), Protocol::Query) => "SignatureDoesNotMatch",
            (Self::UnrecognizedClient, Protocol::Json) => "UnrecognizedClientException",
            (Self::UnrecognizedClient, Protocol::Query) => "InvalidClientTokenId",
            (Self::ExpiredToken, Protocol::Json) => "ExpiredTokenException",
            (Self::ExpiredToken, Protocol::Query) => "ExpiredToken",
        }
    }

    /// The message text.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingAuthenticationToken | Self::IncompleteSignature(_) => 400,
            Self::InvalidSignature(_) | Self::UnrecognizedClient | Self::ExpiredToken => 403,
        }
    }
}

/// The largest `Authorization` header accepted. Real ones are a few hundred bytes; the limit
/// keeps a hostile header from costing more than a page of parsing.
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;

/// The longest a client may ask a presigned request to stay valid (AWS: one week).
pub const MAX_PRESIGN_EXPIRES: u64 = 604_800;

/// How far a request's date may be from the server's clock (AWS: 5 minutes).
pub const CLOCK_SKEW_SECS: i64 = 300;

// --- IncompleteSignature: the request does not carry a usable signature ---

/// AWS lists every missing part in one message, then echoes the header.
pub(super) fn missing_header_parts(missing: &[&str], value: &str) -> AuthError {
    let mut text = String::with_capacity(96 * missing.len() + value.len() + 16);
    for part in missing {
        if *part == "Date" {
            text.push_str(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
            );
        } else {
            text.push_str("Authorization header requires '");
            text.push_str(part);
            text.push_str("' parameter. ");
        }
    }
    text.push_str("Authorization=");
    text.push_str(value);
    AuthError::IncompleteSignature(text)
}

pub(super) fn missing_query_parts(missing: &[&str]) -> AuthError {
    let mut text = String::with_capacity(64 * missing.len() + 48);
    for part in missing {
        text.push_str("AWS query-string parameters must include '");
        text.push_str(part);
        text.push_str("'. ");
    }
    text.push_str("Re-examine the query-string parameters.");
    AuthError::IncompleteSignature(text)
}

pub(super) fn not_key_value(pair: &str, value: &str) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
    ))
}

pub(super) fn duplicate_parameter(name: &str, value: &str) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "Authorization header has more than one '{name}' parameter. Authorization={value}"
    ))
}

pub(super) fn duplicate_query_parameter(name: &str) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "AWS query-string parameter '{name}' must appear only once. Re-examine the query-string parameters."
    ))
}

pub(super) fn unsupported_algorithm(alg: &str) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "Unsupported AWS 'algorithm': '{alg}'. Sign the request with 'AWS4-HMAC-SHA256'."
    ))
}

pub(super) fn repeated_authorization() -> AuthError {
    AuthError::IncompleteSignature(
        "The request must carry exactly one 'Authorization' header; it carries several.".into(),
    )
}

pub(super) fn repeated_header(name: &str) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "The request must carry at most one '{name}' header; it carries several."
    ))
}

pub(super) fn oversized_authorization(len: usize) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "The 'Authorization' header is {len} bytes long; at most {MAX_AUTHORIZATION_LEN} bytes are accepted."
    ))
}

pub(super) fn bad_credential(credential: &str) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
    ))
}

pub(super) fn bad_date(value: &str) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
    ))
}

pub(super) fn bad_http_date(value: &str) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "Date header must be an RFC 1123 date such as 'Sun, 30 Aug 2015 12:36:00 GMT'. Got '{value}'."
    ))
}

pub(super) fn not_signed(header: &str) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "'{header}' must be a 'SignedHeader' in the AWS Authorization."
    ))
}

pub(super) fn expires_not_number() -> AuthError {
    AuthError::IncompleteSignature("X-Amz-Expires should be a number".into())
}

pub(super) fn expires_too_long() -> AuthError {
    AuthError::IncompleteSignature(format!(
        "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
    ))
}

// --- InvalidSignature: a well-formed signature that does not hold ---

pub(super) fn mismatch() -> AuthError {
    AuthError::InvalidSignature(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
            .into(),
    )
}

pub(super) fn payload_hash_mismatch() -> AuthError {
    AuthError::InvalidSignature(
        "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
    )
}

pub(super) fn bad_terminator(term: &str) -> AuthError {
    AuthError::InvalidSignature(format!(
        "Credential should be scoped with a valid terminator: 'aws4_request', not '{term}'. "
    ))
}

pub(super) fn wrong_region(region: &str) -> AuthError {
    AuthError::InvalidSignature(format!(
        "Credential should be scoped to a valid region, not '{region}'. "
    ))
}

pub(super) fn wrong_service(expected: &str) -> AuthError {
    AuthError::InvalidSignature(format!(
        "Credential should be scoped to correct service: '{expected}'. "
    ))
}

pub(super) fn scope_date_mismatch(scope_date: &str, request_time: i64) -> AuthError {
    let stamp = format_basic(request_time);
    let day = stamp.get(..8).unwrap_or_default();
    AuthError::InvalidSignature(format!(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
         '{scope_date}' != '{day}', from '{stamp}'."
    ))
}

pub(super) fn expired(request_time: i64, now: i64) -> AuthError {
    AuthError::InvalidSignature(format!(
        "Signature expired: {} is now earlier than {} ({} - 5 min.)",
        format_basic(request_time),
        format_basic(now - CLOCK_SKEW_SECS),
        format_basic(now)
    ))
}

pub(super) fn not_yet_current(request_time: i64, now: i64) -> AuthError {
    AuthError::InvalidSignature(format!(
        "Signature not yet current: {} is still later than {} ({} + 5 min.)",
        format_basic(request_time),
        format_basic(now + CLOCK_SKEW_SECS),
        format_basic(now)
    ))
}

/// A presigned request past its `X-Amz-Expires`, in the form of the header-signature text.
pub(super) fn presign_expired(request_time: i64, expires: u64, now: i64) -> AuthError {
    let secs = i64::try_from(expires).unwrap_or(i64::MAX);
    AuthError::InvalidSignature(format!(
        "Signature expired: {} is now earlier than {} ({} - {expires} sec.)",
        format_basic(request_time),
        format_basic(now.saturating_sub(secs)),
        format_basic(now)
    ))
}
