//! Checking a claim: the scope against the server, the date against the clock, the payload
//! hash against the body, and the signature against the one computed with the secret,
//! compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::canonical::{self, HashSink};
use super::error::{self, AuthError, CLOCK_SKEW_SECS};
use super::fields::{first_header, TERMINATOR};
use super::time::basic_bytes;
use super::{Claim, Expect, Request};

type HmacSha256 = Hmac<Sha256>;

/// The string to sign goes straight into the MAC.
struct MacSink<'a>(&'a mut HmacSha256);

impl canonical::Sink for MacSink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // Cannot fail: HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The SigV4 signing key: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
/// "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut stack = [0u8; 132];
    let heap;
    let key: &[u8] = if secret.len() + 4 <= stack.len() {
        stack[..4].copy_from_slice(b"AWS4");
        stack[4..4 + secret.len()].copy_from_slice(secret.as_bytes());
        &stack[..4 + secret.len()]
    } else {
        heap = [b"AWS4".as_slice(), secret.as_bytes()].concat();
        &heap
    };
    let k = hmac(key, date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, TERMINATOR.as_bytes())
}

fn check_scope(claim: &Claim, expect: &Expect<'_>) -> Result<(), AuthError> {
    let day = basic_bytes(claim.request_time);
    if claim.scope_date.as_bytes() != &day[..8] {
        return Err(error::scope_date_mismatch(
            &claim.scope_date,
            claim.request_time,
        ));
    }
    if claim.region != expect.region {
        return Err(error::wrong_region(&claim.region));
    }
    if claim.service != expect.service {
        return Err(error::wrong_service(expect.service));
    }
    Ok(())
}

fn check_time(claim: &Claim, now: i64) -> Result<(), AuthError> {
    let t = claim.request_time;
    if t > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(error::not_yet_current(t, now));
    }
    match claim.presigned_expires {
        // A presigned request lives from its date for `X-Amz-Expires` seconds.
        Some(expires) => {
            let secs = i64::try_from(expires).unwrap_or(i64::MAX);
            if now > t.saturating_add(secs) {
                return Err(error::presign_expired(t, expires, now));
            }
        }
        None => {
            if t < now.saturating_sub(CLOCK_SKEW_SECS) {
                return Err(error::expired(t, now));
            }
        }
    }
    Ok(())
}

/// The signature the client sent, as bytes; `None` when it is not 64 hex digits (then it
/// cannot match, and the answer is the ordinary mismatch).
fn claimed_signature(sig: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(sig, &mut out).ok()?;
    Some(out)
}

pub fn verify(
    req: &Request<'_>,
    claim: &Claim,
    secret: &str,
    expect: &Expect<'_>,
) -> Result<(), AuthError> {
    check_scope(claim, expect)?;
    check_time(claim, expect.now)?;

    let payload = canonical::payload_hash(req.body);
    if let Some(sent) = first_header(req.headers, "x-amz-content-sha256") {
        if !sent.trim().as_bytes().eq_ignore_ascii_case(&payload) {
            return Err(error::payload_hash_mismatch());
        }
    }

    let mut creq = HashSink::new();
    canonical::write_canonical_request(&mut creq, req, claim, &payload);
    let creq_hash = creq.finish();

    let key = signing_key(secret, &claim.scope_date, &claim.region, &claim.service);
    let mut mac = HmacSha256::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
    canonical::write_string_to_sign(&mut MacSink(&mut mac), claim, &creq_hash);

    let sent = claimed_signature(&claim.signature).ok_or_else(error::mismatch)?;
    // `verify_slice` compares in constant time.
    mac.verify_slice(&sent).map_err(|_| error::mismatch())
}
