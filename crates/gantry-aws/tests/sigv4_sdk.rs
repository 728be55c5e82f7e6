//! Requests signed by the AWS SDK's signer (`aws-sigv4`, what the Rust SDK and so
//! `aws-sdk-ecs` use) verify, in the variants real clients send.

mod sigv4_support;

use gantry_aws::sigv4::{self, Expect};
use sigv4_support::{at, describe_clusters, signed, with_request, Signing, Wire, AKID, SECRET};

fn verifies(wire: &Wire, how: &Signing, now: i64) -> sigv4::Claim {
    with_request(wire, |req| {
        let claim = sigv4::parse(req).unwrap_or_else(|e| panic!("parse {wire:?}: {e}"));
        let expect = Expect {
            now,
            region: how.region,
            service: how.service,
        };
        sigv4::verify(req, &claim, SECRET, &expect).unwrap_or_else(|e| {
            panic!(
                "verify {wire:?}: {e}\ncanonical request:\n{}",
                sigv4::canonical_request(req, &claim)
            )
        });
        claim
    })
}

#[test]
fn json_call_with_header_signature() {
    let how = Signing::default();
    let wire = describe_clusters(&how);
    let claim = verifies(&wire, &how, how.time);
    assert_eq!(claim.access_key_id, AKID);
    assert_eq!(claim.scope_date, "20240101");
    assert_eq!(
        (claim.region.as_str(), claim.service.as_str()),
        ("us-east-1", "ecs")
    );
    assert_eq!(claim.request_time, how.time);
    assert_eq!(claim.security_token, None);
    assert_eq!(claim.presigned_expires, None);
    assert!(claim.signed_headers.iter().any(|h| h == "x-amz-target"));
}

#[test]
fn temporary_credentials_surface_their_token() {
    let how = Signing {
        token: Some("FwoGZXIvYXdzEJr//////////wEaDHg+token/with=specials"),
        ..Signing::default()
    };
    let claim = verifies(&describe_clusters(&how), &how, how.time);
    assert_eq!(claim.security_token.as_deref(), how.token);
}

#[test]
fn signed_payload_hash_header() {
    let how = Signing {
        content_sha256: true,
        ..Signing::default()
    };
    let wire = describe_clusters(&how);
    assert!(wire.header("x-amz-content-sha256").is_some());
    let claim = verifies(&wire, &how, how.time);
    assert!(claim
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-content-sha256"));
}

#[test]
fn query_protocol_form_bodies_for_iam_and_sts() {
    for (service, body) in [
        ("iam", "Action=CreateUser&UserName=alice&Version=2010-05-08"),
        ("sts", "Action=GetCallerIdentity&Version=2011-06-15"),
        ("iam", "Action=PutUserPolicy&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%7D&UserName=a+b&Version=2010-05-08"),
    ] {
        let how = Signing {
            service,
            ..Signing::default()
        };
        let wire = signed(
            "POST",
            "/",
            &[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
            body.as_bytes(),
            &how,
        );
        verifies(&wire, &how, how.time);
    }
}

#[test]
fn query_strings_and_paths_in_many_encodings() {
    let how = Signing::default();
    for target in [
        "/",
        "/?Action=ListUsers&Version=2010-05-08",
        "/?b=2&a=2&a=1&empty=&flag",
        "/?key=with%20space&slash=%2F&utf8=%E1%88%B4&tilde=~&star=%2A",
        "/?plus=a%2Bb&Zeta=1&alpha=2",
        "/v1/tasks/abc",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A123%3Afunction%3Af/invocations",
        "/a//b/./c/../d/",
        "/%E1%88%B4/space%20here",
    ] {
        let wire = signed("GET", target, &[], b"", &how);
        verifies(&wire, &how, how.time);
    }
}

#[test]
fn repeated_and_padded_headers() {
    let how = Signing::default();
    let wire = signed(
        "POST",
        "/",
        &[
            ("X-Custom", "first"),
            ("x-custom", "  second   value  "),
            (
                "X-Amz-Target",
                "AmazonEC2ContainerServiceV20141113.ListClusters",
            ),
            ("Content-Type", "application/x-amz-json-1.1"),
            (
                "User-Agent",
                "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
            ),
        ],
        b"{}",
        &how,
    );
    verifies(&wire, &how, how.time);
}

#[test]
fn large_and_binary_bodies() {
    let how = Signing::default();
    let body: Vec<u8> = (0..1_048_576u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let wire = signed(
        "PUT",
        "/blob",
        &[("Content-Type", "application/octet-stream")],
        &body,
        &how,
    );
    verifies(&wire, &how, how.time);
}

#[test]
fn presigned_requests() {
    for token in [None, Some("IQoJb3JpZ2luX2VjEJr//////////token+/=")] {
        let how = Signing {
            presign: Some(900),
            token,
            service: "sts",
            ..Signing::default()
        };
        let wire = signed(
            "GET",
            "/?Action=GetCallerIdentity&Version=2011-06-15",
            &[],
            b"",
            &how,
        );
        assert!(wire.query.contains("X-Amz-Signature="));
        assert!(wire.header("authorization").is_none());
        // Valid from its date until X-Amz-Expires has passed.
        for now in [how.time, how.time + 899, how.time + 900] {
            let claim = verifies(&wire, &how, now);
            assert_eq!(claim.presigned_expires, Some(900));
            assert_eq!(claim.security_token.as_deref(), token);
        }
    }
}

#[test]
fn every_region_service_and_day() {
    for (region, service, stamp) in [
        ("eu-west-1", "ecs", "20240229T235959Z"),
        ("us-east-1", "sts", "20231231T000000Z"),
        ("ap-southeast-2", "iam", "20991231T120000Z"),
        ("local", "ecs", "19991231T235959Z"),
    ] {
        let how = Signing {
            region,
            service,
            time: at(stamp),
            ..Signing::default()
        };
        let claim = verifies(&describe_clusters(&how), &how, how.time + 299);
        assert_eq!(claim.scope_date, &stamp[..8]);
        verifies(&describe_clusters(&how), &how, how.time - 299);
    }
}
