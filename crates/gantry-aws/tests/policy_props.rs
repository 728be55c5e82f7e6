//! Property tests for the evaluator: deny always wins, adding an allow never takes an allow
//! away, wildcard matching agrees with independent references, and nothing panics on random
//! documents.

use gantry_aws::policy::{evaluate, matches_wildcard, Context, Decision, Policy, PolicyKind};
use proptest::prelude::*;
use serde_json::{json, Value};

/// An independent reference: a regex built from the pattern.
fn regex_reference(pattern: &str, value: &str) -> bool {
    let mut re = String::from("^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str("(?s:.*)"),
            '?' => re.push_str("(?s:.)"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re)
        .map(|r| r.is_match(value))
        .unwrap_or(false)
}

/// Another: the textbook recursive matcher over characters.
fn recursive_reference(p: &[char], s: &[char]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some('*'), _) => {
            recursive_reference(&p[1..], s) || (!s.is_empty() && recursive_reference(p, &s[1..]))
        }
        (Some('?'), Some(_)) => recursive_reference(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => recursive_reference(&p[1..], &s[1..]),
        _ => false,
    }
}

fn action_pat() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        ("(ecs|iam)", "[a-cA-C*?]{0,4}").prop_map(|(v, o)| format!("{v}:{o}")),
    ]
}

fn resource_pat() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        ("[ab*?]{0,2}", "[0-9*]{0,2}", "[a-c/*?:]{0,6}")
            .prop_map(|(r, a, x)| format!("arn:aws:ecs:{r}:{a}:{x}")),
        "[a-c/*]{0,3}".prop_map(|x| format!("arn:aws:ecs:*:*:x/${{aws:username}}{x}")),
    ]
}

fn condition() -> impl Strategy<Value = Value> {
    let ops = prop::sample::select(vec![
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLikeIfExists",
        "ForAnyValue:StringEquals",
        "ForAllValues:StringLike",
        "NumericLessThan",
        "Bool",
        "Null",
        "ArnLike",
        "IpAddress",
        "DateGreaterThan",
    ]);
    let keys = prop::sample::select(vec!["aws:username", "ecs:cluster", "aws:TagKeys"]);
    let vals = prop::collection::vec("[a-c*?]{0,3}|true|1|\\$\\{aws:username\\}", 1..3);
    (ops, keys, vals).prop_map(|(o, k, v)| json!({ o: { k: v } }))
}

fn statement() -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(action_pat(), 1..3),
        any::<bool>(),
        prop::collection::vec(resource_pat(), 1..3),
        prop::option::of(condition()),
    )
        .prop_map(|(allow, not_a, a, not_r, r, c)| statement_json(allow, not_a, a, not_r, r, c))
}

fn statement_json(
    allow: bool,
    not_a: bool,
    a: Vec<String>,
    not_r: bool,
    r: Vec<String>,
    c: Option<Value>,
) -> Value {
    let mut s = serde_json::Map::new();
    s.insert("Effect".into(), json!(if allow { "Allow" } else { "Deny" }));
    s.insert(if not_a { "NotAction" } else { "Action" }.into(), json!(a));
    s.insert(
        if not_r { "NotResource" } else { "Resource" }.into(),
        json!(r),
    );
    if let Some(c) = c {
        s.insert("Condition".into(), c);
    }
    Value::Object(s)
}

fn policy(statements: &[Value]) -> Policy {
    let doc = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    Policy::parse_identity(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"))
}

fn context() -> impl Strategy<Value = Context> {
    (
        "(ecs|iam):[a-cA-C]{0,4}",
        prop_oneof![
            Just("*".to_string()),
            ("[ab]{0,2}", "[0-9]{0,2}", "[a-c/:]{0,6}")
                .prop_map(|(r, a, x)| format!("arn:aws:ecs:{r}:{a}:{x}")),
        ],
        prop::option::of("[a-c]{0,2}"),
        prop::option::of("[a-c*]{0,3}"),
        prop::option::of(prop::collection::vec("[a-c]{0,2}", 0..3)),
    )
        .prop_map(|(action, resource, user, cluster, tags)| {
            let mut c = Context {
                action,
                resource,
                ..Default::default()
            };
            if let Some(u) = user {
                c.keys.insert("aws:username".into(), vec![u]);
            }
            if let Some(v) = cluster {
                c.keys.insert("ecs:cluster".into(), vec![v]);
            }
            if let Some(t) = tags {
                c.keys.insert("aws:TagKeys".into(), t);
            }
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn wildcard_agrees_with_references(p in "[ab*?é]{0,8}", s in "[abé]{0,10}") {
        let got = matches_wildcard(&p, &s);
        prop_assert_eq!(got, regex_reference(&p, &s), "regex: {} ~ {}", p, s);
        let (pc, sc): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
        prop_assert_eq!(got, recursive_reference(&pc, &sc), "recursive: {} ~ {}", p, s);
    }

    #[test]
    fn wildcard_matches_what_it_was_built_from(s in "[a-z:/]{0,12}", cut in 0usize..12, q in any::<bool>()) {
        // Replacing any run of the value by `*` (or one character by `?`) still matches.
        let chars: Vec<char> = s.chars().collect();
        let i = cut.min(chars.len());
        let j = if q { (i + 1).min(chars.len()) } else { chars.len() };
        let wild = if q && i < chars.len() { "?" } else { "*" };
        let p: String = chars[..i].iter().collect::<String>() + wild + &chars[j..].iter().collect::<String>();
        prop_assert!(matches_wildcard(&p, &s), "{} ~ {}", p, s);
    }

    #[test]
    fn actions_match_without_regard_to_case(op in "[a-cA-C*?]{0,4}", action in "[a-cA-C]{0,4}") {
        let p = policy(&[json!({"Effect": "Allow", "Action": format!("ecs:{op}"), "Resource": "*"})]);
        let c = Context { action: format!("ecs:{action}"), resource: "*".into(), ..Default::default() };
        let want = regex_reference(&op.to_ascii_lowercase(), &action.to_ascii_lowercase());
        prop_assert_eq!(evaluate(&[&p], &c) == Decision::Allow, want);
    }

    #[test]
    fn string_like_agrees_with_reference(pat in "[ab*?]{0,6}", v in "[ab]{0,8}") {
        let p = policy(&[json!({"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"StringLike": {"ecs:cluster": pat}}})]);
        let mut c = Context { action: "ecs:RunTask".into(), resource: "*".into(), ..Default::default() };
        c.keys.insert("ecs:cluster".into(), vec![v.clone()]);
        prop_assert_eq!(evaluate(&[&p], &c) == Decision::Allow, regex_reference(&pat, &v));
    }

    #[test]
    fn deny_always_wins(
        stmts in prop::collection::vec(statement(), 1..6),
        deny in statement(),
        ctx in context(),
    ) {
        let mut deny = deny;
        deny["Effect"] = json!("Deny");
        let alone = policy(std::slice::from_ref(&deny));
        let base = policy(&stmts);
        let mut with: Vec<Value> = stmts.clone();
        with.push(deny.clone());
        let combined = policy(&with);
        if evaluate(&[&alone], &ctx) == Decision::ExplicitDeny {
            prop_assert_eq!(evaluate(&[&combined], &ctx), Decision::ExplicitDeny);
            prop_assert_eq!(evaluate(&[&base, &alone], &ctx), Decision::ExplicitDeny);
            prop_assert_eq!(evaluate(&[&alone, &base], &ctx), Decision::ExplicitDeny);
        }
        // A deny that matches everything always wins.
        let all = policy(&[json!({"Effect": "Deny", "Action": "*", "Resource": "*"})]);
        prop_assert_eq!(evaluate(&[&base, &all], &ctx), Decision::ExplicitDeny);
    }

    #[test]
    fn adding_an_allow_never_takes_an_allow_away(
        stmts in prop::collection::vec(statement(), 1..6),
        allow in statement(),
        ctx in context(),
    ) {
        let mut allow = allow;
        allow["Effect"] = json!("Allow");
        let before = evaluate(&[&policy(&stmts)], &ctx);
        let mut with = stmts.clone();
        with.push(allow);
        let after = evaluate(&[&policy(&with)], &ctx);
        match before {
            Decision::Allow => prop_assert_eq!(after, Decision::Allow),
            Decision::ExplicitDeny => prop_assert_eq!(after, Decision::ExplicitDeny),
            Decision::ImplicitDeny => prop_assert_ne!(after, Decision::ExplicitDeny),
        }
    }

    #[test]
    fn policy_order_does_not_matter(
        a in prop::collection::vec(statement(), 1..4),
        b in prop::collection::vec(statement(), 1..4),
        ctx in context(),
    ) {
        let (pa, pb) = (policy(&a), policy(&b));
        prop_assert_eq!(evaluate(&[&pa, &pb], &ctx), evaluate(&[&pb, &pa], &ctx));
        let mut ab = a.clone();
        ab.extend(b.iter().cloned());
        prop_assert_eq!(evaluate(&[&policy(&ab)], &ctx), evaluate(&[&pa, &pb], &ctx));
    }

    #[test]
    fn never_panics_on_random_documents(doc in json_value(), ctx in context()) {
        let text = doc.to_string();
        for kind in [PolicyKind::Identity, PolicyKind::Trust, PolicyKind::Resource, PolicyKind::Lenient] {
            if let Ok(p) = Policy::parse_as(&text, kind) {
                let _ = evaluate(&[&p], &ctx);
                let _ = gantry_aws::policy::evaluate_trust(&p, &ctx);
            }
        }
    }

    #[test]
    fn never_panics_on_mutated_policies(
        stmts in prop::collection::vec(statement(), 1..4),
        field in prop::sample::select(vec!["Effect", "Action", "NotResource", "Condition", "Principal", "Sid"]),
        value in json_value(),
        ctx in context(),
    ) {
        // Valid statements with one element replaced by random JSON: most are refused, the
        // rest must evaluate.
        let mut stmts = stmts;
        stmts[0][field] = value;
        let text = json!({"Version": "2012-10-17", "Statement": stmts}).to_string();
        for kind in [PolicyKind::Identity, PolicyKind::Lenient] {
            if let Ok(p) = Policy::parse_as(&text, kind) {
                let _ = evaluate(&[&p], &ctx);
            }
        }
    }

    #[test]
    fn never_panics_on_random_text(text in "\\PC{0,200}", ctx in context()) {
        if let Ok(p) = Policy::parse(&text) {
            let _ = evaluate(&[&p], &ctx);
        }
    }
}

/// Random JSON shaped like a policy often enough to get past the first checks.
fn json_value() -> impl Strategy<Value = Value> {
    let word = prop::sample::select(vec![
        "Version",
        "2012-10-17",
        "2008-10-17",
        "Statement",
        "Effect",
        "Allow",
        "Deny",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "AWS",
        "Service",
        "Condition",
        "StringLike",
        "ForAllValues:StringEquals",
        "NumericLessThanIfExists",
        "DateEquals",
        "IpAddress",
        "Null",
        "Bool",
        "ArnLike",
        "aws:username",
        "*",
        "ecs:*",
        "arn:aws:ecs:*:*:${aws:username}",
        "${",
        "${*}",
        "?",
        "111122223333",
        "::/0",
        "Sid",
    ]);
    let leaf = prop_oneof![
        word.prop_map(|w| json!(w)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(|b| json!(b)),
        "\\PC{0,12}".prop_map(|s| json!(s)),
        Just(Value::Null),
    ];
    let key = prop::sample::select(vec![
        "Version",
        "Statement",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "AWS",
        "Service",
        "Federated",
        "Condition",
        "StringLike",
        "ForAnyValue:StringNotEquals",
        "DateLessThan",
        "NotIpAddress",
        "Null",
        "aws:SourceIp",
        "aws:username",
        "ecs:cluster",
        "Sid",
        "Id",
    ]);
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..5).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}
