//! An IPv4 prefix, `a.b.c.d/n`, always stored with its host bits cleared.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Subnet {
    /// Fails when `prefix > 32` or `addr` has host bits set.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, String> {
        if prefix > 32 {
            return Err(format!("prefix length {prefix} is over 32"));
        }
        let s = Self {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        };
        if s.network != addr {
            return Err(format!(
                "{addr}/{prefix} has host bits set; did you mean {s}?"
            ));
        }
        Ok(s)
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.network)
    }

    pub fn overlaps(&self, other: &Ipv4Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The `n`th address of the subnet (0 is the network address).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        (u64::from(n) < self.size()).then(|| Ipv4Addr::from(u32::from(self.network) + n))
    }

    /// The index of `ip` in the subnet.
    pub fn index_of(&self, ip: Ipv4Addr) -> Option<u32> {
        self.contains(ip)
            .then(|| u32::from(ip) - u32::from(self.network))
    }

    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The gateway (the bridge's address): the first host address.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        (self.size() >= 4).then(|| Ipv4Addr::from(u32::from(self.network) + 1))
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Ipv4Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Subnet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a.b.c.d/n"))?;
        let addr: Ipv4Addr = a.parse().map_err(|e| format!("{s:?}: {e}"))?;
        let prefix: u8 = p.parse().map_err(|e| format!("{s:?}: {e}"))?;
        Self::new(addr, prefix)
    }
}

impl TryFrom<String> for Ipv4Subnet {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Ipv4Subnet> for String {
    fn from(s: Ipv4Subnet) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_indexes() {
        let s: Ipv4Subnet = "10.213.0.0/16".parse().expect("parse");
        assert_eq!(s.gateway(), Some(Ipv4Addr::new(10, 213, 0, 1)));
        assert_eq!(s.nth(65535), Some(Ipv4Addr::new(10, 213, 255, 255)));
        assert_eq!(s.nth(65536), None);
        assert_eq!(s.index_of(Ipv4Addr::new(10, 213, 1, 2)), Some(258));
        assert!(!s.contains(Ipv4Addr::new(10, 214, 0, 1)));
        assert!("10.213.0.1/16".parse::<Ipv4Subnet>().is_err());
        assert!("10.213.0.0/33".parse::<Ipv4Subnet>().is_err());
        assert!(s.overlaps(&"10.213.7.0/24".parse().expect("parse")));
    }
}
