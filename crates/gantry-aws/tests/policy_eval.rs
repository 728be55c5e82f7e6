//! Evaluation of Effect, Action/NotAction and Resource/NotResource as IAM documents them.

use gantry_aws::policy::{evaluate, Context, Decision, Policy};

fn ctx(action: &str, resource: &str) -> Context {
    Context {
        action: action.into(),
        resource: resource.into(),
        ..Default::default()
    }
}

fn decide(docs: &[&str], c: &Context) -> Decision {
    let ps: Vec<Policy> = docs
        .iter()
        .map(|d| Policy::parse_identity(d).unwrap())
        .collect();
    let refs: Vec<&Policy> = ps.iter().collect();
    evaluate(&refs, c)
}

const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3";

#[test]
fn administrator_access_allows_everything() {
    let admin =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    assert_eq!(decide(&[admin], &ctx("ecs:RunTask", TD)), Decision::Allow);
    assert_eq!(
        decide(&[admin], &ctx("iam:CreateUser", "*")),
        Decision::Allow
    );
}

#[test]
fn nothing_allows_means_implicit_deny() {
    assert_eq!(decide(&[], &ctx("ecs:RunTask", TD)), Decision::ImplicitDeny);
    let other = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:List*","Resource":"*"}}"#;
    assert_eq!(
        decide(&[other], &ctx("ecs:RunTask", TD)),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&[other], &ctx("ecs:ListClusters", "*")),
        Decision::Allow
    );
}

#[test]
fn actions_ignore_case_and_take_wildcards() {
    let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ECS:describe*","ecs:?unTask"],"Resource":"*"}]}"#;
    assert_eq!(
        decide(&[p], &ctx("ecs:DescribeTasks", "*")),
        Decision::Allow
    );
    assert_eq!(decide(&[p], &ctx("ecs:RunTask", TD)), Decision::Allow);
    assert_eq!(
        decide(&[p], &ctx("ecs:StopTask", "*")),
        Decision::ImplicitDeny
    );
}

#[test]
fn resources_are_case_sensitive_arn_patterns() {
    let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:RunTask","Resource":"arn:aws:ecs:*:*:task-definition/web:*"}]}"#;
    assert_eq!(decide(&[p], &ctx("ecs:RunTask", TD)), Decision::Allow);
    let other = "arn:aws:ecs:us-east-1:123456789012:task-definition/Web:3";
    assert_eq!(
        decide(&[p], &ctx("ecs:RunTask", other)),
        Decision::ImplicitDeny
    );
    // Actions without resource-level permissions are asked on `*`.
    assert_eq!(
        decide(&[p], &ctx("ecs:RunTask", "*")),
        Decision::ImplicitDeny
    );
}

#[test]
fn explicit_deny_wins_over_any_allow() {
    let allow =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ecs:RunTask","Resource":"*"}]}"#;
    assert_eq!(
        decide(&[allow, deny], &ctx("ecs:RunTask", TD)),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&[deny, allow], &ctx("ecs:RunTask", TD)),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&[deny], &ctx("ecs:RunTask", TD)),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&[allow, deny], &ctx("ecs:StopTask", TD)),
        Decision::Allow
    );
}

#[test]
fn not_action_and_not_resource() {
    // AWS's example: allow everything except IAM.
    let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#;
    assert_eq!(decide(&[p], &ctx("ecs:RunTask", TD)), Decision::Allow);
    assert_eq!(
        decide(&[p], &ctx("iam:CreateUser", "*")),
        Decision::ImplicitDeny
    );
    let d = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"ecs:*","Resource":"*"},
        {"Effect":"Deny","Action":"ecs:*","NotResource":"arn:aws:ecs:*:*:cluster/dev"}]}"#;
    let dev = "arn:aws:ecs:us-east-1:123456789012:cluster/dev";
    let prod = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
    assert_eq!(
        decide(&[d], &ctx("ecs:DeleteCluster", dev)),
        Decision::Allow
    );
    assert_eq!(
        decide(&[d], &ctx("ecs:DeleteCluster", prod)),
        Decision::ExplicitDeny
    );
}

#[test]
fn policy_variables_in_resources() {
    let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*AccessKey*","Resource":"arn:aws:iam::*:user/${aws:username}"}]}"#;
    let mut c = ctx(
        "iam:CreateAccessKey",
        "arn:aws:iam::123456789012:user/alice",
    );
    c.keys.insert("aws:username".into(), vec!["alice".into()]);
    assert_eq!(decide(&[p], &c), Decision::Allow);
    c.keys.insert("aws:username".into(), vec!["bob".into()]);
    assert_eq!(decide(&[p], &c), Decision::ImplicitDeny);
    // No value for the variable: the statement does not apply.
    c.keys.clear();
    assert_eq!(decide(&[p], &c), Decision::ImplicitDeny);
    // Version 2008-10-17: `${…}` is plain text.
    let old = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::*:user/${aws:username}"}]}"#;
    let lit = ctx(
        "iam:GetUser",
        "arn:aws:iam::123456789012:user/${aws:username}",
    );
    assert_eq!(decide(&[old], &lit), Decision::Allow);
}

#[test]
fn an_unresolved_variable_also_disables_a_deny() {
    let p = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3:*","Resource":"*"},
        {"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team}/*"}]}"#;
    let c = ctx("s3:GetObject", "arn:aws:s3:::b/x/y");
    assert_eq!(decide(&[p], &c), Decision::Allow);
    let with_default = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team, 'x'}/*"}]}"#;
    assert_eq!(decide(&[with_default], &c), Decision::ExplicitDeny);
}
