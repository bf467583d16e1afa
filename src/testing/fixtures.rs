//! Records and wire names built the way the kernel builds them, for the
//! unit tests, the integration tests and the fuzz corpus: one fixture, so
//! that they all test the same record. Not part of dnstrace's interface.

use crate::kernel::abi::RawEvent;
use crate::lookup::{LookupRcode, LookupRecord};
use crate::resolv::SearchSource;

/// An answered query as the kernel reports it: dig (pid 4242) on veth0
/// asking 10.0.0.1 from 10.0.0.2:40000, id 0xbeef, AAAA, NXDOMAIN after
/// 2.5 ms, for the wire name `name` (cut to the record's buffer).
pub fn record(name: &[u8]) -> RawEvent {
    let mut ev = RawEvent {
        ts: 1_000_000_000,
        latency_ns: 2_500_000,
        netns: 4026531840,
        ifindex: 2,
        pid: 4242,
        kind: 0, // answered
        proto: 17,
        family: 4,
        dir: 0,
        client_port: 40000,
        server_port: 53,
        id: 0xbeef,
        qtype: 28,
        qclass: 1,
        qflags: 0x0100,
        rflags: 0x8183,
        ancount: 0,
        nscount: 1,
        arcount: 1,
        query_size: 40,
        resp_size: 100,
        ..RawEvent::default()
    };
    ev.client_addr[..4].copy_from_slice(&[10, 0, 0, 2]);
    ev.server_addr[..4].copy_from_slice(&[10, 0, 0, 1]);
    set_str(&mut ev.comm, b"dig");
    set_str(&mut ev.ifname, b"veth0");
    let n = name.len().min(ev.name.len());
    ev.name[..n].copy_from_slice(&name[..n]);
    ev.name_len = name.len() as u16;
    ev
}

/// The record's bytes, as they arrive from the ring buffer.
/// The kernel cuts a record after its name's bytes (`name_len` of them).
pub fn bytes_of(ev: &RawEvent) -> Vec<u8> {
    let mut bytes = whole_bytes_of(ev);
    let name = usize::from(ev.name_len).min(ev.name.len());
    bytes.truncate(std::mem::offset_of!(RawEvent, name) + name);
    bytes
}

/// The record's whole struct, the name's room included.
pub fn whole_bytes_of(ev: &RawEvent) -> Vec<u8> {
    // SAFETY: RawEvent is a plain C struct of integers and byte arrays,
    // built from a zeroed default, so every byte is initialised.
    unsafe { plain::as_bytes(ev) }.to_vec()
}

/// Writes a kernel string (NUL-padded, cut to the field).
pub fn set_str(dst: &mut [i8], s: &[u8]) {
    dst.fill(0);
    for (d, b) in dst.iter_mut().zip(s) {
        *d = *b as i8;
    }
}

/// A wire-format name from its labels, root label included.
pub fn wire(labels: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for l in labels {
        v.push(l.len() as u8);
        v.extend_from_slice(l);
    }
    v.push(0);
    v
}

/// Records of every shape the kernel sends, in proportions like a busy
/// node's (mostly answered A and AAAA queries over IPv4 from a few hundred
/// clients to a few servers, for about a thousand names), with the rare
/// shapes mixed in: timeouts, announcements, encrypted connections, IPv6
/// (IPv4-mapped and compressed forms too), TCP, unnamed types and rcodes,
/// odd flags, unknown processes and hostile bytes in every string. The
/// same `seed` gives the same record; records follow each other 20 us
/// apart (50k/s).
pub fn varied(seed: u64) -> RawEvent {
    let mut rng = Rng(seed);
    let name = varied_name(&mut rng);
    let mut ev = record(&name);
    ev.ts = 1_000_000_000 + seed * 20_000;
    ev.id = rng.below(1 << 16) as u16;
    ev.client_port = 1024 + rng.below(64512) as u16;
    set_varied_endpoints(&mut ev, &mut rng);
    set_varied_question(&mut ev, &mut rng);
    set_varied_answer(&mut ev, &mut rng, name.len());
    ev.netns = 4026531840 + rng.below(3) as u32;
    ev.ifindex = 1 + rng.below(8) as u32;
    set_varied_process(&mut ev, &mut rng);
    set_varied_ifname(&mut ev, &mut rng);
    set_varied_kind(&mut ev, &mut rng);
    ev
}

// The helpers below draw from `rng` in a fixed order, which `varied` keeps:
// the same seed must give the same bytes (the pipeline benchmark's digests
// and the oracle tests depend on it), so a new draw goes at the end.

/// One of about a thousand names under four zones, or, rarely, a hostile
/// one: quotes, escapes and control bytes, the root, the longest name, and
/// bytes that are not UTF-8.
fn varied_name(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(1000);
    match rng.below(64) {
        0 => wire(&[b"we\"ird\\", b"\x1b[1mname", b"a.b", b"example"]),
        1 => vec![0],
        2 => wire(&[&[b'x'; 63], &[b'y'; 63], &[b'z'; 63], &[b'w'; 61]]),
        3 => wire(&[b"caf\xc3\xa9", b"\x00\x7f\xff", b"test"]),
        _ => {
            let host = format!("host{n}");
            let zone: &[u8] = [b"svc" as &[u8], b"pod", b"example", b"internal"][(n % 4) as usize];
            wire(&[host.as_bytes(), zone, b"cluster", b"local"])
        }
    }
}

/// Client and server: a few hundred clients and four servers, mostly IPv4;
/// IPv6 in its compressed, IPv4-mapped, loopback and unspecified forms;
/// the odd other port and TCP; a fifth of the records seen leaving.
fn set_varied_endpoints(ev: &mut RawEvent, rng: &mut Rng) {
    let client = rng.below(300);
    let server = rng.below(4);
    if rng.below(10) < 8 {
        ev.family = 4;
        ev.client_addr = [0; 16];
        ev.client_addr[..4].copy_from_slice(&[10, 1, (client >> 8) as u8, client as u8]);
        let servers = [
            [10, 0, 0, 1],
            [10, 96, 0, 10],
            [192, 168, 1, 1],
            [8, 8, 8, 8],
        ];
        ev.server_addr = [0; 16];
        ev.server_addr[..4].copy_from_slice(&servers[server as usize]);
    } else {
        ev.family = 6;
        let clients: [std::net::Ipv6Addr; 4] = [
            std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2 + client as u16),
            std::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a01, client as u16),
            std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, client as u16, 0),
            std::net::Ipv6Addr::LOCALHOST,
        ];
        let servers: [std::net::Ipv6Addr; 4] = [
            std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
            std::net::Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888),
            std::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0xc0a8, 0x0101),
            std::net::Ipv6Addr::UNSPECIFIED,
        ];
        ev.client_addr = clients[rng.below(4) as usize].octets();
        ev.server_addr = servers[server as usize].octets();
    }
    ev.server_port = match rng.below(40) {
        0 => 5353,
        1 => 5300,
        _ => 53,
    };
    if rng.below(20) == 0 {
        ev.proto = 6;
    }
    ev.dir = (rng.below(5) == 0) as u8;
}

/// The question: mostly A and AAAA in class IN with RD set; named and
/// unnamed types, other classes and odd flags now and then.
fn set_varied_question(ev: &mut RawEvent, rng: &mut Rng) {
    ev.qtype = match rng.below(16) {
        0..=7 => 1,
        8..=11 => 28,
        12 => [5, 15, 2, 12, 6, 33, 16, 64, 65, 255, 257][rng.below(11) as usize],
        13 => 65280,
        _ => rng.below(1 << 16) as u16,
    };
    ev.qclass = match rng.below(50) {
        0 => 3,
        1 => 255,
        2 => rng.below(1 << 16) as u16,
        _ => 1,
    };
    ev.qflags = match rng.below(30) {
        0 => rng.below(1 << 16) as u16,
        1 => 0x0110,
        2 => 0x0000,
        _ => 0x0100,
    };
}

/// The response: mostly NOERROR, some NXDOMAIN and SERVFAIL, any rcode
/// and odd flags now and then; latencies from under a microsecond to over
/// ten seconds, mostly tens of microseconds to tens of milliseconds; section
/// counts and sizes to match the name of `name_len` bytes.
fn set_varied_answer(ev: &mut RawEvent, rng: &mut Rng, name_len: usize) {
    let rcode = match rng.below(20) {
        0..=14 => 0,
        15..=17 => 3,
        18 => 2,
        _ => rng.below(16),
    } as u16;
    ev.rflags = match rng.below(10) {
        0 => rng.below(1 << 16) as u16 & 0xfff0 | rcode,
        1 => 0x8780 | rcode,
        _ => 0x8180 | rcode,
    };
    ev.latency_ns = match rng.below(20) {
        0 => rng.below(1000),
        1 => 1_000_000_000 + rng.below(10_000_000_000),
        2 => 999_999,
        _ => {
            let scale = 10 + rng.below(16);
            20_000 + rng.below(1 << scale) * 1000
        }
    };
    ev.ancount = rng.below(8) as u16;
    ev.nscount = rng.below(3) as u16;
    ev.arcount = rng.below(3) as u16;
    ev.query_size = 30 + name_len as u16;
    ev.resp_size = ev.query_size + 16 * ev.ancount;
}

/// The process: fifty known ones, the kernel (pid 0), or an unknown one
/// (pid 1, no name); the odd hostile or full-length name.
fn set_varied_process(ev: &mut RawEvent, rng: &mut Rng) {
    match rng.below(100) {
        0..=79 => ev.pid = 1000 + rng.below(50) as u32,
        80..=94 => ev.pid = 0,
        _ => {
            ev.pid = 1;
            set_str(&mut ev.comm, b"");
        }
    }
    let comm: &[u8] = match rng.below(40) {
        0 => b"ev\x1bil\\\"\x7f\xff",
        1 => b"exactly15bytes_",
        _ => [b"dig" as &[u8], b"coredns", b"systemd-resolve", b"curl"][rng.below(4) as usize],
    };
    if ev.pid > 1 {
        set_str(&mut ev.comm, comm);
    }
}

/// The interface: four common ones, the odd hostile or full-length name.
fn set_varied_ifname(ev: &mut RawEvent, rng: &mut Rng) {
    let ifname: &[u8] = match rng.below(40) {
        0 => b"e\x01th\"0\\\xc3",
        1 => b"veth1234567890a",
        _ => [b"eth0" as &[u8], b"lo", b"cni0", b"veth3f2a9c1b"][rng.below(4) as usize],
    };
    set_str(&mut ev.ifname, ifname);
}

/// The kind: mostly answered, a few timeouts, an announcement (mDNS) and
/// an encrypted connection (DoT, DoQ) with its byte counts.
fn set_varied_kind(ev: &mut RawEvent, rng: &mut Rng) {
    match rng.below(100) {
        0..=3 => ev.kind = 1,
        4 => {
            ev.kind = 2;
            ev.service = 1;
            ev.server_port = 5353;
        }
        5 => {
            ev.kind = 3;
            ev.service = 2 + rng.below(2) as u8;
            ev.proto = if ev.service == 2 { 6 } else { 17 };
            ev.server_port = 853;
            ev.name_len = 0;
            for bytes in [&mut ev.bytes_out, &mut ev.bytes_in] {
                let scale = 8 + rng.below(24);
                *bytes = rng.below(1 << scale);
            }
        }
        _ => {}
    }
}

/// [`varied`]'s record with what NAT and the later kinds bring, now and
/// then: DNAT to a backend (on another port at times) and SNAT, with and
/// without the leg beyond NAT; late and duplicate answers (the first
/// answer's rcode mostly the same); queries failed by ICMP errors, named
/// and unnamed. Its own function with its own draws, so that `varied`'s
/// records, and the digests made of them, stay as they were.
pub fn varied_nat(seed: u64) -> RawEvent {
    let mut ev = varied(seed);
    let mut rng = Rng(seed ^ 0x6e61_745f_6b69_6e64);
    let v6 = ev.family == 6;
    let addr = |v4: [u8; 4], v6_last: u16| -> [u8; 16] {
        let mut a = [0; 16];
        if v6 {
            a = std::net::Ipv6Addr::new(0xfd00, 0x244, 0, 0, 0, 0, 0, v6_last).octets();
        } else {
            a[..4].copy_from_slice(&v4);
        }
        a
    };
    let backend = rng.below(8) as u8;
    if rng.below(3) == 0 {
        ev.nat |= 1;
        ev.backend_addr = addr([10, 244, backend / 4, 2 + backend], u16::from(backend));
        ev.backend_port = [53, 53, 53, 1053, 5353][rng.below(5) as usize];
    }
    if rng.below(4) == 0 {
        ev.nat |= 2;
        ev.nat_addr = addr([192, 168, 1, 10], 0xa);
        ev.nat_port = 1024 + rng.below(64512) as u16;
    }
    if ev.nat != 0 && rng.below(3) > 0 {
        ev.backend_ns = ev.latency_ns / (1 + rng.below(4));
    }
    // Answered queries only: the other kinds keep their own shapes.
    if ev.kind != 0 {
        return ev;
    }
    match rng.below(20) {
        0 | 1 => {
            ev.kind = 4; // late
            ev.latency_ns += 5_000_000_000;
        }
        2 | 3 => {
            ev.kind = 6; // duplicate
            ev.first_rcode = match rng.below(6) {
                0 | 1 => rng.below(16) as u8,
                2 => 18, // an ICMP error completed it
                _ => (ev.rflags & 0xf) as u8,
            };
        }
        4 => {
            ev.kind = 5; // unreachable
            (ev.icmp_type, ev.icmp_code) = match (rng.below(4), v6) {
                (0, _) => (rng.below(256) as u8, rng.below(256) as u8),
                (_, false) => (3, [3, 1, 0, 13, 10, 16][rng.below(6) as usize]),
                (_, true) => (1, [4, 3, 0, 1, 7][rng.below(5) as usize]),
            };
            ev.icmp_addr = if rng.below(2) == 0 {
                ev.server_addr
            } else {
                addr([10, 0, 0, 254], 0xfe)
            };
        }
        _ => {}
    }
    ev
}

/// SplitMix64: deterministic and good enough to pick fixture shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In 0..n.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A lookup of `name` as the grouping reports it: A and AAAA over UDP from
/// 10.0.0.2:40000, two queries, answered NOERROR after 1 ms, at 1 s, with
/// no process and no resend. Tests set what they are about with struct
/// update syntax.
pub fn lookup_record(name: &str) -> LookupRecord {
    LookupRecord {
        mono_ns: 1_000_000_000,
        name: name.into(),
        answered_name: Some(name.into()),
        qtypes: vec![1, 28],
        queries: 2,
        search_misses: 0,
        retries: 0,
        retransmits: 0,
        rcode: LookupRcode::Rcode(0),
        latency_ns: Some(1_000_000),
        client_ip: "10.0.0.2".parse().expect("an address"),
        client_port: 40000,
        pid: None,
        comm: None,
        cgroup_id: None,
        netns: 4026531840,
        who: None,
        sibling_lost: false,
        tcp_fallback: false,
        retry_after_timeout: false,
        retry_delay_ns: None,
        search_source: SearchSource::Process,
        incomplete: false,
        udp: true,
        tcp: false,
        conntrack: None,
        suspicion: None,
    }
}
