//! End to end, as root: the real BPF programs in the real kernel, real DNS
//! servers and clients in network namespaces created (and removed) here.
//! Each test filters on its own server address, so traffic from anything
//! else on the host does not disturb its counts.

mod util;

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{dig, privileged, query, Dnsmasq, Link, Netns, Responder, Tracer};

fn latency(r: &Value) -> f64 {
    r["latency_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("no latency in {r}"))
}

#[test]
fn udp_ipv4_against_dnsmasq() {
    let Some(_serial) = privileged("udp_ipv4_against_dnsmasq") else {
        return;
    };
    let link = Link::new("dm4", 11);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    let tracer = Tracer::start(&["--server", &server.to_string()]);

    let ok = dig(&link.client, server, "www.ok.test", &[]);
    let nx = dig(&link.client, server, "missing.nx.test", &["AAAA"]);
    let refused = dig(&link.client, server, "elsewhere.example", &["MX"]);
    assert_eq!(ok.status, "NOERROR");
    assert_eq!(nx.status, "NXDOMAIN");
    assert_eq!(refused.status, "REFUSED");
    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);
    // This kernel allows bpf_dynptr_from_skb in tracing programs: a dynptr
    // program that fails to load must not hide behind the fallback.
    assert!(out.stderr.contains("dynptr reader"), "{}", out.stderr);
    assert_eq!(
        out.records.len(),
        3,
        "each transaction exactly once:\n{}",
        out.stdout
    );

    for (d, name, qtype) in [
        (&ok, "www.ok.test", "A"),
        (&nx, "missing.nx.test", "AAAA"),
        (&refused, "elsewhere.example", "MX"),
    ] {
        let r = out.by_id(d.id.expect("dig printed an id"));
        assert_eq!(r["qname"], name);
        assert_eq!(r["qtype"], qtype);
        assert_eq!(r["rcode"], d.status.as_str());
        assert_eq!(r["client_ip"], link.client_v4.to_string());
        assert_eq!(r["server_ip"], link.server_v4.to_string());
        assert_eq!(r["server_port"], 53);
        assert_eq!(r["proto"], "udp");
        assert_eq!(r["interface"], link.client_if.as_str());
        assert_eq!(r["comm"], "dig", "the querying process is named: {r}");
        assert!(r["pid"].as_u64().is_some_and(|p| p > 1), "{r}");
        assert_eq!(
            r["response_size"].as_u64(),
            d.size,
            "reply size as dig got it: {r}"
        );
        let ms = latency(r);
        assert!(ms > 0.0 && ms < 200.0, "local dnsmasq latency {ms} ms");
    }
    let ok_rec = out.by_id(ok.id.unwrap());
    assert_eq!(ok_rec["answers"], 1);
    assert!(ok_rec["flags"]
        .as_array()
        .unwrap()
        .contains(&Value::from("aa")));
    // Other traffic on the host may add to the kernel's totals, not to
    // what passed the filter.
    assert!(out.stderr.contains("; 3 shown"), "{}", out.stderr);
}

#[test]
fn latency_follows_the_server_delay() {
    let Some(_serial) = privileged("latency_follows_the_server_delay") else {
        return;
    };
    let link = Link::new("lat", 12);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&["--server", &link.server_v4.to_string()]);
    let mut asked = Vec::new();
    for delay in [0u64, 30, 80, 150] {
        let name = format!("delay-{delay}.lat.test");
        let d = dig(&link.client, server.ip(), &name, &[]);
        assert_eq!(d.status, "NOERROR", "{}", d.stdout);
        asked.push((d.id.unwrap(), delay));
    }
    let out = tracer.stop();
    assert_eq!(out.records.len(), asked.len(), "{}", out.stdout);
    for (id, delay) in asked {
        let ms = latency(out.by_id(id));
        assert!(
            ms >= delay as f64 && ms < delay as f64 + 25.0,
            "server delayed {delay} ms, dnstrace measured {ms} ms"
        );
    }
}

#[test]
fn response_codes_from_the_server() {
    let Some(_serial) = privileged("response_codes_from_the_server") else {
        return;
    };
    let link = Link::new("rc", 13);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&["--server", &link.server_v4.to_string()]);
    let codes = [
        "noerror", "formerr", "servfail", "nxdomain", "notimp", "refused", "9",
    ];
    let mut ids = Vec::new();
    for code in codes {
        let d = dig(
            &link.client,
            server.ip(),
            &format!("rcode-{code}.rc.test"),
            &[],
        );
        ids.push((d.id.unwrap(), d.status));
    }
    let out = tracer.stop();
    assert_eq!(out.records.len(), codes.len());
    for (id, status) in ids {
        let r = out.by_id(id);
        // dig and dnstrace agree on the name of every code.
        assert_eq!(r["rcode"], status.as_str(), "{r}");
    }
    assert_eq!(out.with("rcode", &Value::from("NOTAUTH")).len(), 1);
}

#[test]
fn udp_ipv6() {
    let Some(_serial) = privileged("udp_ipv6") else {
        return;
    };
    let link = Link::new("v6", 14);
    let server = IpAddr::V6(link.server_v6);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    let tracer = Tracer::start(&["--server", &link.server_v6.to_string()]);
    let a = dig(&link.client, server, "six.ok.test", &["A"]);
    let nx = dig(&link.client, server, "six.nx.test", &["AAAA"]);
    let out = tracer.stop();
    assert_eq!(out.records.len(), 2, "{}", out.stdout);
    let r = out.by_id(a.id.unwrap());
    assert_eq!(r["qname"], "six.ok.test");
    assert_eq!(r["rcode"], "NOERROR");
    assert_eq!(r["client_ip"], link.client_v6.to_string());
    assert_eq!(r["server_ip"], link.server_v6.to_string());
    assert_eq!(r["comm"], "dig");
    let r = out.by_id(nx.id.unwrap());
    assert_eq!(r["qtype"], "AAAA");
    assert_eq!(r["rcode"], "NXDOMAIN");
}

/// A query that waits for ARP is sent later by the softirq that handles
/// the ARP reply, while whatever task it interrupted is `current`: it must
/// have no process rather than a wrong one. The next query, which leaves
/// from dig's own send, is dig's.
#[test]
fn query_sent_from_a_softirq_has_no_process() {
    let Some(_serial) = privileged("query_sent_from_a_softirq_has_no_process") else {
        return;
    };
    let link = Link::new("arp", 29);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    // Dnsmasq::start asks until the server answers; forget the neighbour
    // now, so that the first traced query waits for ARP.
    let server_v4 = link.server_v4.to_string();
    link.client
        .ip(&["neigh", "del", &server_v4, "dev", &link.client_if]);
    let tracer = Tracer::start(&["--server", &server_v4]);
    let first = dig(&link.client, server, "first.ok.test", &[]);
    let second = dig(&link.client, server, "second.ok.test", &[]);
    let out = tracer.stop();
    assert_eq!(out.records.len(), 2, "{}", out.stdout);
    let r = out.by_id(first.id.unwrap());
    assert_eq!(r["qname"], "first.ok.test");
    assert_eq!(r["rcode"], "NOERROR");
    assert!(
        r["pid"].is_null() && r["comm"].is_null(),
        "sent from a softirq: {r}"
    );
    let r = out.by_id(second.id.unwrap());
    assert_eq!(r["comm"], "dig", "{r}");
    assert!(r["pid"].as_u64().is_some_and(|p| p > 1), "{r}");
}

#[test]
fn loopback_server_inside_a_namespace() {
    let Some(_serial) = privileged("loopback_server_inside_a_namespace") else {
        return;
    };
    let ns = Netns::new("lo");
    let server = SocketAddr::new("127.0.0.1".parse().unwrap(), 53);
    let _resp = Responder::start(&ns, server);
    // The same address in a second namespace: its transactions must stay
    // apart from the first one's.
    let other = Netns::new("lo2");
    let _resp2 = Responder::start(&other, server);
    let tracer = Tracer::start(&["--server", "127.0.0.1"]);
    let mut ids: Vec<(u16, u64)> = Vec::new();
    for i in 0..5 {
        let d = dig(
            &ns,
            server.ip(),
            &format!("delay-{}.n{i}.lo.test", 10 * i),
            &[],
        );
        assert_eq!(d.status, "NOERROR");
        ids.push((d.id.unwrap(), 10 * i));
    }
    let d2 = dig(&other, server.ip(), "other.lo.test", &[]);
    let out = tracer.stop();
    // lo shows every packet twice (egress and ingress): still once each.
    assert_eq!(out.records.len(), 6, "{}", out.stdout);
    for &(id, delay) in &ids {
        let r = out.by_id(id);
        assert_eq!(r["interface"], "lo");
        assert_eq!(r["comm"], "dig");
        let ms = latency(r);
        assert!(
            ms >= delay as f64 && ms < delay as f64 + 25.0,
            "{ms} ms for {delay}"
        );
    }
    let r2 = out.by_id(d2.id.unwrap());
    assert_eq!(r2["qname"], "other.lo.test");
    let netns_first = out.by_id(ids[0].0)["netns"].clone();
    assert_ne!(r2["netns"], netns_first, "two namespaces, two netns ids");
    assert!(out.stderr.contains("0 (evicted"), "{}", out.stderr);
}

#[test]
fn remote_resolver_behind_a_tap_device() {
    let Some(_serial) = privileged("remote_resolver_behind_a_tap_device") else {
        return;
    };
    let ns = Netns::new("tap");
    let remote: std::net::Ipv4Addr = "10.77.15.53".parse().unwrap();
    let tap = util::tap::TapResolver::start(
        &ns.name,
        "dttap0",
        "10.77.15.1/24",
        remote,
        Duration::from_millis(40),
    )
    .expect("TAP resolver");
    let tracer = Tracer::start(&["--server", &remote.to_string()]);
    let d = dig(&ns, IpAddr::V4(remote), "far.away.test", &["AAAA"]);
    assert_eq!(d.status, "NOERROR", "{}", d.stdout);
    let out = tracer.stop();
    assert_eq!(tap.answered(), 1);
    assert_eq!(out.records.len(), 1, "{}", out.stdout);
    let r = out.by_id(d.id.unwrap());
    assert_eq!(r["qname"], "far.away.test");
    assert_eq!(r["qtype"], "AAAA");
    assert_eq!(r["interface"], "dttap0");
    assert_eq!(r["comm"], "dig");
    // The reply only came in through ingress; the latency still counts.
    let ms = latency(r);
    assert!((40.0..70.0).contains(&ms), "{ms} ms for a 40 ms resolver");
}

#[test]
fn unanswered_query_becomes_timeout() {
    let Some(_serial) = privileged("unanswered_query_becomes_timeout") else {
        return;
    };
    let link = Link::new("to", 16);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&[
        "--server",
        &link.server_v4.to_string(),
        "--timeout",
        "500ms",
    ]);
    let dropped = dig(&link.client, server.ip(), "drop.to.test", &["+timeout=1"]);
    assert_eq!(dropped.status, "NO-ANSWER");
    let answered = dig(&link.client, server.ip(), "fine.to.test", &[]);
    std::thread::sleep(Duration::from_millis(800));
    let out = tracer.stop();
    assert_eq!(out.records.len(), 2, "{}", out.stdout);
    let t = &out.with("qname", &Value::from("drop.to.test"));
    assert_eq!(t.len(), 1, "reported once: {}", out.stdout);
    assert_eq!(t[0]["rcode"], "TIMEOUT");
    assert!(t[0]["latency_ms"].is_null());
    assert!(t[0]["answers"].is_null());
    assert_eq!(t[0]["comm"], "dig");
    assert_eq!(out.by_id(answered.id.unwrap())["rcode"], "NOERROR");
    assert!(
        out.stderr.contains("  TIMEOUT            1"),
        "{}",
        out.stderr
    );
}

#[test]
fn every_transaction_exactly_once_under_a_burst() {
    let Some(_serial) = privileged("every_transaction_exactly_once_under_a_burst") else {
        return;
    };
    let link = Link::new("burst", 17);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&["--server", &link.server_v4.to_string()]);
    let n = 2000u16;
    let answered = link.client.within(move || {
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut got = 0;
        for id in 0..n {
            let msg = util::dns::build_query(id, &format!("q{id}.burst.test"), 1);
            sock.send_to(&msg, server).unwrap();
            let mut buf = [0u8; 512];
            if sock.recv_from(&mut buf).is_ok() {
                got += 1;
            }
        }
        got
    });
    assert_eq!(answered, n as usize);
    let out = tracer.stop();
    assert_eq!(out.records.len(), n as usize, "{}", out.stderr);
    let counts = out.counts_by_name();
    for id in 0..n {
        assert_eq!(counts.get(&format!("q{id}.burst.test")), Some(&1), "q{id}");
    }
    // Sent from this test's own thread: the process is the test binary.
    let me = std::process::id();
    assert!(
        out.records.iter().all(|r| r["pid"] == me),
        "pid of the sender"
    );
}

/// What `filters_end_to_end` sends: id, name, qtype. The responder
/// answers by name: after a delay, with an rcode, or not at all (drop).
const FILTER_WORKLOAD: [(u16, &str, u16); 7] = [
    (100, "delay-80.keep.test", 1),
    (101, "fast.keep.test", 28),
    (102, "rcode-nxdomain.drop-me.test", 28),
    (103, "rcode-servfail.delay-50.x.test", 1),
    (4242, "fast.other.test", 1),
    (4343, "rcode-refused.keep.test", 28),
    (105, "drop.keep.test", 28),
];

/// Each filter (besides `--server` and `--timeout 300ms`), the names of
/// `FILTER_WORKLOAD` it keeps, sorted, and what that shows.
const FILTERS: [(&[&str], &[&str], &str); 5] = [
    (
        &["--min-latency", "40ms"],
        &[
            "delay-80.keep.test",
            "drop.keep.test",
            "rcode-servfail.delay-50.x.test",
        ],
        "--min-latency keeps slow ones and timeouts",
    ),
    (
        &["--rcode", "NXDOMAIN", "--rcode", "SERVFAIL"],
        &[
            "rcode-nxdomain.drop-me.test",
            "rcode-servfail.delay-50.x.test",
        ],
        "--rcode values OR together",
    ),
    (
        &["--name", "*.keep.test"],
        &[
            "delay-80.keep.test",
            "drop.keep.test",
            "fast.keep.test",
            "rcode-refused.keep.test",
        ],
        "--name glob",
    ),
    (
        &["--id", "4242", "--id", "4343"],
        &["fast.other.test", "rcode-refused.keep.test"],
        "--id",
    ),
    (
        &["--errors", "--qtype", "AAAA"],
        &[
            "drop.keep.test",
            "rcode-nxdomain.drop-me.test",
            "rcode-refused.keep.test",
        ],
        "--errors AND --qtype",
    ),
];

/// Stops the tracer, which must exit successfully: the names it reported,
/// sorted.
fn sorted_qnames(t: Tracer) -> Vec<String> {
    let out = t.stop();
    assert!(out.status.success(), "{}", out.stderr);
    let mut v: Vec<String> = out
        .records
        .iter()
        .map(|r| r["qname"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// Five tracers, each with one of `FILTERS`, watch the same workload at
/// once.
#[test]
fn filters_end_to_end() {
    let Some(_serial) = privileged("filters_end_to_end") else {
        return;
    };
    let link = Link::new("flt", 18);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let s = link.server_v4.to_string();
    let tracers: Vec<Tracer> = FILTERS
        .iter()
        .map(|(filter, _, _)| {
            let mut args = vec!["--server", s.as_str()];
            args.extend_from_slice(filter);
            args.extend_from_slice(&["--timeout", "300ms"]);
            Tracer::start(&args)
        })
        .collect();

    let mut sent = Vec::new();
    for (id, name, qtype) in FILTER_WORKLOAD {
        let answer = query(&link.client, server, id, name, qtype);
        sent.push((id, name, answer.is_some()));
    }
    std::thread::sleep(Duration::from_millis(700));
    for (tracer, (_, kept, what)) in tracers.into_iter().zip(FILTERS) {
        assert_eq!(sorted_qnames(tracer), kept, "{what}");
    }
    assert!(sent.iter().filter(|(_, _, answered)| !answered).count() == 1);
}

#[test]
fn linear_reader_traces_udp() {
    let Some(_serial) = privileged("linear_reader_traces_udp") else {
        return;
    };
    let link = Link::new("lin", 19);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&[
        "--server",
        &link.server_v4.to_string(),
        "--reader",
        "linear",
    ]);
    let d = dig(&link.client, server.ip(), "rcode-nxdomain.lin.test", &[]);
    let out = tracer.stop();
    assert!(out.stderr.contains("linear reader"), "{}", out.stderr);
    let r = out.by_id(d.id.unwrap());
    assert_eq!(r["rcode"], "NXDOMAIN");
    assert_eq!(r["comm"], "dig");
}

#[test]
fn count_duration_signals_and_closed_pipes_exit_cleanly() {
    let Some(_serial) = privileged("count_duration_signals_and_closed_pipes_exit_cleanly") else {
        return;
    };
    let link = Link::new("exit", 20);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let s = link.server_v4.to_string();

    // --count: exits by itself after N transactions, status 0.
    let counted = Tracer::start(&["--server", &s, "--count", "2"]);
    for i in 0..4 {
        query(&link.client, server, 500 + i, "c.exit.test", 1);
    }
    let out = counted.finish();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.records.len(), 2);

    // --duration.
    let started = Instant::now();
    let out = Tracer::start(&["--server", &s, "--duration", "1s"]).finish();
    assert!(out.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        out.stderr.contains("transactions in"),
        "summary: {}",
        out.stderr
    );

    // SIGTERM.
    let t = Tracer::start(&["--server", &s]);
    query(&link.client, server, 600, "term.exit.test", 1);
    let out = t.signal(libc::SIGTERM);
    assert!(out.status.success(), "{:?} {}", out.status, out.stderr);
    assert_eq!(out.records.len(), 1);

    // A closed pipe: `dnstrace | head -1` ends quietly with status 0.
    let mut child = Command::new(util::DNSTRACE)
        .args(["--json", "--server", &s])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(stdout); // the reader goes away
    for i in 0..3 {
        query(&link.client, server, 700 + i, "pipe.exit.test", 1);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "dnstrace kept running after its reader left"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(!err.contains("error"), "quiet on a closed pipe: {err}");
}

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
