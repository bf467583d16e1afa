//! DNS vocabulary: names of rcodes, types and classes, the wire name in
//! presentation form (escaped: the bytes come from the network), and the
//! glob matching used by `--name`.

use std::borrow::Cow;

/// Response codes (RFC 1035, RFC 2136) by name, for code that tells them
/// apart; [`rcode_name`] names any of them.
pub const NOERROR: u16 = 0;
pub const FORMERR: u16 = 1;
pub const SERVFAIL: u16 = 2;
pub const NXDOMAIN: u16 = 3;
pub const NOTIMP: u16 = 4;
pub const REFUSED: u16 = 5;
pub const YXDOMAIN: u16 = 6;
pub const YXRRSET: u16 = 7;
pub const NXRRSET: u16 = 8;
pub const NOTAUTH: u16 = 9;
pub const NOTZONE: u16 = 10;

/// Query types the security signals single out: the ones DNS tunnels
/// carry data in.
pub const NULL: u16 = 10;
pub const TXT: u16 = 16;

/// The names of the 16 response codes that fit the header's 4-bit field,
/// by value, as dig prints them (`RCODE<n>` for unnamed ones).
pub const HEADER_RCODES: [&str; 16] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
];

/// Name of a response code as dig prints it; `RCODE<n>` for unnamed ones.
pub fn rcode_name(rcode: u16) -> Cow<'static, str> {
    match HEADER_RCODES.get(usize::from(rcode)) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("RCODE{rcode}")),
    }
}

/// Parses `NXDOMAIN`, `nxdomain`, `3` or `RCODE3` into a header rcode (0-15).
pub fn parse_rcode(s: &str) -> Option<u16> {
    let upper = s.trim().to_ascii_uppercase();
    if let Some(i) = HEADER_RCODES.iter().position(|n| *n == upper) {
        return Some(i as u16);
    }
    let digits = upper.strip_prefix("RCODE").unwrap_or(&upper);
    digits.parse::<u16>().ok()
}

/// Resource record types worth a name (RFC 1035 and the IANA registry).
const QTYPES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (10, "NULL"),
    (12, "PTR"),
    (13, "HINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (24, "SIG"),
    (25, "KEY"),
    (28, "AAAA"),
    (29, "LOC"),
    (33, "SRV"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (39, "DNAME"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (99, "SPF"),
    (108, "EUI48"),
    (109, "EUI64"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
];

/// Name of a record type; `TYPE<n>` (RFC 3597) for unnamed ones.
pub fn qtype_name(qtype: u16) -> Cow<'static, str> {
    match known_qtype(qtype) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("TYPE{qtype}")),
    }
}

/// The mnemonic of a query type that has one.
pub fn known_qtype(qtype: u16) -> Option<&'static str> {
    QTYPES
        .iter()
        .find(|(v, _)| *v == qtype)
        .map(|(_, name)| *name)
}

/// Parses `AAAA`, `aaaa`, `TYPE28` or `28`.
pub fn parse_qtype(s: &str) -> Option<u16> {
    let upper = s.trim().to_ascii_uppercase();
    if let Some((v, _)) = QTYPES.iter().find(|(_, n)| *n == upper) {
        return Some(*v);
    }
    let digits = upper.strip_prefix("TYPE").unwrap_or(&upper);
    digits.parse::<u16>().ok()
}

/// Name of a class; `CLASS<n>` for unnamed ones.
pub fn qclass_name(qclass: u16) -> Cow<'static, str> {
    match qclass {
        1 => Cow::Borrowed("IN"),
        3 => Cow::Borrowed("CH"),
        4 => Cow::Borrowed("HS"),
        254 => Cow::Borrowed("NONE"),
        255 => Cow::Borrowed("ANY"),
        n => Cow::Owned(format!("CLASS{n}")),
    }
}

/// Name of a header opcode.
pub fn opcode_name(opcode: u16) -> Cow<'static, str> {
    match opcode {
        0 => Cow::Borrowed("QUERY"),
        1 => Cow::Borrowed("IQUERY"),
        2 => Cow::Borrowed("STATUS"),
        4 => Cow::Borrowed("NOTIFY"),
        5 => Cow::Borrowed("UPDATE"),
        6 => Cow::Borrowed("DSO"),
        n => Cow::Owned(format!("OPCODE{n}")),
    }
}

/// Why a wire name could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The labels run past the bytes given.
    Truncated,
    /// A compression pointer or a reserved label type.
    BadLabel,
    /// Over 255 bytes on the wire.
    TooLong,
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameError::Truncated => "name runs past the end of the message",
            NameError::BadLabel => "compression pointer or reserved label type in name",
            NameError::TooLong => "name longer than 255 bytes",
        })
    }
}

/// Appends the presentation form of an uncompressed wire-format name to
/// `out`, without the trailing dot (the root name is "."), escaped the way
/// dig escapes: `\.` and `\\` inside labels, `\DDD` for every byte that is
/// not printable ASCII. The result is plain ASCII with no control bytes, safe
/// for a terminal and for JSON.
pub fn write_name(wire: &[u8], out: &mut String) -> Result<(), NameError> {
    // Built as bytes and checked to be text once, not run by run.
    let mut bytes = std::mem::take(out).into_bytes();
    let result = push_name(wire, &mut bytes);
    *out = String::from_utf8(bytes).expect("a string with ASCII appended");
    result
}

fn push_name(wire: &[u8], out: &mut Vec<u8>) -> Result<(), NameError> {
    let start = out.len();
    let mut pos = 0usize;
    loop {
        let Some(&len) = wire.get(pos) else {
            out.truncate(start);
            return Err(NameError::Truncated);
        };
        if len == 0 {
            pos += 1;
            break;
        }
        if len & 0xc0 != 0 {
            out.truncate(start);
            return Err(NameError::BadLabel);
        }
        let label = pos + 1..pos + 1 + usize::from(len);
        let Some(bytes) = wire.get(label) else {
            out.truncate(start);
            return Err(NameError::Truncated);
        };
        if out.len() > start {
            out.push(b'.');
        }
        push_label(bytes, out);
        pos += 1 + usize::from(len);
        if pos > 255 {
            out.truncate(start);
            return Err(NameError::TooLong);
        }
    }
    if pos > 255 {
        out.truncate(start);
        return Err(NameError::TooLong);
    }
    if out.len() == start {
        out.push(b'.');
    }
    Ok(())
}

/// Appends a label's bytes escaped (see [`write_name`]): runs of bytes that
/// need no escape, as a rule the whole label, in one copy.
fn push_label(mut bytes: &[u8], out: &mut Vec<u8>) {
    let needs_escape = |b: &u8| !(0x21..=0x7e).contains(b) || *b == b'.' || *b == b'\\';
    while !bytes.is_empty() {
        let plain = bytes.iter().position(needs_escape).unwrap_or(bytes.len());
        out.extend_from_slice(&bytes[..plain]);
        let Some(&b) = bytes.get(plain) else {
            return;
        };
        if b == b'.' || b == b'\\' {
            out.extend_from_slice(&[b'\\', b]);
        } else {
            out.extend_from_slice(&[b'\\', b'0' + b / 100, b'0' + b / 10 % 10, b'0' + b % 10]);
        }
        bytes = &bytes[plain + 1..];
    }
}

/// The presentation form of a wire name (see [`write_name`]).
pub fn name_to_string(wire: &[u8]) -> Result<String, NameError> {
    // The wire form's length: room for the name unless it has escapes (one
    // dot for each length byte but the first, none for the root label).
    let mut s = String::with_capacity(wire.len());
    write_name(wire, &mut s).map(|()| s)
}

/// A `--name` pattern: a case-insensitive glob over the presentation name,
/// where `*` matches any run of characters (dots included) and `?` one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameGlob {
    pattern: Vec<u8>,
}

impl NameGlob {
    pub fn new(pattern: &str) -> Result<Self, String> {
        let trimmed = pattern.trim();
        let trimmed = if trimmed.len() > 1 {
            trimmed.strip_suffix('.').unwrap_or(trimmed)
        } else {
            trimmed
        };
        if trimmed.is_empty() {
            return Err("an empty name pattern matches nothing".into());
        }
        Ok(NameGlob {
            pattern: trimmed.bytes().map(|b| b.to_ascii_lowercase()).collect(),
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        glob_match(&self.pattern, name.as_bytes())
    }
}

/// Iterative glob match with single-star backtracking: linear in practice
/// and never exponential, whatever the pattern.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let c = text[t].to_ascii_lowercase();
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&pc) if pc == b'?' || pc == c => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixtures::wire;

    #[test]
    fn names_of_codes() {
        assert_eq!(rcode_name(0), "NOERROR");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(5), "REFUSED");
        assert_eq!(rcode_name(12), "RCODE12");
        assert_eq!(rcode_name(23), "RCODE23");
        // The named constants agree with the table.
        for (code, name) in [
            (NOERROR, "NOERROR"),
            (FORMERR, "FORMERR"),
            (SERVFAIL, "SERVFAIL"),
            (NXDOMAIN, "NXDOMAIN"),
            (NOTIMP, "NOTIMP"),
            (REFUSED, "REFUSED"),
            (YXDOMAIN, "YXDOMAIN"),
            (YXRRSET, "YXRRSET"),
            (NXRRSET, "NXRRSET"),
            (NOTAUTH, "NOTAUTH"),
            (NOTZONE, "NOTZONE"),
        ] {
            assert_eq!(rcode_name(code), name);
        }
        assert_eq!(qtype_name(1), "A");
        assert_eq!(qtype_name(28), "AAAA");
        assert_eq!(qtype_name(65), "HTTPS");
        assert_eq!(qtype_name(65280), "TYPE65280");
        assert_eq!(qclass_name(1), "IN");
        assert_eq!(qclass_name(7), "CLASS7");
        assert_eq!(opcode_name(0), "QUERY");
        assert_eq!(opcode_name(9), "OPCODE9");
    }

    #[test]
    fn parsing_codes() {
        assert_eq!(parse_rcode("NXDOMAIN"), Some(3));
        assert_eq!(parse_rcode("servfail"), Some(2));
        assert_eq!(parse_rcode("5"), Some(5));
        assert_eq!(parse_rcode("RCODE12"), Some(12));
        assert_eq!(parse_rcode("BOGUS"), None);
        assert_eq!(parse_qtype("aaaa"), Some(28));
        assert_eq!(parse_qtype("TYPE65280"), Some(65280));
        assert_eq!(parse_qtype("15"), Some(15));
        assert_eq!(parse_qtype("TYPE70000"), None);
        assert_eq!(parse_qtype("NOPE"), None);
        // Every name round-trips.
        for (v, n) in QTYPES {
            assert_eq!(parse_qtype(n), Some(*v));
            assert_eq!(qtype_name(*v), *n);
        }
        for (i, n) in HEADER_RCODES.iter().enumerate() {
            assert_eq!(parse_rcode(n), Some(i as u16));
        }
    }

    #[test]
    fn plain_names() {
        assert_eq!(
            name_to_string(&wire(&[b"www", b"example", b"com"])).unwrap(),
            "www.example.com"
        );
        assert_eq!(name_to_string(&[0]).unwrap(), ".");
        // Trailing bytes after the root label (qtype, qclass) are ignored.
        let mut w = wire(&[b"a"]);
        w.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(name_to_string(&w).unwrap(), "a");
    }

    #[test]
    fn hostile_bytes_are_escaped() {
        let name = name_to_string(&wire(&[b"\x1b[31mred", b"example"])).unwrap();
        assert_eq!(name, "\\027[31mred.example");
        assert!(name.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert_eq!(
            name_to_string(&wire(&[b"a.b", b"c\\d"])).unwrap(),
            "a\\.b.c\\\\d"
        );
        assert_eq!(
            name_to_string(&wire(&[b"sp ace", b"\xff\x00\x7f"])).unwrap(),
            "sp\\032ace.\\255\\000\\127"
        );
        // Every possible byte yields printable ASCII.
        let all: Vec<u8> = (0u8..=62).collect();
        let s = name_to_string(&wire(&[&all])).unwrap();
        assert!(s.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    }

    /// Every byte, alone and among others, escaped as dig does, as
    /// write_name did byte by byte before it copied runs.
    #[test]
    fn every_byte_is_escaped_as_dig_does() {
        use std::fmt::Write;
        let by_byte = |label: &[u8]| {
            let mut out = String::new();
            for &b in label {
                match b {
                    b'.' | b'\\' => {
                        out.push('\\');
                        out.push(char::from(b));
                    }
                    0x21..=0x7e => out.push(char::from(b)),
                    _ => {
                        let _ = write!(out, "\\{b:03}");
                    }
                }
            }
            out
        };
        for b in 0..=255u8 {
            for label in [
                vec![b],
                vec![b'a', b],
                vec![b, b'z'],
                vec![b'x', b, b, b'y'],
            ] {
                let mut out = Vec::new();
                push_label(&label, &mut out);
                assert_eq!(out, by_byte(&label).as_bytes(), "{label:?}");
            }
        }
        let all: Vec<u8> = (0..=255).collect();
        for label in all.chunks(63) {
            assert_eq!(
                name_to_string(&wire(&[label])).unwrap(),
                by_byte(label),
                "{label:?}"
            );
        }
    }

    #[test]
    fn malformed_names() {
        assert_eq!(name_to_string(&[]), Err(NameError::Truncated));
        assert_eq!(name_to_string(&[3, b'a', b'b']), Err(NameError::Truncated));
        assert_eq!(
            name_to_string(&[3, b'a', b'b', b'c']),
            Err(NameError::Truncated)
        );
        assert_eq!(name_to_string(&[0xc0, 12]), Err(NameError::BadLabel));
        assert_eq!(name_to_string(&[0x40, 1, 0]), Err(NameError::BadLabel));
        // 5 labels of 63 bytes: 320 bytes on the wire.
        let long = vec![b"x".repeat(63); 5];
        let refs: Vec<&[u8]> = long.iter().map(|v| v.as_slice()).collect();
        assert_eq!(name_to_string(&wire(&refs)), Err(NameError::TooLong));
        // Exactly 255 bytes is fine: 3 x 63 + 61 + 4 length bytes + root.
        let mut ok: Vec<Vec<u8>> = vec![b"y".repeat(63); 3];
        ok.push(b"z".repeat(61));
        let refs: Vec<&[u8]> = ok.iter().map(|v| v.as_slice()).collect();
        let w = wire(&refs);
        assert_eq!(w.len(), 255);
        assert!(name_to_string(&w).is_ok());
        // An error leaves the output as it was.
        let mut out = String::from("keep");
        assert!(write_name(&[1], &mut out).is_err());
        assert_eq!(out, "keep");
    }

    #[test]
    fn globs() {
        let g = NameGlob::new("*.svc.cluster.local").unwrap();
        assert!(g.matches("kube-dns.kube-system.svc.cluster.local"));
        assert!(g.matches("A.SVC.Cluster.Local"));
        assert!(!g.matches("svc.cluster.local"));
        assert!(!g.matches("a.svc.cluster.local.evil"));
        let exact = NameGlob::new("Example.COM.").unwrap();
        assert!(exact.matches("example.com"));
        assert!(!exact.matches("www.example.com"));
        let q = NameGlob::new("a?c.*").unwrap();
        assert!(q.matches("abc.x"));
        assert!(!q.matches("ac.x"));
        assert!(NameGlob::new("*").unwrap().matches("anything.at.all"));
        assert!(NameGlob::new(".").unwrap().matches("."));
        assert!(NameGlob::new("").is_err());
        // Pathological pattern stays fast (no exponential backtracking).
        let p = NameGlob::new(&"*a".repeat(50)).unwrap();
        assert!(!p.matches(&"a".repeat(49)));
        assert!(p.matches(&"a".repeat(60)));
    }
}
