//! SigV4 signing for the in-process test client, with the `aws-sigv4` crate the AWS SDKs
//! sign with, so the server's verifier is tested against the real signer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

/// The administrator key every test server is started with.
pub const ACCESS_KEY_ID: &str = "AKIAGANTRYTESTKEY001";
pub const SECRET_ACCESS_KEY: &str = "GantryTestSecretKey0123456789abcdefghijk";
pub const REGION: &str = "us-east-1";

/// Who signs and how.
#[derive(Clone, Debug)]
pub struct Key {
    pub access_key_id: String,
    pub secret: String,
    pub session_token: Option<String>,
}

impl Key {
    pub fn admin() -> Self {
        Self {
            access_key_id: ACCESS_KEY_ID.into(),
            secret: SECRET_ACCESS_KEY.into(),
            session_token: None,
        }
    }
}

/// Seconds since the epoch as a `SystemTime`.
pub fn at(secs: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0))
}

/// The headers (`authorization`, `x-amz-date`, maybe `x-amz-security-token`) that sign a
/// request with `headers` (signed too) and `body`, for `service` in `region` at `time`.
#[allow(clippy::too_many_arguments)]
pub fn headers(
    key: &Key,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    service: &str,
    region: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    let creds = Credentials::new(
        key.access_key_id.clone(),
        key.secret.clone(),
        key.session_token.clone(),
        None,
        "gantry-tests",
    );
    let identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("a signable request");
    let (instructions, _) = sign(signable, &params).expect("signing").into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
