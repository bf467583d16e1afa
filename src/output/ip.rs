//! IP addresses written as std's Display writes them, without core::fmt.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Appends an address as its Display form writes it.
pub(super) fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => push_ipv4(out, v4),
        IpAddr::V6(v6) => push_ipv6(out, v6),
    }
}

pub(super) fn push_ipv4(out: &mut String, ip: Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        // Digit by digit: cheaper than a call to copy one to three.
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
}

/// What std's Display writes (RFC 5952): groups in lowercase hex without
/// leading zeros, the longest run of two or more zero groups (the first
/// of equals) as "::", and an IPv4-mapped address as ::ffff:a.b.c.d.
/// Tested against Display for every placement of zero groups.
pub(super) fn push_ipv6(out: &mut String, ip: Ipv6Addr) {
    if let Some(v4) = ip.to_ipv4_mapped() {
        out.push_str("::ffff:");
        push_ipv4(out, v4);
        return;
    }
    let groups = ip.segments();
    let (mut zeros, mut zeros_len, mut run_start) = (0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g != 0 {
            run_start = i + 1;
        } else if i + 1 - run_start > zeros_len {
            (zeros, zeros_len) = (run_start, i + 1 - run_start);
        }
    }
    let push_groups = |out: &mut String, groups: &[u16]| {
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let digits = (u16::BITS - g.leading_zeros()).div_ceil(4).max(1);
            for d in (0..digits).rev() {
                out.push(char::from(HEX[usize::from(g >> (4 * d) & 0xf)]));
            }
        }
    };
    if zeros_len > 1 {
        push_groups(out, &groups[..zeros]);
        out.push_str("::");
        push_groups(out, &groups[zeros + zeros_len..]);
    } else {
        push_groups(out, &groups);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every placement of zero groups (which decides where "::" goes),
    /// with group values of one to four hex digits, IPv4-mapped and
    /// IPv4-compatible addresses, and a spread of others.
    #[test]
    fn ipv6_as_display_writes_it() {
        let mut out = String::new();
        let mut check = |ip: Ipv6Addr| {
            out.clear();
            push_ipv6(&mut out, ip);
            assert_eq!(out, ip.to_string(), "{:?}", ip.segments());
        };
        let values = [
            1u16, 0x9, 0xa, 0xf, 0x10, 0xab, 0xff, 0x100, 0xabc, 0x1000, 0xffff,
        ];
        for zeros in 0..=255u32 {
            for (k, _) in values.iter().enumerate() {
                let mut groups = [0u16; 8];
                for (i, g) in groups.iter_mut().enumerate() {
                    if zeros & (1 << i) == 0 {
                        *g = values[(k + i) % values.len()];
                    }
                }
                check(Ipv6Addr::from(groups));
            }
        }
        for a in [0u16, 1, 0xa, 0xff, 0x100, 0xc0a8, 0xffff] {
            for b in [0u16, 1, 0x101, 0xffff] {
                for prefix in [0u16, 0xffff, 1] {
                    check(Ipv6Addr::new(0, 0, 0, 0, 0, prefix, a, b));
                    check(Ipv6Addr::new(0, 0, 0, 0, 1, prefix, a, b));
                    check(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, prefix, a, b));
                }
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834u128;
        for _ in 0..20_000 {
            x = x.rotate_left(17).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x1234_5678;
            // Zero some groups, so that runs of every length come up.
            let mask = (0..8)
                .filter(|i| x >> (120 + i) & 1 == 0)
                .fold(0u128, |m, i| m | 0xffff << (16 * i));
            check(Ipv6Addr::from(x & !mask));
            check(Ipv6Addr::from(x));
        }
    }

    #[test]
    fn ip_addresses_as_display_writes_them() {
        let mut out = String::new();
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "1.22.133.9",
            "100.10.1.0",
            "::",
            "::1",
            "::ffff:10.1.2.3",
            "fd00::1:0:0:2",
            "2001:db8:0:1::7:0",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            out.clear();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string());
        }
        for n in (0..=u32::MAX).step_by(65_537) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(n));
            out.clear();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string());
        }
    }
}
