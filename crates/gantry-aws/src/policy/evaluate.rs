//! Whether a statement applies to a request, and the decision over many statements.

use super::condition::any_match;
use super::document::{Effect, Statement};
use super::variables::Keys;
use super::{Decision, Query};

/// Explicit deny anywhere wins; else any allow; else the implicit deny. Also says which
/// statement decided (policy index, statement index): the deny, or the first allow.
pub(crate) fn decide<'a>(
    policies: impl Iterator<Item = &'a [Statement]>,
    ctx: &Query<'_>,
    need_principal: bool,
) -> (Decision, Option<(usize, usize)>) {
    let keys = Keys::new(ctx.keys);
    let mut allowed: Option<(usize, usize)> = None;
    for (pi, statements) in policies.enumerate() {
        for (si, s) in statements.iter().enumerate() {
            // An allow already found only needs deny statements checked.
            if allowed.is_some() && s.effect == Effect::Allow {
                continue;
            }
            if applies(s, ctx, &keys, need_principal) {
                match s.effect {
                    Effect::Deny => return (Decision::ExplicitDeny, Some((pi, si))),
                    Effect::Allow => allowed = Some((pi, si)),
                }
            }
        }
    }
    match allowed {
        Some(at) => (Decision::Allow, Some(at)),
        None => (Decision::ImplicitDeny, None),
    }
}

/// Whether every element of `s` matches the request. A policy variable without a value makes
/// the statement not apply (IAM's rule), whatever its effect.
pub(crate) fn applies(
    s: &Statement,
    ctx: &Query<'_>,
    keys: &Keys<'_>,
    need_principal: bool,
) -> bool {
    match &s.principal {
        Some((negated, p)) => {
            let hit = p.matches(ctx.principal_arn, ctx.principal_account);
            if hit == *negated {
                return false;
            }
        }
        None if need_principal => return false,
        None => {}
    }

    let mut action_hit = false;
    for p in &s.actions.items {
        if p.matches(ctx.action, keys) == Some(true) {
            action_hit = true;
            break;
        }
    }
    if action_hit == s.actions.negated {
        return false;
    }

    if let Some(res) = &s.resources {
        let hit = any_match(res.items.iter().map(|p| p.matches(ctx.resource, keys)));
        match hit {
            Some(hit) if hit != res.negated => {}
            _ => return false,
        }
    }

    s.conditions.iter().all(|c| c.eval(keys) == Some(true))
}
