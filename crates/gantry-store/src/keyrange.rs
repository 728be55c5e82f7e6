//! Prefix scans as key ranges, so SQLite walks the primary-key index instead of testing
//! every row (`LIKE` would also treat `%` and `_` in keys as wildcards).

/// The smallest string greater than every string that starts with `prefix`, or `None` when
/// no upper bound exists (empty prefix, or a prefix made only of `char::MAX`).
///
/// SQLite's default `BINARY` collation compares UTF-8 bytes, and UTF-8 byte order is code
/// point order, so bumping the last character that can be bumped gives the exclusive bound.
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = next_char(last) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn next_char(c: char) -> Option<char> {
    match u32::from(c) + 1 {
        // Surrogates are not chars; the next scalar value after them is U+E000.
        0xD800 => Some('\u{E000}'),
        n => char::from_u32(n),
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn bumps_the_last_char() {
        assert_eq!(prefix_end("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_end("tasks/x").as_deref(), Some("tasks/y"));
    }

    #[test]
    fn empty_prefix_has_no_bound() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
    }

    #[test]
    fn skips_surrogates_and_max() {
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
    }

    #[test]
    fn bound_is_above_every_extension() {
        for p in ["a", "k/\u{7F}", "é", "z\u{FFFF}"] {
            let end = prefix_end(p).unwrap_or_default();
            for tail in ["", "\0", "\u{7F}", "\u{10FFFF}\u{10FFFF}", "zzz"] {
                let key = format!("{p}{tail}");
                assert!(key.as_bytes() < end.as_bytes(), "{key:?} !< {end:?}");
            }
        }
    }
}
