//! What every IAM handler shares: reading members with the model's constraints (failing
//! with the `ValidationError` text AWS sends), ids, dates, URL-encoded documents and paging.

use gantry_api::Timestamp;

use super::error::{IamError, IamResult};
use crate::aws::query::QueryRequest;

/// The `NAME` pattern of user, group, role and policy names.
pub const NAME_PATTERN: &str = r"[\w+=,.@-]+";

fn constraint(value: &str, member: &str, what: &str) -> IamError {
    IamError::validation(format!(
        "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: {what}",
        lower_first(member)
    ))
}

/// The model's member names start upper-case; AWS's messages name them lower-camel.
fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// A required member.
pub fn required<'a>(req: &'a QueryRequest, member: &str) -> IamResult<&'a str> {
    req.get(member).ok_or_else(|| {
        IamError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(member)
        ))
    })
}

pub fn check_len(member: &str, value: &str, min: usize, max: usize) -> IamResult<()> {
    let n = value.chars().count();
    if n < min {
        return Err(constraint(
            value,
            member,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(constraint(
            value,
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// A user, group, role or policy name: 1..=`max` of `[\w+=,.@-]`.
pub fn check_name(member: &str, value: &str, max: usize) -> IamResult<()> {
    check_len(member, value, 1, max)?;
    let ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !ok {
        return Err(constraint(
            value,
            member,
            &format!("Member must satisfy regular expression pattern: {NAME_PATTERN}"),
        ));
    }
    Ok(())
}

/// A required name member, checked.
pub fn name<'a>(req: &'a QueryRequest, member: &str, max: usize) -> IamResult<&'a str> {
    let v = required(req, member)?;
    check_name(member, v, max)?;
    Ok(v)
}

/// `Path`: `/` or `/…/` of printable ASCII, up to 512; `/` when absent.
pub fn path(req: &QueryRequest, member: &str) -> IamResult<String> {
    let Some(p) = req.get(member) else {
        return Ok("/".to_string());
    };
    check_len(member, p, 1, 512)?;
    let ok = p == "/"
        || (p.len() >= 3
            && p.starts_with('/')
            && p.ends_with('/')
            && p.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    if !ok {
        return Err(constraint(
            p,
            member,
            r"Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
        ));
    }
    Ok(p.to_string())
}

/// A required policy document: checked against the model, then parsed as a policy.
pub fn document<'a>(req: &'a QueryRequest, member: &str) -> IamResult<&'a str> {
    let doc = required(req, member)?;
    check_len(member, doc, 1, 131_072)?;
    gantry_aws::policy::Policy::parse_identity(doc)
        .map_err(|e| IamError::malformed_policy(e.to_string()))?;
    Ok(doc)
}

/// An optional integer member within `min..=max`.
pub fn int(req: &QueryRequest, member: &str, min: i64, max: i64) -> IamResult<Option<i64>> {
    let Some(v) = req.get(member) else {
        return Ok(None);
    };
    let n: i64 = v.parse().map_err(|_| {
        IamError::validation(format!(
            "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must be a number",
            lower_first(member)
        ))
    })?;
    if n < min {
        return Err(constraint(
            v,
            member,
            &format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(constraint(
            v,
            member,
            &format!("Member must have value less than or equal to {max}"),
        ));
    }
    Ok(Some(n))
}

/// Refuses members Gantry does not honour, by name.
pub fn refuse(req: &QueryRequest, members: &[&str]) -> IamResult<()> {
    match members.iter().find(|m| req.has_prefix(m)) {
        Some(m) => Err(IamError::unsupported(m)),
        None => Ok(()),
    }
}

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_from(alphabet: &[u8], n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// A unique id as IAM makes them: `prefix` (`AIDA`, `AROA`, `AGPA`, `ANPA`) and 17 more.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(BASE32, 17))
}

/// An access key id: `AKIA` (permanent) or `ASIA` (temporary) and 16 of `[A-Z2-7]`.
pub fn access_key_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(BASE32, 16))
}

/// A secret access key: 40 characters.
pub fn secret_access_key() -> String {
    random_from(BASE64, 40)
}

/// A session token (opaque to clients; only its holder and the store know it).
pub fn session_token() -> String {
    random_from(BASE64, 160)
}

/// ISO 8601 with seconds, as IAM writes `CreateDate`.
pub fn iso(ts: Timestamp) -> String {
    let secs = if ts.is_finite() && ts > 0.0 {
        // Truncation to whole seconds is what IAM shows.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let s = ts as u64;
        s
    } else {
        0
    };
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A document as IAM returns it: percent-encoded (RFC 3986 unreserved kept).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One page of `items` (sorted by `key`) after `Marker`, at most `MaxItems` (default 100);
/// the marker of the next page when there is one.
pub fn page<T>(
    req: &QueryRequest,
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
) -> IamResult<(Vec<T>, Option<String>)> {
    let max = int(req, "MaxItems", 1, 1000)?.unwrap_or(100);
    let max = usize::try_from(max).unwrap_or(100);
    items.sort_by_key(|t| key(t));
    if let Some(m) = req.get("Marker") {
        check_len("Marker", m, 1, 320)?;
        items.retain(|t| key(t).as_str() > m);
    }
    if items.len() > max {
        items.truncate(max);
        let next = items.last().map(&key);
        return Ok((items, next));
    }
    Ok((items, None))
}

/// Writes `IsTruncated` and, when truncated, `Marker`.
pub fn write_paging(x: &mut crate::aws::xml::Xml, next: Option<&str>) {
    x.leaf("IsTruncated", if next.is_some() { "true" } else { "false" });
    if let Some(m) = next {
        x.leaf("Marker", m);
    }
}

/// `arn:aws:iam::<account>:<kind><path><name>`.
pub fn arn(account: &str, kind: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{kind}{path}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_follow_the_model() {
        assert!(check_name("UserName", "alice.b@x-y_z+=,", 64).is_ok());
        let e = check_name("UserName", "al ice", 64).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern"), "{}", e.message);
        assert!(check_name("UserName", &"a".repeat(65), 64).is_err());
        assert!(check_name("UserName", "", 64).is_err());
    }

    #[test]
    fn ids_have_aws_shapes() {
        let k = access_key_id("AKIA");
        assert_eq!(k.len(), 20);
        assert!(k[4..].bytes().all(|b| BASE32.contains(&b)));
        assert_eq!(secret_access_key().len(), 40);
        assert_eq!(unique_id("AIDA").len(), 21);
        assert_eq!(iso(1_700_000_000.7), "2023-11-14T22:13:20Z");
        assert_eq!(
            url_encode(r#"{"a": "b/c"}"#),
            "%7B%22a%22%3A%20%22b%2Fc%22%7D"
        );
    }
}
