//! SigV4's URI encoding, as streaming byte iterators so the canonical request can be hashed
//! without building it: everything but the unreserved characters `A-Z a-z 0-9 - _ . ~`
//! becomes `%XX` with upper-case hex.

use std::borrow::Cow;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes a query component the way the SDKs read a query before signing it
/// (`application/x-www-form-urlencoded`: `+` is a space; a `%` not followed by two hex digits
/// stays as it is).
#[derive(Debug, Clone)]
pub struct FormDecoded<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> FormDecoded<'a> {
    pub fn new(raw: &'a str) -> Self {
        Self {
            raw: raw.as_bytes(),
            pos: 0,
        }
    }
}

impl Iterator for FormDecoded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let b = *self.raw.get(self.pos)?;
        self.pos += 1;
        match b {
            b'+' => Some(b' '),
            b'%' => {
                let hi = self.raw.get(self.pos).copied().and_then(unhex);
                let lo = self.raw.get(self.pos + 1).copied().and_then(unhex);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        self.pos += 2;
                        Some(hi << 4 | lo)
                    }
                    _ => Some(b'%'),
                }
            }
            b => Some(b),
        }
    }
}

/// URI-encodes a byte stream; `keep_slash` leaves `/` as it is (paths).
#[derive(Debug, Clone)]
pub struct Encoded<I> {
    inner: I,
    keep_slash: bool,
    pending: [u8; 2],
    npending: u8,
}

impl<I: Iterator<Item = u8>> Encoded<I> {
    pub fn new(inner: I, keep_slash: bool) -> Self {
        Self {
            inner,
            keep_slash,
            pending: [0; 2],
            npending: 0,
        }
    }
}

impl<I: Iterator<Item = u8>> Iterator for Encoded<I> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if self.npending > 0 {
            let b = self.pending[2 - usize::from(self.npending)];
            self.npending -= 1;
            return Some(b);
        }
        let b = self.inner.next()?;
        if is_unreserved(b) || (self.keep_slash && b == b'/') {
            return Some(b);
        }
        self.pending = [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]];
        self.npending = 2;
        Some(b'%')
    }
}

/// A query name or value as it appears in the canonical query string.
pub fn canonical_query_component(raw: &str) -> Encoded<FormDecoded<'_>> {
    Encoded::new(FormDecoded::new(raw), false)
}

/// A query value decoded to text (e.g. `X-Amz-Credential`); borrowed when nothing is encoded.
pub fn decode_query_value(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(raw);
    }
    let bytes: Vec<u8> = FormDecoded::new(raw).collect();
    match String::from_utf8(bytes) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> String {
        String::from_utf8(canonical_query_component(raw).collect()).unwrap()
    }

    #[test]
    fn query_components_are_reencoded() {
        assert_eq!(canon("AKID%2F20150830"), "AKID%2F20150830");
        assert_eq!(canon("AKID/20150830"), "AKID%2F20150830");
        assert_eq!(canon("a+b c"), "a%20b%20c");
        assert_eq!(canon("%7e~%41"), "~~A");
        assert_eq!(canon("100%"), "100%25");
        assert_eq!(canon("%zz"), "%25zz");
        assert_eq!(canon("ሴ"), "%E1%88%B4");
    }

    #[test]
    fn paths_keep_slashes() {
        let enc: String =
            String::from_utf8(Encoded::new("/a b/%3D".bytes(), true).collect()).unwrap();
        assert_eq!(enc, "/a%20b/%253D");
    }

    #[test]
    fn values_decode() {
        assert_eq!(decode_query_value("a%2Fb+c"), "a/b c");
        assert!(matches!(decode_query_value("plain"), Cow::Borrowed(_)));
    }
}
