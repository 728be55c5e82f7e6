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
            (k.trim(), Some(d.to_string()))
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

/// The request's condition keys, looked up without regard to case.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keys<'a> {
    map: &'a BTreeMap<String, Vec<String>>,
}

impl<'a> Keys<'a> {
    pub(crate) fn new(map: &'a BTreeMap<String, Vec<String>>) -> Self {
        Self { map }
    }

    /// The values of `key` (any case), if the request has it.
    pub(crate) fn get(&self, key: &str) -> Option<&'a [String]> {
        if let Some(v) = self.map.get(key) {
            return Some(v);
        }
        self.map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_slice())
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
        assert_eq!(parse_var("${unclosed"), None);
        assert_eq!(parse_var("${}"), None);
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
