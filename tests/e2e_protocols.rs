//! End to end, as root, beyond a plain UDP exchange: DNS over TCP (single,
//! pipelined, split, after a truncated UDP reply), replies in IP fragments,
//! mDNS and encrypted DNS connections. The real BPF programs in the real
//! kernel, real servers and clients in network namespaces created (and
//! removed) here. Each test filters on its own addresses, so traffic from
//! anything else on the host does not disturb its counts. DNS over UDP,
//! the filters and exiting are in tests/e2e.rs.

mod util;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use util::{dig, latency, privileged, Link, Netns, Responder, Tracer};

#[test]
fn dns_over_tcp_single_pipelined_and_split() {
    let Some(_serial) = privileged("dns_over_tcp_single_pipelined_and_split") else {
        return;
    };
    let link = Link::new("tcp", 22);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let server6 = SocketAddr::new(IpAddr::V6(link.server_v6), 53);
    let _resp = Responder::start(&link.server, server);
    let _resp6 = Responder::start(&link.server, server6);
    let tracer = Tracer::start(&[
        "--server",
        &link.server_v4.to_string(),
        "--server",
        &link.server_v6.to_string(),
    ]);
    let one = dig(
        &link.client,
        server.ip(),
        "rcode-nxdomain.tcp.test",
        &["+tcp"],
    );
    let six = dig(
        &link.client,
        server6.ip(),
        "six.tcp.test",
        &["+tcp", "AAAA"],
    );
    // Three queries in one segment of one connection, before any reply.
    let piped = util::tcp_pipeline(
        &link.client,
        server,
        &[
            (101, "p1.tcp.test", 1),
            (102, "p2.tcp.test", 28),
            (103, "delay-40.p3.tcp.test", 1),
        ],
    );
    assert_eq!(piped, 3);
    // The reply's length prefix and its message in separate segments.
    let split = dig(&link.client, server.ip(), "split.tcp.test", &["+tcp"]);
    assert_eq!(split.status, "NOERROR", "{}", split.stdout);
    let out = tracer.stop();
    assert_eq!(out.records.len(), 6, "{}", out.stdout);
    assert!(
        out.records.iter().all(|r| r["proto"] == "tcp"),
        "{}",
        out.stdout
    );
    let r = out.by_id(one.id.unwrap());
    assert_eq!(
        (r["qname"].as_str(), r["rcode"].as_str()),
        (Some("rcode-nxdomain.tcp.test"), Some("NXDOMAIN"))
    );
    assert_eq!(r["comm"], "dig");
    let r = out.by_id(six.id.unwrap());
    assert_eq!(
        (r["qtype"].as_str(), r["server_ip"].as_str()),
        (Some("AAAA"), Some(link.server_v6.to_string().as_str()))
    );
    let names = out.counts_by_name();
    for n in [
        "p1.tcp.test",
        "p2.tcp.test",
        "delay-40.p3.tcp.test",
        "split.tcp.test",
    ] {
        assert_eq!(names.get(n), Some(&1), "{n} once: {}", out.stdout);
    }
    let p3 = &out.with("qname", &Value::from("delay-40.p3.tcp.test"))[0];
    assert!(latency(p3) >= 40.0, "{p3}");
    // All three pipelined queries went over one connection.
    let port = |n: &str| out.with("qname", &Value::from(n))[0]["client_port"].clone();
    assert_eq!(port("p1.tcp.test"), port("p2.tcp.test"));
    assert_eq!(port("p1.tcp.test"), port("delay-40.p3.tcp.test"));
    assert_eq!(out.by_id(102)["qtype"], "AAAA");
    let sp = &out.with("qname", &Value::from("split.tcp.test"))[0];
    assert_eq!(sp["response_size"].as_u64(), split.size, "{sp}");
}

/// A message may be cut anywhere between two TCP segments: inside its
/// length prefix, its header or its question (a sender short of window or
/// buffer sends what fits). Queries and replies cut so are each traced
/// once, with their names, and no part of them is counted as malformed.
#[test]
fn tcp_messages_cut_anywhere_between_segments() {
    let Some(_serial) = privileged("tcp_messages_cut_anywhere_between_segments") else {
        return;
    };
    let link = Link::new("cut", 31);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&["-v", "--server", &link.server_v4.to_string()]);
    // Cut after 1 byte (inside the prefix), 7 (inside the header), 20
    // (inside the question's name) and 2 + 12 (the header whole, no name).
    let cuts = [1usize, 7, 20, 14];
    for at in cuts {
        let name = format!("q{at}.cut.test");
        let rcode = util::tcp_split_query(&link.client, server, (3000 + at as u16, &name, 1), at);
        assert_eq!(rcode, Some(0), "{name} answered");
        let name = format!("split-{at}.r{at}.cut.test");
        let got = util::tcp_pipeline(&link.client, server, &[(4000 + at as u16, &name, 28)]);
        assert_eq!(got, 1, "{name} answered");
    }
    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);
    for at in cuts {
        let q = out.by_id(3000 + at as u16);
        assert_eq!(
            (
                q["qname"].as_str(),
                q["rcode"].as_str(),
                q["proto"].as_str()
            ),
            (
                Some(format!("q{at}.cut.test").as_str()),
                Some("NOERROR"),
                Some("tcp")
            ),
            "query cut after {at} bytes: {q}"
        );
        let r = out.by_id(4000 + at as u16);
        assert_eq!(
            (
                r["qname"].as_str(),
                r["qtype"].as_str(),
                r["rcode"].as_str()
            ),
            (
                Some(format!("split-{at}.r{at}.cut.test").as_str()),
                Some("AAAA"),
                Some("NOERROR")
            ),
            "reply cut after {at} bytes: {r}"
        );
    }
    assert_eq!(out.records.len(), 2 * cuts.len(), "{}", out.stdout);
    for key in [
        "malformed_short",
        "malformed_truncated",
        "response_without_query",
        "tcp_resync",
        "tcp_lost",
    ] {
        assert_eq!(util::counter(&out.stderr, key), 0, "{key}: {}", out.stderr);
    }
    // Each cut message was held at both ends of the veth pair.
    assert_eq!(
        util::counter(&out.stderr, "tcp_held"),
        4 * cuts.len() as u64,
        "{}",
        out.stderr
    );
}

/// More messages cut at once than dnstrace holds heads for (1024): each
/// sighting of a cut query is held and read with its next segment, or lost
/// and counted. A lost head costs its own message only: the query after it
/// in the same segment is still read. No query is lost silently: each is
/// traced, or its reply is counted as one to no tracked query.
#[test]
fn more_cut_messages_than_heads_held_are_counted() {
    let Some(_serial) = privileged("more_cut_messages_than_heads_held_are_counted") else {
        return;
    };
    const N: usize = 700;
    // Two sockets per connection in this process, one at each end.
    let want = 4 * N as u64 + 256;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_cur.max(want.min(lim.rlim_max));
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let link = Link::new("heads", 32);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&["-v", "--server", &link.server_v4.to_string()]);
    let framed = |id: u16, name: &str| util::dns::tcp_framed(&util::dns::build_query(id, name, 1));
    // On each connection a query cut after 7 bytes (inside its header),
    // then its rest and a second, whole query in one segment.
    let writes: Vec<(Vec<u8>, Vec<u8>)> = (0..N)
        .map(|i| {
            let first = framed(5000 + i as u16, &format!("h{i}.heads.test"));
            let mut rest = first[7..].to_vec();
            rest.extend(framed(6000 + i as u16, &format!("w{i}.heads.test")));
            (first[..7].to_vec(), rest)
        })
        .collect();
    let answered = link.client.within(move || {
        use std::io::{Read, Write};
        let mut conns: Vec<std::net::TcpStream> = (0..N)
            .map(|_| {
                let c =
                    std::net::TcpStream::connect_timeout(&server, Duration::from_secs(2)).unwrap();
                c.set_nodelay(true).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                c
            })
            .collect();
        for (c, (head, _)) in conns.iter_mut().zip(&writes) {
            c.write_all(head).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        for (c, (_, rest)) in conns.iter_mut().zip(&writes) {
            c.write_all(rest).unwrap();
        }
        let mut replies = 0;
        for c in &mut conns {
            for _ in 0..2 {
                let mut len = [0u8; 2];
                if c.read_exact(&mut len).is_ok() {
                    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    replies += usize::from(c.read_exact(&mut msg).is_ok());
                }
            }
        }
        replies
    });
    assert_eq!(answered, 2 * N, "the responder answered every query");
    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);
    let held = util::counter(&out.stderr, "tcp_held");
    let lost = util::counter(&out.stderr, "tcp_lost");
    // Two sightings of each cut query, at each end of the veth pair.
    assert_eq!(held + lost, 2 * N as u64, "{}", out.stderr);
    assert!(lost > 0, "more heads than the map holds: {}", out.stderr);
    // The map stays nearly full of the heads it could hold (not one lost
    // after another, each evicting the next).
    assert!(held >= N as u64, "{}", out.stderr);
    // The stream stays in step past a lost head: its length was known.
    assert_eq!(
        util::counter(&out.stderr, "tcp_resync"),
        0,
        "{}",
        out.stderr
    );
    let (cut, whole): (Vec<&Value>, Vec<&Value>) = out
        .records
        .iter()
        .partition(|r| r["id"].as_u64().unwrap() < 6000);
    // Every query after a cut one, lost head or not.
    assert_eq!(whole.len(), N, "{}", out.stderr);
    // A cut query both of whose heads were lost is not tracked, and its
    // reply is counted at both ends as one to no tracked query.
    let orphans = util::counter(&out.stderr, "response_without_query");
    eprintln!(
        "{N} queries cut: {held} heads held, {lost} lost, {} traced, {orphans} replies orphaned",
        cut.len()
    );
    assert_eq!(orphans % 2, 0, "{}", out.stderr);
    assert_eq!(cut.len() as u64 + orphans / 2, N as u64, "{}", out.stderr);
    for r in &out.records {
        let id = r["id"].as_u64().unwrap();
        let name = if id < 6000 {
            format!("h{}.heads.test", id - 5000)
        } else {
            format!("w{}.heads.test", id - 6000)
        };
        assert_eq!(r["qname"], name, "{r}");
        assert_eq!(r["rcode"], "NOERROR", "{r}");
    }
}

/// A pipelining client puts many queries in one segment: dnstrace parses
/// the first 64, counts each one it skips, and stays in step with the
/// stream, so the next query on the connection is traced again.
#[test]
fn a_segment_of_a_hundred_pipelined_queries() {
    let Some(_serial) = privileged("a_segment_of_a_hundred_pipelined_queries") else {
        return;
    };
    let link = Link::new("pipe", 30);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&["-v", "--server", &link.server_v4.to_string()]);
    let names: Vec<String> = (0..100).map(|i| format!("q{i}.pipe.test")).collect();
    let big: Vec<(u16, &str, u16)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (1000 + i as u16, n.as_str(), 1))
        .collect();
    let after = [(2000u16, "after.pipe.test", 1u16)];
    let replies = util::tcp_batches(&link.client, server, &[&big, &after]);
    assert_eq!(replies, 101, "the responder answered every query");
    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);
    // The first 64 of the segment, each once, and the query after it.
    for id in 1000..1064u16 {
        assert_eq!(out.by_id(id)["qname"], format!("q{}.pipe.test", id - 1000));
    }
    assert_eq!(out.by_id(2000)["qname"], "after.pipe.test");
    assert_eq!(out.records.len(), 65, "{}", out.stdout);
    // The other 36 queries are counted as skipped, not lost silently.
    let skipped: u64 = out
        .stderr
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("tcp_skipped"))
        .and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or_else(|| panic!("no tcp_skipped counter: {}", out.stderr));
    assert!(skipped >= 36, "skipped {skipped}: {}", out.stderr);
}

#[test]
fn truncated_udp_reply_then_tcp_retry_are_two_transactions() {
    let Some(_serial) = privileged("truncated_udp_reply_then_tcp_retry_are_two_transactions")
    else {
        return;
    };
    let link = Link::new("tc", 23);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&["--server", &link.server_v4.to_string()]);
    // dig retries over TCP by itself when the UDP reply has TC set.
    let d = dig(&link.client, server.ip(), "tc.retry.test", &[]);
    assert_eq!(d.status, "NOERROR", "{}", d.stdout);
    let out = tracer.stop();
    assert_eq!(out.records.len(), 2, "{}", out.stdout);
    let udp = &out.with("proto", &Value::from("udp"))[0];
    let tcp = &out.with("proto", &Value::from("tcp"))[0];
    assert_eq!(udp["truncated"], true);
    assert!(udp["flags"]
        .as_array()
        .unwrap()
        .contains(&Value::from("tc")));
    assert_eq!(tcp["truncated"], false);
    assert_eq!(tcp["answers"], 1);
    assert_eq!(udp["qname"], "tc.retry.test");
    assert_eq!(tcp["qname"], "tc.retry.test");
}

#[test]
fn large_udp_reply_in_ip_fragments() {
    let Some(_serial) = privileged("large_udp_reply_in_ip_fragments") else {
        return;
    };
    let link = Link::new("big", 24);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&["--server", &link.server_v4.to_string()]);
    let d = dig(
        &link.client,
        server.ip(),
        "big.frag.test",
        &["+bufsize=4096", "+ignore"],
    );
    let out = tracer.stop();
    assert_eq!(out.records.len(), 1, "{}", out.stdout);
    let r = out.by_id(d.id.unwrap());
    assert_eq!(r["rcode"], "NOERROR");
    assert_eq!(r["answers"], 200);
    // The whole message's size, though the first fragment holds only part.
    assert_eq!(r["response_size"].as_u64(), d.size, "{r}");
    assert!(r["response_size"].as_u64().unwrap() > 1500);
}

/// An mDNS answer: no question, one A record for `name` (cache-flush set).
fn mdns_answer(name: &str, addr: [u8; 4]) -> Vec<u8> {
    let mut m = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    m.extend_from_slice(&util::dns::encode_name(name));
    m.extend_from_slice(&[0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4]);
    m.extend_from_slice(&addr);
    m
}

fn mdns_send(ns: &Netns, msg: Vec<u8>) {
    ns.within(move || {
        let sock = std::net::UdpSocket::bind("0.0.0.0:5353").unwrap();
        sock.set_multicast_loop_v4(false).unwrap();
        sock.send_to(&msg, "224.0.0.251:5353").unwrap();
    });
}

#[test]
fn mdns_queries_pair_with_the_first_answer() {
    let Some(_serial) = privileged("mdns_queries_pair_with_the_first_answer") else {
        return;
    };
    let link = Link::new("mdns", 25);
    for (ns, ifname) in [
        (&link.client, &link.client_if),
        (&link.server, &link.server_if),
    ] {
        ns.ip(&["route", "add", "224.0.0.0/4", "dev", ifname]);
    }
    let shown = Tracer::start(&["--client", &link.client_v4.to_string(), "--announcements"]);
    let plain = Tracer::start(&["-i", &link.client_if, "--rcode", "NOERROR", "-v"]);
    // A query, answered 30 ms later by another host.
    mdns_send(&link.client, util::dns::build_query(0, "printer.local", 1));
    std::thread::sleep(Duration::from_millis(30));
    mdns_send(&link.server, mdns_answer("Printer.local", [10, 77, 25, 1]));
    // A query nobody answers.
    mdns_send(&link.client, util::dns::build_query(0, "nobody.local", 28));
    // An answer nobody asked for.
    mdns_send(&link.server, mdns_answer("announce.local", [10, 77, 25, 1]));
    std::thread::sleep(Duration::from_millis(1600));
    let out = shown.stop();
    let plain = plain.stop();

    let answered = out.with("qname", &Value::from("printer.local"));
    assert_eq!(answered.len(), 1, "{}", out.stdout);
    let r = answered[0];
    assert_eq!(
        (r["service"].as_str(), r["kind"].as_str()),
        (Some("mdns"), Some("transaction"))
    );
    assert_eq!(r["rcode"], "NOERROR");
    assert_eq!(r["server_ip"], link.server_v4.to_string(), "who answered");
    assert_eq!(r["client_ip"], link.client_v4.to_string());
    assert_eq!(r["answers"], 1);
    let ms = latency(r);
    assert!((30.0..100.0).contains(&ms), "{ms}");
    let t = out.with("qname", &Value::from("nobody.local"));
    assert_eq!(t.len(), 1, "{}", out.stdout);
    assert_eq!(t[0]["rcode"], "TIMEOUT");
    assert_eq!(t[0]["qtype"], "AAAA");
    // The announcement goes to the group: its client is the group address.
    let a = out.with("kind", &Value::from("announcement"));
    assert!(a.is_empty(), "--client excludes the group: {}", out.stdout);
    // Without --announcements they are only counted.
    assert!(plain.records.iter().all(|r| r["kind"] != "announcement"));
    assert_eq!(plain.with("qname", &Value::from("printer.local")).len(), 1);
    let count = |name: &str| {
        plain
            .stderr
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|n| n.parse::<u64>().ok())
    };
    assert!(count("mdns_announcements") >= Some(1), "{}", plain.stderr);
    assert!(count("mdns_queries") >= Some(2), "{}", plain.stderr);
}

#[test]
fn mdns_announcements_when_asked() {
    let Some(_serial) = privileged("mdns_announcements_when_asked") else {
        return;
    };
    let link = Link::new("mdna", 26);
    for (ns, ifname) in [
        (&link.client, &link.client_if),
        (&link.server, &link.server_if),
    ] {
        ns.ip(&["route", "add", "224.0.0.0/4", "dev", ifname]);
    }
    let tracer = Tracer::start(&["--server", &link.server_v4.to_string(), "--announcements"]);
    mdns_send(&link.server, mdns_answer("announce.local", [10, 77, 26, 1]));
    std::thread::sleep(Duration::from_millis(300));
    let out = tracer.stop();
    let a = out.with("kind", &Value::from("announcement"));
    assert_eq!(a.len(), 1, "seen once, where it left: {}", out.stdout);
    assert_eq!(a[0]["qname"], "announce.local");
    assert_eq!(a[0]["service"], "mdns");
    assert_eq!(a[0]["client_ip"], "224.0.0.251");
    assert!(a[0]["latency_ms"].is_null());
}

#[test]
fn encrypted_dns_connections_are_shown() {
    let Some(_serial) = privileged("encrypted_dns_connections_are_shown") else {
        return;
    };
    encrypted_connections_with(&[], Link::new("enc", 27));
}

/// Connections are told by their ports and sized from the packet lengths,
/// never from the payload: the linear reader sees them as well.
#[test]
fn encrypted_dns_connections_with_the_linear_reader() {
    let Some(_serial) = privileged("encrypted_dns_connections_with_the_linear_reader") else {
        return;
    };
    encrypted_connections_with(&["--reader", "linear"], Link::new("encl", 236));
}

fn encrypted_connections_with(reader: &[&str], link: Link) {
    let s = link.server_v4.to_string();
    let mut args = vec!["--server", s.as_str()];
    args.extend_from_slice(reader);
    let tracer = Tracer::start(&args);
    let dot = SocketAddr::new(IpAddr::V4(link.server_v4), 853);
    // A TLS-like exchange over TCP 853: 517 bytes up, 1400 down, then close.
    let server = link.server.spawn(move || {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind(dot).unwrap();
        let (mut c, _) = l.accept().unwrap();
        let mut hello = [0u8; 517];
        c.read_exact(&mut hello).unwrap();
        c.write_all(&[0x16; 1400]).unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
    });
    std::thread::sleep(Duration::from_millis(200));
    link.client.within(move || {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(dot).unwrap();
        c.write_all(&[0x16; 517]).unwrap();
        let mut reply = [0u8; 1400];
        c.read_exact(&mut reply).unwrap();
        std::thread::sleep(Duration::from_millis(60));
    });
    server.join().unwrap();
    // DoQ: QUIC over UDP 853, no end to see; reported at exit.
    let doq = SocketAddr::new(IpAddr::V4(link.server_v4), 853);
    let echo = link.server.spawn(move || {
        let sock = std::net::UdpSocket::bind(doq).unwrap();
        let mut buf = [0u8; 1500];
        let (_, peer) = sock.recv_from(&mut buf).unwrap();
        sock.send_to(&[0xc0; 300], peer).unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    link.client.within(move || {
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        sock.send_to(&[0xc0; 1200], doq).unwrap();
        let mut buf = [0u8; 1500];
        sock.recv_from(&mut buf).unwrap();
    });
    echo.join().unwrap();
    let out = tracer.stop();
    let conns = out.with("kind", &Value::from("encrypted"));
    assert_eq!(conns.len(), 2, "{}", out.stdout);
    let dot_rec = out.with("service", &Value::from("dot"));
    assert_eq!(dot_rec.len(), 1);
    let d = dot_rec[0];
    assert_eq!(d["rcode"], "ENCRYPTED");
    assert_eq!(d["proto"], "tcp");
    assert_eq!(
        (d["bytes_sent"].as_u64(), d["bytes_received"].as_u64()),
        (Some(517), Some(1400)),
        "{d}"
    );
    assert!(d["duration_ms"].as_f64().unwrap() >= 60.0, "{d}");
    assert_eq!(d["pid"], std::process::id(), "the connecting process: {d}");
    assert!(d["qname"].is_null());
    let q = &out.with("service", &Value::from("doq"))[0];
    assert_eq!(q["proto"], "udp");
    assert_eq!(
        (q["bytes_sent"].as_u64(), q["bytes_received"].as_u64()),
        (Some(1200), Some(300)),
        "{q}"
    );
}
