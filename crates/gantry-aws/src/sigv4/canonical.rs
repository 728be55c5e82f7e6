//! The canonical request and the string to sign, per the public SigV4 specification, as
//! AWS services other than S3 build them: the path normalised (RFC 3986 dot segments, empty
//! segments dropped) and then encoded once more (so `%3D` on the wire becomes `%253D`), the
//! query re-encoded and sorted, the client's signed headers with trimmed values.
//!
//! Everything is written into a [`Sink`], so verification hashes the canonical request as it
//! is produced and never allocates it; tests and diagnostics write it into a `Vec`.

use std::cmp::Ordering;

use sha2::{Digest, Sha256};

use super::encode::{canonical_query_component, Encoded};
use super::fields::{query_pairs, ALGORITHM};
use super::presign;
use super::time::basic_bytes;
use super::{Claim, Request};

pub trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A SHA-256 fed in chunks: the encoders yield single bytes, and one `update` per byte would
/// cost more than the hashing.
pub struct HashSink {
    hasher: Sha256,
    buf: [u8; 256],
    len: usize,
}

impl HashSink {
    pub fn new() -> Self {
        Self {
            hasher: Sha256::new(),
            buf: [0; 256],
            len: 0,
        }
    }

    pub fn finish(mut self) -> [u8; 32] {
        self.hasher.update(&self.buf[..self.len]);
        self.hasher.finalize().into()
    }
}

impl Sink for HashSink {
    fn put(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            self.hasher.update(&self.buf[..self.len]);
            self.len = 0;
            if bytes.len() > self.buf.len() {
                self.hasher.update(bytes);
                return;
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

fn put_iter(sink: &mut impl Sink, bytes: impl Iterator<Item = u8>) {
    let mut chunk = [0u8; 64];
    let mut n = 0;
    for b in bytes {
        chunk[n] = b;
        n += 1;
        if n == chunk.len() {
            sink.put(&chunk);
            n = 0;
        }
    }
    sink.put(&chunk[..n]);
}

/// The canonical URI: `path` normalised, then URI-encoded (slashes kept).
fn write_uri(sink: &mut impl Sink, path: &str) {
    let needs_normalising = !path.starts_with('/') || path.contains("//") || path.contains("/.");
    if !needs_normalising {
        put_iter(sink, Encoded::new(path.bytes(), true));
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = ["/", "/.", "/.."].iter().any(|s| path.ends_with(s));
    sink.put(b"/");
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            sink.put(b"/");
        }
        put_iter(sink, Encoded::new(s.bytes(), true));
    }
    if trailing && !segments.is_empty() {
        sink.put(b"/");
    }
}

fn cmp_component(a: &str, b: &str) -> Ordering {
    canonical_query_component(a).cmp(canonical_query_component(b))
}

/// The canonical query: every pair re-encoded, sorted by encoded name then value. In the
/// presigned form the signature itself is left out (it cannot sign itself).
fn write_query(sink: &mut impl Sink, query: &str, presigned: bool) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(&str, &str)> = query_pairs(query)
        .filter(|(name, _)| !(presigned && *name == presign::SIGNATURE))
        .collect();
    pairs.sort_by(|a, b| cmp_component(a.0, b.0).then_with(|| cmp_component(a.1, b.1)));
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            sink.put(b"&");
        }
        put_iter(sink, canonical_query_component(name));
        sink.put(b"=");
        put_iter(sink, canonical_query_component(value));
    }
}

/// A header value trimmed, with runs of spaces collapsed to one (only spaces, as the SDKs do).
fn write_header_value(sink: &mut impl Sink, value: &str) {
    let mut words = value.split(' ').filter(|w| !w.is_empty());
    if let Some(first) = words.next() {
        sink.put(first.as_bytes());
        for w in words {
            sink.put(b" ");
            sink.put(w.as_bytes());
        }
    }
}

fn write_headers(sink: &mut impl Sink, req: &Request<'_>, signed: &[String]) {
    for name in signed {
        sink.put(name.as_bytes());
        sink.put(b":");
        // A repeated header's values are joined with commas, in arrival order.
        let mut first = true;
        for (_, v) in req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            if !first {
                sink.put(b",");
            }
            first = false;
            write_header_value(sink, v);
        }
        sink.put(b"\n");
    }
}

/// Writes the canonical request of `req` as `claim` describes it; `payload_hash` is the
/// lower-case hex SHA-256 of the body.
pub fn write_canonical_request(
    sink: &mut impl Sink,
    req: &Request<'_>,
    claim: &Claim,
    payload_hash: &[u8],
) {
    sink.put(req.method.as_bytes());
    sink.put(b"\n");
    if req.path.is_empty() {
        sink.put(b"/");
    } else {
        write_uri(sink, req.path);
    }
    sink.put(b"\n");
    write_query(sink, req.query, claim.presigned_expires.is_some());
    sink.put(b"\n");
    write_headers(sink, req, &claim.signed_headers);
    sink.put(b"\n");
    for (i, name) in claim.signed_headers.iter().enumerate() {
        if i > 0 {
            sink.put(b";");
        }
        sink.put(name.as_bytes());
    }
    sink.put(b"\n");
    sink.put(payload_hash);
}

/// Writes the string to sign for a canonical request whose SHA-256 is `creq_hash`.
pub fn write_string_to_sign(sink: &mut impl Sink, claim: &Claim, creq_hash: &[u8; 32]) {
    let mut hex = [0u8; 64];
    // Cannot fail: 32 bytes always fit 64 hex digits.
    let _ = hex::encode_to_slice(creq_hash, &mut hex);
    sink.put(ALGORITHM.as_bytes());
    sink.put(b"\n");
    sink.put(&basic_bytes(claim.request_time));
    sink.put(b"\n");
    write_scope(sink, claim);
    sink.put(b"\n");
    sink.put(&hex);
}

fn write_scope(sink: &mut impl Sink, claim: &Claim) {
    for part in [&claim.scope_date, &claim.region, &claim.service] {
        sink.put(part.as_bytes());
        sink.put(b"/");
    }
    sink.put(super::fields::TERMINATOR.as_bytes());
}

/// The lower-case hex SHA-256 of `body`.
pub fn payload_hash(body: &[u8]) -> [u8; 64] {
    let mut hex = [0u8; 64];
    let _ = hex::encode_to_slice(Sha256::digest(body), &mut hex);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(path: &str) -> String {
        let mut out = Vec::new();
        write_uri(&mut out, path);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn paths_are_normalised_then_encoded_again() {
        assert_eq!(uri("/"), "/");
        assert_eq!(uri("//example//"), "/example/");
        assert_eq!(uri("/example/.."), "/");
        assert_eq!(uri("/example1/example2/../.."), "/");
        assert_eq!(uri("/./example"), "/example");
        assert_eq!(uri("/a/b/."), "/a/b/");
        assert_eq!(uri("/../x"), "/x");
        assert_eq!(uri("/example space/"), "/example%20space/");
        assert_eq!(uri("/a%3Db"), "/a%253Db");
        assert_eq!(uri("/-._~"), "/-._~");
    }

    #[test]
    fn query_is_sorted_by_encoded_pairs() {
        let mut out = Vec::new();
        write_query(&mut out, "b=2&a=2&a=1&c&X-Amz-Signature=ff", true);
        assert_eq!(String::from_utf8(out).unwrap(), "a=1&a=2&b=2&c=");
        let mut out = Vec::new();
        write_query(&mut out, "Param1=value1&param=value2", false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Param1=value1&param=value2"
        );
    }

    #[test]
    fn hash_sink_matches_one_shot_hash() {
        let data: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
        let mut sink = HashSink::new();
        for chunk in data.chunks(37) {
            sink.put(chunk);
        }
        sink.put(&data[..300]);
        let mut all = data.clone();
        all.extend_from_slice(&data[..300]);
        assert_eq!(sink.finish(), <[u8; 32]>::from(Sha256::digest(&all)));
    }
}
