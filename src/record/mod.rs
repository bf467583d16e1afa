//! A finished transaction as the kernel reports it, decoded into plain Rust
//! data. Decoding is a pure function of the record's bytes, so it is tested
//! and fuzzed without a kernel.

use std::net::IpAddr;

pub mod decode;
pub mod dns;
pub mod icmp;
pub mod kstr;

pub use decode::DecodeError;
pub use icmp::Icmp;
pub use kstr::{kernel_str, KernelStr, KERNEL_STR_LEN};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A query and its response.
    Answered,
    /// A query no response came for.
    Timeout,
    /// An mDNS answer to no query seen (shown with --announcements).
    Announcement,
    /// A DoT or DoQ connection: who talked, how much, how long.
    Encrypted,
    /// An answer that came after its query was reported as a timeout: a
    /// fact about a transaction already reported, not one of its own.
    Late,
    /// A query that an ICMP destination unreachable failed at once: a
    /// transaction, and an error.
    Unreachable,
    /// Another answer to a query already answered (from a second backend,
    /// or the same one twice): a fact about a transaction already
    /// reported.
    Duplicate,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Answered | Kind::Timeout | Kind::Unreachable => "transaction",
            Kind::Announcement => "announcement",
            Kind::Encrypted => "encrypted",
            Kind::Late => "late",
            Kind::Duplicate => "duplicate",
        }
    }

    /// Whether a record of this kind is a transaction of its own, which
    /// totals, latency statistics and per-key views count: a query and its
    /// outcome (answer, timeout, ICMP error). Late and duplicate answers
    /// are about transactions counted already; announcements and
    /// encrypted connections are no query.
    pub fn is_transaction(self) -> bool {
        matches!(self, Kind::Answered | Kind::Timeout | Kind::Unreachable)
    }
}

/// What completed a transaction: an answer, by its header rcode, or an
/// ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Rcode(u16),
    Unreachable,
}

impl Outcome {
    /// "NOERROR", ..., "RCODE11", or "UNREACHABLE".
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        match self {
            Outcome::Rcode(r) => dns::rcode_name(r),
            Outcome::Unreachable => "UNREACHABLE".into(),
        }
    }
}

/// The protocol on the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Dns,
    Mdns,
    Dot,
    Doq,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Dns => "dns",
            Service::Mdns => "mdns",
            Service::Dot => "dot",
            Service::Doq => "doq",
        }
    }
}

/// Where the query was first seen, relative to that interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Egress,
    Ingress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Egress => "egress",
            Direction::Ingress => "ingress",
        }
    }
}

/// One DNS transaction: a query and its response, or a query that timed out.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    pub kind: Kind,
    pub service: Service,
    /// CLOCK_MONOTONIC nanoseconds when the query (or connection) was first
    /// seen.
    pub mono_ns: u64,
    /// Query to response; None but for answered queries.
    pub latency_ns: Option<u64>,
    /// Encrypted connections: how long, and bytes each way.
    pub duration_ns: Option<u64>,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub netns: u32,
    pub ifindex: u32,
    pub interface: KernelStr,
    pub direction: Direction,
    pub pid: Option<u32>,
    pub comm: Option<KernelStr>,
    pub client: IpAddr,
    pub client_port: u16,
    pub server: IpAddr,
    pub server_port: u16,
    pub proto: Proto,
    pub id: u16,
    /// Presentation form, escaped, without the trailing dot.
    pub qname: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Header flags of the query and (if any) of the response.
    pub qflags: u16,
    pub rflags: Option<u16>,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
    pub query_size: u16,
    pub response_size: Option<u16>,
    /// DNAT: where the query was delivered (a Service's backend); None
    /// when no DNAT translated it.
    pub backend_ip: Option<IpAddr>,
    pub backend_port: Option<u16>,
    /// SNAT or masquerade: the query's source after translation; None
    /// when no SNAT translated it.
    pub nat_ip: Option<IpAddr>,
    pub nat_port: Option<u16>,
    /// The leg beyond NAT: from the query delivered to the backend to the
    /// backend's answer there; None when not measured.
    pub backend_ns: Option<u64>,
    /// The cgroup (v2) of the socket the query or connection was sent
    /// from, read when the kernel saw it leave; None when not known (seen
    /// only arriving). On a host with only cgroup v1 mounted it is the v2
    /// root's and names nothing.
    pub cgroup_id: Option<u64>,
    /// A duplicate answer: what completed the transaction, the first
    /// answer (by its rcode) or an ICMP error.
    pub first_rcode: Option<Outcome>,
    /// An unreachable query: the ICMP error that failed it.
    pub icmp: Option<Icmp>,
}

impl Transaction {
    /// The header rcode of the response; None for a timeout.
    pub fn rcode(&self) -> Option<u16> {
        self.rflags.map(|f| f & 0xf)
    }

    /// "NOERROR", "NXDOMAIN", ..., "TIMEOUT", "UNREACHABLE", or
    /// "ENCRYPTED". Late and duplicate answers have their own rcode.
    pub fn rcode_name(&self) -> std::borrow::Cow<'static, str> {
        match (self.kind, self.rcode()) {
            (Kind::Encrypted, _) => "ENCRYPTED".into(),
            (Kind::Unreachable, _) => "UNREACHABLE".into(),
            (_, Some(r)) => dns::rcode_name(r),
            (_, None) => "TIMEOUT".into(),
        }
    }

    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
    }

    /// Query to answer, for the transactions whose answer completed them:
    /// what latency statistics are made of. None for the rest, also those
    /// with a latency of another kind (an ICMP error's, a late or a
    /// second answer's).
    pub fn answer_latency_ns(&self) -> Option<u64> {
        match self.kind {
            Kind::Answered => self.latency_ns,
            _ => None,
        }
    }

    /// A duplicate answer whose rcode differs from the first answer's (or
    /// that came after an ICMP error).
    pub fn rcode_differs(&self) -> bool {
        self.first_rcode
            .is_some_and(|first| Some(first) != self.rcode().map(Outcome::Rcode))
    }

    pub fn opcode(&self) -> u16 {
        (self.qflags >> 11) & 0xf
    }

    /// Header flags in dig's order: the query's RD and CD, the response's
    /// AA, TC, RA and AD.
    pub fn flags(&self) -> impl Iterator<Item = &'static str> {
        let (q, r) = (self.qflags, self.rflags.unwrap_or(0));
        [
            ("aa", r & 0x0400),
            ("tc", r & 0x0200),
            ("rd", q & 0x0100),
            ("ra", r & 0x0080),
            ("ad", r & 0x0020),
            ("cd", q & 0x0010),
        ]
        .into_iter()
        .filter(|(_, bit)| *bit != 0)
        .map(|(name, _)| name)
    }

    /// [`Transaction::flags`], collected.
    pub fn flag_names(&self) -> Vec<&'static str> {
        self.flags().collect()
    }

    pub fn truncated(&self) -> bool {
        self.rflags.is_some_and(|r| r & 0x0200 != 0)
    }

    #[cfg(test)]
    pub fn latency_ms(&self) -> Option<f64> {
        self.latency_ns.map(|ns| ns as f64 / 1e6)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernel::abi::dt_kind;
    use std::net::Ipv6Addr;

    use crate::kernel::abi::RawEvent;
    use crate::testing::fixtures::whole_bytes_of;
    pub(crate) use crate::testing::fixtures::{bytes_of, record as raw};

    const EXAMPLE: &[u8] = b"\x03www\x07example\x03com\x00";

    #[test]
    fn decodes_an_answered_record() {
        let t = Transaction::decode(&bytes_of(&raw(EXAMPLE))).unwrap();
        assert_eq!(t.qname, "www.example.com");
        assert_eq!(t.id, 0xbeef);
        assert_eq!(t.qtype, 28);
        assert_eq!(t.rcode(), Some(3));
        assert_eq!(t.rcode_name(), "NXDOMAIN");
        assert_eq!(t.latency_ms(), Some(2.5));
        assert_eq!(t.client, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(t.server, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(t.pid, Some(4242));
        assert_eq!(t.comm.as_deref(), Some("dig"));
        assert_eq!(t.interface, "veth0");
        assert_eq!(t.proto, Proto::Udp);
        assert_eq!(t.direction, Direction::Egress);
        assert_eq!(t.flag_names(), vec!["rd", "ra"]);
        assert_eq!(t.opcode(), 0);
        assert!(!t.truncated());
    }

    #[test]
    fn decodes_a_timeout_and_ipv6() {
        let mut ev = raw(EXAMPLE);
        ev.kind = dt_kind::DT_KIND_TIMEOUT.0 as u8;
        ev.family = 6;
        ev.pid = 0;
        ev.client_addr = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
        ev.server_addr = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert!(t.is_timeout());
        assert_eq!(t.rcode_name(), "TIMEOUT");
        assert_eq!(t.latency_ms(), None);
        assert_eq!(t.response_size, None);
        assert_eq!(t.pid, None);
        assert_eq!(t.comm, None, "no process name without a pid");
        assert_eq!(t.server, "fd00::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn decodes_records_at_any_alignment() {
        // Whole: read in place where aligned. (Cut ones are copied.)
        let bytes = whole_bytes_of(&raw(EXAMPLE));
        let expected = Transaction::decode(&bytes).unwrap();
        let mut buf = vec![0u8; bytes.len() + 16];
        let aligned = buf.as_ptr().align_offset(8);
        assert!(aligned < 8);
        for offset in aligned..aligned + 8 {
            buf[offset..offset + bytes.len()].copy_from_slice(&bytes);
            let record = &buf[offset..offset + bytes.len()];
            assert_eq!(Transaction::decode(record), Ok(expected.clone()));
            assert_eq!(
                Transaction::decode(&record[..100]),
                Err(DecodeError::Short(100))
            );
        }
    }

    #[test]
    fn decodes_records_cut_after_their_name() {
        let ev = raw(EXAMPLE);
        let whole = whole_bytes_of(&ev);
        let cut = bytes_of(&ev);
        let head = std::mem::offset_of!(RawEvent, name);
        assert_eq!(cut.len(), head + EXAMPLE.len());
        assert!(cut.len() < whole.len());
        let expected = Transaction::decode(&whole).unwrap();
        assert_eq!(expected.qname, "www.example.com");
        assert_eq!(Transaction::decode(&cut), Ok(expected.clone()));
        // Bytes past the name are not read.
        assert_eq!(Transaction::decode(&whole[..cut.len() + 5]), Ok(expected));
        // A name's byte missing, or the fixed part cut.
        let short = &cut[..cut.len() - 1];
        assert_eq!(
            Transaction::decode(short),
            Err(DecodeError::Short(short.len()))
        );
        assert_eq!(
            Transaction::decode(&cut[..head - 1]),
            Err(DecodeError::Short(head - 1))
        );
        // A connection has no name: its fixed part is all of it.
        let mut conn = raw(b"");
        conn.kind = dt_kind::DT_KIND_ENCRYPTED.0 as u8;
        conn.name_len = 0;
        let cut = bytes_of(&conn);
        assert_eq!(cut.len(), head);
        let t = Transaction::decode(&cut).unwrap();
        assert_eq!(t.kind, Kind::Encrypted);
        assert_eq!(Ok(t), Transaction::decode(&whole_bytes_of(&conn)));
    }

    #[test]
    fn rejects_bad_records() {
        let good = bytes_of(&raw(EXAMPLE));
        assert_eq!(
            Transaction::decode(&good[..10]),
            Err(DecodeError::Short(10))
        );
        let mut ev = raw(EXAMPLE);
        ev.kind = 9;
        assert!(Transaction::decode(&bytes_of(&ev)).is_err());
        let mut ev = raw(EXAMPLE);
        ev.family = 5;
        assert!(Transaction::decode(&bytes_of(&ev)).is_err());
        let mut ev = raw(EXAMPLE);
        ev.name_len = 1000;
        assert!(Transaction::decode(&bytes_of(&ev)).is_err());
        let mut ev = raw(EXAMPLE);
        ev.service = 9;
        assert!(Transaction::decode(&bytes_of(&ev)).is_err());
        let ev = raw(b"\xc0\x0c");
        assert!(matches!(
            Transaction::decode(&bytes_of(&ev)),
            Err(DecodeError::Name(_))
        ));
    }

    #[test]
    fn decodes_encrypted_connections_and_announcements() {
        let mut ev = raw(b"");
        ev.kind = dt_kind::DT_KIND_ENCRYPTED.0 as u8;
        ev.service = 2;
        ev.proto = 6;
        ev.server_port = 853;
        ev.latency_ns = 3_000_000_000;
        ev.bytes_out = 1200;
        ev.bytes_in = 3400;
        ev.name_len = 0;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.kind, Kind::Encrypted);
        assert_eq!(t.service, Service::Dot);
        assert_eq!(t.rcode_name(), "ENCRYPTED");
        assert_eq!(t.duration_ns, Some(3_000_000_000));
        assert_eq!(t.latency_ns, None);
        assert_eq!((t.bytes_out, t.bytes_in), (1200, 3400));
        assert!(t.qname.is_empty());
        assert!(!t.is_timeout());

        let mut ev = raw(EXAMPLE);
        ev.kind = dt_kind::DT_KIND_ANNOUNCEMENT.0 as u8;
        ev.service = 1;
        ev.rflags = 0x8400;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.kind, Kind::Announcement);
        assert_eq!(t.rcode_name(), "NOERROR");
        assert_eq!(t.latency_ns, None);
        assert!(!t.is_timeout());
    }

    #[test]
    fn decodes_what_nat_did() {
        let mut ev = raw(EXAMPLE);
        ev.server_addr[..4].copy_from_slice(&[10, 96, 0, 10]);
        ev.nat = 3;
        ev.backend_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
        ev.backend_port = 5353;
        ev.nat_addr[..4].copy_from_slice(&[192, 168, 1, 10]);
        ev.nat_port = 61000;
        ev.backend_ns = 1_500_000;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.server, "10.96.0.10".parse::<IpAddr>().unwrap());
        assert_eq!(t.backend_ip, Some("10.244.2.2".parse().unwrap()));
        assert_eq!(t.backend_port, Some(5353));
        assert_eq!(t.nat_ip, Some("192.168.1.10".parse().unwrap()));
        assert_eq!(t.nat_port, Some(61000));
        assert_eq!(t.backend_ns, Some(1_500_000));
        assert_eq!(t.kind.as_str(), "transaction");

        // Each bit says which half is there; the other's bytes are noise.
        ev.nat = 2;
        ev.backend_ns = 0;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!((t.backend_ip, t.backend_port), (None, None));
        assert_eq!(t.nat_ip, Some("192.168.1.10".parse().unwrap()));
        assert_eq!(t.backend_ns, None, "0: not measured");

        let mut ev = raw(EXAMPLE);
        ev.family = 6;
        ev.client_addr = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
        ev.server_addr = "fd00:96::a".parse::<Ipv6Addr>().unwrap().octets();
        ev.backend_addr = "fd00:244::2".parse::<Ipv6Addr>().unwrap().octets();
        ev.backend_port = 53;
        ev.nat = 1;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.backend_ip, Some("fd00:244::2".parse().unwrap()));
        assert_eq!((t.nat_ip, t.nat_port), (None, None));

        // Nothing of NAT on what is no query, whatever its bits.
        let mut ev = raw(EXAMPLE);
        ev.kind = dt_kind::DT_KIND_ANNOUNCEMENT.0 as u8;
        ev.service = 1;
        ev.nat = 0xff;
        ev.backend_ns = 7;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!((t.backend_ip, t.nat_ip, t.backend_ns), (None, None, None));
    }

    #[test]
    fn decodes_late_duplicate_and_unreachable_records() {
        let mut ev = raw(EXAMPLE);
        ev.kind = dt_kind::DT_KIND_LATE.0 as u8;
        ev.latency_ns = 6_000_000_000;
        ev.rflags = 0x8180;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.kind, Kind::Late);
        assert_eq!(t.kind.as_str(), "late");
        assert!(!t.kind.is_transaction());
        assert_eq!(t.rcode_name(), "NOERROR", "its own answer's");
        assert_eq!(t.latency_ns, Some(6_000_000_000));
        assert_eq!(t.answer_latency_ns(), None, "no answer that completed it");
        assert_eq!(t.response_size, Some(100));
        assert_eq!(t.first_rcode, None);

        let mut ev = raw(EXAMPLE);
        ev.kind = dt_kind::DT_KIND_DUPLICATE.0 as u8;
        ev.rflags = 0x8182;
        ev.first_rcode = 0;
        ev.latency_ns = 4_000_000;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.kind.as_str(), "duplicate");
        assert_eq!(t.rcode_name(), "SERVFAIL");
        assert_eq!(t.first_rcode, Some(Outcome::Rcode(0)));
        assert!(t.rcode_differs());
        assert_eq!(t.latency_ns, Some(4_000_000));
        ev.first_rcode = 2;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert!(!t.rcode_differs());
        // An answer after the ICMP error that completed the query: the
        // kernel's UNREACHABLE bit stands for it.
        ev.first_rcode = 18;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.first_rcode, Some(Outcome::Unreachable));
        assert_eq!(t.first_rcode.unwrap().name(), "UNREACHABLE");
        assert!(t.rcode_differs());

        let mut ev = raw(EXAMPLE);
        ev.kind = dt_kind::DT_KIND_UNREACHABLE.0 as u8;
        ev.rflags = 0; // no response
        ev.latency_ns = 300_000;
        ev.icmp_type = 3;
        ev.icmp_code = 3;
        ev.icmp_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
        ev.first_rcode = 200; // only a duplicate's is read
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.kind.as_str(), "transaction");
        assert!(t.kind.is_transaction());
        assert_eq!(t.rcode_name(), "UNREACHABLE");
        assert_eq!(t.rcode(), None);
        assert!(!t.is_timeout());
        assert_eq!(t.latency_ns, Some(300_000));
        assert_eq!(t.answer_latency_ns(), None);
        assert_eq!(
            (t.response_size, t.rflags, t.first_rcode),
            (None, None, None)
        );
        let icmp = t.icmp.unwrap();
        assert_eq!(icmp.name(), "port-unreachable");
        assert_eq!(icmp.from, "10.244.2.2".parse::<IpAddr>().unwrap());

        // ICMP fields are only read on an unreachable record.
        let t = Transaction::decode(&bytes_of(&raw(EXAMPLE))).unwrap();
        assert_eq!(t.icmp, None);
        assert_eq!(t.answer_latency_ns(), Some(2_500_000));
    }

    #[test]
    fn rejects_nat_and_kind_values_the_kernel_never_writes() {
        for kind in [7u8, 8, 255] {
            let mut ev = raw(EXAMPLE);
            ev.kind = kind;
            assert_eq!(
                Transaction::decode(&bytes_of(&ev)),
                Err(DecodeError::Invalid("kind"))
            );
        }
        for nat in [4u8, 7, 0x80, 0xff] {
            let mut ev = raw(EXAMPLE);
            ev.nat = nat;
            assert_eq!(
                Transaction::decode(&bytes_of(&ev)),
                Err(DecodeError::Invalid("nat"))
            );
        }
        for first in [16u8, 17, 19, 255] {
            let mut ev = raw(EXAMPLE);
            ev.kind = dt_kind::DT_KIND_DUPLICATE.0 as u8;
            ev.first_rcode = first;
            assert_eq!(
                Transaction::decode(&bytes_of(&ev)),
                Err(DecodeError::Invalid("first rcode"))
            );
        }
        // Translated addresses need a family too.
        let mut ev = raw(EXAMPLE);
        ev.family = 0;
        ev.nat = 1;
        assert!(Transaction::decode(&bytes_of(&ev)).is_err());
        // Any ICMP type and code, any port, any leg: named or numbered.
        let mut ev = raw(EXAMPLE);
        ev.kind = dt_kind::DT_KIND_UNREACHABLE.0 as u8;
        ev.icmp_type = 255;
        ev.icmp_code = 255;
        ev.nat = 3;
        ev.backend_port = 0;
        ev.nat_port = u16::MAX;
        ev.backend_ns = u64::MAX;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.icmp.unwrap().name(), "type255-code255");
        assert_eq!((t.backend_port, t.nat_port), (Some(0), Some(u16::MAX)));
        assert_eq!(t.backend_ns, Some(u64::MAX));
    }

    #[test]
    fn kernel_strings_fit_inline() {
        assert_eq!(
            kernel_str(&[-1; KERNEL_STR_LEN]),
            "\\xff".repeat(16).as_str()
        );
        assert_eq!(
            kernel_str(&[b'a' as i8; KERNEL_STR_LEN]),
            "a".repeat(16).as_str()
        );
        let mut raw = [0; KERNEL_STR_LEN];
        crate::testing::fixtures::set_str(&mut raw, b"eth0");
        assert_eq!(kernel_str(&raw), "eth0");
        assert_eq!(kernel_str(&[0; KERNEL_STR_LEN]), "");
        assert_eq!(KernelStr::from("dig"), "dig");
        assert_eq!(KernelStr::from("e\x01\\"), "e\\x01\\x5c");
        assert_eq!(format!("[{:<5}]", KernelStr::from("lo")), "[lo   ]");
        // Beyond the room for sixteen escaped bytes: whole escapes only.
        assert_eq!(KernelStr::from("\x01".repeat(20).as_str()).len(), 64);
        assert_eq!(KernelStr::from("ab\x01".repeat(20).as_str()).len(), 62);
    }

    #[test]
    fn hostile_strings_are_escaped() {
        let mut ev = raw(b"\x08\x1b[31mred\x07example\x00");
        for (d, s) in ev.comm.iter_mut().zip(b"ev\x1bil\\") {
            *d = *s as i8;
        }
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.qname, "\\027[31mred.example");
        assert_eq!(t.comm.as_deref(), Some("ev\\x1bil\\x5c"));
    }
}
