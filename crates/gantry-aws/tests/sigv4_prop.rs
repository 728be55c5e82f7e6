//! Property: whatever path, query, headers and body a client sends, a request the SDK's
//! signer (`aws-sigv4`) signed verifies, in both forms, and changing the body does not.
//! This pins the canonicalisation (path normalisation and double encoding, query decoding,
//! re-encoding and sorting, header trimming and joining) to the SDK's, beyond the suite.

mod sigv4_support;

use gantry_aws::sigv4::{self, AuthError, Expect};
use proptest::prelude::*;
use sigv4_support::{signed, with_request, Signing, SECRET};

/// Path segments as clients send them: unreserved and sub-delimiter characters, percent
/// escapes (valid or not), and the dot segments normalisation removes.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z0-9._~!$&'()*+,;=:@-]{0,8}",
        2 => "(%[0-9A-Fa-f]{2}){1,3}",
        1 => "[a-z]{0,2}%[g-z0-9]?",
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just(String::new()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 0..5), any::<bool>()).prop_map(|(segs, trailing)| {
        let mut p = format!("/{}", segs.join("/"));
        if trailing && !p.ends_with('/') {
            p.push('/');
        }
        p
    })
}

fn query_component() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[A-Za-z0-9._~-]{0,6}",
        2 => "([A-Za-z0-9]|%[0-9A-Fa-f]{2}|\\+|[!$'()*,;:@/?=%]){0,6}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec((query_component(), query_component(), any::<bool>()), 0..5).prop_map(
        |pairs| {
            pairs
                .into_iter()
                .map(|(k, v, eq)| {
                    if eq || !v.is_empty() {
                        format!("{k}={v}")
                    } else {
                        k
                    }
                })
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("&")
        },
    )
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![
                Just("X-Custom".to_owned()),
                Just("x-custom".to_owned()),
                Just("Content-Type".to_owned()),
                "X-[A-Za-z0-9-]{1,8}",
            ],
            "[ -~\t]{0,16}",
        ),
        0..5,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sdk_signed_requests_verify(
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")],
        path in path(),
        query in query(),
        headers in headers(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        presign in prop::option::of(1u64..=604_800),
        token in prop::option::of("[A-Za-z0-9+/=]{8,40}"),
        content_sha256 in any::<bool>(),
        skew in -300i64..=300,
    ) {
        let token: Option<&'static str> = token.map(|t| &*Box::leak(t.into_boxed_str()));
        let how = Signing { presign, token, content_sha256, ..Signing::default() };
        let target = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        let hdrs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let wire = signed(method, &target, &hdrs, &body, &how);
        // Anywhere in the window: ±5 minutes, and for a presigned request not past its expiry.
        let lag = presign.map_or(skew, |e| skew.min(i64::try_from(e).unwrap_or(i64::MAX)));
        let expect = Expect { now: how.time + lag, region: how.region, service: how.service };
        let result = with_request(&wire, |req| {
            let claim = sigv4::parse(req)?;
            prop_assert_eq!(claim.security_token.as_deref(), token);
            prop_assert_eq!(claim.presigned_expires, presign);
            Ok(sigv4::verify(req, &claim, SECRET, &expect).map_err(|e| {
                format!("{e}\n{wire:?}\ncanonical request:\n{}", sigv4::canonical_request(req, &claim))
            }))
        });
        match result {
            Ok(outcome) => prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err()),
            Err(e) => prop_assert!(false, "{e:?}"),
        }

        let mut changed = wire.clone();
        changed.body.push(b'!');
        let refused = with_request(&changed, |req| {
            let claim = sigv4::parse(req).map_err(|e| format!("{e:?}"))?;
            Ok::<_, String>(sigv4::verify(req, &claim, SECRET, &expect))
        });
        prop_assert!(matches!(refused, Ok(Err(AuthError::InvalidSignature(_)))), "{refused:?}");
    }
}
