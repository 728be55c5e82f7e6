//! Parameter names, hierarchies, ARNs and the `name:version` / `name:label` selectors, after
//! the naming constraints of PutParameter's documentation: letters, digits, `_.-` and `/`
//! between levels; a name with a `/` starts with one; no `aws`/`ssm` prefix (any case, on
//! the first level too); at most 15 levels; at most 1011 characters (the model's 2048
//! includes 1037 the service reserves).

use super::param_errors::{bad_name, hierarchy_too_deep, validation};
use crate::error::Result;

pub const MAX_NAME: usize = 1011;
pub const MAX_LEVELS: usize = 15;

/// The ARN of parameter `name`: `arn:aws:ssm:<region>:<account>:parameter/<name without its
/// leading slash>`.
pub fn arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:aws:ssm:{region}:{account}:parameter/{}",
        name.strip_prefix('/').unwrap_or(name)
    )
}

fn reserved(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("aws") || l.starts_with("ssm")
}

/// Checks a name PutParameter would create; returns it with surrounding spaces removed (the
/// service trims them).
pub fn check_new(name: &str) -> Result<String> {
    let name = name.trim_matches(' ').to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must have length less than or equal to {MAX_NAME}"
        )));
    }
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
    let levels: Vec<&str> = name.trim_start_matches('/').split('/').collect();
    if !ok_chars
        || levels.iter().any(|l| l.is_empty())
        || levels.first().is_some_and(|l| reserved(l))
    {
        return Err(bad_name());
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(validation(
            "Parameter name must be a fully qualified name: a name in a hierarchy begins with a forward slash (/).",
        ));
    }
    if name.matches('/').count() > MAX_LEVELS {
        return Err(hierarchy_too_deep());
    }
    Ok(name)
}

/// What a `Name` member of a read names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Latest,
    Version(i64),
    Label(String),
}

impl Selector {
    /// `:5` or `:label` as the `Selector` member shows it.
    pub fn shown(&self) -> Option<String> {
        match self {
            Self::Latest => None,
            Self::Version(v) => Some(format!(":{v}")),
            Self::Label(l) => Some(format!(":{l}")),
        }
    }
}

/// Splits `Name` of a read into the parameter's name and a selector. The name may be the
/// parameter's ARN in this region and account; names hold no `:`, so a `:` after the name
/// starts the selector.
pub fn reference(region: &str, account: &str, raw: &str) -> Result<(String, Selector)> {
    let prefix = format!("arn:aws:ssm:{region}:{account}:parameter/");
    let (body, from_arn) = match raw.strip_prefix(&prefix) {
        Some(rest) => (rest, true),
        None => (raw, false),
    };
    if !from_arn && body.starts_with("arn:") {
        return Err(validation(format!(
            "The parameter ARN {raw} is not of this Gantry's region and account ({region}, {account})."
        )));
    }
    let (name, sel) = match body.split_once(':') {
        None => (body, Selector::Latest),
        Some((n, s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            let v = s
                .parse::<i64>()
                .map_err(|_| validation(format!("The version in {raw} is not a number.")))?;
            (n, Selector::Version(v))
        }
        Some((n, s)) if !s.is_empty() && !s.contains(':') => (n, Selector::Label(s.to_string())),
        Some(_) => {
            return Err(validation(format!(
                "Invalid parameter name {raw}: a selector is name:version or name:label."
            )))
        }
    };
    // An ARN drops the name's leading slash; a name in a hierarchy has one.
    let name = if from_arn && name.contains('/') {
        format!("/{name}")
    } else {
        name.to_string()
    };
    Ok((name, sel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        assert_eq!(check_new(" /a/b ").unwrap(), "/a/b");
        assert_eq!(check_new("plain").unwrap(), "plain");
        for bad in ["/a b", "/aws/x", "SSMthing", "/a//b", "a:b", ""] {
            assert!(check_new(bad).is_err(), "{bad}");
        }
        assert!(check_new("a/b").is_err());
        let deep = "/l".repeat(15);
        assert!(check_new(&deep).is_ok());
        let e = check_new(&format!("{deep}/x")).unwrap_err().to_api();
        assert_eq!(e.kind.name(), "HierarchyLevelLimitExceededException");
    }

    #[test]
    fn selectors_and_arns() {
        let r = |s| reference("us-east-1", "123456789012", s).unwrap();
        assert_eq!(r("/a/b"), ("/a/b".into(), Selector::Latest));
        assert_eq!(r("/a/b:3"), ("/a/b".into(), Selector::Version(3)));
        assert_eq!(r("x:prod"), ("x".into(), Selector::Label("prod".into())));
        assert_eq!(
            r("arn:aws:ssm:us-east-1:123456789012:parameter/a/b:2"),
            ("/a/b".into(), Selector::Version(2))
        );
        assert_eq!(
            arn("us-east-1", "123456789012", "/a/b"),
            "arn:aws:ssm:us-east-1:123456789012:parameter/a/b"
        );
        assert!(reference("us-east-1", "1", "arn:aws:ssm:eu-west-1:1:parameter/x").is_err());
    }
}
