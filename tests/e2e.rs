//! End to end, as root: the real BPF programs in the real kernel, real DNS
//! servers and clients in network namespaces created (and removed) here.
//! Each test filters on its own server address, so traffic from anything
//! else on the host does not disturb its counts.
//!
//! This file: DNS over UDP (dnsmasq, a scripted responder, a TAP device
//! playing a remote resolver), the filters, and how dnstrace exits.
//! DNS over TCP, IP fragments, mDNS and encrypted DNS are in
//! tests/e2e_protocols.rs.

mod util;

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{dig, latency, privileged, query, Dnsmasq, Link, Netns, Responder, Tracer};

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
