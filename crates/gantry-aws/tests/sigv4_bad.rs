//! The bad-request suite at the library level: each request is refused with the AuthError
//! variant, code, status and text AWS answers with. Tampering, the clock and the scope here;
//! malformed headers in sigv4_bad_header.rs, presigned requests in sigv4_bad_presign.rs.

mod sigv4_support;

use gantry_aws::sigv4::{AuthError, Protocol};
use sigv4_support::{
    at, at_ecs, base, describe_clusters, invalid, outcome, with_authorization, Signing, MISMATCH,
};

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
