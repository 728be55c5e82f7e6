//! Condition operators, mostly on the examples of AWS's "IAM JSON policy elements: Condition
//! operators" page: one `Allow` statement guarded by a condition, asked with and without the
//! key.

use gantry_aws::policy::{evaluate, Context, Decision, Policy};

/// A policy allowing `ecs:*` on `*` when `condition` (a JSON object) holds.
fn allow_if(condition: &str) -> Policy {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{condition}}}]}}"#
    );
    Policy::parse_identity(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"))
}

fn allowed(p: &Policy, keys: &[(&str, &[&str])]) -> bool {
    let mut c = Context {
        action: "ecs:DescribeTasks".into(),
        resource: "*".into(),
        ..Default::default()
    };
    for (k, vs) in keys {
        c.keys
            .insert((*k).into(), vs.iter().map(|v| (*v).to_string()).collect());
    }
    evaluate(&[p], &c) == Decision::Allow
}

#[test]
fn string_equals_is_case_sensitive_and_exact() {
    let p = allow_if(r#"{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-admin"}}"#);
    assert!(allowed(
        &p,
        &[("aws:PrincipalTag/job-category", &["iamuser-admin"])]
    ));
    assert!(!allowed(
        &p,
        &[("aws:PrincipalTag/job-category", &["IAMuser-admin"])]
    ));
    assert!(!allowed(
        &p,
        &[("aws:PrincipalTag/job-category", &["iamuser-*"])]
    ));
    // Absent key: a positive operator is false.
    assert!(!allowed(&p, &[]));
    // Keys are looked up without regard to case.
    assert!(allowed(
        &p,
        &[("AWS:principaltag/JOB-category", &["iamuser-admin"])]
    ));
}

#[test]
fn string_equals_ignore_case_and_like() {
    let p = allow_if(r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"Ops"}}"#);
    assert!(allowed(&p, &[("aws:PrincipalTag/team", &["oPS"])]));
    assert!(!allowed(&p, &[("aws:PrincipalTag/team", &["dev"])]));
    let p = allow_if(r#"{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/*"]}}"#);
    assert!(allowed(
        &p,
        &[("s3:prefix", &["home/"]), ("aws:username", &["alice"])]
    ));
    assert!(allowed(
        &p,
        &[
            ("s3:prefix", &["home/alice/x"]),
            ("aws:username", &["alice"])
        ]
    ));
    assert!(!allowed(
        &p,
        &[("s3:prefix", &["home/bob/x"]), ("aws:username", &["alice"])]
    ));
    let p = allow_if(r#"{"StringLike":{"ecs:container-name":"web-?"}}"#);
    assert!(allowed(&p, &[("ecs:container-name", &["web-1"])]));
    assert!(!allowed(&p, &[("ecs:container-name", &["web-10"])]));
}

#[test]
fn negated_string_operators_are_nor_and_true_when_the_key_is_absent() {
    let p = allow_if(r#"{"StringNotEquals":{"aws:PrincipalTag/team":["dev","test"]}}"#);
    assert!(allowed(&p, &[("aws:PrincipalTag/team", &["ops"])]));
    assert!(!allowed(&p, &[("aws:PrincipalTag/team", &["dev"])]));
    assert!(!allowed(&p, &[("aws:PrincipalTag/team", &["test"])]));
    assert!(allowed(&p, &[]));
    let p = allow_if(r#"{"StringNotLike":{"ecs:cluster":"*prod*"}}"#);
    assert!(allowed(&p, &[("ecs:cluster", &["dev"])]));
    assert!(!allowed(&p, &[("ecs:cluster", &["my-prod-1"])]));
    let p = allow_if(r#"{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"Dev"}}"#);
    assert!(!allowed(&p, &[("aws:PrincipalTag/team", &["DEV"])]));
    assert!(allowed(&p, &[("aws:PrincipalTag/team", &["ops"])]));
}

#[test]
fn variables_in_condition_values() {
    let p = allow_if(r#"{"StringEquals":{"ecs:ResourceTag/owner":"${aws:username}"}}"#);
    assert!(allowed(
        &p,
        &[
            ("ecs:ResourceTag/owner", &["alice"]),
            ("aws:username", &["alice"])
        ]
    ));
    assert!(!allowed(
        &p,
        &[
            ("ecs:ResourceTag/owner", &["bob"]),
            ("aws:username", &["alice"])
        ]
    ));
    // No value for the variable: the statement does not apply, even for a negated operator.
    let n = allow_if(r#"{"StringNotEquals":{"ecs:ResourceTag/owner":"${aws:username}"}}"#);
    assert!(!allowed(&n, &[("ecs:ResourceTag/owner", &["bob"])]));
}

#[test]
fn numeric_operators() {
    let p = allow_if(r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#);
    assert!(allowed(&p, &[("s3:max-keys", &["10"])]));
    assert!(allowed(&p, &[("s3:max-keys", &["2.5"])]));
    assert!(!allowed(&p, &[("s3:max-keys", &["11"])]));
    assert!(!allowed(&p, &[("s3:max-keys", &["ten"])]));
    assert!(!allowed(&p, &[]));
    let cases: &[(&str, &str, bool)] = &[
        ("NumericEquals", "5", true),
        ("NumericEquals", "6", false),
        ("NumericNotEquals", "6", true),
        ("NumericNotEquals", "5", false),
        ("NumericLessThan", "6", true),
        ("NumericLessThan", "5", false),
        ("NumericGreaterThan", "4", true),
        ("NumericGreaterThan", "5", false),
        ("NumericGreaterThanEquals", "5", true),
        ("NumericGreaterThanEquals", "6", false),
    ];
    for (op, v, want) in cases {
        // JSON numbers are accepted as well as strings.
        let p = allow_if(&format!(r#"{{"{op}":{{"ecs:count":{v}}}}}"#));
        assert_eq!(allowed(&p, &[("ecs:count", &["5"])]), *want, "{op} {v}");
    }
}

#[test]
fn date_operators_take_iso8601_and_epoch_seconds() {
    let p = allow_if(r#"{"DateGreaterThan":{"aws:TokenIssueTime":"2020-01-01T00:00:01Z"}}"#);
    assert!(allowed(
        &p,
        &[("aws:TokenIssueTime", &["2020-01-01T00:00:02Z"])]
    ));
    assert!(!allowed(
        &p,
        &[("aws:TokenIssueTime", &["2020-01-01T00:00:01Z"])]
    ));
    assert!(allowed(&p, &[("aws:TokenIssueTime", &["1577836802"])]));
    let p = allow_if(
        r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2026-01-01"},"DateLessThan":{"aws:CurrentTime":"2026-12-31T23:59:59+00:00"}}"#,
    );
    assert!(allowed(
        &p,
        &[("aws:CurrentTime", &["2026-12-01T10:00:00Z"])]
    ));
    assert!(allowed(
        &p,
        &[("aws:CurrentTime", &["2026-01-01T00:00:00Z"])]
    ));
    assert!(!allowed(
        &p,
        &[("aws:CurrentTime", &["2027-01-01T00:00:00Z"])]
    ));
    let p = allow_if(r#"{"DateLessThanEquals":{"aws:EpochTime":1767225600}}"#);
    assert!(allowed(&p, &[("aws:EpochTime", &["1767225600"])]));
    assert!(!allowed(&p, &[("aws:EpochTime", &["1767225601"])]));
    let p = allow_if(r#"{"DateEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#);
    assert!(allowed(
        &p,
        &[("aws:CurrentTime", &["2026-01-01T01:00:00+01:00"])]
    ));
    let p = allow_if(r#"{"DateNotEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#);
    assert!(!allowed(&p, &[("aws:CurrentTime", &["1767225600"])]));
}

#[test]
fn bool_and_secure_transport() {
    // AWS's example: deny everything not sent over TLS.
    let doc = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"*","Resource":"*"},
        {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    let p = Policy::parse_identity(doc).unwrap();
    assert!(allowed(&p, &[("aws:SecureTransport", &["true"])]));
    assert!(!allowed(&p, &[("aws:SecureTransport", &["false"])]));
    let p = allow_if(r#"{"Bool":{"aws:MultiFactorAuthPresent":true}}"#);
    assert!(allowed(&p, &[("aws:MultiFactorAuthPresent", &["true"])]));
    assert!(!allowed(&p, &[]));
}

#[test]
fn ip_address_v4_and_v6() {
    let p =
        allow_if(r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:DB8:1234:5678::/64"]}}"#);
    assert!(allowed(&p, &[("aws:SourceIp", &["203.0.113.42"])]));
    assert!(allowed(&p, &[("aws:SourceIp", &["2001:db8:1234:5678::1"])]));
    assert!(!allowed(&p, &[("aws:SourceIp", &["198.51.100.1"])]));
    assert!(!allowed(&p, &[("aws:SourceIp", &["not-an-ip"])]));
    let p = allow_if(r#"{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#);
    assert!(allowed(&p, &[("aws:SourceIp", &["203.0.113.42"])]));
    assert!(!allowed(&p, &[("aws:SourceIp", &["192.0.2.9"])]));
}

#[test]
fn arn_operators_match_part_by_part() {
    let p = allow_if(
        r#"{"ArnEquals":{"ecs:cluster":"arn:aws:ecs:us-east-1:111122223333:cluster/default"}}"#,
    );
    assert!(allowed(
        &p,
        &[(
            "ecs:cluster",
            &["arn:aws:ecs:us-east-1:111122223333:cluster/default"]
        )]
    ));
    assert!(!allowed(
        &p,
        &[(
            "ecs:cluster",
            &["arn:aws:ecs:us-east-1:111122223333:cluster/prod"]
        )]
    ));
    let p = allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"}}"#);
    assert!(allowed(
        &p,
        &[(
            "aws:SourceArn",
            &["arn:aws:sns:eu-west-1:111122223333:topic"]
        )]
    ));
    assert!(!allowed(
        &p,
        &[(
            "aws:SourceArn",
            &["arn:aws:sns:eu-west-1:444455556666:topic"]
        )]
    ));
    let p = allow_if(r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"}}"#);
    assert!(!allowed(
        &p,
        &[("aws:SourceArn", &["arn:aws:sns:eu-west-1:111122223333:t"])]
    ));
    assert!(allowed(&p, &[]));
    let p = allow_if(r#"{"ArnNotEquals":{"ecs:cluster":"arn:aws:ecs:*:*:cluster/prod"}}"#);
    assert!(allowed(
        &p,
        &[("ecs:cluster", &["arn:aws:ecs:us-east-1:1:cluster/dev"])]
    ));
}

#[test]
fn null_checks_presence() {
    let p = allow_if(r#"{"Null":{"aws:TokenIssueTime":"true"}}"#);
    assert!(allowed(&p, &[]));
    assert!(!allowed(
        &p,
        &[("aws:TokenIssueTime", &["2026-01-01T00:00:00Z"])]
    ));
    let p = allow_if(r#"{"Null":{"aws:TokenIssueTime":false}}"#);
    assert!(!allowed(&p, &[]));
    assert!(allowed(
        &p,
        &[("aws:TokenIssueTime", &["2026-01-01T00:00:00Z"])]
    ));
}

#[test]
fn if_exists_is_true_when_the_key_is_absent() {
    // AWS's example: restrict instance types only where the request names one.
    let p = allow_if(r#"{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}"#);
    assert!(allowed(&p, &[]));
    assert!(allowed(&p, &[("ec2:InstanceType", &["t2.micro"])]));
    assert!(!allowed(&p, &[("ec2:InstanceType", &["m5.large"])]));
    let p = allow_if(r#"{"NumericLessThanIfExists":{"ecs:count":3}}"#);
    assert!(allowed(&p, &[]));
    assert!(!allowed(&p, &[("ecs:count", &["3"])]));
    let p = allow_if(r#"{"StringNotEqualsIfExists":{"ecs:cluster":"prod"}}"#);
    assert!(allowed(&p, &[]));
    assert!(!allowed(&p, &[("ecs:cluster", &["prod"])]));
}

#[test]
fn set_operators_over_multivalued_keys() {
    let all =
        allow_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}"#);
    assert!(allowed(&all, &[("aws:TagKeys", &["environment"])]));
    assert!(allowed(
        &all,
        &[("aws:TagKeys", &["environment", "cost-center"])]
    ));
    assert!(!allowed(
        &all,
        &[("aws:TagKeys", &["environment", "owner"])]
    ));
    // ForAllValues is true for an absent or empty key (why AWS pairs it with Null).
    assert!(allowed(&all, &[]));
    assert!(allowed(&all, &[("aws:TagKeys", &[])]));
    let any =
        allow_if(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}"#);
    assert!(allowed(&any, &[("aws:TagKeys", &["owner", "cost-center"])]));
    assert!(!allowed(&any, &[("aws:TagKeys", &["owner"])]));
    assert!(!allowed(&any, &[]));
    let not_any = allow_if(r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a","b"]}}"#);
    assert!(allowed(&not_any, &[("aws:TagKeys", &["a", "c"])]));
    assert!(!allowed(&not_any, &[("aws:TagKeys", &["a", "b"])]));
    let not_all = allow_if(r#"{"ForAllValues:StringNotLike":{"aws:TagKeys":"aws:*"}}"#);
    assert!(allowed(&not_all, &[("aws:TagKeys", &["team", "env"])]));
    assert!(!allowed(&not_all, &[("aws:TagKeys", &["team", "aws:x"])]));
}

#[test]
fn keys_and_blocks_are_anded_values_ored() {
    let p = allow_if(
        r#"{"StringEquals":{"ecs:cluster":["a","b"],"aws:PrincipalTag/team":"ops"},"Bool":{"aws:SecureTransport":"true"}}"#,
    );
    let ok: &[(&str, &[&str])] = &[
        ("ecs:cluster", &["b"]),
        ("aws:PrincipalTag/team", &["ops"]),
        ("aws:SecureTransport", &["true"]),
    ];
    assert!(allowed(&p, ok));
    assert!(!allowed(&p, &ok[..2]));
    assert!(!allowed(&p, &[("ecs:cluster", &["c"]), ok[1], ok[2]]));
}

#[test]
fn unknown_operators_are_refused_at_parse() {
    for bad in [
        r#"{"StringEqualz":{"aws:username":"a"}}"#,
        r#"{"NullIfExists":{"aws:username":"true"}}"#,
        r#"{"ForSomeValues:StringEquals":{"aws:username":"a"}}"#,
        r#"{"StringEquals":{"aws:username":{"nested":1}}}"#,
        r#"{"StringEquals":"aws:username"}"#,
    ] {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{bad}}}}}"#
        );
        let e = Policy::parse_identity(&doc).unwrap_err();
        assert_eq!(e.to_string(), "Syntax errors in policy.", "{bad}");
    }
    let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"username":"a"}}}}"#;
    assert_eq!(
        Policy::parse_identity(doc).unwrap_err().to_string(),
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    );
}
