//! Hostile input through the real kernel path, as root: malformed DNS,
//! non-DNS bytes on port 53, responses to nothing, forged answers and
//! colliding ids, injected as raw frames or sent from real sockets in
//! network namespaces. dnstrace must exit cleanly, report exactly the
//! transactions that happened, each once and paired right, and count what
//! it skipped under the right reason.
//!
//! Subnets 220-229 belong to this file. The kernel's counters see every
//! namespace on the host, and other tests may run DNS at the same time: so
//! the counters that any DNS traffic moves are read from a tracer that
//! keeps only this test's DNS ids in the kernel (`--id`), and only the
//! malformed_* counters, which well-formed traffic never moves, are read
//! unfiltered.

mod util;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::inject::{udp_frame, Injector};
use util::tap::{ipv4_checksum, udp_checksum};
use util::{privileged, Link, Netns, Responder, TraceOutput, Tracer};

/// A packet crossing a veth pair passes two hooks, net_dev_queue on the
/// sender's end and netif_receive_skb on the peer, and the kernel program
/// counts a malformed packet (or a response to no query) at each.
const SIGHTINGS: u64 = 2;

const MALFORMED: [&str; 6] = [
    "malformed_short",
    "malformed_no_question",
    "malformed_truncated",
    "malformed_label",
    "malformed_pointer",
    "malformed_name_long",
];

/// The counters `-v` prints at exit, `dnstrace:   <key>   <value>  <what>`.
fn counters(out: &TraceOutput) -> BTreeMap<String, u64> {
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
fn assert_counters(out: &TraceOutput, expected: &BTreeMap<&str, u64>, zero: &[&str]) {
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

fn assert_clean_exit(out: &TraceOutput) {
    assert!(out.status.success(), "{:?}\n{}", out.status, out.stderr);
    assert!(
        !out.stderr.contains("could not be decoded"),
        "records the user space refused:\n{}",
        out.stderr
    );
}

// --- DNS messages, built byte by byte ---

fn message(id: u16, flags: u16, qdcount: u16, rest: &[u8]) -> Vec<u8> {
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
fn query_msg(id: u16, name_wire: &[u8]) -> Vec<u8> {
    let mut q = name_wire.to_vec();
    q.extend_from_slice(&[0, 1, 0, 1]);
    message(id, 0x0100, 1, &q)
}

fn labels(lens: &[usize]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, &n) in lens.iter().enumerate() {
        v.push(n as u8);
        v.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, n));
    }
    v.push(0);
    v
}

/// What the kernel program must count a payload sent from a client port
/// to port 53 as; None when it counts nothing. This restates the rules of
/// RFC 1035 the program applies (read_question in dnstrace.bpf.c), from
/// the packet's point of view: a question needs at least a root label,
/// qtype and qclass; a label walk stops at the first reserved label type
/// or compression pointer, or at the end of the packet; a name whose
/// labels go on inside the packet past byte 255 is too long, however far
/// into the packet they reach.
fn expected_reason(p: &[u8]) -> Option<&'static str> {
    if p.len() < 12 {
        return Some("malformed_short");
    }
    if p[2] & 0x80 != 0 {
        // A "response" sent from a client port: not DNS to the tracer.
        return None;
    }
    if p[4..6] == [0, 0] {
        return Some("malformed_no_question");
    }
    let q = &p[12..];
    if q.len() < 5 {
        return Some("malformed_truncated");
    }
    let mut pos = 0usize;
    loop {
        let Some(&len) = q.get(pos) else {
            return Some("malformed_truncated");
        };
        if pos >= 255 {
            return Some("malformed_name_long");
        }
        match len & 0xc0 {
            0xc0 => return Some("malformed_pointer"),
            0x40 | 0x80 => return Some("malformed_label"),
            _ if len == 0 => {
                return if pos + 5 > q.len() {
                    Some("malformed_truncated")
                } else {
                    None
                };
            }
            _ => pos += 1 + usize::from(len),
        }
    }
}

/// A valid query would be tracked (and time out): the random payloads
/// must not be one.
fn is_valid_query(p: &[u8]) -> bool {
    p.len() >= 12 && p[2] & 0x80 == 0 && expected_reason(p).is_none()
}

/// Payloads that are not DNS at all, from a fixed seed (xorshift64), so a
/// failure reproduces.
fn random_payloads(n: usize) -> Vec<Vec<u8>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::new();
    while out.len() < n {
        let len = (next() % 300) as usize;
        let p: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if !is_valid_query(&p) {
            out.push(p);
        }
    }
    out
}

/// The malformed queries, each with the reason it must be counted under.
fn malformed_cases() -> Vec<(&'static str, Vec<u8>)> {
    let id = 0xd00d;
    let mut cases = vec![
        ("empty payload", vec![]),
        ("one byte", vec![0xab]),
        (
            "header of 11 bytes",
            message(id, 0x0100, 1, &[])[..11].to_vec(),
        ),
        ("qdcount 0, nothing after", message(id, 0x0100, 0, &[])),
        (
            "qdcount 0, a question after",
            message(id, 0x0100, 0, &query_msg(id, &labels(&[3]))[12..]),
        ),
        (
            "question of 4 bytes",
            message(id, 0x0100, 1, &[3, b'a', b'b', b'c']),
        ),
        (
            "question without its qclass",
            message(id, 0x0100, 1, &[3, b'w', b'w', b'w', 0, 0, 1]),
        ),
        (
            "label running past the end",
            message(id, 0x0100, 1, &[10, b'a', b'b', b'c', b'd', b'e']),
        ),
        ("label byte 0x40 (64)", {
            let mut n = vec![0x40];
            n.extend_from_slice(&[b'x'; 64]);
            n.push(0);
            query_msg(id, &n)
        }),
        ("label type 0x80", query_msg(id, &[0x80, 1, b'x', 0])),
        ("label type 0x40 after a label", {
            let mut n = labels(&[3]);
            n.pop();
            n.extend_from_slice(&[0x41, b'y', 0]);
            query_msg(id, &n)
        }),
        ("pointer to itself (a loop)", query_msg(id, &[0xc0, 12])),
        ("pointer after a label, to itself", {
            query_msg(id, &[3, b'w', b'w', b'w', 0xc0, 16])
        }),
        ("pointer into the header", query_msg(id, &[0xc0, 2])),
        ("five labels of 63 bytes", query_msg(id, &labels(&[63; 5]))),
        ("four labels of 63 bytes", query_msg(id, &labels(&[63; 4]))),
        ("128 labels of 1 byte", query_msg(id, &labels(&[1; 128]))),
        (
            "HTTP request",
            b"GET / HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n".to_vec(),
        ),
        ("TLS ClientHello start", {
            let mut v = vec![0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03];
            v.extend_from_slice(&[0x03; 40]);
            v
        }),
        ("all 0xff", vec![0xff; 100]),
        ("all zeroes", vec![0; 100]),
    ];
    for (i, p) in random_payloads(48).into_iter().enumerate() {
        let what: &'static str = Box::leak(format!("random payload {i}").into_boxed_str());
        cases.push((what, p));
    }
    cases
}

#[test]
fn reason_model_agrees_with_the_cases() {
    // The hand-made cases say what they are; the model must agree, or the
    // random payloads' expectations would be wrong too.
    let by_name: HashMap<&str, Option<&str>> = malformed_cases()
        .into_iter()
        .map(|(what, p)| (what, expected_reason(&p)))
        .collect();
    for (what, reason) in [
        ("empty payload", "malformed_short"),
        ("header of 11 bytes", "malformed_short"),
        ("qdcount 0, a question after", "malformed_no_question"),
        ("question without its qclass", "malformed_truncated"),
        ("label running past the end", "malformed_truncated"),
        ("label byte 0x40 (64)", "malformed_label"),
        ("label type 0x80", "malformed_label"),
        ("label type 0x40 after a label", "malformed_label"),
        ("pointer to itself (a loop)", "malformed_pointer"),
        ("pointer into the header", "malformed_pointer"),
        ("five labels of 63 bytes", "malformed_name_long"),
        ("four labels of 63 bytes", "malformed_name_long"),
        ("128 labels of 1 byte", "malformed_name_long"),
        ("all zeroes", "malformed_no_question"),
    ] {
        assert_eq!(by_name[what], Some(reason), "{what}");
    }
    // 3 x 63 + 61 + 4 length bytes + root: 255 bytes, the longest valid name.
    assert_eq!(
        expected_reason(&query_msg(1, &labels(&[63, 63, 63, 61]))),
        None
    );
    assert_eq!(
        expected_reason(&query_msg(1, &labels(&[63, 63, 63, 62]))),
        Some("malformed_name_long")
    );
}

#[test]
fn injected_frames_carry_valid_checksums() {
    let src: SocketAddr = "10.77.1.2:40000".parse().unwrap();
    let dst: SocketAddr = "10.77.1.1:53".parse().unwrap();
    let f = udp_frame([2; 6], [1; 6], src, dst, b"\x12\x34hello");
    assert_eq!(f.len(), 14 + 20 + 8 + 7);
    assert_eq!(&f[..6], &[1; 6]);
    assert_eq!(&f[12..14], &[0x08, 0x00]);
    // Over a header with its checksum in place, the sum folds to 0.
    assert_eq!(ipv4_checksum(&f[14..34]), 0);
    assert_eq!(u16::from_be_bytes([f[36], f[37]]), 53);
    let mut udp = f[34..].to_vec();
    udp[6..8].fill(0);
    let (s4, d4) = ("10.77.1.2".parse().unwrap(), "10.77.1.1".parse().unwrap());
    assert_eq!(
        u16::from_be_bytes([f[40], f[41]]),
        udp_checksum(s4, d4, &udp)
    );

    let src: SocketAddr = "[fd77::2]:40000".parse().unwrap();
    let dst: SocketAddr = "[fd77::1]:53".parse().unwrap();
    let f = udp_frame([2; 6], [1; 6], src, dst, b"x");
    assert_eq!(&f[12..14], &[0x86, 0xdd]);
    assert_eq!(u16::from_be_bytes([f[18], f[19]]), 9, "payload length");
    // Pseudo-header and segment, checksum included, sum to 0.
    let mut data = f[22..54].to_vec();
    data.extend_from_slice(&9u32.to_be_bytes());
    data.extend_from_slice(&[0, 0, 0, 17]);
    data.extend_from_slice(&f[54..]);
    assert_eq!(ipv4_checksum(&data), 0);
}

/// The client's and the server's endpoints of `link`, IPv4 then IPv6.
fn endpoints(link: &Link, client_port: u16) -> [(SocketAddr, SocketAddr); 2] {
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

fn server_args(link: &Link) -> Vec<String> {
    vec![
        "--server".into(),
        link.server_v4.to_string(),
        "--server".into(),
        link.server_v6.to_string(),
    ]
}

fn start(args: &[String]) -> Tracer {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Tracer::start(&refs)
}

#[test]
fn malformed_queries_are_skipped_and_counted_by_reason() {
    let Some(_serial) = privileged("malformed_queries_are_skipped_and_counted_by_reason") else {
        return;
    };
    let link = Link::new("mal", 220);
    let mut args = server_args(&link);
    args.extend(["-v", "--timeout", "500ms"].map(String::from));
    let tracer = start(&args);
    let inject = Injector::open(&link.client, &link.client_if);

    let cases = malformed_cases();
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    for (src, dst) in endpoints(&link, 33053) {
        for (_, payload) in &cases {
            inject.send(&udp_frame(
                link.client_mac,
                link.server_mac,
                src,
                dst,
                payload,
            ));
            if let Some(reason) = expected_reason(payload) {
                *expected.entry(reason).or_default() += SIGHTINGS;
            }
        }
        // A well-formed query through the same path: nothing answers it,
        // so it must come out as one TIMEOUT. It shows that the injected
        // frames do reach the tracer, and the silence above is earned.
        inject.send(&udp_frame(
            link.client_mac,
            link.server_mac,
            src,
            dst,
            &query_msg(0xc0de, &labels(&[7, 7, 4])),
        ));
    }
    for reason in MALFORMED {
        assert!(
            expected.get(reason).is_some_and(|&n| n > 0),
            "no case for {reason}"
        );
    }
    println!("expected counters: {expected:?}");
    // Longer than --timeout: a query tracked by mistake would surface.
    std::thread::sleep(Duration::from_millis(1200));
    let out = tracer.stop();
    assert_clean_exit(&out);

    assert_eq!(
        out.records.len(),
        2,
        "only the two control queries, as TIMEOUT:\n{}",
        out.stdout
    );
    for client in [link.client_v4.to_string(), link.client_v6.to_string()] {
        let r = out
            .records
            .iter()
            .find(|r| r["client_ip"] == client.as_str())
            .unwrap_or_else(|| panic!("no control query from {client}: {}", out.stdout));
        assert_eq!(r["id"], 0xc0de, "{r}");
        assert_eq!(r["rcode"], "TIMEOUT", "{r}");
        assert_eq!(r["qname"], "aaaaaaa.bbbbbbb.cccc", "{r}");
        assert_eq!(r["client_port"], 33053, "{r}");
        assert_eq!(r["interface"], link.client_if.as_str(), "{r}");
    }
    assert_counters(&out, &expected, &MALFORMED);
    let total: u64 = expected.values().sum();
    assert!(
        out.stderr.contains(&format!(
            "skipped {total} sightings of malformed DNS packets"
        )),
        "{}",
        out.stderr
    );
}

/// A tracer that keeps only `ids` in the kernel, and these servers.
fn start_for_ids(servers: &[String], ids: &[u16], extra: &[&str]) -> Tracer {
    let mut args = vec!["-v".to_string()];
    for s in servers {
        args.extend(["--server".to_string(), s.clone()]);
    }
    for id in ids {
        args.extend(["--id".to_string(), id.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    start(&args)
}

/// The pairing counters every pairing test reads; what is not expected is 0.
const PAIRING: [&str; 8] = [
    "queries",
    "query_seen_again",
    "answered",
    "timeouts",
    "response_without_query",
    "response_repeat",
    "response_mismatch",
    "insert_failed",
];

#[test]
fn responses_to_no_query_and_forged_answers() {
    let Some(_serial) = privileged("responses_to_no_query_and_forged_answers") else {
        return;
    };
    let link = Link::new("orph", 222);
    let (orphan_id, asked_id) = (0x0bad, 0x600d);
    let servers = [link.server_v4.to_string(), link.server_v6.to_string()];
    let tracer = start_for_ids(&servers, &[orphan_id, asked_id], &[]);
    let from_client = Injector::open(&link.client, &link.client_if);
    let from_server = Injector::open(&link.server, &link.server_if);
    let [(c4, s4), (c6, s6)] = endpoints(&link, 33222);
    let to_client = |src: SocketAddr, dst: SocketAddr, payload: &[u8]| {
        from_server.send(&udp_frame(
            link.server_mac,
            link.client_mac,
            src,
            dst,
            payload,
        ));
    };

    // Responses nobody asked for: with a question, without, an error,
    // with a pointer in the question (never read: there is no query).
    let name = labels(&[6, 7, 4]);
    let mut answer = query_msg(orphan_id, &name);
    answer[2..4].copy_from_slice(&0x8180u16.to_be_bytes());
    let orphans = [
        answer.clone(),
        message(orphan_id, 0x8180, 0, &[]),
        message(orphan_id, 0x8183, 0, &[]),
        message(orphan_id, 0x8180, 1, &[0xc0, 12, 0, 1, 0, 1]),
    ];
    for p in &orphans {
        to_client(s4, c4, p);
    }
    to_client(s6, c6, &answer);

    // A query, then an answer to the same id and ports that echoes
    // another question (qtype AAAA): not its answer. Then the real one.
    let asked_name = labels(&[5, 7, 4]);
    from_client.send(&udp_frame(
        link.client_mac,
        link.server_mac,
        c4,
        s4,
        &query_msg(asked_id, &asked_name),
    ));
    let mut forged = query_msg(asked_id, &asked_name);
    forged[2..4].copy_from_slice(&0x8180u16.to_be_bytes());
    let n = forged.len();
    forged[n - 3] = 28;
    to_client(s4, c4, &forged);
    std::thread::sleep(Duration::from_millis(50));
    let mut real = query_msg(asked_id, &asked_name);
    real[2..4].copy_from_slice(&0x8183u16.to_be_bytes());
    to_client(s4, c4, &real);

    std::thread::sleep(Duration::from_millis(300));
    let out = tracer.stop();
    assert_clean_exit(&out);
    assert_eq!(
        out.records.len(),
        1,
        "only the asked query:\n{}",
        out.stdout
    );
    let r = &out.records[0];
    assert_eq!(r["id"], asked_id);
    assert_eq!(r["qname"], "aaaaa.bbbbbbb.cccc");
    assert_eq!(r["qtype"], "A");
    assert_eq!(r["rcode"], "NXDOMAIN", "completed by the real answer: {r}");
    let ms = r["latency_ms"].as_f64().unwrap();
    assert!(ms >= 50.0, "not by the forged one: {ms} ms");

    let expected = BTreeMap::from([
        (
            "response_without_query",
            (orphans.len() as u64 + 1) * SIGHTINGS,
        ),
        ("queries", 1),
        // The query again on the server's end.
        ("query_seen_again", 1),
        // Checked only where the query was first seen: the client's end.
        ("response_mismatch", 1),
        ("answered", 1),
    ]);
    assert_counters(&out, &expected, &PAIRING);
}

#[test]
fn same_id_from_three_clients_is_paired_per_client() {
    let Some(_serial) = privileged("same_id_from_three_clients_is_paired_per_client") else {
        return;
    };
    let link = Link::new("twin", 223);
    let other_v4 = Ipv4Addr::new(10, 77, 223, 3);
    link.client.ip(&[
        "addr",
        "add",
        &format!("{other_v4}/24"),
        "dev",
        &link.client_if,
    ]);
    let cmac = link.client_mac.map(|b| format!("{b:02x}")).join(":");
    link.server.ip(&[
        "neigh",
        "replace",
        &other_v4.to_string(),
        "lladdr",
        &cmac,
        "dev",
        &link.server_if,
        "nud",
        "permanent",
    ]);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let id = 0x7777;
    let tracer = start_for_ids(&[link.server_v4.to_string()], &[id], &[]);

    // All three ask before any is answered; the answers come back in the
    // reverse order, 100 ms apart.
    let clients: Vec<(SocketAddr, &str)> = vec![
        (
            SocketAddr::new(IpAddr::V4(link.client_v4), 41001),
            "delay-200.first.twins.test",
        ),
        (
            SocketAddr::new(IpAddr::V4(link.client_v4), 41002),
            "delay-100.second.twins.test",
        ),
        (
            SocketAddr::new(IpAddr::V4(other_v4), 41001),
            "third.twins.test",
        ),
    ];
    let sent = clients.clone();
    let answered = link.client.within(move || {
        let socks: Vec<UdpSocket> = sent
            .iter()
            .map(|(addr, name)| {
                let s = UdpSocket::bind(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                s.send_to(&util::dns::build_query(id, name, 1), server)
                    .unwrap();
                s
            })
            .collect();
        socks
            .iter()
            .filter(|s| s.recv_from(&mut [0u8; 512]).is_ok())
            .count()
    });
    assert_eq!(answered, 3);
    let out = tracer.stop();
    assert_clean_exit(&out);
    assert_eq!(out.records.len(), 3, "each client once:\n{}", out.stdout);
    for ((addr, name), min_ms) in clients.iter().zip([200.0, 100.0, 0.0]) {
        let mine: Vec<&Value> = out
            .records
            .iter()
            .filter(|r| {
                r["client_ip"] == addr.ip().to_string().as_str() && r["client_port"] == addr.port()
            })
            .collect();
        assert_eq!(mine.len(), 1, "{addr}: {}", out.stdout);
        let r = mine[0];
        assert_eq!(r["qname"], *name, "paired with its own answer: {r}");
        assert_eq!(r["rcode"], "NOERROR");
        let ms = r["latency_ms"].as_f64().unwrap();
        assert!(ms >= min_ms && ms < min_ms + 90.0, "{addr}: {ms} ms");
    }
    let expected = BTreeMap::from([("queries", 3), ("query_seen_again", 3), ("answered", 3)]);
    assert_counters(&out, &expected, &PAIRING);
}

#[test]
fn id_reused_after_its_answer_is_two_transactions() {
    let Some(_serial) = privileged("id_reused_after_its_answer_is_two_transactions") else {
        return;
    };
    let link = Link::new("reuse", 224);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let id = 0x4e4e;
    let tracer = start_for_ids(&[link.server_v4.to_string()], &[id], &[]);
    let client = SocketAddr::new(IpAddr::V4(link.client_v4), 41010);
    let answers = link.client.within(move || {
        let s = UdpSocket::bind(client).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let q = util::dns::build_query(id, "again.reuse.test", 1);
        let mut n = 0;
        for _ in 0..2 {
            s.send_to(&q, server).unwrap();
            if s.recv_from(&mut [0u8; 512]).is_ok() {
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    });
    assert_eq!(answers, 2);
    let out = tracer.stop();
    assert_clean_exit(&out);
    assert_eq!(out.records.len(), 2, "two transactions:\n{}", out.stdout);
    for r in &out.records {
        assert_eq!(r["id"], id);
        assert_eq!(r["qname"], "again.reuse.test");
        assert_eq!(r["rcode"], "NOERROR");
        assert_eq!(r["client_port"], 41010);
    }
    assert_ne!(out.records[0]["ts"], out.records[1]["ts"]);
    let expected = BTreeMap::from([("queries", 2), ("query_seen_again", 2), ("answered", 2)]);
    assert_counters(&out, &expected, &PAIRING);
}

fn netns_inode(ns: &Netns) -> u64 {
    std::fs::metadata(format!("/var/run/netns/{}", ns.name))
        .unwrap()
        .ino()
}

#[test]
fn loopback_ids_collide_across_namespaces() {
    let Some(_serial) = privileged("loopback_ids_collide_across_namespaces") else {
        return;
    };
    let slow_ns = Netns::new("lo1");
    let fast_ns = Netns::new("lo2");
    let server: SocketAddr = "127.0.0.1:53".parse().unwrap();
    let _r1 = Responder::start(&slow_ns, server);
    let _r2 = Responder::start(&fast_ns, server);
    let id = 0x1001;
    let tracer = start_for_ids(&["127.0.0.1".to_string()], &[id], &[]);
    let client: SocketAddr = "127.0.0.1:41053".parse().unwrap();
    let ask = move |name: &'static str| {
        move || {
            let s = UdpSocket::bind(client).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.send_to(&util::dns::build_query(id, name, 1), server)
                .unwrap();
            s.recv_from(&mut [0u8; 512]).is_ok()
        }
    };
    // The same 5-tuple and id in both namespaces, the first still waiting
    // for its answer while the second is asked and answered.
    let slow = slow_ns.spawn(ask("delay-150.slow.lo.test"));
    std::thread::sleep(Duration::from_millis(30));
    assert!(fast_ns.within(ask("fast.lo.test")));
    assert!(slow.join().unwrap());
    let out = tracer.stop();
    assert_clean_exit(&out);

    let (slow_ino, fast_ino) = (netns_inode(&slow_ns), netns_inode(&fast_ns));
    let mine: Vec<&Value> = out
        .records
        .iter()
        .filter(|r| r["netns"] == slow_ino || r["netns"] == fast_ino)
        .collect();
    assert_eq!(mine.len(), 2, "one each:\n{}", out.stdout);
    for (ino, name, min_ms, max_ms) in [
        (slow_ino, "delay-150.slow.lo.test", 150.0, 240.0),
        (fast_ino, "fast.lo.test", 0.0, 90.0),
    ] {
        let r = mine.iter().find(|r| r["netns"] == ino).unwrap();
        assert_eq!(r["qname"], name, "paired within its namespace: {r}");
        assert_eq!(r["interface"], "lo");
        assert_eq!(r["client_port"], 41053);
        let ms = r["latency_ms"].as_f64().unwrap();
        assert!(ms >= min_ms && ms < max_ms, "{name}: {ms} ms");
    }
    if mine.len() == out.records.len() {
        // On lo every packet passes both hooks: the query is seen again
        // at ingress, the response completes at egress and is seen again.
        let expected = BTreeMap::from([
            ("queries", 2),
            ("query_seen_again", 2),
            ("answered", 2),
            ("response_repeat", 2),
        ]);
        assert_counters(&out, &expected, &PAIRING);
    }
}

/// dnstrace -o text, until SIGINT; its stdout as bytes.
struct TextTracer {
    child: std::process::Child,
    stdout: std::thread::JoinHandle<Vec<u8>>,
}

impl TextTracer {
    fn start(args: &[&str]) -> TextTracer {
        let mut child = Command::new(util::DNSTRACE)
            .args(["-o", "text"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            v
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("tracing DNS") {
                    let _ = ready_tx.send(());
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("dnstrace -o text did not start");
        TextTracer { child, stdout }
    }

    fn stop(mut self) -> Vec<u8> {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "dnstrace -o text did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(self.child.wait().unwrap().success());
        self.stdout.join().unwrap()
    }
}

#[test]
fn escape_sequences_in_names_and_process_names_are_escaped() {
    let Some(_serial) = privileged("escape_sequences_in_names_and_process_names_are_escaped")
    else {
        return;
    };
    let link = Link::new("esc", 225);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let s = link.server_v4.to_string();
    let json = Tracer::start(&["--server", &s]);
    let text = TextTracer::start(&["--server", &s]);

    // dig under a name that is a terminal escape: the kernel takes the
    // process name from the file name it was started by.
    let dir = std::env::temp_dir().join(format!("dt-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let evil = dir.join("\x1b[31mevil");
    let _ = std::fs::remove_file(&evil);
    std::os::unix::fs::symlink("/usr/bin/dig", &evil).unwrap();
    let dig = link
        .client
        .command(evil.to_str().unwrap())
        .args([
            &format!("@{s}"),
            "\\027[31mred.example",
            "+tries=1",
            "+timeout=2",
            "+noedns",
        ])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let dig_out = String::from_utf8_lossy(&dig.stdout);
    assert!(dig_out.contains("status: NOERROR"), "{dig_out}");

    let out = json.stop();
    assert_clean_exit(&out);
    assert_eq!(out.records.len(), 1, "{}", out.stdout);
    let r = &out.records[0];
    assert_eq!(r["qname"], "\\027[31mred.example");
    assert_eq!(r["comm"], "\\x1b[31mevil");
    assert!(
        out.stdout.contains(r#""qname":"\\027[31mred.example""#),
        "escaped once more by JSON: {}",
        out.stdout
    );
    assert!(!out.stdout.bytes().any(|b| b == 0x1b));

    let text = text.stop();
    let line = String::from_utf8(text.clone()).expect("text output is ASCII");
    assert!(
        text.iter()
            .all(|&b| b == b'\n' || (0x20..0x7f).contains(&b)),
        "a byte a terminal would act on: {line:?}"
    );
    assert!(line.contains("\\027[31mred.example"), "{line}");
    assert!(line.contains("\\x1b[31mevil["), "{line}");
}

/// Two cases the kernel program once got wrong (see the notes on each): a
/// name over 255 bytes read as truncated, and an answer to another name of
/// the same length taken for the query's.
#[test]
fn long_name_past_the_read_window_is_counted_as_long() {
    let Some(_serial) = privileged("long_name_past_the_read_window_is_counted_as_long") else {
        return;
    };
    let link = Link::new("long", 226);
    let mut args = server_args(&link);
    args.push("-v".into());
    let tracer = start(&args);
    let inject = Injector::open(&link.client, &link.client_if);
    // Labels of 63, 63, 63, 10 and 63: the last length byte sits at 203
    // and its label ends at 267, past the 259 bytes the program reads,
    // but the packet holds the whole name (331 bytes) and its type and
    // class: the name is too long, not cut short.
    let payload = query_msg(0x10ff, &labels(&[63, 63, 63, 10, 63]));
    assert_eq!(expected_reason(&payload), Some("malformed_name_long"));
    let [(c4, s4), _] = endpoints(&link, 33226);
    inject.send(&udp_frame(
        link.client_mac,
        link.server_mac,
        c4,
        s4,
        &payload,
    ));
    std::thread::sleep(Duration::from_millis(200));
    let out = tracer.stop();
    assert_clean_exit(&out);
    let expected = BTreeMap::from([("malformed_name_long", SIGHTINGS)]);
    assert_counters(&out, &expected, &MALFORMED);
}

#[test]
fn answer_with_another_name_of_the_same_length_is_a_mismatch() {
    let Some(_serial) = privileged("answer_with_another_name_of_the_same_length_is_a_mismatch")
    else {
        return;
    };
    let link = Link::new("forge", 227);
    let id = 0x5eed;
    let tracer = start_for_ids(
        &[link.server_v4.to_string()],
        &[id],
        &["--timeout", "500ms"],
    );
    let from_client = Injector::open(&link.client, &link.client_if);
    let from_server = Injector::open(&link.server, &link.server_if);
    let [(c4, s4), _] = endpoints(&link, 33227);
    let asked = b"\x04bank\x07example\x00";
    let other = b"\x04evil\x07example\x00";
    from_client.send(&udp_frame(
        link.client_mac,
        link.server_mac,
        c4,
        s4,
        &query_msg(id, asked),
    ));
    let mut forged = query_msg(id, other);
    forged[2..4].copy_from_slice(&0x8180u16.to_be_bytes());
    from_server.send(&udp_frame(
        link.server_mac,
        link.client_mac,
        s4,
        c4,
        &forged,
    ));
    std::thread::sleep(Duration::from_millis(1000));
    let out = tracer.stop();
    assert_clean_exit(&out);
    assert_eq!(out.records.len(), 1, "{}", out.stdout);
    assert_eq!(
        out.records[0]["rcode"], "TIMEOUT",
        "the answer to evil.example is not the answer to bank.example: {}",
        out.stdout
    );
    let expected = BTreeMap::from([
        ("queries", 1),
        ("query_seen_again", 1),
        ("response_mismatch", 1),
        ("timeouts", 1),
    ]);
    assert_counters(&out, &expected, &PAIRING);
}

#[test]
fn every_reason_has_a_case() {
    let reasons: HashSet<&str> = malformed_cases()
        .iter()
        .filter_map(|(_, p)| expected_reason(p))
        .collect();
    for r in MALFORMED {
        assert!(reasons.contains(r), "{r}");
    }
}
