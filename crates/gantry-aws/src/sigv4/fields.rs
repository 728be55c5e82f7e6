//! What the header form and the query-string form share: the credential scope, the signed
//! header list, header look-ups and the request date.

use super::error::{self, AuthError};
use super::time::{parse_basic, parse_http_date};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const TERMINATOR: &str = "aws4_request";

/// `AKID/20150830/us-east-1/service/aws4_request`, split.
#[derive(Debug)]
pub struct Scope<'a> {
    pub key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

pub fn split_credential(credential: &str) -> Result<Scope<'_>, AuthError> {
    let mut parts = credential.split('/');
    let (Some(key), Some(date), Some(region), Some(service), Some(term), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(error::bad_credential(credential));
    };
    if term != TERMINATOR {
        return Err(error::bad_terminator(term));
    }
    Ok(Scope {
        key,
        date,
        region,
        service,
    })
}

/// `host;x-amz-date` → lower-case names in the client's order.
pub fn split_signed_headers(list: &str) -> Vec<String> {
    list.split(';')
        .filter(|n| !n.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The single value of header `name`; `Ok(None)` when absent, an error when repeated (a
/// second `X-Amz-Date` would leave the request's time ambiguous).
pub fn single_header<'a>(
    headers: &[(&'a str, &'a str)],
    name: &str,
) -> Result<Option<&'a str>, AuthError> {
    let mut found = None;
    for (n, v) in headers {
        if n.eq_ignore_ascii_case(name) {
            if found.is_some() {
                return Err(error::repeated_header(name));
            }
            found = Some(*v);
        }
    }
    Ok(found)
}

/// The first value of header `name`.
pub fn first_header<'a>(headers: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

pub fn parse_amz_date(v: &str) -> Result<i64, AuthError> {
    parse_basic(v.trim()).ok_or_else(|| error::bad_date(v))
}

pub fn parse_date_header(v: &str) -> Result<i64, AuthError> {
    let v = v.trim();
    // Some clients put the ISO form in `Date`; AWS takes either there.
    parse_http_date(v)
        .or_else(|| parse_basic(v))
        .ok_or_else(|| error::bad_http_date(v))
}

pub fn require_signed(signed: &[String], name: &str, shown: &str) -> Result<(), AuthError> {
    if signed.iter().any(|s| s == name) {
        Ok(())
    } else {
        Err(error::not_signed(shown))
    }
}

/// The raw `name=value` pairs of a query string (a pair without `=` has an empty value;
/// empty pieces such as `a=1&&b=2` are skipped, as form decoding does).
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}
