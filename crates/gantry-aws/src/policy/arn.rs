//! ARN patterns (`Resource`, `NotResource`, `Arn*` conditions): case-sensitive, with `*`/`?`
//! wildcards and policy variables. IAM matches each of the six colon-separated parts of an
//! ARN separately, so a `*` in the region part does not reach into the resource part.

use super::variables::Keys;
use super::wildcard::{glob, resolve, Pattern, Tok, G};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArnPattern {
    whole: Pattern,
    /// The pattern's token ranges per ARN part when it has all six parts
    /// (`arn:partition:service:region:account:resource`).
    parts: Option<[std::ops::Range<usize>; 6]>,
    split: Vec<Tok>,
}

impl ArnPattern {
    pub(crate) fn parse(s: &str, vars: bool) -> Self {
        let whole = Pattern::parse(s, true, vars, false);
        // Split the literal tokens at the first five colons (a variable's value is never
        // split: `${aws:username}` holds a colon in its name, not in the ARN).
        let mut split: Vec<Tok> = Vec::new();
        let mut bounds = Vec::new();
        for t in whole.toks() {
            match t {
                Tok::Lit(l) => {
                    let mut rest = l.as_str();
                    while bounds.len() < 5 {
                        let Some(i) = rest.find(':') else { break };
                        if i > 0 {
                            split.push(Tok::Lit(rest[..i].to_string()));
                        }
                        bounds.push(split.len());
                        rest = &rest[i + 1..];
                    }
                    if !rest.is_empty() {
                        split.push(Tok::Lit(rest.to_string()));
                    }
                }
                t => split.push(t.clone()),
            }
        }
        let parts = (bounds.len() == 5).then(|| {
            let b = |i: usize| bounds[i];
            [
                0..b(0),
                b(0)..b(1),
                b(1)..b(2),
                b(2)..b(3),
                b(3)..b(4),
                b(4)..split.len(),
            ]
        });
        Self {
            whole,
            parts,
            split,
        }
    }

    /// Whether the ARN `input` matches. `None`: a variable has no value.
    pub(crate) fn matches(&self, input: &str, keys: &Keys<'_>) -> Option<bool> {
        let Some(parts) = &self.parts else {
            return self.whole.matches(input, keys);
        };
        let mut segs = input.splitn(6, ':');
        let segs: [Option<&str>; 6] = std::array::from_fn(|_| segs.next());
        if segs[5].is_none() {
            // Not an ARN (e.g. `*` for actions without resource-level permissions).
            return self.whole.matches(input, keys);
        }
        let toks = resolve(&self.split, keys)?;
        let ok = parts.iter().zip(segs).all(|(r, seg)| {
            let p: &[G<'_>] = toks.get(r.clone()).unwrap_or(&[]);
            glob(p, seg.unwrap_or(""), false)
        });
        Some(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn m(p: &str, s: &str) -> Option<bool> {
        let mut map = BTreeMap::new();
        map.insert("aws:username".to_string(), vec!["alice".to_string()]);
        ArnPattern::parse(p, true).matches(s, &Keys::new(&map))
    }

    #[test]
    fn parts_are_matched_separately() {
        let t = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3";
        assert_eq!(m("arn:aws:ecs:*:*:task-definition/web:*", t), Some(true));
        assert_eq!(m("arn:aws:ecs:*:*:task-definition/*", t), Some(true));
        assert_eq!(m("arn:aws:ecs:*:*:cluster/*", t), Some(false));
        // A star in the region part stops at its colon.
        assert_eq!(m("arn:aws:ecs:*:task-definition/web:3", t), Some(false));
        assert_eq!(m("*", t), Some(true));
        assert_eq!(m("arn:aws:ecs:*", t), Some(true));
        assert_eq!(m("arn:aws:ecs:*:*:*", "*"), Some(false));
        assert_eq!(m("ARN:aws:ecs:*:*:*", t), Some(false));
    }

    #[test]
    fn variables_resolve() {
        let u = "arn:aws:iam::123456789012:user/alice";
        assert_eq!(m("arn:aws:iam::*:user/${aws:username}", u), Some(true));
        assert_eq!(m("arn:aws:iam::*:user/${aws:userid}", u), None);
        assert_eq!(
            m("arn:aws:iam::*:user/${aws:userid, 'alice'}", u),
            Some(true)
        );
        assert_eq!(m("arn:aws:s3:::b/${*}", "arn:aws:s3:::b/*"), Some(true));
        assert_eq!(m("arn:aws:s3:::b/${*}", "arn:aws:s3:::b/x"), Some(false));
    }
}
