//! Typed condition values: dates (ISO 8601 or epoch seconds), numbers and IP ranges.

use std::net::IpAddr;

/// A date as milliseconds since the Unix epoch. IAM accepts ISO 8601 (`2020-01-01`,
/// `2020-01-01T12:00:00Z`, with fractions or a `+hh:mm` offset) and epoch seconds.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    let (date, time) = match s.find(['T', 't']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut d = date.split('-');
    let y: i64 = num(d.next()?, 4)?;
    let mo: i64 = num(d.next()?, 2)?;
    let da: i64 = num(d.next()?, 2)?;
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, da) * 86_400_000;
    if let Some(t) = time {
        let (clock, offset_ms) = split_offset(t)?;
        let (hms, frac) = match clock.split_once('.') {
            Some((a, f)) => (a, Some(f)),
            None => (clock, None),
        };
        let mut p = hms.split(':');
        let h: i64 = num(p.next()?, 2)?;
        let mi: i64 = num(p.next()?, 2)?;
        let se: i64 = match p.next() {
            Some(x) => num(x, 2)?,
            None => 0,
        };
        if p.next().is_some() || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let fr: i64 = match frac {
            Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                let mut digits: String = f.chars().take(3).collect();
                while digits.len() < 3 {
                    digits.push('0');
                }
                digits.parse().ok()?
            }
            Some(_) => return None,
            None => 0,
        };
        ms += ((h * 60 + mi) * 60 + se) * 1000 + fr - offset_ms;
    }
    Some(ms)
}

fn split_offset(t: &str) -> Option<(&str, i64)> {
    if let Some(c) = t.strip_suffix(['Z', 'z']) {
        return Some((c, 0));
    }
    let Some(i) = t.rfind(['+', '-']) else {
        return Some((t, 0));
    };
    let (clock, off) = (&t[..i], &t[i..]);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let off = &off[1..];
    let (oh, om) = match off.split_once(':') {
        Some((h, m)) => (h, m),
        None if off.len() == 4 => (&off[..2], &off[2..]),
        None => (off, "00"),
    };
    let mins = num(oh, 2)? * 60 + num(om, 2)?;
    Some((clock, sign * mins * 60_000))
}

fn num(s: &str, width: usize) -> Option<i64> {
    if s.len() != width || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A number as IAM's Numeric operators read it (integers and decimals).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let v: f64 = s.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

/// An IPv4 or IPv6 range in CIDR notation (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: &str) -> bool {
        // The request's address may itself carry a prefix; only the address counts.
        let ip = ip.trim();
        let ip = ip.split_once('/').map_or(ip, |(a, _)| a);
        let Ok(ip) = ip.parse::<IpAddr>() else {
            return false;
        };
        let ip = match ip {
            IpAddr::V6(v6) if self.addr.is_ipv4() => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            ip => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2020-01-01T00:00:00Z"), Some(1_577_836_800_000));
        assert_eq!(parse_date("1577836800"), Some(1_577_836_800_000));
        assert_eq!(
            parse_date("2020-01-01T01:00:00+01:00"),
            Some(1_577_836_800_000)
        );
        assert_eq!(
            parse_date("2019-12-31T19:00:00-0500"),
            Some(1_577_836_800_000)
        );
        assert_eq!(
            parse_date("2020-01-01T00:00:00.250Z"),
            Some(1_577_836_800_250)
        );
        assert_eq!(parse_date("2020-01-01T00:00Z"), Some(1_577_836_800_000));
        assert_eq!(parse_date("2020-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains("203.0.113.7"));
        assert!(!c.contains("203.0.114.7"));
        assert!(c.contains("::ffff:203.0.113.9"));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("10.1.2.3"));
        assert!(!all.contains("2001:db8::1"));
        let v6 = Cidr::parse("2001:DB8:1234:5678::/64").unwrap();
        assert!(v6.contains("2001:db8:1234:5678::42"));
        assert!(!v6.contains("2001:db8:1234:5679::42"));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.1").unwrap().contains("10.0.0.1"));
    }
}
