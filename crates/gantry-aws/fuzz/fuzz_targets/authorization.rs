//! Fuzzes SigV4's parsers (`Authorization` header and query-string form) and the verifier
//! behind them, as the server's auth gate runs them on every request.
//!
//! Input: the first byte chooses the shape (bit 0: send the first line as `Authorization`;
//! bit 1: send it twice; bits 2-3: the method), the rest is text (lossy UTF-8) split on `\n`
//! into: the `Authorization` value, the path, the query string, the headers (`name:value`
//! separated by `\r`), the body. Checked for every input:
//!
//! 1. Neither `parse` nor `verify` nor `canonical_request` panics, on any input.
//! 2. A refusal carries AWS's code for both protocols, a non-empty text and a 400 or 403.
//! 3. An accepted claim names `host` among its signed headers, and is presigned exactly when
//!    no `Authorization` header was sent.
//! 4. Verifying against the claim's own scope and date gets past the scope and clock checks
//!    to the signature, which a random input cannot forge.
//!
//! Run from this directory: `cargo +nightly fuzz run authorization -- -dict=authorization.dict`
//! (seeds: `python3 seeds.py`, from the SigV4 test suite). Without cargo-fuzz, the same
//! binary builds with `cargo +nightly build --release --target x86_64-unknown-linux-gnu`
//! and the sancov `RUSTFLAGS` cargo-fuzz sets.

#![no_main]

use gantry_aws::sigv4::{self, AuthError, Expect, Protocol, Request};
use libfuzzer_sys::fuzz_target;

fn check_error(err: &AuthError) {
    assert!(!err.message().is_empty(), "error without a text: {err:?}");
    assert!(matches!(err.status(), 400 | 403), "{err:?}");
    assert!(err.code(Protocol::Json).ends_with("Exception"), "{err:?}");
    assert!(!err.code(Protocol::Query).is_empty(), "{err:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(5, '\n');
    let auth = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let query = parts.next().unwrap_or_default();
    let header_block = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default().as_bytes();
    let method = ["GET", "POST", "PUT", "DELETE"][usize::from(shape >> 2 & 3)];

    let mut headers: Vec<(&str, &str)> = header_block
        .split('\r')
        .filter_map(|h| h.split_once(':'))
        .collect();
    let with_auth = shape & 1 == 1;
    if with_auth {
        headers.push(("Authorization", auth));
        if shape & 2 == 2 {
            headers.push(("authorization", auth));
        }
    }
    let req = Request {
        method,
        path,
        query,
        headers: &headers,
        body,
    };

    let claim = match sigv4::parse(&req) {
        Ok(claim) => claim,
        Err(err) => {
            check_error(&err);
            return;
        }
    };
    assert!(
        claim.signed_headers.iter().any(|h| h == "host"),
        "{claim:?}"
    );
    assert_eq!(claim.presigned_expires.is_some(), !with_auth, "{claim:?}");

    let _ = sigv4::canonical_request(&req, &claim);
    let _ = sigv4::string_to_sign(&req, &claim);
    for (now, region, service) in [
        (
            claim.request_time,
            claim.region.as_str(),
            claim.service.as_str(),
        ),
        (0, "us-east-1", "ecs"),
        (i64::MAX, "us-east-1", "ecs"),
        (i64::MIN, claim.region.as_str(), claim.service.as_str()),
    ] {
        let expect = Expect {
            now,
            region,
            service,
        };
        match sigv4::verify(
            &req,
            &claim,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            &expect,
        ) {
            Ok(()) => {}
            Err(err) => check_error(&err),
        }
    }
});
