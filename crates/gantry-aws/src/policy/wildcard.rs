//! IAM's wildcard matching: `*` matches any run of characters (also none), `?` exactly one.
//! Patterns are split into tokens once, at parse time, so a request costs one linear scan and
//! no allocation (unless the pattern holds a policy variable, which is resolved per request).

use super::variables::{self, Keys};

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(String),
    /// `*`
    Star,
    /// `?`
    One,
    /// `${key}` or `${key, 'default'}`: replaced by the context key's (single) value. The
    /// value is literal text: a `*` in it is not a wildcard.
    Var {
        key: String,
        default: Option<String>,
    },
}

/// A compiled pattern: a string with (optionally) wildcards and policy variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    toks: Vec<Tok>,
    has_vars: bool,
    /// Compare literals without regard to ASCII case (actions, `…IgnoreCase`).
    ci: bool,
}

/// A borrowed token with variables already resolved.
#[derive(Debug, Clone, Copy)]
pub(crate) enum G<'a> {
    Lit(&'a str),
    Star,
    One,
}

impl Pattern {
    /// Compiles `s`. `wildcards`: `*` and `?` are wildcards (else literal text).
    /// `vars`: `${…}` are policy variables (version 2012-10-17; else literal text).
    pub(crate) fn parse(s: &str, wildcards: bool, vars: bool, ci: bool) -> Self {
        let mut toks: Vec<Tok> = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if vars && rest.starts_with("${") {
                if let Some((var, len)) = variables::parse_var(rest) {
                    match var {
                        variables::Var::Literal(ch) => lit.push(ch),
                        variables::Var::Key { key, default } => {
                            flush(&mut toks, &mut lit);
                            toks.push(Tok::Var { key, default });
                        }
                    }
                    rest = &rest[len..];
                    continue;
                }
            }
            match c {
                '*' if wildcards => {
                    flush(&mut toks, &mut lit);
                    // `**` is the same as `*`; one token keeps backtracking linear.
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                '?' if wildcards => {
                    flush(&mut toks, &mut lit);
                    toks.push(Tok::One);
                }
                _ => lit.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        flush(&mut toks, &mut lit);
        let has_vars = toks.iter().any(|t| matches!(t, Tok::Var { .. }));
        Self { toks, has_vars, ci }
    }

    pub(crate) fn toks(&self) -> &[Tok] {
        &self.toks
    }

    /// Whether `input` matches. `None`: a variable has no value (the statement does not apply).
    pub(crate) fn matches(&self, input: &str, keys: &Keys<'_>) -> Option<bool> {
        if !self.has_vars {
            let g: GBuf<'_> = self.toks.iter().map(tok_static).collect();
            return Some(glob(&g, input, self.ci));
        }
        let g = resolve(&self.toks, keys)?;
        Some(glob(&g, input, self.ci))
    }
}

/// Small patterns stay on the stack.
type GBuf<'a> = smallvec_like::Buf<'a>;

fn tok_static(t: &Tok) -> G<'_> {
    match t {
        Tok::Lit(l) => G::Lit(l),
        Tok::Star => G::Star,
        Tok::One => G::One,
        // Only reached when has_vars is false.
        Tok::Var { .. } => G::Lit(""),
    }
}

pub(crate) fn resolve<'a>(toks: &'a [Tok], keys: &Keys<'a>) -> Option<GBuf<'a>> {
    let mut out = GBuf::default();
    for t in toks {
        out.push(match t {
            Tok::Var { key, default } => G::Lit(keys.var(key, default.as_deref())?),
            t => tok_static(t),
        });
    }
    Some(out)
}

fn flush(toks: &mut Vec<Tok>, lit: &mut String) {
    if !lit.is_empty() {
        toks.push(Tok::Lit(std::mem::take(lit)));
    }
}

/// Wildcard match of `s` against the tokens: the classic greedy scan that, on a mismatch,
/// retries from the last `*` one character further. Every non-star token has a fixed length,
/// so going back to the last star is enough (no exponential backtracking).
pub(crate) fn glob(p: &[G<'_>], s: &str, ci: bool) -> bool {
    let b = s.as_bytes();
    let (mut t, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(tok) = p.get(t) {
            match *tok {
                G::Star => {
                    star = Some((t, i));
                    t += 1;
                    continue;
                }
                G::One if i < b.len() => {
                    i += char_len(s, i);
                    t += 1;
                    continue;
                }
                G::Lit(l) if lit_at(b, i, l.as_bytes(), ci) => {
                    i += l.len();
                    t += 1;
                    continue;
                }
                _ => {}
            }
        } else if i == b.len() {
            return true;
        }
        match star {
            Some((st, si)) if si < b.len() => {
                let next = si + char_len(s, si);
                star = Some((st, next));
                t = st + 1;
                i = next;
            }
            _ => return false,
        }
    }
}

fn lit_at(b: &[u8], i: usize, l: &[u8], ci: bool) -> bool {
    let Some(seg) = b.get(i..i + l.len()) else {
        return false;
    };
    if ci {
        seg.eq_ignore_ascii_case(l)
    } else {
        seg == l
    }
}

fn char_len(s: &str, i: usize) -> usize {
    s.get(i..)
        .and_then(|r| r.chars().next())
        .map_or(1, char::len_utf8)
}

/// A tiny inline vector for resolved tokens: most patterns have at most 8 tokens.
pub(crate) mod smallvec_like {
    use super::G;

    const N: usize = 8;

    #[derive(Debug)]
    pub(crate) struct Buf<'a> {
        inline: [G<'a>; N],
        len: usize,
        spill: Vec<G<'a>>,
    }

    impl Default for Buf<'_> {
        fn default() -> Self {
            Self {
                inline: [G::Star; N],
                len: 0,
                spill: Vec::new(),
            }
        }
    }

    impl<'a> Buf<'a> {
        pub(crate) fn push(&mut self, g: G<'a>) {
            if self.spill.is_empty() && self.len < N {
                self.inline[self.len] = g;
                self.len += 1;
            } else {
                if self.spill.is_empty() {
                    self.spill.extend_from_slice(&self.inline[..self.len]);
                }
                self.spill.push(g);
            }
        }
    }

    impl<'a> FromIterator<G<'a>> for Buf<'a> {
        fn from_iter<I: IntoIterator<Item = G<'a>>>(it: I) -> Self {
            let mut b = Self::default();
            for g in it {
                b.push(g);
            }
            b
        }
    }

    impl<'a> std::ops::Deref for Buf<'a> {
        type Target = [G<'a>];
        fn deref(&self) -> &[G<'a>] {
            if self.spill.is_empty() {
                &self.inline[..self.len]
            } else {
                &self.spill
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn m(p: &str, s: &str) -> bool {
        let map = BTreeMap::new();
        Pattern::parse(p, true, false, false)
            .matches(s, &Keys::new(&map))
            .unwrap_or(false)
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("ecs:Describe*", "ecs:DescribeTasks"));
        assert!(!m("ecs:Describe*", "ecs:ListTasks"));
        assert!(m("ecs:?unTask", "ecs:RunTask"));
        assert!(!m("ecs:?unTask", "ecs:unTask"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abbbc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*é?", "xéü"));
        assert!(m(
            "arn:aws:ecs:*:*:task/*",
            "arn:aws:ecs:us-east-1:1:task/c/abc"
        ));
    }

    #[test]
    fn case_insensitive_for_actions_only() {
        let map = BTreeMap::new();
        let k = Keys::new(&map);
        let ci = Pattern::parse("ecs:describe*", true, false, true);
        assert_eq!(ci.matches("ecs:DescribeTasks", &k), Some(true));
        let cs = Pattern::parse("ecs:describe*", true, false, false);
        assert_eq!(cs.matches("ecs:DescribeTasks", &k), Some(false));
    }

    #[test]
    fn long_patterns_spill() {
        assert!(m("a?b?c?d?e?f?g?h?i?j", "aXbXcXdXeXfXgXhXiXj"));
    }
}
