//! Choosing free numbers round-robin from a cursor: host ports from the dynamic range and
//! addresses from a subnet. Round-robin rather than lowest-free so that a number just
//! released (whose conntrack entries, TIME_WAIT sockets or ARP entries may linger) is the
//! last to be handed out again.

/// The first `start` of a block `start..start+count` inside `lo..=hi` whose every member
/// passes `free`, searching from `cursor` and wrapping once.
pub(crate) fn pick_block(
    lo: u32,
    hi: u32,
    count: u32,
    cursor: u32,
    free: impl Fn(u32) -> bool,
) -> Option<u32> {
    if count == 0 || hi < lo || hi - lo + 1 < count {
        return None;
    }
    let last_start = hi + 1 - count;
    let span = last_start - lo + 1;
    let first = if (lo..=last_start).contains(&cursor) {
        cursor
    } else {
        lo
    };
    let mut i = 0;
    while i < span {
        let start = lo + (first - lo + i) % span;
        // Skip past the first busy member rather than retrying every start before it.
        match (start..start + count).find(|p| !free(*p)) {
            None => return Some(start),
            Some(busy) => {
                let skip = busy - start + 1;
                if start + skip > last_start {
                    // The next candidate wraps to `lo`.
                    i += last_start - start + 1;
                } else {
                    i += skip;
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_from_the_cursor_and_wraps() {
        assert_eq!(pick_block(10, 20, 1, 15, |_| true), Some(15));
        assert_eq!(pick_block(10, 20, 1, 15, |p| p < 15), Some(10));
        assert_eq!(pick_block(10, 20, 1, 99, |_| true), Some(10));
        assert_eq!(pick_block(10, 20, 1, 15, |_| false), None);
    }

    #[test]
    fn blocks_avoid_busy_members() {
        // 12 and 16 busy: the first block of 3 at or after 10 is 13..=15.
        assert_eq!(pick_block(10, 20, 3, 10, |p| p != 12 && p != 16), Some(13));
        assert_eq!(pick_block(10, 20, 3, 17, |p| p != 12 && p != 16), Some(17));
        assert_eq!(pick_block(10, 20, 3, 19, |p| p != 12 && p != 16), Some(13));
        assert_eq!(pick_block(10, 12, 4, 10, |_| true), None);
        assert_eq!(pick_block(10, 12, 3, 11, |_| true), Some(10));
    }

    #[test]
    fn never_returns_a_busy_number() {
        for cursor in 0..40 {
            for count in 1..5 {
                if let Some(s) = pick_block(10, 30, count, cursor, |p| p % 7 != 0) {
                    assert!((s..s + count).all(|p| p % 7 != 0 && (10..=30).contains(&p)));
                }
            }
        }
    }
}
