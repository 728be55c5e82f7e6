//! The bad-request suite at the library level: each request is refused with the AuthError
//! variant, code, status and text AWS answers with.

mod sigv4_support;

use gantry_aws::sigv4::{self, AuthError, Expect, Protocol};
use sigv4_support::{at, describe_clusters, signed, with_request, Signing, Wire, SECRET};

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

fn outcome(
    wire: &Wire,
    secret: &str,
    now: i64,
    region: &str,
    service: &str,
) -> Result<(), AuthError> {
    with_request(wire, |req| {
        let claim = sigv4::parse(req)?;
        sigv4::verify(
            req,
            &claim,
            secret,
            &Expect {
                now,
                region,
                service,
            },
        )
    })
}

fn at_ecs(wire: &Wire, now: i64) -> Result<(), AuthError> {
    outcome(wire, SECRET, now, "us-east-1", "ecs")
}

fn invalid(text: &str) -> Result<(), AuthError> {
    Err(AuthError::InvalidSignature(text.to_owned()))
}

fn incomplete(text: &str) -> Result<(), AuthError> {
    Err(AuthError::IncompleteSignature(text.to_owned()))
}

fn base() -> (Wire, i64) {
    let how = Signing::default();
    (describe_clusters(&how), how.time)
}

/// Replaces the `Authorization` header's value.
fn with_authorization(wire: &Wire, value: &str) -> Wire {
    let mut w = wire.clone();
    w.set_header("Authorization", value);
    w
}

#[test]
fn the_untouched_request_verifies() {
    let (wire, now) = base();
    assert_eq!(at_ecs(&wire, now), Ok(()));
}

#[test]
fn unsigned_request_is_missing_authentication_token() {
    let (mut wire, now) = base();
    wire.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
    let err = at_ecs(&wire, now).unwrap_err();
    assert_eq!(err, AuthError::MissingAuthenticationToken);
    assert_eq!(
        err.code(Protocol::Json),
        "MissingAuthenticationTokenException"
    );
    assert_eq!(err.code(Protocol::Query), "MissingAuthenticationToken");
    assert_eq!(err.message(), "Missing Authentication Token");
    assert_eq!(err.status(), 400);
}

#[test]
fn wrong_secret_is_a_mismatch() {
    let (wire, now) = base();
    let err = outcome(
        &wire,
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ",
        now,
        "us-east-1",
        "ecs",
    );
    assert_eq!(err, invalid(MISMATCH));
    let err = err.unwrap_err();
    assert_eq!(err.code(Protocol::Json), "InvalidSignatureException");
    assert_eq!(err.code(Protocol::Query), "SignatureDoesNotMatch");
    assert_eq!(err.status(), 403);
}

#[test]
fn body_changed_after_signing() {
    let (mut wire, now) = base();
    wire.body = br#"{"clusters":["prod"]}"#.to_vec();
    assert_eq!(at_ecs(&wire, now), invalid(MISMATCH));
}

#[test]
fn body_changed_under_a_signed_payload_hash() {
    let how = Signing {
        content_sha256: true,
        ..Signing::default()
    };
    let mut wire = describe_clusters(&how);
    wire.body.push(b' ');
    assert_eq!(
        at_ecs(&wire, how.time),
        invalid("The provided 'x-amz-content-sha256' header does not match what was computed.")
    );
}

#[test]
fn a_signed_header_changed() {
    let (mut wire, now) = base();
    wire.set_header(
        "X-Amz-Target",
        "AmazonEC2ContainerServiceV20141113.DeleteCluster",
    );
    assert_eq!(at_ecs(&wire, now), invalid(MISMATCH));
    let (mut wire, now) = base();
    wire.set_header("Host", "evil.example:7600");
    assert_eq!(at_ecs(&wire, now), invalid(MISMATCH));
}

#[test]
fn a_tampered_or_malformed_signature() {
    let (wire, now) = base();
    let auth = wire.header("authorization").unwrap().to_owned();
    let last = auth.chars().last().unwrap();
    let flipped = format!(
        "{}{}",
        &auth[..auth.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    assert_eq!(
        at_ecs(&with_authorization(&wire, &flipped), now),
        invalid(MISMATCH)
    );
    let short = auth[..auth.len() - 2].to_owned();
    assert_eq!(
        at_ecs(&with_authorization(&wire, &short), now),
        invalid(MISMATCH)
    );
    let (head, _) = auth.split_once("Signature=").unwrap();
    let not_hex = format!("{head}Signature={}", "zz".repeat(32));
    assert_eq!(
        at_ecs(&with_authorization(&wire, &not_hex), now),
        invalid(MISMATCH)
    );
}

#[test]
fn replay_six_minutes_later() {
    let (wire, now) = base();
    assert_eq!(at_ecs(&wire, now + 300), Ok(()));
    assert_eq!(
        at_ecs(&wire, now + 360),
        invalid("Signature expired: 20240101T000000Z is now earlier than 20240101T000100Z (20240101T000600Z - 5 min.)")
    );
}

#[test]
fn date_six_minutes_ahead() {
    let how = Signing {
        time: at("20240101T000600Z"),
        ..Signing::default()
    };
    let wire = describe_clusters(&how);
    assert_eq!(at_ecs(&wire, at("20240101T000100Z")), Ok(()));
    assert_eq!(
        at_ecs(&wire, at("20240101T000000Z")),
        invalid("Signature not yet current: 20240101T000600Z is still later than 20240101T000500Z (20240101T000000Z + 5 min.)")
    );
}

#[test]
fn another_region_or_service_in_the_scope() {
    let how = Signing {
        region: "us-west-2",
        ..Signing::default()
    };
    assert_eq!(
        at_ecs(&describe_clusters(&how), how.time),
        invalid("Credential should be scoped to a valid region, not 'us-west-2'. ")
    );
    let how = Signing {
        service: "iam",
        ..Signing::default()
    };
    assert_eq!(
        at_ecs(&describe_clusters(&how), how.time),
        invalid("Credential should be scoped to correct service: 'ecs'. ")
    );
}

#[test]
fn scope_date_other_than_the_request_date() {
    let (wire, now) = base();
    let auth = wire
        .header("authorization")
        .unwrap()
        .replace("/20240101/", "/20231231/");
    assert_eq!(
        at_ecs(&with_authorization(&wire, &auth), now),
        invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '20231231' != '20240101', from '20240101T000000Z'."
        )
    );
}

#[test]
fn wrong_terminator() {
    let (wire, now) = base();
    let auth = wire
        .header("authorization")
        .unwrap()
        .replace("/aws4_request", "/aws5_request");
    assert_eq!(
        at_ecs(&with_authorization(&wire, &auth), now),
        invalid("Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. ")
    );
}

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

fn presigned(expires: u64) -> (Wire, i64) {
    let how = Signing {
        presign: Some(expires),
        ..Signing::default()
    };
    (
        signed("GET", "/?Action=ListClusters", &[], b"", &how),
        how.time,
    )
}

#[test]
fn presigned_past_its_expiry_or_tampered() {
    let (wire, now) = presigned(60);
    assert_eq!(at_ecs(&wire, now + 60), Ok(()));
    assert_eq!(
        at_ecs(&wire, now + 61),
        invalid("Signature expired: 20240101T000000Z is now earlier than 20240101T000001Z (20240101T000101Z - 60 sec.)")
    );
    let mut longer = wire.clone();
    longer.query = longer
        .query
        .replace("X-Amz-Expires=60", "X-Amz-Expires=3600");
    assert_eq!(at_ecs(&longer, now + 120), invalid(MISMATCH));
    let mut other_action = wire.clone();
    other_action.query = other_action.query.replace("ListClusters", "DeleteCluster");
    assert_eq!(at_ecs(&other_action, now), invalid(MISMATCH));
}

#[test]
fn presigned_query_parameters_checked() {
    let (wire, now) = presigned(900);
    let drop = |name: &str| {
        let mut w = wire.clone();
        w.query = w
            .query
            .split('&')
            .filter(|p| !p.starts_with(&format!("{name}=")))
            .collect::<Vec<_>>()
            .join("&");
        w
    };
    assert_eq!(
        at_ecs(&drop("X-Amz-Credential"), now),
        incomplete("AWS query-string parameters must include 'X-Amz-Credential'. Re-examine the query-string parameters.")
    );
    assert_eq!(
        at_ecs(&drop("X-Amz-Date"), now),
        incomplete("AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.")
    );
    let mut week = wire.clone();
    week.query = week
        .query
        .replace("X-Amz-Expires=900", "X-Amz-Expires=604801");
    assert_eq!(
        at_ecs(&week, now),
        incomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    );
    let mut nan = wire.clone();
    nan.query = nan.query.replace("X-Amz-Expires=900", "X-Amz-Expires=soon");
    assert_eq!(
        at_ecs(&nan, now),
        incomplete("X-Amz-Expires should be a number")
    );
    let mut twice = wire.clone();
    twice.query.push_str("&X-Amz-Signature=00");
    assert!(matches!(
        at_ecs(&twice, now),
        Err(AuthError::IncompleteSignature(_))
    ));
}

#[test]
fn header_wins_over_query_parameters() {
    // A header-signed request whose query happens to carry presign parameters is judged by
    // its header (the query is then just part of what was signed).
    let how = Signing::default();
    let wire = signed("GET", "/?X-Amz-Signature=abc", &[], b"", &how);
    assert_eq!(at_ecs(&wire, how.time), Ok(()));
}
