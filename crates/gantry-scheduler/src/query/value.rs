//! Reading numbers, dates and agent versions out of argument text.

use std::cmp::Ordering;

/// A finite number.
pub(crate) fn number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Unix seconds for the date forms ECS accepts: `2018-06-18`, `2018-06-18T22:28:28`, and
/// the latter with `Z` or a `+hh:mm`/`-hh:mm` offset. A date without an offset is UTC.
pub(crate) fn date(text: &str) -> Option<f64> {
    let (day, time) = match text.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = day.splitn(3, '-');
    let year: i64 = digits(parts.next()?, 4)?;
    let month: i64 = digits(parts.next()?, 2)?;
    let dom: i64 = digits(parts.next()?, 2)?;
    if !(1..=12).contains(&month) || dom < 1 || dom > days_in_month(year, month) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, dom) * 86_400;
    if let Some(time) = time {
        let (clock, offset) = split_offset(time)?;
        let mut hms = clock.splitn(3, ':');
        let h: i64 = digits(hms.next()?, 2)?;
        let m: i64 = digits(hms.next()?, 2)?;
        let s: i64 = digits(hms.next()?, 2)?;
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        seconds += h * 3600 + m * 60 + s - offset;
    }
    // Dates are far inside f64's exact integer range.
    #[allow(clippy::cast_precision_loss)]
    Some(seconds as f64)
}

/// `hh:mm:ss` and the offset in seconds east of UTC.
fn split_offset(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    match time.char_indices().find(|(_, c)| *c == '+' || *c == '-') {
        None => Some((time, 0)),
        Some((at, sign)) => {
            let (h, m) = time[at + 1..].split_once(':')?;
            let minutes = digits(h, 2)? * 60 + digits(m, 2)?;
            let sign = if sign == '-' { -1 } else { 1 };
            Some((&time[..at], sign * minutes * 60))
        }
    }
}

/// Exactly `n` ASCII digits.
fn digits(text: &str, n: usize) -> Option<i64> {
    if text.len() == n && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An agent version as numbers: `1.14.5` is `[1, 14, 5]`; a suffix after the numbers
/// (`1.14.5-beta`) is ignored. `None` when it does not start with a number.
pub(crate) fn version(text: &str) -> Option<Vec<u64>> {
    let core = text.trim_start_matches(['v', 'V']);
    let end = core
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(core.len());
    let core = core[..end].trim_end_matches('.');
    if core.is_empty() {
        return None;
    }
    core.split('.').map(|p| p.parse::<u64>().ok()).collect()
}

/// Versions compare part by part; a missing part is 0 (`1.14` == `1.14.0`).
pub(crate) fn compare_versions(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            x.cmp(&y)
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date("1970-01-01"), Some(0.0));
        assert_eq!(date("2018-02-13"), Some(1_518_480_000.0));
        assert_eq!(date("2018-06-18T22:28:28"), Some(1_529_360_908.0));
        assert_eq!(date("2018-06-18T22:28:28Z"), Some(1_529_360_908.0));
        assert_eq!(date("2018-06-18T22:28:28+00:00"), Some(1_529_360_908.0));
        assert_eq!(date("2018-06-19T00:28:28+02:00"), Some(1_529_360_908.0));
        assert_eq!(date("2024-02-29"), Some(1_709_164_800.0));
        for bad in [
            "2023-02-29",
            "2018-13-01",
            "18-06-18",
            "2018-06-18T25:00:00",
            "soon",
            "",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(version("1.14.5"), Some(vec![1, 14, 5]));
        assert_eq!(version("v1.2.3-beta"), Some(vec![1, 2, 3]));
        assert_eq!(version("beta"), None);
        assert_eq!(compare_versions(&[1, 14], &[1, 14, 0]), Ordering::Equal);
        assert_eq!(compare_versions(&[1, 9], &[1, 14]), Ordering::Less);
    }
}
