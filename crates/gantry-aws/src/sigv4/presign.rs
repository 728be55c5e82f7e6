//! The query-string (presigned) form: `?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…
//! &X-Amz-Date=…&X-Amz-Expires=…&X-Amz-SignedHeaders=host&X-Amz-Signature=…`.

use std::borrow::Cow;

use super::encode::decode_query_value;
use super::error::{self, AuthError, MAX_PRESIGN_EXPIRES};
use super::fields::{self, ALGORITHM};
use super::{Claim, Request};

const ALG: &str = "X-Amz-Algorithm";
const CREDENTIAL: &str = "X-Amz-Credential";
const DATE: &str = "X-Amz-Date";
const EXPIRES: &str = "X-Amz-Expires";
const SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
pub const SIGNATURE: &str = "X-Amz-Signature";
const TOKEN: &str = "X-Amz-Security-Token";

/// Whether the query string carries SigV4 authentication at all.
pub fn is_presigned(query: &str) -> bool {
    // Cheap test first: almost every request has no `X-Amz-` in its query.
    query.contains("X-Amz-")
        && fields::query_pairs(query).any(|(name, _)| matches!(name, ALG | CREDENTIAL | SIGNATURE))
}

pub fn parse(req: &Request<'_>) -> Result<Claim, AuthError> {
    let mut slots: [Option<Cow<'_, str>>; 7] = Default::default();
    const NAMES: [&str; 7] = [
        ALG,
        CREDENTIAL,
        DATE,
        EXPIRES,
        SIGNED_HEADERS,
        SIGNATURE,
        TOKEN,
    ];
    for (name, value) in fields::query_pairs(req.query) {
        let name = decode_query_value(name);
        let Some(i) = NAMES.iter().position(|n| *n == name) else {
            continue;
        };
        if slots[i].replace(decode_query_value(value)).is_some() {
            return Err(error::duplicate_query_parameter(NAMES[i]));
        }
    }
    let [alg, credential, date, expires, signed_headers, signature, token] = slots;

    let mut missing: [&str; 6] = [""; 6];
    let mut n = 0;
    for (absent, name) in [
        (alg.is_none(), ALG),
        (credential.is_none(), CREDENTIAL),
        (signature.is_none(), SIGNATURE),
        (signed_headers.is_none(), SIGNED_HEADERS),
        (date.is_none(), DATE),
        (expires.is_none(), EXPIRES),
    ] {
        if absent {
            missing[n] = name;
            n += 1;
        }
    }
    let (
        Some(alg),
        Some(credential),
        Some(date),
        Some(expires),
        Some(signed_headers),
        Some(signature),
    ) = (alg, credential, date, expires, signed_headers, signature)
    else {
        return Err(error::missing_query_parts(&missing[..n]));
    };
    if alg != ALGORITHM {
        return Err(error::unsupported_algorithm(&alg));
    }

    let scope = fields::split_credential(&credential)?;
    let signed = fields::split_signed_headers(&signed_headers);
    // The date and the scope travel in the signed query string; only `host` needs naming.
    fields::require_signed(&signed, "host", "Host")?;
    let request_time = fields::parse_amz_date(&date)?;
    let expires: u64 = expires
        .trim()
        .parse()
        .map_err(|_| error::expires_not_number())?;
    if expires > MAX_PRESIGN_EXPIRES {
        return Err(error::expires_too_long());
    }
    let security_token = match token {
        Some(t) => Some(t.into_owned()),
        None => {
            fields::single_header(req.headers, "x-amz-security-token")?.map(|t| t.trim().to_owned())
        }
    };

    Ok(Claim {
        access_key_id: scope.key.to_owned(),
        scope_date: scope.date.to_owned(),
        region: scope.region.to_owned(),
        service: scope.service.to_owned(),
        signed_headers: signed,
        signature: signature.into_owned(),
        request_time,
        security_token,
        presigned_expires: Some(expires),
    })
}
