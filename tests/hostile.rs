//! Hostile input through the real kernel path, as root: malformed DNS and
//! non-DNS bytes on port 53, injected as raw frames, and terminal escapes
//! in names and process names. dnstrace must exit cleanly, report exactly
//! the transactions that happened, count what it skipped under the right
//! reason, and print nothing a terminal would act on. Forged and colliding
//! answers are in tests/forged.rs; the helpers both share, and how they
//! read the kernel's counters, in tests/util/hostile.rs.
//!
//! Subnets 220-229 belong to this file and tests/forged.rs.

mod util;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::hostile::{
    assert_clean_exit, assert_counters, endpoints, labels, message, query_msg, start, MALFORMED,
    SIGHTINGS,
};
use util::inject::{udp_frame, Injector};
use util::tap::{ipv4_checksum, udp_checksum};
use util::{privileged, Link, Responder, Tracer};

/// What the kernel program must count a payload sent from a client port
/// to port 53 as; None when it counts nothing. This restates the rules of
/// RFC 1035 the program applies (read_question in src/bpf/parse.bpf.h), from
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

/// `--server` for both of the link's server addresses.
fn server_args(link: &Link) -> Vec<String> {
    vec![
        "--server".into(),
        link.server_v4.to_string(),
        "--server".into(),
        link.server_v6.to_string(),
    ]
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

/// A case the kernel program once got wrong (see the note in the test): a
/// name over 255 bytes read as truncated.
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
fn every_reason_has_a_case() {
    let reasons: HashSet<&str> = malformed_cases()
        .iter()
        .filter_map(|(_, p)| expected_reason(p))
        .collect();
    for r in MALFORMED {
        assert!(reasons.contains(r), "{r}");
    }
}
