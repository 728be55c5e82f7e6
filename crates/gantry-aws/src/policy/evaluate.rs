//! Whether a statement applies to a request, and the decision over many statements.

use super::document::{Effect, Statement};
use super::variables::Keys;
use super::{Context, Decision};

/// Explicit deny anywhere wins; else any allow; else the implicit deny.
pub(crate) fn decide<'a>(
    policies: impl Iterator<Item = &'a [Statement]>,
    ctx: &Context,
    need_principal: bool,
) -> Decision {
    let keys = Keys::new(&ctx.keys);
    let mut allowed = false;
    for statements in policies {
        for s in statements {
            // An allow already found only needs deny statements checked.
            if allowed && s.effect == Effect::Allow {
                continue;
            }
            if applies(s, ctx, &keys, need_principal) {
                match s.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Whether every element of `s` matches the request. A policy variable without a value makes
/// the statement not apply (IAM's rule), whatever its effect.
pub(crate) fn applies(s: &Statement, ctx: &Context, keys: &Keys<'_>, need_principal: bool) -> bool {
    match &s.principal {
        Some((negated, p)) => {
            let hit = p.matches(
                ctx.principal_arn.as_deref(),
                ctx.principal_account.as_deref(),
            );
            if hit == *negated {
                return false;
            }
        }
        None if need_principal => return false,
        None => {}
    }

    let mut action_hit = false;
    for p in &s.actions.items {
        if p.matches(&ctx.action, keys) == Some(true) {
            action_hit = true;
            break;
        }
    }
    if action_hit == s.actions.negated {
        return false;
    }

    if let Some(res) = &s.resources {
        let mut hit = false;
        for p in &res.items {
            match p.matches(&ctx.resource, keys) {
                Some(true) => {
                    hit = true;
                    break;
                }
                Some(false) => {}
                None => return false,
            }
        }
        if hit == res.negated {
            return false;
        }
    }

    s.conditions.iter().all(|c| c.eval(keys) == Some(true))
}
