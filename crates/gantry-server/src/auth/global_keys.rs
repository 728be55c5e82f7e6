//! The global condition keys of a request (`aws:CurrentTime`, `aws:SourceIp`,
//! `aws:PrincipalTag/*`, …) as a view over the caller and the clock. Most policies (an
//! administrator's, a node's) look at no key at all, so nothing is copied or formatted until
//! a condition or a policy variable asks, and then only the key it asks for: the principal's
//! values are borrowed, the time and the address are formatted once per request.
//!
//! The keys and their values are exactly [`super::authorize::global_keys`]'s (the map form,
//! for callers that build a [`gantry_aws::policy::Context`]); a test holds the two together.

use std::cell::OnceCell;
use std::slice::from_ref;

use gantry_aws::policy::KeySource;

use super::{dates, Caller, PrincipalKind};

const PRINCIPAL_TAG: &str = "aws:PrincipalTag/";

/// The fixed keys, in the map's (sorted) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fixed {
    CurrentTime,
    EpochTime,
    PrincipalAccount,
    PrincipalArn,
    PrincipalType,
    SecureTransport,
    SourceIp,
    Userid,
    Username,
}

const FIXED: [(&str, Fixed); 9] = [
    ("aws:CurrentTime", Fixed::CurrentTime),
    ("aws:EpochTime", Fixed::EpochTime),
    ("aws:PrincipalAccount", Fixed::PrincipalAccount),
    ("aws:PrincipalArn", Fixed::PrincipalArn),
    ("aws:PrincipalType", Fixed::PrincipalType),
    ("aws:SecureTransport", Fixed::SecureTransport),
    ("aws:SourceIp", Fixed::SourceIp),
    ("aws:userid", Fixed::Userid),
    ("aws:username", Fixed::Username),
];

/// The global keys of one request by `caller` at `now`.
#[derive(Debug)]
pub struct GlobalKeys<'a> {
    caller: &'a Caller,
    secs: i64,
    current_time: OnceCell<[String; 1]>,
    epoch_time: OnceCell<[String; 1]>,
    source_ip: OnceCell<[String; 1]>,
    secure: OnceCell<[String; 1]>,
    principal_type: OnceCell<[String; 1]>,
}

impl<'a> GlobalKeys<'a> {
    pub fn new(caller: &'a Caller, now: f64) -> Self {
        #[allow(clippy::cast_possible_truncation)]
        let secs = now.floor() as i64;
        Self {
            caller,
            secs,
            current_time: OnceCell::new(),
            epoch_time: OnceCell::new(),
            source_ip: OnceCell::new(),
            secure: OnceCell::new(),
            principal_type: OnceCell::new(),
        }
    }

    fn fixed(&self, which: Fixed) -> Option<&[String]> {
        let p = &self.caller.principal;
        Some(match which {
            Fixed::CurrentTime => self
                .current_time
                .get_or_init(|| [dates::rfc3339(self.secs)]),
            Fixed::EpochTime => self.epoch_time.get_or_init(|| [self.secs.to_string()]),
            Fixed::SourceIp => self
                .source_ip
                .get_or_init(|| [self.caller.source_ip.to_string()]),
            Fixed::SecureTransport => self.secure.get_or_init(|| [self.caller.secure.to_string()]),
            Fixed::PrincipalAccount => from_ref(&p.account),
            Fixed::Userid => from_ref(&p.user_id),
            // An assumed role's aws:PrincipalArn is the role's ARN, as IAM evaluates it.
            Fixed::PrincipalArn => match &p.kind {
                PrincipalKind::User { .. } => from_ref(&p.arn),
                PrincipalKind::AssumedRole { role_arn, .. } => from_ref(role_arn),
            },
            Fixed::PrincipalType => self.principal_type.get_or_init(|| {
                [match p.kind {
                    PrincipalKind::User { .. } => "User".to_string(),
                    PrincipalKind::AssumedRole { .. } => "AssumedRole".to_string(),
                }]
            }),
            Fixed::Username => match &p.kind {
                PrincipalKind::User { name } => from_ref(name),
                PrincipalKind::AssumedRole { .. } => return None,
            },
        })
    }
}

impl KeySource for GlobalKeys<'_> {
    fn values(&self, key: &str) -> Option<&[String]> {
        let tags = &self.caller.principal.tags;
        // Exact first, as the map form looks up.
        if let Some((_, which)) = FIXED.iter().find(|(name, _)| *name == key) {
            if let Some(v) = self.fixed(*which) {
                return Some(v);
            }
        }
        if let Some(v) = key.strip_prefix(PRINCIPAL_TAG).and_then(|t| tags.get(t)) {
            return Some(from_ref(v));
        }
        // Then the first key, in the map's order, equal but for ASCII case. The fixed names
        // differ from each other and from the tag prefix in more than case, so only tags
        // can tie, and those come in their map order.
        if let Some((_, which)) = FIXED
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
        {
            return self.fixed(*which);
        }
        let (prefix, rest) = (key.get(..PRINCIPAL_TAG.len())?, &key[PRINCIPAL_TAG.len()..]);
        if !prefix.eq_ignore_ascii_case(PRINCIPAL_TAG) {
            return None;
        }
        tags.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(rest))
            .map(|(_, v)| from_ref(v))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::auth::authorize::global_keys;
    use crate::auth::Principal;

    fn caller(kind: PrincipalKind) -> Caller {
        Caller {
            principal: Principal {
                arn: "arn:aws:sts::123456789012:assumed-role/ops/s1".into(),
                user_id: "AROAOPS:s1".into(),
                account: "123456789012".into(),
                kind,
                tags: [
                    ("team".to_string(), "blue".to_string()),
                    ("Team2".to_string(), "green".to_string()),
                    ("cost-center".to_string(), "42".to_string()),
                ]
                .into(),
            }
            .into(),
            access_key_id: "AKIAX".into(),
            source_ip: [10, 1, 2, 3].into(),
            secure: true,
        }
    }

    fn spellings(k: &str) -> Vec<String> {
        vec![
            k.to_string(),
            k.to_ascii_lowercase(),
            k.to_ascii_uppercase(),
            k.replace("aws:", "AWS:"),
        ]
    }

    /// Every key (in every case) and a few absent ones answer as the map form does.
    #[test]
    fn agrees_with_the_map_form() {
        let kinds = [
            PrincipalKind::User {
                name: "alice".into(),
            },
            PrincipalKind::AssumedRole {
                role_name: "ops".into(),
                role_arn: "arn:aws:iam::123456789012:role/ops".into(),
                session_name: "s1".into(),
            },
        ];
        for kind in kinds {
            let c = caller(kind);
            let now = 1_764_590_400.75;
            let map: BTreeMap<String, Vec<String>> = global_keys(&c, now);
            let view = GlobalKeys::new(&c, now);
            let mut asked: Vec<String> = map.keys().flat_map(|k| spellings(k)).collect();
            asked.extend(
                [
                    "aws:username",
                    "aws:PrincipalTag/none",
                    "aws:PrincipalTag/",
                    "aws:PrincipalTa",
                    "aws:RequestTag/team",
                    "aws:PrincipalTag/TEAM2",
                    "",
                ]
                .map(String::from),
            );
            for k in asked {
                assert_eq!(view.values(&k), KeySource::values(&map, &k), "key {k:?}");
            }
        }
    }
}
