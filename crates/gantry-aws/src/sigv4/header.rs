//! The `Authorization` header form:
//! `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ecs/aws4_request,
//! SignedHeaders=host;x-amz-date, Signature=5fa0…`.
//!
//! Parameters are separated by commas and/or spaces (SDKs send `, `, some tools `,` alone);
//! like AWS, a token without `=` is refused by name, and all missing parameters are listed in
//! one message.

use super::error::{self, AuthError, MAX_AUTHORIZATION_LEN};
use super::fields::{self, ALGORITHM};
use super::{Claim, Request};

/// The parameters of the header: pieces between commas and ASCII whitespace, empty ones
/// skipped. Split on bytes (every request pays this; a `char` predicate decodes each
/// character): the separators are ASCII, so every piece is still UTF-8.
fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.as_bytes()
        .split(|b| *b == b',' || b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| std::str::from_utf8(t).unwrap_or_default())
}

pub fn parse(req: &Request<'_>, value: &str) -> Result<Claim, AuthError> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(error::oversized_authorization(value.len()));
    }
    let trimmed = value.trim();
    let (algorithm, rest) = trimmed
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((trimmed, ""));

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for token in tokens(rest) {
        let Some((key, val)) = token.split_once('=') else {
            return Err(error::not_key_value(token, value));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            // AWS ignores parameters it does not know; so do we.
            _ => continue,
        };
        if slot.replace(val).is_some() {
            return Err(error::duplicate_parameter(key, value));
        }
    }

    // `X-Amz-Date` wins over `Date` (AWS's rule); whichever is used must be signed.
    let amz_date = fields::single_header(req.headers, "x-amz-date")?;
    let date = match amz_date {
        Some(v) => Some((v, true)),
        None => fields::single_header(req.headers, "date")?.map(|v| (v, false)),
    };

    let mut missing: [&str; 4] = [""; 4];
    let mut n = 0;
    for (absent, name) in [
        (credential.is_none(), "Credential"),
        (signature.is_none(), "Signature"),
        (signed_headers.is_none(), "SignedHeaders"),
        (date.is_none(), "Date"),
    ] {
        if absent {
            missing[n] = name;
            n += 1;
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some((date, amz))) =
        (credential, signed_headers, signature, date)
    else {
        return Err(error::missing_header_parts(&missing[..n], value));
    };
    if algorithm != ALGORITHM {
        return Err(error::unsupported_algorithm(algorithm));
    }

    let scope = fields::split_credential(credential)?;
    let signed = fields::split_signed_headers(signed_headers);
    fields::require_signed(&signed, "host", "Host")?;
    let request_time = if amz {
        fields::require_signed(&signed, "x-amz-date", "X-Amz-Date")?;
        fields::parse_amz_date(date)?
    } else {
        fields::require_signed(&signed, "date", "Date")?;
        fields::parse_date_header(date)?
    };
    let security_token =
        fields::single_header(req.headers, "x-amz-security-token")?.map(|t| t.trim().to_owned());

    Ok(Claim {
        access_key_id: scope.key.to_owned(),
        scope_date: scope.date.to_owned(),
        region: scope.region.to_owned(),
        service: scope.service.to_owned(),
        signed_headers: signed,
        signature: signature.to_owned(),
        request_time,
        security_token,
        presigned_expires: None,
    })
}
