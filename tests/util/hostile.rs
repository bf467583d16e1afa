//! What the hostile-input tests share (tests/hostile.rs: malformed input;
//! tests/forged.rs: forged and colliding answers): DNS messages built byte
//! by byte, the endpoints of a link, and the counters dnstrace prints at
//! exit with `-v`.
//!
//! The kernel's counters see every namespace on the host, and other tests
//! may run DNS at the same time: so the counters that any DNS traffic
//! moves are read from a tracer that keeps only the test's DNS ids in the
//! kernel (`--id`), and only the malformed_* counters, which well-formed
//! traffic never moves, are read unfiltered.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::{Link, TraceOutput, Tracer};

/// A packet crossing a veth pair passes two hooks, net_dev_queue on the
/// sender's end and netif_receive_skb on the peer, and the kernel program
/// counts a malformed packet (or a response to no query) at each.
pub const SIGHTINGS: u64 = 2;

/// The counters of malformed packets, one per reason.
pub const MALFORMED: [&str; 6] = [
    "malformed_short",
    "malformed_no_question",
    "malformed_truncated",
    "malformed_label",
    "malformed_pointer",
    "malformed_name_long",
];

/// The counters `-v` prints at exit, `dnstrace:   <key>   <value>  <what>`.
pub fn counters(out: &TraceOutput) -> BTreeMap<String, u64> {
    let found: BTreeMap<String, u64> = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("dnstrace:   "))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let key = words.next()?.to_string();
            let value = words.next()?.parse().ok()?;
            Some((key, value))
        })
        .collect();
    for key in MALFORMED
        .iter()
        .chain(&["queries", "answered", "response_without_query"])
    {
        assert!(
            found.contains_key(*key),
            "no counter {key} in the -v summary:\n{}",
            out.stderr
        );
    }
    found
}

/// Every named counter has its expected value (a name missing from
/// `expected` but listed in `zero` must be 0).
pub fn assert_counters(out: &TraceOutput, expected: &BTreeMap<&str, u64>, zero: &[&str]) {
    let got = counters(out);
    let mut wrong = Vec::new();
    let keys: std::collections::BTreeSet<&str> =
        zero.iter().chain(expected.keys()).copied().collect();
    for key in keys {
        let want = expected.get(key).copied().unwrap_or(0);
        let have = got[key];
        if have != want {
            wrong.push(format!("{key}: expected {want}, counted {have}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "counters at exit:\n  {}\nstderr:\n{}",
        wrong.join("\n  "),
        out.stderr
    );
}

/// Status 0, and no record that the user space could not decode.
pub fn assert_clean_exit(out: &TraceOutput) {
    assert!(out.status.success(), "{:?}\n{}", out.status, out.stderr);
    assert!(
        !out.stderr.contains("could not be decoded"),
        "records the user space refused:\n{}",
        out.stderr
    );
}

// --- DNS messages, built byte by byte ---

/// A header (id, flags, qdcount; no other records) and then `rest`.
pub fn message(id: u16, flags: u16, qdcount: u16, rest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(12 + rest.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&qdcount.to_be_bytes());
    m.extend_from_slice(&[0; 6]);
    m.extend_from_slice(rest);
    m
}

/// A query (RD) with one question: the wire name as given, then qtype A
/// and class IN.
pub fn query_msg(id: u16, name_wire: &[u8]) -> Vec<u8> {
    let mut q = name_wire.to_vec();
    q.extend_from_slice(&[0, 1, 0, 1]);
    message(id, 0x0100, 1, &q)
}

/// A wire name of labels of these lengths (a run of one letter each), with
/// its root label.
pub fn labels(lens: &[usize]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, &n) in lens.iter().enumerate() {
        v.push(n as u8);
        v.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, n));
    }
    v.push(0);
    v
}

/// The client's and the server's endpoints of `link`, IPv4 then IPv6.
pub fn endpoints(link: &Link, client_port: u16) -> [(SocketAddr, SocketAddr); 2] {
    [
        (
            SocketAddr::new(IpAddr::V4(link.client_v4), client_port),
            SocketAddr::new(IpAddr::V4(link.server_v4), 53),
        ),
        (
            SocketAddr::new(IpAddr::V6(link.client_v6), client_port),
            SocketAddr::new(IpAddr::V6(link.server_v6), 53),
        ),
    ]
}

/// Starts dnstrace (--json plus `args`) and waits until it is attached.
pub fn start(args: &[String]) -> Tracer {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Tracer::start(&refs)
}
