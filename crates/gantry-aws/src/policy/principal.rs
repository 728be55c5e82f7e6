//! The `Principal` / `NotPrincipal` element of trust and resource policies.

use super::PolicyError;

/// Who a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"Principal": "*"` or `{"AWS": "*"}`: anyone.
    Any,
    /// `{"AWS": …, "Service": …, "Federated": …, "CanonicalUser": …}`.
    Map(Vec<(PrincipalType, String)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

impl PrincipalType {
    fn name(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::Service => "Service",
            Self::Federated => "Federated",
            Self::CanonicalUser => "CanonicalUser",
        }
    }
}

impl Principal {
    pub(crate) fn parse(v: &serde_json::Value) -> Result<Self, PolicyError> {
        let invalid = |t: &str, v: &str| {
            PolicyError::new(format!("Invalid principal in policy: \"{t}\":\"{v}\""))
        };
        match v {
            serde_json::Value::String(s) if s == "*" => Ok(Self::Any),
            serde_json::Value::Object(m) if !m.is_empty() => {
                let mut out = Vec::new();
                for (k, vals) in m {
                    let t = match k.as_str() {
                        "AWS" => PrincipalType::Aws,
                        "Service" => PrincipalType::Service,
                        "Federated" => PrincipalType::Federated,
                        "CanonicalUser" => PrincipalType::CanonicalUser,
                        _ => return Err(PolicyError::new("Invalid principal in policy")),
                    };
                    let list: Vec<&str> = match vals {
                        serde_json::Value::String(s) => vec![s.as_str()],
                        serde_json::Value::Array(a) if !a.is_empty() => a
                            .iter()
                            .map(|x| x.as_str().ok_or_else(PolicyError::syntax))
                            .collect::<Result<_, _>>()?,
                        _ => return Err(PolicyError::syntax()),
                    };
                    for s in list {
                        let ok = match t {
                            PrincipalType::Aws => valid_aws(s),
                            _ => !s.is_empty() && !s.contains(char::is_whitespace),
                        };
                        if !ok {
                            return Err(invalid(t.name(), s));
                        }
                        out.push((t, s.to_string()));
                    }
                }
                if out
                    .iter()
                    .all(|(t, s)| *t == PrincipalType::Aws && s == "*")
                {
                    return Ok(Self::Any);
                }
                Ok(Self::Map(out))
            }
            serde_json::Value::String(_) => Err(PolicyError::new("Invalid principal in policy")),
            _ => Err(PolicyError::syntax()),
        }
    }

    /// Whether the caller is one of these principals. `arn`: the caller's ARN (a role
    /// session's `arn:aws:sts::…:assumed-role/R/s` also counts as its role
    /// `arn:aws:iam::…:role/R`); `account`: its account. An account (`123456789012` or
    /// `arn:aws:iam::123456789012:root`) stands for every principal of that account. A
    /// `Service` principal matches a caller whose `arn` is the service name.
    pub fn matches(&self, arn: Option<&str>, account: Option<&str>) -> bool {
        let Self::Map(list) = self else {
            return true;
        };
        let role = arn.and_then(role_of_session);
        list.iter().any(|(t, v)| match t {
            PrincipalType::Aws => {
                v == "*"
                    || account.is_some_and(|a| {
                        v == a
                            || v.strip_prefix("arn:aws:iam::")
                                .and_then(|r| r.strip_suffix(":root"))
                                == Some(a)
                    })
                    || arn == Some(v.as_str())
                    || role.as_deref() == Some(v.as_str())
            }
            _ => arn == Some(v.as_str()),
        })
    }
}

/// `arn:aws:sts::A:assumed-role/R/session` → `arn:aws:iam::A:role/R`.
fn role_of_session(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:aws:sts::")?;
    let (account, res) = rest.split_once(':')?;
    let role = res.strip_prefix("assumed-role/")?;
    let (role, _session) = role.rsplit_once('/')?;
    Some(format!("arn:aws:iam::{account}:role/{role}"))
}

/// An `AWS` principal: `*`, a 12-digit account id, or an IAM/STS principal ARN.
fn valid_aws(s: &str) -> bool {
    if s == "*" || is_account(s) {
        return true;
    }
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, _partition, service, region, account, res] = parts.as_slice() else {
        return false;
    };
    *arn == "arn"
        && matches!(*service, "iam" | "sts")
        && region.is_empty()
        && is_account(account)
        && !res.is_empty()
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accounts_arns_and_sessions() {
        let p = Principal::parse(&json!({"AWS": "arn:aws:iam::111122223333:root"})).unwrap();
        assert!(p.matches(
            Some("arn:aws:iam::111122223333:user/bob"),
            Some("111122223333")
        ));
        assert!(!p.matches(
            Some("arn:aws:iam::444455556666:user/bob"),
            Some("444455556666")
        ));
        let p = Principal::parse(&json!({"AWS": ["444455556666"]})).unwrap();
        assert!(p.matches(None, Some("444455556666")));
        let p = Principal::parse(&json!({"AWS": "arn:aws:iam::111122223333:role/ops"})).unwrap();
        assert!(p.matches(
            Some("arn:aws:sts::111122223333:assumed-role/ops/alice"),
            Some("111122223333")
        ));
        assert!(!p.matches(
            Some("arn:aws:iam::111122223333:role/dev"),
            Some("111122223333")
        ));
        assert_eq!(Principal::parse(&json!("*")).unwrap(), Principal::Any);
        assert_eq!(
            Principal::parse(&json!({"AWS": "*"})).unwrap(),
            Principal::Any
        );
    }

    #[test]
    fn invalid() {
        let e = Principal::parse(&json!({"AWS": "alice"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid principal in policy: \"AWS\":\"alice\""
        );
        assert!(Principal::parse(&json!({"Bogus": "x"})).is_err());
        assert!(Principal::parse(&json!("alice")).is_err());
        assert!(Principal::parse(&json!({})).is_err());
    }
}
