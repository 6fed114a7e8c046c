//! IPv4 networks: parsing CIDRs and prefix lengths, and overlap checks.

use std::net::Ipv4Addr;

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net4 {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Net4 {
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    pub fn network(&self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.network()
    }

    pub fn overlaps(&self, other: &Net4) -> bool {
        let shorter = self.prefix.min(other.prefix);
        let mask = Net4 {
            addr: Ipv4Addr::UNSPECIFIED,
            prefix: shorter,
        }
        .mask();
        u32::from(self.addr) & mask == u32::from(other.addr) & mask
    }
}

impl std::fmt::Display for Net4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network()), self.prefix)
    }
}

/// `10.10.0.0/16`
pub fn parse_cidr(s: &str) -> Option<Net4> {
    let (a, p) = s.split_once('/')?;
    let addr: Ipv4Addr = a.parse().ok()?;
    let prefix: u8 = p.parse().ok().filter(|p| *p <= 32)?;
    Some(Net4 { addr, prefix })
}

/// `24`, or VEBA's `24 (255.255.255.0)`.
pub fn parse_prefix(s: &str) -> Option<u8> {
    s.split_whitespace().next()?.parse().ok().filter(|p| *p <= 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_overlaps() {
        let pods = parse_cidr("10.10.0.0/16").unwrap();
        let svc = parse_cidr("10.43.0.0/16").unwrap();
        let host = Net4 {
            addr: "10.10.5.20".parse().unwrap(),
            prefix: 24,
        };
        assert!(!pods.overlaps(&svc));
        assert!(pods.overlaps(&host) && host.overlaps(&pods));
        assert!(parse_cidr("10.0.0.0/8").unwrap().overlaps(&svc));
        assert_eq!(host.to_string(), "10.10.5.0/24");
        assert!(host.contains("10.10.5.1".parse().unwrap()));
        assert!(!host.contains("10.10.6.1".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_none() && parse_cidr("10.0.0/8").is_none());
        assert_eq!(parse_prefix("24 (255.255.255.0)"), Some(24));
        assert_eq!(parse_prefix("0"), Some(0));
        assert_eq!(parse_prefix("40"), None);
    }
}
