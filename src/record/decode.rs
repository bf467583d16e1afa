//! Decoding a ring-buffer record: a pure function of its bytes, so it is
//! tested and fuzzed without a kernel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::kstr::kernel_str;
use super::{dns, Direction, Icmp, Kind, Outcome, Proto, Service, Transaction};
use crate::kernel::abi::{dt_dir, dt_kind, dt_nat, dt_proto, dt_rcode_bit, dt_service, RawEvent};

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

fn addr(bytes: &[u8; 16], family: u8) -> Result<IpAddr, DecodeError> {
    match family {
        4 => Ok(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        6 => Ok(IpAddr::V6(Ipv6Addr::from(*bytes))),
        _ => Err(DecodeError::Invalid("address family")),
    }
}

/// A record's bytes before its name. The kernel sends a record cut after
/// its name's own bytes (`name_len` of them), not the whole struct.
const HEAD: usize = std::mem::offset_of!(RawEvent, name);

/// Room for a whole record, aligned as the struct, to read a cut one in.
#[repr(C, align(8))]
struct Whole([u8; std::mem::size_of::<RawEvent>()]);

impl Transaction {
    /// Decodes one ring-buffer record: the struct, or the struct cut after
    /// its name's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Transaction, DecodeError> {
        // Whole and 8-byte aligned, read in place.
        if let Ok(ev) = plain::from_bytes::<RawEvent>(bytes) {
            return Transaction::from_raw(ev);
        }
        if bytes.len() < HEAD {
            return Err(DecodeError::Short(bytes.len()));
        }
        let mut whole = Whole([0; std::mem::size_of::<RawEvent>()]);
        let n = bytes.len().min(whole.0.len());
        whole.0[..n].copy_from_slice(&bytes[..n]);
        let ev = plain::from_bytes::<RawEvent>(&whole.0).expect("aligned and whole");
        // The name's bytes must all be there (a name_len past the struct's
        // room is from_raw's to refuse).
        if n < HEAD + usize::from(ev.name_len).min(ev.name.len()) {
            return Err(DecodeError::Short(bytes.len()));
        }
        Transaction::from_raw(ev)
    }

    pub fn from_raw(ev: &RawEvent) -> Result<Transaction, DecodeError> {
        let kind = match dt_kind(ev.kind.into()) {
            dt_kind::DT_KIND_ANSWERED => Kind::Answered,
            dt_kind::DT_KIND_TIMEOUT => Kind::Timeout,
            dt_kind::DT_KIND_ANNOUNCEMENT => Kind::Announcement,
            dt_kind::DT_KIND_ENCRYPTED => Kind::Encrypted,
            dt_kind::DT_KIND_LATE => Kind::Late,
            dt_kind::DT_KIND_UNREACHABLE => Kind::Unreachable,
            dt_kind::DT_KIND_DUPLICATE => Kind::Duplicate,
            _ => return Err(DecodeError::Invalid("kind")),
        };
        let service = match dt_service(ev.service.into()) {
            dt_service::DT_SERVICE_DNS => Service::Dns,
            dt_service::DT_SERVICE_MDNS => Service::Mdns,
            dt_service::DT_SERVICE_DOT => Service::Dot,
            dt_service::DT_SERVICE_DOQ => Service::Doq,
            _ => return Err(DecodeError::Invalid("service")),
        };
        // Query to what completed it (an answer, an ICMP error), or to a
        // late or second answer.
        let timed = matches!(
            kind,
            Kind::Answered | Kind::Late | Kind::Duplicate | Kind::Unreachable
        );
        let has_response = matches!(
            kind,
            Kind::Answered | Kind::Announcement | Kind::Late | Kind::Duplicate
        );
        // What NAT did is known of queries, not of announcements or
        // connections.
        let query = !matches!(kind, Kind::Announcement | Kind::Encrypted);
        let proto = match dt_proto(ev.proto.into()) {
            dt_proto::DT_PROTO_UDP => Proto::Udp,
            dt_proto::DT_PROTO_TCP => Proto::Tcp,
            _ => return Err(DecodeError::Invalid("protocol")),
        };
        let direction = match dt_dir(ev.dir.into()) {
            dt_dir::DT_DIR_EGRESS => Direction::Egress,
            dt_dir::DT_DIR_INGRESS => Direction::Ingress,
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
        // What NAT did, known of queries only (an announcement's or a
        // connection's bits are not read: the kernel fills them from
        // entries that have none); each half where its bit is.
        let (dst, src) = (dt_nat::DT_NAT_DST.0 as u8, dt_nat::DT_NAT_SRC.0 as u8);
        let nat = if query { ev.nat } else { 0 };
        if nat & !(dst | src) != 0 {
            return Err(DecodeError::Invalid("nat"));
        }
        let first_rcode = if kind == Kind::Duplicate {
            let unreachable = dt_rcode_bit::DT_RCODE_UNREACHABLE_BIT.0;
            Some(match u32::from(ev.first_rcode) {
                r @ 0..=15 => Outcome::Rcode(r as u16),
                r if r == unreachable => Outcome::Unreachable,
                _ => return Err(DecodeError::Invalid("first rcode")),
            })
        } else {
            None
        };
        let icmp = if kind == Kind::Unreachable {
            Some(Icmp {
                icmp_type: ev.icmp_type,
                code: ev.icmp_code,
                from: addr(&ev.icmp_addr, ev.family)?,
            })
        } else {
            None
        };
        Ok(Transaction {
            kind,
            service,
            mono_ns: ev.ts,
            latency_ns: timed.then_some(ev.latency_ns),
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
            backend_ip: match nat & dst {
                0 => None,
                _ => Some(addr(&ev.backend_addr, ev.family)?),
            },
            backend_port: (nat & dst != 0).then_some(ev.backend_port),
            nat_ip: match nat & src {
                0 => None,
                _ => Some(addr(&ev.nat_addr, ev.family)?),
            },
            nat_port: (nat & src != 0).then_some(ev.nat_port),
            backend_ns: (query && ev.backend_ns != 0).then_some(ev.backend_ns),
            cgroup_id: (ev.cgroup_id != 0).then_some(ev.cgroup_id),
            first_rcode,
            icmp,
        })
    }
}
