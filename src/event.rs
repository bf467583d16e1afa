//! A finished transaction as the kernel reports it, decoded into plain Rust
//! data. Decoding is a pure function of the record's bytes, so it is tested
//! and fuzzed without a kernel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bpf::RawEvent;
use crate::dns;

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
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Answered | Kind::Timeout => "transaction",
            Kind::Announcement => "announcement",
            Kind::Encrypted => "encrypted",
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The record is shorter than the kernel's struct.
    Short(usize),
    /// A field holds a value the kernel never writes.
    Invalid(&'static str),
    /// The question name in the record cannot be read.
    Name(dns::NameError),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Short(n) => write!(f, "record of {n} bytes is too short"),
            DecodeError::Invalid(what) => write!(f, "invalid {what}"),
            DecodeError::Name(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

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
}

const KIND_ANSWERED: u8 = 0;
const KIND_TIMEOUT: u8 = 1;
const KIND_ANNOUNCEMENT: u8 = 2;
const KIND_ENCRYPTED: u8 = 3;

fn addr(bytes: &[u8; 16], family: u8) -> Result<IpAddr, DecodeError> {
    match family {
        4 => Ok(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        6 => Ok(IpAddr::V6(Ipv6Addr::from(*bytes))),
        _ => Err(DecodeError::Invalid("address family")),
    }
}

/// Bytes of a kernel string: a process name (TASK_COMM_LEN) or an
/// interface name (IFNAMSIZ), NUL-padded.
pub const KERNEL_STR_LEN: usize = 16;

/// A kernel string as shown: printable ASCII, anything else escaped as
/// `\xNN` (process names are chosen by the process, so they are
/// untrusted). At most four bytes for each of the kernel's sixteen, so it
/// is kept inline: decoding a record allocates nothing for its process and
/// interface names.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelStr {
    /// ASCII, then zeros (which keeps the derived comparisons right).
    bytes: [u8; 4 * KERNEL_STR_LEN],
    len: u8,
}

impl KernelStr {
    pub fn as_str(&self) -> &str {
        let bytes = &self.bytes[..usize::from(self.len)];
        debug_assert!(bytes.is_ascii());
        // SAFETY: only `push` writes the bytes, and it writes ASCII only
        // (printable bytes, and \xNN for the others), which is UTF-8.
        // Checking again cost as much as the rest of writing both names
        // into a JSON line.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Appends `b`, escaped if need be; false when there is no room left.
    fn push(&mut self, b: u8) -> bool {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let at = usize::from(self.len);
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            let Some(room) = self.bytes.get_mut(at) else {
                return false;
            };
            *room = b;
            self.len += 1;
        } else {
            let Some(room) = self.bytes.get_mut(at..at + 4) else {
                return false;
            };
            room.copy_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
            self.len += 4;
        }
        true
    }
}

impl Default for KernelStr {
    fn default() -> KernelStr {
        KernelStr {
            bytes: [0; 4 * KERNEL_STR_LEN],
            len: 0,
        }
    }
}

/// Escapes the bytes of `s` the way a kernel string's are, as many as fit
/// (sixteen at least): for tests and fixtures, which write names as text.
impl From<&str> for KernelStr {
    fn from(s: &str) -> KernelStr {
        let mut k = KernelStr::default();
        for &b in s.as_bytes() {
            if !k.push(b) {
                break;
            }
        }
        k
    }
}

impl std::ops::Deref for KernelStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<&str> for KernelStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for KernelStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.as_str(), f)
    }
}

impl std::fmt::Debug for KernelStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A NUL-terminated kernel string, escaped (see [`KernelStr`]).
pub fn kernel_str(raw: &[i8; KERNEL_STR_LEN]) -> KernelStr {
    let mut s = KernelStr::default();
    for &c in raw {
        if c == 0 {
            break;
        }
        let fits = s.push(c as u8);
        debug_assert!(fits, "four bytes for each of sixteen");
    }
    s
}

impl Transaction {
    /// Decodes one ring-buffer record.
    pub fn decode(bytes: &[u8]) -> Result<Transaction, DecodeError> {
        // Read in place: ring-buffer records are 8-byte aligned. Bytes
        // from elsewhere (tests, fuzzers) may not be, and are copied.
        if let Ok(ev) = plain::from_bytes::<RawEvent>(bytes) {
            return Transaction::from_raw(ev);
        }
        let mut ev = RawEvent::default();
        plain::copy_from_bytes(&mut ev, bytes).map_err(|_| DecodeError::Short(bytes.len()))?;
        Transaction::from_raw(&ev)
    }

    pub fn from_raw(ev: &RawEvent) -> Result<Transaction, DecodeError> {
        let kind = match ev.kind {
            KIND_ANSWERED => Kind::Answered,
            KIND_TIMEOUT => Kind::Timeout,
            KIND_ANNOUNCEMENT => Kind::Announcement,
            KIND_ENCRYPTED => Kind::Encrypted,
            _ => return Err(DecodeError::Invalid("kind")),
        };
        let service = match ev.service {
            0 => Service::Dns,
            1 => Service::Mdns,
            2 => Service::Dot,
            3 => Service::Doq,
            _ => return Err(DecodeError::Invalid("service")),
        };
        let answered = kind == Kind::Answered;
        let has_response = matches!(kind, Kind::Answered | Kind::Announcement);
        let proto = match ev.proto {
            17 => Proto::Udp,
            6 => Proto::Tcp,
            _ => return Err(DecodeError::Invalid("protocol")),
        };
        let direction = match ev.dir {
            0 => Direction::Egress,
            1 => Direction::Ingress,
            _ => return Err(DecodeError::Invalid("direction")),
        };
        let name_len = usize::from(ev.name_len);
        let qname = if kind == Kind::Encrypted {
            String::new()
        } else {
            if name_len == 0 || name_len > ev.name.len() {
                return Err(DecodeError::Invalid("name length"));
            }
            dns::name_to_string(&ev.name[..name_len]).map_err(DecodeError::Name)?
        };
        let comm = kernel_str(&ev.comm);
        Ok(Transaction {
            kind,
            service,
            mono_ns: ev.ts,
            latency_ns: answered.then_some(ev.latency_ns),
            duration_ns: (kind == Kind::Encrypted).then_some(ev.latency_ns),
            bytes_out: ev.bytes_out,
            bytes_in: ev.bytes_in,
            netns: ev.netns,
            ifindex: ev.ifindex,
            interface: kernel_str(&ev.ifname),
            direction,
            pid: (ev.pid != 0).then_some(ev.pid),
            comm: (ev.pid != 0 && !comm.is_empty()).then_some(comm),
            client: addr(&ev.client_addr, ev.family)?,
            client_port: ev.client_port,
            server: addr(&ev.server_addr, ev.family)?,
            server_port: ev.server_port,
            proto,
            id: ev.id,
            qname,
            qtype: ev.qtype,
            qclass: ev.qclass,
            qflags: ev.qflags,
            rflags: has_response.then_some(ev.rflags),
            ancount: ev.ancount,
            nscount: ev.nscount,
            arcount: ev.arcount,
            query_size: ev.query_size,
            response_size: has_response.then_some(ev.resp_size),
        })
    }

    /// The header rcode of the response; None for a timeout.
    pub fn rcode(&self) -> Option<u16> {
        self.rflags.map(|f| f & 0xf)
    }

    /// "NOERROR", "NXDOMAIN", ..., "TIMEOUT", or "ENCRYPTED".
    pub fn rcode_name(&self) -> std::borrow::Cow<'static, str> {
        match (self.kind, self.rcode()) {
            (Kind::Encrypted, _) => "ENCRYPTED".into(),
            (_, Some(r)) => dns::rcode_name(r),
            (_, None) => "TIMEOUT".into(),
        }
    }

    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
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

    pub(crate) use crate::fixtures::{bytes_of, record as raw};

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
        ev.kind = KIND_TIMEOUT;
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
        let bytes = bytes_of(&raw(EXAMPLE));
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
        ev.kind = KIND_ENCRYPTED;
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
        ev.kind = KIND_ANNOUNCEMENT;
        ev.service = 1;
        ev.rflags = 0x8400;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        assert_eq!(t.kind, Kind::Announcement);
        assert_eq!(t.rcode_name(), "NOERROR");
        assert_eq!(t.latency_ns, None);
        assert!(!t.is_timeout());
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
        crate::fixtures::set_str(&mut raw, b"eth0");
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
