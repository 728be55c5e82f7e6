//! The cluster task network for `awsvpc`, and how it is cut into one slice per node.

use std::net::Ipv4Addr;

/// The task network slices are cut from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskNetwork {
    base: u32,
    prefix: u8,
    slice_prefix: u8,
}

impl TaskNetwork {
    /// `cidr` such as `10.214.0.0/16`, cut into slices of `/slice_prefix` (e.g. 24).
    pub fn new(cidr: &str, slice_prefix: u8) -> std::result::Result<Self, String> {
        let (addr, len) = cidr
            .split_once('/')
            .ok_or_else(|| format!("{cidr:?} is not a CIDR such as 10.214.0.0/16"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{cidr:?}: {addr:?} is not an IPv4 address"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| *p <= 30)
            .ok_or_else(|| format!("{cidr:?}: the prefix length must be 0 to 30"))?;
        if slice_prefix <= prefix || slice_prefix > 30 || slice_prefix - prefix > 16 {
            return Err(format!(
                "slices of /{slice_prefix} do not fit {cidr}: they must be longer than /{prefix}, at most /30 and at most 65536 of them"
            ));
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Ok(Self {
            base: u32::from(addr) & mask,
            prefix,
            slice_prefix,
        })
    }

    /// How many slices there are.
    pub fn slices(&self) -> u32 {
        1 << (self.slice_prefix - self.prefix)
    }

    /// Slice `index` as a CIDR.
    pub fn slice(&self, index: u32) -> String {
        let start = self.base + (index << (32 - u32::from(self.slice_prefix)));
        format!("{}/{}", Ipv4Addr::from(start), self.slice_prefix)
    }

    /// Whether `slice` is one of this network's slices (a slice kept from another task
    /// network, before the operator or `gantry dev` chose a new one, is not).
    pub fn holds(&self, slice: &str) -> bool {
        let Some((addr, len)) = slice.split_once('/') else {
            return false;
        };
        let (Ok(addr), Ok(len)) = (addr.parse::<Ipv4Addr>(), len.parse::<u8>()) else {
            return false;
        };
        let start = u32::from(addr).wrapping_sub(self.base);
        len == self.slice_prefix
            && u32::from(addr) >= self.base
            && (start >> (32 - u32::from(self.slice_prefix))) < self.slices()
            && self.slice(start >> (32 - u32::from(self.slice_prefix))) == slice
    }

    /// The whole network as a CIDR.
    pub fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_cut_from_the_network() {
        let n = TaskNetwork::new("10.214.7.9/16", 24).unwrap();
        assert_eq!(n.cidr(), "10.214.0.0/16");
        assert_eq!(n.slices(), 256);
        assert_eq!(n.slice(0), "10.214.0.0/24");
        assert_eq!(n.slice(3), "10.214.3.0/24");
        assert_eq!(n.slice(255), "10.214.255.0/24");
        assert!(n.holds("10.214.3.0/24"));
        assert!(!n.holds("10.218.3.0/24") && !n.holds("10.214.3.0/25"));
        assert!(!n.holds("10.214.3.1/24") && !n.holds("9.0.0.0/24") && !n.holds("x"));
        assert!(TaskNetwork::new("10.214.0.0/24", 24).is_err());
        assert!(TaskNetwork::new("10.214.0.0", 24).is_err());
        assert!(TaskNetwork::new("10.0.0.0/8", 28).is_err());
    }
}
