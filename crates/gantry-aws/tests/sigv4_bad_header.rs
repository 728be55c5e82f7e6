//! Malformed, incomplete, repeated and oversized `Authorization` headers, and the spacing
//! variants real clients send, each refused (or accepted) as AWS does.

mod sigv4_support;

use gantry_aws::sigv4::{self, AuthError, Protocol};
use sigv4_support::{
    at_ecs, base, describe_clusters, incomplete, signed, with_authorization, Signing,
};

#[test]
fn missing_parameters_are_listed_together() {
    let (wire, now) = base();
    let value = "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date";
    assert_eq!(
        at_ecs(&with_authorization(&wire, value), now),
        incomplete(
            "Authorization header requires 'Credential' parameter. \
             Authorization header requires 'Signature' parameter. \
             Authorization=AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date"
        )
    );
    // A bearer token, as API Gateway reports it (no date header either).
    let mut bare = wire.clone();
    bare.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("x-amz-date"));
    assert_eq!(
        at_ecs(&with_authorization(&bare, "eyJhbGciOiJIUzI1NiJ9"), now),
        incomplete(
            "Authorization header requires 'Credential' parameter. \
             Authorization header requires 'Signature' parameter. \
             Authorization header requires 'SignedHeaders' parameter. \
             Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
             Authorization=eyJhbGciOiJIUzI1NiJ9"
        )
    );
}

#[test]
fn malformed_authorization_headers() {
    let (wire, now) = base();
    let auth = wire.header("authorization").unwrap().to_owned();
    let spaced = auth.replace("Credential=", "Credential= ");
    let cred = spaced
        .split("Credential= ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert_eq!(
        at_ecs(&with_authorization(&wire, &spaced), now),
        incomplete(&format!(
            "'{cred}' not a valid key=value pair (missing equal-sign) in Authorization header: '{spaced}'."
        ))
    );
    let short = auth.replace("/us-east-1/ecs/aws4_request", "/us-east-1/aws4_request");
    let cred = short
        .split("Credential=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert_eq!(
        at_ecs(&with_authorization(&wire, &short), now),
        incomplete(&format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{cred}'"
        ))
    );
    let other_alg = auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512");
    assert_eq!(
        at_ecs(&with_authorization(&wire, &other_alg), now),
        incomplete("Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'. Sign the request with 'AWS4-HMAC-SHA256'.")
    );
    let twice = format!("{auth}, Signature=00");
    assert!(matches!(
        at_ecs(&with_authorization(&wire, &twice), now),
        Err(AuthError::IncompleteSignature(t)) if t.starts_with("Authorization header has more than one 'Signature' parameter.")
    ));
}

#[test]
fn spacing_variants_real_clients_send() {
    let (wire, now) = base();
    let auth = wire.header("authorization").unwrap().to_owned();
    for variant in [
        auth.replace(", ", ","),
        auth.replace(", ", " , "),
        auth.replace(", ", ",\t"),
        format!("  {auth}  "),
        auth.replacen(' ', "   ", 1),
    ] {
        assert_eq!(
            at_ecs(&with_authorization(&wire, &variant), now),
            Ok(()),
            "{variant}"
        );
    }
}

#[test]
fn host_and_date_must_be_signed() {
    let how = Signing::default();
    let wire = describe_clusters(&how);
    let auth = wire.header("authorization").unwrap().to_owned();
    let signed = auth
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let no_host = auth.replace(signed, &signed.replace("host;", ""));
    assert_eq!(
        at_ecs(&with_authorization(&wire, &no_host), how.time),
        incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    );
    let no_date = auth.replace(signed, &signed.replace(";x-amz-date", ""));
    assert_eq!(
        at_ecs(&with_authorization(&wire, &no_date), how.time),
        incomplete("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
    );
}

#[test]
fn date_header_in_place_of_x_amz_date() {
    // Signed over `date` instead of `x-amz-date`: valid when `date` is signed.
    let how = Signing::default();
    let wire = signed(
        "POST",
        "/",
        &[("Date", "Mon, 01 Jan 2024 00:00:00 GMT")],
        b"{}",
        &how,
    );
    let mut no_amz = wire.clone();
    no_amz
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("x-amz-date"));
    // The SDK always signs x-amz-date too; without it the signature no longer matches, but
    // the date is read from `Date` and checked for the window first.
    assert_eq!(
        at_ecs(&no_amz, how.time + 600)
            .unwrap_err()
            .message()
            .split(':')
            .next(),
        Some("Signature expired")
    );
    let mut bad = wire.clone();
    bad.set_header("X-Amz-Date", "2024-01-01T00:00:00Z");
    assert_eq!(
        at_ecs(&bad, how.time),
        incomplete("Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601")
    );
}

#[test]
fn repeated_or_oversized_authorization_headers() {
    let (wire, now) = base();
    let mut twice = wire.clone();
    let auth = wire.header("authorization").unwrap().to_owned();
    twice.headers.push(("authorization".into(), auth.clone()));
    let err = at_ecs(&twice, now).unwrap_err();
    assert!(matches!(err, AuthError::IncompleteSignature(_)), "{err:?}");
    assert_eq!(err.code(Protocol::Json), "IncompleteSignatureException");
    assert_eq!(err.code(Protocol::Query), "IncompleteSignature");
    assert_eq!(err.status(), 400);

    let huge = format!(
        "{auth}, Padding={}",
        "a".repeat(sigv4::MAX_AUTHORIZATION_LEN)
    );
    assert_eq!(
        at_ecs(&with_authorization(&wire, &huge), now),
        incomplete(&format!(
            "The 'Authorization' header is {} bytes long; at most 8192 bytes are accepted.",
            huge.len()
        ))
    );

    let mut two_dates = wire.clone();
    two_dates
        .headers
        .push(("X-Amz-Date".into(), "20240101T000000Z".into()));
    assert_eq!(
        at_ecs(&two_dates, now),
        incomplete("The request must carry at most one 'x-amz-date' header; it carries several.")
    );
}

#[test]
fn header_wins_over_query_parameters() {
    // A header-signed request whose query happens to carry presign parameters is judged by
    // its header (the query is then just part of what was signed).
    let how = Signing::default();
    let wire = signed("GET", "/?X-Amz-Signature=abc", &[], b"", &how);
    assert_eq!(at_ecs(&wire, how.time), Ok(()));
}
