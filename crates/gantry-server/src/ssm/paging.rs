//! `MaxResults`/`NextToken` paging for SSM's lists: items sorted by creation time and id,
//! the token an opaque encoding of the last item's place. A token Gantry did not hand out is
//! `InvalidNextToken`.

use super::error::invalid_next_token;
use crate::error::Result;

/// The sort key of an item created at `created` with id `id`.
pub fn cursor(created: f64, id: &str) -> String {
    format!("{created:020.6}/{id}")
}

/// One page of `items` (already sorted by cursor), after `token`, of `max` (or `default`).
pub fn page<T>(
    items: Vec<(String, T)>,
    token: Option<&str>,
    max: Option<i64>,
    default: usize,
) -> Result<(Vec<T>, Option<String>)> {
    let after = match token {
        None => None,
        Some(t) => Some(
            hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(invalid_next_token)?,
        ),
    };
    let size = max.and_then(|n| usize::try_from(n).ok()).unwrap_or(default);
    let mut rest = items
        .into_iter()
        .filter(|(c, _)| after.as_ref().is_none_or(|a| c > a))
        .peekable();
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < size {
        let Some((c, item)) = rest.next() else { break };
        last = Some(c);
        out.push(item);
    }
    let next = match (rest.peek(), last) {
        (Some(_), Some(c)) => Some(hex::encode(c)),
        _ => None,
    };
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_and_foreign_tokens_are_refused() {
        let items: Vec<(String, u32)> = (0..5).map(|i| (cursor(f64::from(i), "x"), i)).collect();
        let (a, t) = page(items.clone(), None, Some(2), 10).unwrap();
        assert_eq!(a, vec![0, 1]);
        let (b, t) = page(items.clone(), t.as_deref(), Some(2), 10).unwrap();
        assert_eq!(b, vec![2, 3]);
        let (c, t) = page(items.clone(), t.as_deref(), Some(2), 10).unwrap();
        assert_eq!((c, t), (vec![4], None));
        let e = page(items, Some("not-hex"), None, 10).unwrap_err().to_api();
        assert_eq!(e.kind.name(), "InvalidNextToken");
    }
}
