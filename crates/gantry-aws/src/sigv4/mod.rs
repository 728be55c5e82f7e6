//! Signature Version 4 verification. SKELETON: the types are the interface the server's
//! auth gate uses; the bodies are placeholders that refuse everything.

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
    /// Query-string (presigned) authentication: `X-Amz-Expires` in seconds.
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

/// Reads the claim of `req` (header or query-string form).
pub fn parse(req: &Request<'_>) -> Result<Claim, AuthError> {
    let _ = req;
    Err(AuthError::MissingAuthenticationToken)
}

/// Checks `claim` (from [`parse`] of the same request) against `secret` and `expect`.
pub fn verify(
    req: &Request<'_>,
    claim: &Claim,
    secret: &str,
    expect: &Expect<'_>,
) -> Result<(), AuthError> {
    let _ = (req, claim, secret, expect);
    Err(AuthError::InvalidSignature(
        "SigV4 verification is not built yet".into(),
    ))
}
