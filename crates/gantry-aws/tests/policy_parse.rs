//! Parsing and validation: what IAM accepts, and its `MalformedPolicyDocument` texts for what
//! it refuses.

use gantry_aws::policy::{Effect, Policy, PolicyKind, Version};

fn err(doc: &str, kind: PolicyKind) -> String {
    match Policy::parse_as(doc, kind) {
        Ok(_) => panic!("accepted: {doc}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn accepts_iam_grammar() {
    let p = Policy::parse_identity(
        r#"{"Version":"2012-10-17","Id":"p1","Statement":[
            {"Sid":"A","Effect":"Allow","Action":["ecs:List*","ecs:Describe*"],"Resource":"*"},
            {"Sid":"B","Effect":"Deny","NotAction":"ecs:*","NotResource":["arn:aws:ecs:*:*:cluster/x"]}]}"#,
    )
    .unwrap();
    assert_eq!(p.version(), Version::V2012_10_17);
    assert_eq!(p.id(), Some("p1"));
    let s = p.statements();
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].sid(), s[0].effect()), (Some("A"), Effect::Allow));
    assert_eq!((s[1].sid(), s[1].effect()), (Some("B"), Effect::Deny));
    assert_eq!(
        s[0].actions(),
        (
            false,
            &["ecs:List*".to_string(), "ecs:Describe*".to_string()][..]
        )
    );
    assert_eq!(s[0].resources(), Some((false, &["*".to_string()][..])));
    assert!(s[1].actions().0);
    assert_eq!(s[1].resources().map(|r| r.0), Some(true));
    // A single statement object, and the old version.
    let p = Policy::parse_identity(
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    )
    .unwrap();
    assert_eq!(p.version(), Version::V2008_10_17);
    assert_eq!(p.document()["Statement"]["Action"], "*");
}

#[test]
fn syntax_errors() {
    let id = PolicyKind::Identity;
    for doc in [
        "not json",
        "[]",
        r#"{"Version":"2012-10-17"}"#,
        r#"{"Version":"2012-10-17","Statement":[]}"#,
        r#"{"Version":"2012-10-17","Statement":"x"}"#,
        r#"{"Version":"2013-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        r#"{"Version":"2012-10-17","Extra":1,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Permit","Action":"*","Resource":"*"}}"#,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"*","Resource":"*"}}"#,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}}"#,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}}"#,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":[1],"Resource":"*"}}"#,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Bogus":1}}"#,
        r#"{"Version":"2012-10-17","Statement":{"Sid":1,"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    ] {
        assert_eq!(err(doc, id), "Syntax errors in policy.", "{doc}");
    }
}

#[test]
fn required_fields_and_formats() {
    let id = PolicyKind::Identity;
    let cases = [
        (
            r#"{"Version":"2012-10-17","Statement":{"Action":"*","Resource":"*"}}"#,
            "Missing required field Effect",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#,
            "Policy statement must contain actions.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
            "Policy statement must contain actions.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*"}}"#,
            "Policy statement must contain resources.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"RunTask","Resource":"*"}}"#,
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:Run:Task","Resource":"*"}}"#,
            "Actions/Condition can contain only one colon.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"e c s:RunTask","Resource":"*"}}"#,
            "Vendor e c s is not valid",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec*:Describe*","Resource":"*"}}"#,
            "Vendor ec* is not valid",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"my-bucket"}}"#,
            "Resource my-bucket must be in ARN format or \"*\".",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"x","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"x","Effect":"Deny","Action":"*","Resource":"*"}]}"#,
            "Statement IDs (SID) in a single policy must be unique.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#,
            "Policy document should not specify a principal.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"*","Resource":"*"}}"#,
            "Policy document should not specify a principal.",
        ),
    ];
    for (doc, want) in cases {
        assert_eq!(err(doc, id), want, "{doc}");
    }
}

#[test]
fn trust_policies() {
    let t = PolicyKind::Trust;
    Policy::parse_trust(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","444455556666"],"Service":"ecs-tasks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#,
    )
    .unwrap();
    let cases = [
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#,
            "Missing required field Principal",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}}"#,
            "Has prohibited field Resource",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"ecs:RunTask"}}"#,
            "AssumeRole policy may only specify STS AssumeRole actions.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"sts:AssumeRole"}}"#,
            "Invalid principal in policy: \"AWS\":\"alice\"",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:s3:::bucket"},"Action":"sts:AssumeRole"}}"#,
            "Invalid principal in policy: \"AWS\":\"arn:aws:s3:::bucket\"",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Group":"x"},"Action":"sts:AssumeRole"}}"#,
            "Invalid principal in policy",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{},"Action":"sts:AssumeRole"}}"#,
            "Missing required field Principal cannot be empty!",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*"}}"#,
            "AssumeRole policy may only specify STS AssumeRole actions.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","NotResource":"*"}}"#,
            "AssumeRole policy must not contain resources.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"*"},"Action":"sts:AssumeRole"}}"#,
            "Allow with NotPrincipal is not allowed.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[]}"#,
            "Could not parse the policy: Statement is empty!",
        ),
        ("{not json", "This policy contains invalid Json"),
    ];
    for (doc, want) in cases {
        assert_eq!(err(doc, t), want, "{doc}");
    }
}

#[test]
fn resource_policies_need_a_principal_and_lenient_takes_any() {
    let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*"}}"#;
    assert_eq!(
        err(doc, PolicyKind::Resource),
        "Missing required field Principal"
    );
    Policy::parse(doc).unwrap();
    Policy::parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ecs.amazonaws.com"},"Action":"sts:AssumeRole"}}"#,
    )
    .unwrap();
}
