//! Trust policies: who may assume a role.

use gantry_aws::policy::{evaluate_trust, Context, Decision, Policy};

fn caller(arn: &str, account: &str) -> Context {
    Context {
        action: "sts:AssumeRole".into(),
        principal_arn: Some(arn.into()),
        principal_account: Some(account.into()),
        ..Default::default()
    }
}

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const EVE: &str = "arn:aws:iam::999988887777:user/eve";

fn trust(principal: &str) -> Policy {
    Policy::parse_trust(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"}}]}}"#
    ))
    .unwrap()
}

#[test]
fn account_root_and_bare_account_mean_any_principal_of_it() {
    for p in [
        r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
        r#"{"AWS":"111122223333"}"#,
    ] {
        let t = trust(p);
        assert_eq!(
            evaluate_trust(&t, &caller(ALICE, "111122223333")),
            Decision::Allow
        );
        assert_eq!(
            evaluate_trust(&t, &caller(EVE, "999988887777")),
            Decision::ImplicitDeny
        );
    }
}

#[test]
fn a_named_principal_and_anyone() {
    let t = trust(&format!(r#"{{"AWS":["{ALICE}"]}}"#));
    assert_eq!(
        evaluate_trust(&t, &caller(ALICE, "111122223333")),
        Decision::Allow
    );
    let bob = "arn:aws:iam::111122223333:user/bob";
    assert_eq!(
        evaluate_trust(&t, &caller(bob, "111122223333")),
        Decision::ImplicitDeny
    );
    let any = trust(r#""*""#);
    assert_eq!(
        evaluate_trust(&any, &caller(EVE, "999988887777")),
        Decision::Allow
    );
    // Only the actions the statement names.
    let mut c = caller(EVE, "999988887777");
    c.action = "sts:AssumeRoleWithSAML".into();
    assert_eq!(evaluate_trust(&any, &c), Decision::ImplicitDeny);
    // An empty action means sts:AssumeRole.
    c.action.clear();
    assert_eq!(evaluate_trust(&any, &c), Decision::Allow);
}

#[test]
fn conditions_and_denies_apply() {
    let t = Policy::parse_trust(
        r#"{"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole",
           "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}},
          {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/mallory"},"Action":"sts:*"}]}"#,
    )
    .unwrap();
    let mut c = caller(ALICE, "111122223333");
    assert_eq!(evaluate_trust(&t, &c), Decision::ImplicitDeny);
    c.keys
        .insert("aws:MultiFactorAuthPresent".into(), vec!["true".into()]);
    assert_eq!(evaluate_trust(&t, &c), Decision::Allow);
    let mut m = caller("arn:aws:iam::111122223333:user/mallory", "111122223333");
    m.keys = c.keys.clone();
    assert_eq!(evaluate_trust(&t, &m), Decision::ExplicitDeny);
}

#[test]
fn not_principal_and_role_sessions() {
    let t = Policy::parse_trust(
        r#"{"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
          {"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}"#,
    )
    .unwrap();
    assert_eq!(
        evaluate_trust(&t, &caller(ALICE, "111122223333")),
        Decision::Allow
    );
    assert_eq!(
        evaluate_trust(&t, &caller(EVE, "999988887777")),
        Decision::ExplicitDeny
    );
    // A session of a role counts as the role.
    let r = trust(r#"{"AWS":"arn:aws:iam::111122223333:role/ci"}"#);
    let session = "arn:aws:sts::111122223333:assumed-role/ci/build-42";
    assert_eq!(
        evaluate_trust(&r, &caller(session, "111122223333")),
        Decision::Allow
    );
    // A caller the context does not name is nobody.
    let none = Context {
        action: "sts:AssumeRole".into(),
        ..Default::default()
    };
    assert_eq!(evaluate_trust(&r, &none), Decision::ImplicitDeny);
}
