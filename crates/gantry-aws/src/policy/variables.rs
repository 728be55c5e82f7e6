//! Policy variables (`${aws:username}`, `${aws:PrincipalTag/team}`, `${*}`, `${key, 'default'}`)
//! and the request's condition keys they are resolved from.

use std::collections::BTreeMap;

/// A `${…}` found in a policy string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Var {
    /// `${*}`, `${?}`, `${$}`: the character itself, never a wildcard.
    Literal(char),
    Key {
        key: String,
        default: Option<String>,
    },
}

/// Parses the variable at the start of `s` (which starts with `${`): the variable and the
/// bytes it takes. `None`: not a variable (no closing brace, empty name), kept as text.
pub(crate) fn parse_var(s: &str) -> Option<(Var, usize)> {
    let body_end = s.find('}')?;
    let body = &s[2..body_end];
    let len = body_end + 1;
    match body {
        "*" => return Some((Var::Literal('*'), len)),
        "?" => return Some((Var::Literal('?'), len)),
        "$" => return Some((Var::Literal('$'), len)),
        _ => {}
    }
    let (key, default) = match body.split_once(',') {
        Some((k, d)) => {
            // The default is a single-quoted string: `${aws:username, 'nobody'}`.
            let d = d.trim();
            let d = d.strip_prefix('\'')?.strip_suffix('\'')?;
            // `''` inside the quotes is one quote; a lone quote ends it too early.
            if d.replace("''", "").contains('\'') {
                return None;
            }
            (k.trim(), Some(d.replace("''", "'")))
        }
        None => (body.trim(), None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    Some((
        Var::Key {
            key: key.to_string(),
            default,
        },
        len,
    ))
}

/// Where a request's condition keys come from. A map is the plain form; a server may answer
/// from views over what it already holds (its caller, the clock) so that a request whose
/// policies look at no key costs no allocation, and [`Layered`] stacks several sources.
pub trait KeySource {
    /// The values of `key`, matched without regard to case (an exact match first, else the
    /// first key in the source's order that matches ignoring ASCII case); `None` when the
    /// request has no such key.
    fn values(&self, key: &str) -> Option<&[String]>;
}

impl KeySource for BTreeMap<String, Vec<String>> {
    fn values(&self, key: &str) -> Option<&[String]> {
        if let Some(v) = self.get(key) {
            return Some(v);
        }
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_slice())
    }
}

/// Several key sources, the first that has a key answering for it. The layers are meant to
/// hold disjoint keys (a service's own keys over the global ones); where two hold the same
/// key, the earlier layer's values are the request's, as when the later map is extended by
/// the earlier one.
#[derive(Clone, Copy)]
pub struct Layered<'a>(pub &'a [&'a dyn KeySource]);

impl KeySource for Layered<'_> {
    fn values(&self, key: &str) -> Option<&[String]> {
        self.0.iter().find_map(|l| l.values(key))
    }
}

impl std::fmt::Debug for Layered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Layered({} layers)", self.0.len())
    }
}

/// The request's condition keys, looked up without regard to case.
#[derive(Clone, Copy)]
pub(crate) struct Keys<'a> {
    src: &'a dyn KeySource,
}

impl std::fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys")
    }
}

impl<'a> Keys<'a> {
    pub(crate) fn new(src: &'a dyn KeySource) -> Self {
        Self { src }
    }

    /// The values of `key` (any case), if the request has it.
    pub(crate) fn get(&self, key: &str) -> Option<&'a [String]> {
        self.src.values(key)
    }

    /// A variable's value: the key's single value, else the default. A multivalued or absent
    /// key without a default has none, and the statement that uses it does not apply.
    pub(crate) fn var<'b>(&self, key: &str, default: Option<&'b str>) -> Option<&'b str>
    where
        'a: 'b,
    {
        match self.get(key) {
            Some([one]) => Some(one.as_str()),
            _ => default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_var("${*}x"), Some((Var::Literal('*'), 4)));
        assert_eq!(parse_var("${$}"), Some((Var::Literal('$'), 4)));
        assert_eq!(
            parse_var("${aws:username}/x"),
            Some((
                Var::Key {
                    key: "aws:username".into(),
                    default: None
                },
                15
            ))
        );
        assert_eq!(
            parse_var("${aws:PrincipalTag/team, 'none'}"),
            Some((
                Var::Key {
                    key: "aws:PrincipalTag/team".into(),
                    default: Some("none".into())
                },
                32
            ))
        );
        assert_eq!(
            parse_var("${ aws:username , 'it''s' }"),
            Some((
                Var::Key {
                    key: "aws:username".into(),
                    default: Some("it's".into())
                },
                27
            ))
        );
        assert_eq!(parse_var("${k, 'a'b'}"), None);
        assert_eq!(parse_var("${unclosed"), None);
        assert_eq!(parse_var("${}"), None);
    }

    #[test]
    fn layers_answer_in_order() {
        let mut a = BTreeMap::new();
        a.insert("ecs:cluster".to_string(), vec!["c".to_string()]);
        let mut b = BTreeMap::new();
        b.insert("ecs:cluster".to_string(), vec!["shadowed".to_string()]);
        b.insert("aws:username".to_string(), vec!["alice".to_string()]);
        let layers: [&dyn KeySource; 2] = [&a, &b];
        let l = Layered(&layers);
        let k = Keys::new(&l);
        assert_eq!(k.var("ecs:Cluster", None), Some("c"));
        assert_eq!(k.var("AWS:username", None), Some("alice"));
        assert_eq!(k.get("aws:userid"), None);
    }

    #[test]
    fn keys_ignore_case() {
        let mut m = BTreeMap::new();
        m.insert("aws:username".to_string(), vec!["alice".to_string()]);
        m.insert("aws:TagKeys".to_string(), vec!["a".into(), "b".into()]);
        let k = Keys::new(&m);
        assert_eq!(k.var("AWS:UserName", None), Some("alice"));
        assert_eq!(k.var("aws:TagKeys", None), None);
        assert_eq!(k.var("aws:userid", Some("d")), Some("d"));
    }
}
