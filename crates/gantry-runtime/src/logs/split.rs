//! Cutting a byte stream into log lines, with long lines split into bounded pieces.

/// Buffers at most one unfinished line (< `max` bytes) between reads.
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    max: usize,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        Self {
            pending: Vec::new(),
            max: max.max(4),
        }
    }

    /// Feeds `data`; calls `emit(piece, partial)` for every complete line (without its
    /// newline, `partial == false`) and every `max`-sized piece of a longer one
    /// (`partial == true`). Keeps the unfinished rest.
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8], bool)) {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        loop {
            let rest = &self.pending[start..];
            let newline = rest.iter().position(|b| *b == b'\n');
            match newline {
                Some(n) if n <= self.max => {
                    emit(&rest[..n], false);
                    start += n + 1;
                }
                _ if rest.len() >= self.max => {
                    let cut = char_boundary(rest, self.max);
                    emit(&rest[..cut], true);
                    start += cut;
                }
                _ => break,
            }
        }
        self.pending.drain(..start);
    }

    /// The stream ended: emits what is left as a partial record (it had no newline).
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8], bool)) {
        if !self.pending.is_empty() {
            emit(&self.pending, true);
            self.pending.clear();
        }
    }
}

/// `max`, or a little less so that a UTF-8 sequence is not cut in two.
fn char_boundary(bytes: &[u8], max: usize) -> usize {
    let mut cut = max;
    // Continuation bytes are 0b10xx_xxxx; a sequence is at most 4 bytes long.
    while cut > max - 3 && bytes.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
        cut -= 1;
    }
    if bytes.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
        max // not UTF-8 anyway
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max: usize, chunks: &[&[u8]], finish: bool) -> Vec<(String, bool)> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, |l, p| {
                out.push((String::from_utf8_lossy(l).into_owned(), p))
            });
        }
        if finish {
            s.finish(|l, p| out.push((String::from_utf8_lossy(l).into_owned(), p)));
        }
        out
    }

    fn owned(v: &[(&str, bool)]) -> Vec<(String, bool)> {
        v.iter().map(|(s, p)| (s.to_string(), *p)).collect()
    }

    #[test]
    fn lines_across_reads() {
        assert_eq!(
            run(16, &[b"a\nb", b"c\n\nd"], false),
            owned(&[("a", false), ("bc", false), ("", false)])
        );
        assert_eq!(
            run(16, &[b"a\nb", b"c\n\nd"], true),
            owned(&[("a", false), ("bc", false), ("", false), ("d", true)])
        );
    }

    #[test]
    fn long_lines_are_split_and_flagged() {
        assert_eq!(
            run(4, &[b"abcdefghij\nxy", b"z\n"], false),
            owned(&[
                ("abcd", true),
                ("efgh", true),
                ("ij", false),
                ("xyz", false)
            ])
        );
        // Exactly `max` bytes then a newline is one whole line.
        assert_eq!(run(4, &[b"abcd\n"], false), owned(&[("abcd", false)]));
        // Pieces are emitted before the newline arrives: nothing waits on a long line.
        assert_eq!(
            run(4, &[b"abcdefgh"], false),
            owned(&[("abcd", true), ("efgh", true)])
        );
    }

    #[test]
    fn utf8_is_not_cut_inside_a_character() {
        // "aéé": é is 2 bytes; a cut at 4 would split the second é.
        let out = run(4, &["aééb\n".as_bytes()], false);
        assert_eq!(out, owned(&[("aé", true), ("éb", false)]));
    }
}
