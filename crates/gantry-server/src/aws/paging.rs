//! `maxResults`/`nextToken` paging over items sorted by a cursor string. The token is the
//! cursor of the last item returned; a page starts after it.

use crate::error::{invalid, Result};

/// The page size when the request gives none, and the largest ECS allows.
pub const MAX_RESULTS: i32 = 100;

pub fn page_size(max_results: Option<i32>) -> Result<usize> {
    match max_results {
        None => Ok(MAX_RESULTS as usize),
        Some(n) if (1..=MAX_RESULTS).contains(&n) => Ok(n as usize),
        Some(n) => Err(invalid(format!(
            "maxResults is {n}; it must be between 1 and {MAX_RESULTS}."
        ))),
    }
}

/// Takes one page of `items`, which are in the order they are listed (`ascending` says how
/// their cursors sort).
pub fn page<T>(
    items: Vec<(String, T)>,
    next_token: Option<&str>,
    max_results: Option<i32>,
    ascending: bool,
) -> Result<(Vec<T>, Option<String>)> {
    let size = page_size(max_results)?;
    let mut rest = items
        .into_iter()
        .filter(|(cursor, _)| match next_token {
            None => true,
            Some(t) if ascending => cursor.as_str() > t,
            Some(t) => cursor.as_str() < t,
        })
        .peekable();
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < size {
        match rest.next() {
            Some((cursor, item)) => {
                last = Some(cursor);
                out.push(item);
            }
            None => break,
        }
    }
    let token = if rest.peek().is_some() { last } else { None };
    Ok((out, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other() {
        let items: Vec<(String, u32)> = (0..5).map(|i| (format!("k{i}"), i)).collect();
        let (a, t) = page(items.clone(), None, Some(2), true).unwrap();
        assert_eq!(a, vec![0, 1]);
        let (b, t) = page(items.clone(), t.as_deref(), Some(2), true).unwrap();
        assert_eq!(b, vec![2, 3]);
        let (c, t) = page(items, t.as_deref(), Some(2), true).unwrap();
        assert_eq!((c, t), (vec![4], None));
    }

    #[test]
    fn rejects_out_of_range_sizes() {
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(101)).is_err());
    }
}
