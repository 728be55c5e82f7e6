//! The two date forms SigV4 accepts, parsed by hand (no calendar crate for two formats):
//! ISO 8601 basic `YYYYMMDDTHHMMSSZ` (`X-Amz-Date`) and RFC 1123 (`Date`), both UTC.

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, b| n * 10 + i64::from(b - b'0')))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

fn to_unix(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    // A leap second (`:60`) is refused like any other impossible time.
    let valid = (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&d)
        && h < 24
        && mi < 60
        && s < 60;
    valid.then(|| days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// `20150830T123600Z` → Unix seconds.
pub fn parse_basic(v: &str) -> Option<i64> {
    let b = v.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    to_unix(
        digits(&b[0..4])?,
        digits(&b[4..6])?,
        digits(&b[6..8])?,
        digits(&b[9..11])?,
        digits(&b[11..13])?,
        digits(&b[13..15])?,
    )
}

/// `Sun, 30 Aug 2015 12:36:00 GMT` → Unix seconds. The weekday is not checked against the
/// date: the signature covers the header as sent, so a wrong weekday changes nothing.
pub fn parse_http_date(v: &str) -> Option<i64> {
    let mut parts = v.split_ascii_whitespace();
    let weekday = parts.next()?;
    if weekday.len() != 4 || !weekday.ends_with(',') {
        return None;
    }
    let d = digits(parts.next()?.as_bytes())?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = parts.next()?;
    let mo = MONTHS.iter().position(|m| *m == mon)?;
    let y = digits(parts.next()?.as_bytes())?;
    let hms = parts.next()?.as_bytes();
    if hms.len() != 8 || hms[2] != b':' || hms[5] != b':' {
        return None;
    }
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    let mo = i64::try_from(mo).ok()? + 1;
    to_unix(
        y,
        mo,
        d,
        digits(&hms[0..2])?,
        digits(&hms[3..5])?,
        digits(&hms[6..8])?,
    )
}

/// Unix seconds → `20150830T123600Z`, without allocating (the string to sign uses it).
pub fn basic_bytes(t: i64) -> [u8; 16] {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    let mut out = *b"00000000T000000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            // `rem_euclid(10)` is 0..=9, so the cast cannot truncate.
            out[i] = b'0' + v.rem_euclid(10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(4, 2, m);
    put(6, 2, d);
    put(9, 2, s / 3600);
    put(11, 2, s / 60 % 60);
    put(13, 2, s % 60);
    out
}

/// Unix seconds → `20150830T123600Z`.
pub fn format_basic(t: i64) -> String {
    String::from_utf8_lossy(&basic_bytes(t)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_round_trips() {
        let t = parse_basic("20150830T123600Z").unwrap();
        assert_eq!(t, 1_440_938_160);
        assert_eq!(format_basic(t), "20150830T123600Z");
        assert_eq!(format_basic(0), "19700101T000000Z");
        assert_eq!(
            parse_basic("20240229T235959Z").map(format_basic).as_deref(),
            Some("20240229T235959Z")
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        for v in [
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20150230T000000Z",
            "20230229T000000Z",
            "20151301T000000Z",
            "20150830T246000Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
        ] {
            assert_eq!(parse_basic(v), None, "{v}");
        }
    }

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            parse_basic("20150830T123600Z")
        );
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(parse_http_date("Sunday, 30-Aug-15 12:36:00 GMT"), None);
        assert_eq!(parse_http_date(""), None);
    }
}
