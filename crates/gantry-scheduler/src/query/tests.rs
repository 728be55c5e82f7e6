//! Each operator and subject, precedence, error positions, and properties: printing then
//! parsing gives the same tree, and no input makes the parser panic.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{parse, Arg, Cond, Expr, Literal, Op, Subject};
use crate::InstanceView;

fn instance() -> InstanceView {
    InstanceView {
        id: "i-abcd1234".into(),
        schedulable: true,
        attributes: vec![
            ("ecs.instance-type".into(), "t2.small".into()),
            ("ecs.availability-zone".into(), "us-east-1a".into()),
            ("stack".into(), "prod".into()),
            ("cores".into(), "16".into()),
            ("gpu".into(), String::new()),
        ],
        task_count: 2,
        agent_connected: true,
        agent_version: "1.14.5".into(),
        // 2018-06-18T22:28:28Z
        registered_at: 1_529_360_908.0,
        task_groups: BTreeMap::from([("service:web".into(), 2), ("old".into(), 0)]),
        ..InstanceView::default()
    }
}

#[track_caller]
fn holds(text: &str) -> bool {
    match parse(text) {
        Ok(e) => e.matches(&instance()),
        Err(e) => panic!("{text}: {e}"),
    }
}

#[track_caller]
fn error(text: &str) -> String {
    match parse(text) {
        Ok(e) => panic!("{text} parsed as {e:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn equality_and_its_spellings() {
    assert!(holds("attribute:ecs.instance-type == t2.small"));
    assert!(holds("attribute:stack equals prod"));
    assert!(!holds("attribute:stack == dev"));
    assert!(holds("attribute:stack != dev"));
    assert!(holds("attribute:stack not_equals dev"));
    assert!(!holds("attribute:stack != prod"));
    // An unset attribute is neither equal nor unequal to anything.
    assert!(!holds("attribute:color == red"));
    assert!(!holds("attribute:color != red"));
    assert!(holds("attribute:stack==prod"));
    assert!(holds("ec2InstanceType == t2.small"));
    assert!(holds("ec2InstanceId == i-abcd1234"));
    assert!(holds("instanceId == 'i-abcd1234'"));
    assert!(holds("agentConnected == true"));
    assert!(holds("agentConnected == TRUE"));
    assert!(!holds("agentConnected == false"));
}

#[test]
fn ordering() {
    assert!(holds("runningTasksCount == 2"));
    assert!(holds("runningTasksCount > 1"));
    assert!(holds("runningTasksCount >= 2"));
    assert!(!holds("runningTasksCount < 2"));
    assert!(holds("runningTasksCount <= 2"));
    assert!(holds(
        "runningTasksCount greater_than 1 and runningTasksCount less_than 3"
    ));
    assert!(holds("runningTasksCount greater_than_equal 2"));
    assert!(holds("runningTasksCount less_than_equal 2"));
    // Versions compare by number, not as text.
    assert!(holds("agentVersion > 1.9.0"));
    assert!(holds("agentVersion < 1.14.10"));
    assert!(holds("agentVersion >= 1.14"));
    assert!(holds("agentVersion == 1.14.5"));
    // Attributes compare as numbers when both sides are numbers.
    assert!(holds("attribute:cores > 8"));
    assert!(holds("attribute:stack > dev"));
}

#[test]
fn registered_at_takes_dates() {
    assert!(holds("registeredAt > 2018-02-13"));
    assert!(!holds("registeredAt < 2018-02-13"));
    assert!(holds("registeredAt == 2018-06-18T22:28:28"));
    assert!(holds("registeredAt == 2018-06-18T22:28:28Z"));
    assert!(holds("registeredAt == 2018-06-18T22:28:28+00:00"));
    assert!(holds("registeredAt < 2018-06-18T22:28:29"));
    assert!(holds("registeredAt >= 1529360908"));
}

#[test]
fn exists() {
    assert!(holds("attribute:stack exists"));
    assert!(holds("attribute:gpu exists"));
    assert!(!holds("attribute:color exists"));
    assert!(holds("attribute:color !exists"));
    assert!(holds("attribute:color not_exists"));
    assert!(!holds("attribute:stack !exists"));
    assert!(holds("task:group exists"));
}

#[test]
fn lists() {
    assert!(holds(
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"
    ));
    assert!(!holds("attribute:ecs.availability-zone in [us-east-1c]"));
    assert!(holds(
        "attribute:ecs.availability-zone !in [us-east-1c, us-east-1d]"
    ));
    assert!(holds("attribute:ecs.availability-zone not_in [us-east-1c]"));
    assert!(!holds(
        "attribute:ecs.availability-zone not_in [us-east-1a]"
    ));
    assert!(holds("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']"));
    assert!(holds("runningTasksCount in [1, 2, 3]"));
    assert!(holds("attribute:stack in prod"));
    assert!(!holds("attribute:stack in []"));
}

#[test]
fn patterns() {
    assert!(holds("attribute:ecs.instance-type =~ t2.*"));
    assert!(holds("attribute:ecs.instance-type matches t2.*"));
    assert!(!holds("attribute:ecs.instance-type =~ g2.*"));
    assert!(holds("attribute:ecs.instance-type !~ g2.*"));
    assert!(holds("attribute:ecs.instance-type not_matches g2.*"));
    // The whole value must match.
    assert!(!holds("attribute:ecs.instance-type =~ t2"));
    assert!(holds("attribute:ecs.instance-type =~ t2.small|m5.large"));
    assert!(holds(
        r#"attribute:ecs.instance-type =~ "t[0-9]\.(small|medium)""#
    ));
    // Not a regular expression, but a wildcard.
    assert!(holds("attribute:ecs.instance-type =~ *.small"));
    // A valid regular expression is one, even where a wildcard reading differs (ECS
    // documents Java regular expressions): `i-*` is `i` then any number of `-`.
    assert!(!holds("ec2InstanceId =~ i-*"));
    assert!(holds("ec2InstanceId =~ i-.*"));
}

#[test]
fn task_groups() {
    assert!(holds("task:group == service:web"));
    assert!(!holds("task:group == service:db"));
    // A group with no tasks left does not count.
    assert!(!holds("task:group == old"));
    assert!(holds("not(task:group == database)"));
    assert!(holds("task:group =~ service:.*"));
    assert!(holds("task:group in [service:db, service:web]"));
    let empty = InstanceView::default();
    let anti = parse("!(task:group == service:web)").unwrap_or_else(|e| panic!("{e}"));
    assert!(anti.matches(&empty));
    // `!=` needs some task on the instance: `!(... == ...)` is the anti-affinity form.
    let ne = parse("task:group != service:web").unwrap_or_else(|e| panic!("{e}"));
    assert!(!ne.matches(&empty));
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let e = parse("attribute:a == 1 || attribute:b == 2 && !attribute:c == 3")
        .unwrap_or_else(|e| panic!("{e}"));
    let Expr::Or(_, right) = &e else {
        panic!("|| at the top: {e:?}")
    };
    let Expr::And(_, not) = right.as_ref() else {
        panic!("&& under ||: {right:?}")
    };
    assert!(matches!(not.as_ref(), Expr::Not(c) if matches!(c.as_ref(), Expr::Cond(_))));
    assert_eq!(
        e.to_string(),
        "attribute:a == 1 || attribute:b == 2 && !(attribute:c == 3)"
    );
    // Left to right within a level.
    let e = parse("attribute:a exists and attribute:b exists and attribute:c exists")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(&e, Expr::And(l, _) if matches!(l.as_ref(), Expr::And(..))));
    // Parentheses override; the keywords read like the symbols.
    assert!(holds(
        "(attribute:stack == dev or attribute:stack == prod) and agentConnected == true"
    ));
    assert!(!holds(
        "attribute:stack == dev or attribute:stack == prod and agentConnected == false"
    ));
    assert!(holds(
        "NOT attribute:stack == dev AND attribute:stack == prod"
    ));
    assert!(holds(
        "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d"
    ));
}

#[test]
fn errors_name_what_was_expected_and_where() {
    assert_eq!(
        error("attribute:stack "),
        "expected an operator after `attribute:stack` at position 16"
    );
    assert_eq!(
        error("attribute:stack prod"),
        "expected an operator after `attribute:stack` at position 16, found `prod`"
    );
    assert!(error("color == red").starts_with("expected a subject"));
    assert!(error("color == red").ends_with("at position 0, found `color`"));
    assert_eq!(
        error("attribute: == x"),
        "expected an attribute name after `attribute:` at position 11, found `==`"
    );
    assert_eq!(
        error("attribute:stack =="),
        "expected a value after `==` at position 18"
    );
    assert_eq!(
        error("(attribute:a exists"),
        "expected `)`, `&&` or `||` at position 19"
    );
    assert_eq!(
        error("attribute:a exists attribute:b exists"),
        "expected `&&`, `||` or the end of the expression at position 19, found `attribute:b`"
    );
    assert_eq!(
        error("attribute:a in [x y]"),
        "expected `,` or `]` in the argument list at position 18, found `y`"
    );
    assert_eq!(
        error("registeredAt < yesterday"),
        "expected a date (YYYY-MM-DD or YYYY-MM-DDThh:mm:ss, optionally with Z or an offset) \
         at position 15, found `yesterday`"
    );
    assert_eq!(
        error("runningTasksCount > many"),
        "expected a number at position 20, found `many`"
    );
    assert_eq!(
        error("agentVersion < latest"),
        "expected a version such as 1.14.5 at position 15, found `latest`"
    );
    assert!(error("attribute:a =~ 'x(").contains("closing quote at position 15"));
    assert!(error("attribute:a =~ \"x(\"").contains("regular expression"));
    assert!(error(&"(".repeat(100)).contains("nested"));
    assert!(error(&"x".repeat(2001)).contains("at most 2000 characters"));
    assert!(error("").starts_with("expected a subject"));
}

// ---- properties ----

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.:-]{1,8}",
        // Text that needs quotes: spaces, brackets, quotes, backslashes, `&&`.
        "[a-z \\[\\](),'\"\\\\&|]{0,6}",
    ]
}

fn arb_subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        "[a-z][a-z0-9._/-]{0,10}".prop_map(Subject::Attribute),
        Just(Subject::AgentConnected),
        Just(Subject::Ec2InstanceType),
        Just(Subject::InstanceId { ec2: true }),
        Just(Subject::InstanceId { ec2: false }),
        Just(Subject::TaskGroup),
    ]
}

fn lit(text: String) -> Literal {
    Literal {
        text,
        number: None,
        version: None,
    }
}

fn arb_cond() -> impl Strategy<Value = Cond> {
    let ops = prop_oneof![
        Just(Op::Eq),
        Just(Op::Ne),
        Just(Op::Gt),
        Just(Op::Le),
        Just(Op::Exists),
        Just(Op::NotExists),
        Just(Op::In),
        Just(Op::NotIn),
        Just(Op::Matches),
        Just(Op::NotMatches),
    ];
    (
        arb_subject(),
        ops,
        arb_text(),
        prop::collection::vec(arb_text(), 0..3),
    )
        .prop_map(|(subject, op, text, list)| {
            let arg = match op {
                Op::Exists | Op::NotExists => Arg::None,
                Op::In | Op::NotIn => Arg::List(list.into_iter().map(lit).collect()),
                Op::Matches | Op::NotMatches => {
                    // Any pattern the parser accepts: a literal, escaped.
                    let source = regex::escape(&text);
                    match super::parse(&format!("instanceId =~ {}", super::lex::quoted(&source))) {
                        Ok(Expr::Cond(Cond { arg, .. })) => arg,
                        other => panic!("{source}: {other:?}"),
                    }
                }
                _ => Arg::Value(lit(text)),
            };
            Cond { subject, op, arg }
        })
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    arb_cond()
        .prop_map(Expr::Cond)
        .prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            ]
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn printing_then_parsing_gives_the_same_tree(e in arb_expr()) {
        let text = e.to_string();
        let back = parse(&text);
        prop_assert_eq!(back.as_ref(), Ok(&e), "{}", text);
    }

    #[test]
    fn the_parser_never_panics(text in "[ -~]{0,40}") {
        if let Err(e) = parse(&text) {
            prop_assert!(e.position <= text.chars().count());
        }
    }

    #[test]
    fn the_parser_never_panics_on_near_misses(
        parts in prop::collection::vec(prop_oneof![
            Just("attribute:stack"), Just("task:group"), Just("registeredAt"), Just("=="),
            Just("!="), Just("!"), Just("in"), Just("=~"), Just("["), Just("]"), Just(","),
            Just("("), Just(")"), Just("&&"), Just("or"), Just("not"), Just("'"), Just("x"),
            Just("2018-01-01"), Just("exists"), Just("!in"), Just(" "),
        ], 0..12)
    ) {
        let text: String = parts.concat();
        if let Err(e) = parse(&text) {
            prop_assert!(e.position <= text.chars().count());
        }
    }
}
