//! Records and wire names built the way the kernel builds them, for the
//! unit tests, the integration tests and the fuzz corpus: one fixture, so
//! that they all test the same record. Not part of dnstrace's interface.

use crate::bpf::RawEvent;

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
pub fn bytes_of(ev: &RawEvent) -> Vec<u8> {
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
