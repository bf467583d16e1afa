//! The ICMP error that completed a query (an UNREACHABLE record): its type
//! and code, named the way iptables' REJECT names them, and who sent it.

use std::borrow::Cow;
use std::net::IpAddr;

/// An ICMP or ICMPv6 error, as the kernel saw it come back for a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp {
    /// ICMP type (3: destination unreachable) or ICMPv6 type (1).
    pub icmp_type: u8,
    pub code: u8,
    /// Who sent the error: the server's host, or a router on the way.
    pub from: IpAddr,
}

/// ICMP destination unreachable (type 3), by code (RFC 792, RFC 1812).
const V4_UNREACHABLE: [&str; 16] = [
    "net-unreachable",
    "host-unreachable",
    "protocol-unreachable",
    "port-unreachable",
    "fragmentation-needed",
    "source-route-failed",
    "net-unknown",
    "host-unknown",
    "host-isolated",
    "net-prohibited",
    "host-prohibited",
    "net-tos-unreachable",
    "host-tos-unreachable",
    "admin-prohibited",
    "precedence-violation",
    "precedence-cutoff",
];

/// ICMPv6 destination unreachable (type 1), by code (RFC 4443), named as
/// their ICMP counterparts where there is one: no route is
/// `net-unreachable`, address unreachable (neighbour discovery failed)
/// `host-unreachable`.
const V6_UNREACHABLE: [&str; 7] = [
    "net-unreachable",
    "admin-prohibited",
    "beyond-scope",
    "host-unreachable",
    "port-unreachable",
    "source-policy-failed",
    "reject-route",
];

impl Icmp {
    /// `port-unreachable`, `host-unreachable`, `admin-prohibited`, ... for
    /// a destination unreachable of either family; `type<T>-code<C>` for
    /// anything else.
    pub fn name(&self) -> Cow<'static, str> {
        let table: &[&'static str] = match (self.from, self.icmp_type) {
            (IpAddr::V4(_), 3) => &V4_UNREACHABLE,
            (IpAddr::V6(_), 1) => &V6_UNREACHABLE,
            _ => &[],
        };
        match table.get(usize::from(self.code)) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!("type{}-code{}", self.icmp_type, self.code)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(from: &str, icmp_type: u8, code: u8) -> Cow<'static, str> {
        Icmp {
            icmp_type,
            code,
            from: from.parse().unwrap(),
        }
        .name()
    }

    #[test]
    fn unreachables_are_named_alike_in_both_families() {
        assert_eq!(name("10.0.0.1", 3, 3), "port-unreachable");
        assert_eq!(name("fd00::1", 1, 4), "port-unreachable");
        assert_eq!(name("10.0.0.1", 3, 1), "host-unreachable");
        assert_eq!(name("fd00::1", 1, 3), "host-unreachable");
        assert_eq!(name("10.0.0.1", 3, 0), "net-unreachable");
        assert_eq!(name("fd00::1", 1, 0), "net-unreachable");
        assert_eq!(name("10.0.0.1", 3, 13), "admin-prohibited");
        assert_eq!(name("fd00::1", 1, 1), "admin-prohibited");
        assert_eq!(name("10.0.0.1", 3, 10), "host-prohibited");
    }

    #[test]
    fn anything_else_by_number() {
        assert_eq!(name("10.0.0.1", 3, 16), "type3-code16");
        assert_eq!(name("10.0.0.1", 3, 255), "type3-code255");
        assert_eq!(name("fd00::1", 1, 7), "type1-code7");
        // The other family's numbers mean something else.
        assert_eq!(name("10.0.0.1", 1, 4), "type1-code4");
        assert_eq!(name("fd00::1", 3, 3), "type3-code3");
        assert_eq!(name("10.0.0.1", 11, 0), "type11-code0");
        assert_eq!(name("fd00::1", 255, 255), "type255-code255");
    }
}
