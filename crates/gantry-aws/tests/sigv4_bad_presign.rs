//! Presigned (query-string) requests: their expiry, tampering and malformed parameters.

mod sigv4_support;

use gantry_aws::sigv4::AuthError;
use sigv4_support::{at_ecs, incomplete, invalid, signed, Signing, Wire, MISMATCH};

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
