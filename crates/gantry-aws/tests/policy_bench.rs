//! Cost of one authorization: a 20-statement policy asked for `ecs:DescribeTasks`.
//! A timing figure, so ignored by default; run it under the machine's benchmark lock:
//!   flock /tmp/gantry-priv.lock cargo test --release -p gantry-aws --test policy_bench -- --ignored --nocapture

use std::time::Instant;

use gantry_aws::policy::{evaluate, Context, Decision, Policy};

fn twenty_statements() -> String {
    let mut s = Vec::new();
    for i in 0..6 {
        s.push(format!(
            r#"{{"Sid":"Svc{i}","Effect":"Allow","Action":["ecs:Create{i}*","ecs:Update{i}*"],"Resource":"arn:aws:ecs:*:123456789012:service/c{i}/*"}}"#
        ));
    }
    for i in 0..6 {
        s.push(format!(
            r#"{{"Sid":"Run{i}","Effect":"Allow","Action":"ecs:RunTask","Resource":"arn:aws:ecs:*:*:task-definition/app{i}:*","Condition":{{"ArnEquals":{{"ecs:cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/c{i}"}}}}}}"#
        ));
    }
    for i in 0..4 {
        s.push(format!(
            r#"{{"Sid":"Own{i}","Effect":"Allow","Action":"ecs:*Task*","Resource":"*","Condition":{{"StringEquals":{{"ecs:ResourceTag/owner":"${{aws:username}}","aws:PrincipalTag/team":"t{i}"}}}}}}"#
        ));
    }
    s.push(r#"{"Sid":"NoIam","Effect":"Deny","Action":"iam:*","Resource":"*"}"#.into());
    s.push(r#"{"Sid":"Tls","Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#.into());
    s.push(r#"{"Sid":"Net","Effect":"Deny","Action":"ecs:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}}"#.into());
    s.push(r#"{"Sid":"Read","Effect":"Allow","Action":["ecs:Describe*","ecs:List*"],"Resource":"arn:aws:ecs:us-east-1:123456789012:task/prod/*","Condition":{"StringEquals":{"ecs:cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/prod"}}}"#.into());
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        s.join(",")
    )
}

#[test]
#[ignore = "timing figure; run under /tmp/gantry-priv.lock"]
fn describe_tasks_with_a_20_statement_policy() {
    let p = Policy::parse_identity(&twenty_statements()).unwrap();
    assert_eq!(p.statements().len(), 20);
    let mut c = Context {
        action: "ecs:DescribeTasks".into(),
        resource: "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef".into(),
        ..Default::default()
    };
    for (k, v) in [
        ("aws:username", "alice"),
        ("aws:userid", "AIDAEXAMPLE"),
        ("aws:PrincipalTag/team", "ops"),
        ("aws:SourceIp", "10.1.2.3"),
        ("aws:SecureTransport", "true"),
        ("aws:CurrentTime", "2026-12-01T10:00:00Z"),
        (
            "ecs:cluster",
            "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        ),
        ("ecs:ResourceTag/owner", "bob"),
    ] {
        c.keys.insert(k.into(), vec![v.into()]);
    }
    assert_eq!(evaluate(&[&p], &c), Decision::Allow);

    let mut samples = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let t = Instant::now();
        let d = evaluate(&[&p], std::hint::black_box(&c));
        samples.push(t.elapsed());
        assert_eq!(d, Decision::Allow);
    }
    samples.sort();
    let pct = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "policy evaluate, 20 statements, ecs:DescribeTasks: p50 {:?} p99 {:?} max {:?} (n={})",
        pct(0.50),
        pct(0.99),
        samples[samples.len() - 1],
        samples.len()
    );
    let t = Instant::now();
    for _ in 0..1000 {
        std::hint::black_box(Policy::parse_identity(&twenty_statements()).unwrap());
    }
    println!(
        "parse + compile, 20 statements: {:?} each",
        t.elapsed() / 1000
    );
}
