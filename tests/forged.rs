//! Forged and colliding answers through the real kernel path, as root:
//! responses to nothing, answers that echo another question, and the same
//! id from several clients, again and again, or in several namespaces,
//! injected as raw frames or sent from real sockets in network namespaces.
//! dnstrace must exit cleanly, report exactly the transactions that
//! happened, each once and paired right, and count what it refused under
//! the right reason. Malformed input is in tests/hostile.rs; the helpers
//! both share, and how they read the kernel's counters, in
//! tests/util/hostile.rs.
//!
//! Subnets 220-229 belong to this file and tests/hostile.rs.

mod util;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use serde_json::Value;
use util::hostile::{
    assert_clean_exit, assert_counters, endpoints, labels, message, query_msg, start, SIGHTINGS,
};
use util::inject::{udp_frame, Injector};
use util::{privileged, Link, Netns, Responder, Tracer};

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
    let _listening = deaf_server(&link);
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
    link.add_v4(false, other_v4);
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

/// A forwarder asking two upstreams at once (dnsmasq's all-servers, or a
/// retry to the next server): the same socket, the same id, two servers.
/// The pending map keys a query by its client's end, so the second query
/// finds that end taken and is keyed beside it (a mark from its server's
/// address in the key): two transactions, each paired with its own
/// server's answer, whichever answers first.
#[test]
fn same_id_from_one_socket_to_two_servers_is_two_transactions() {
    let Some(_serial) = privileged("same_id_from_one_socket_to_two_servers_is_two_transactions")
    else {
        return;
    };
    let link = Link::new("fwd", 228);
    let second_v4 = Ipv4Addr::new(10, 77, 228, 3);
    link.add_v4(true, second_v4);
    let first = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let second = SocketAddr::new(IpAddr::V4(second_v4), 53);
    let _r1 = Responder::start(&link.server, first);
    let _r2 = Responder::start(&link.server, second);
    let id = 0x5e5e;
    let tracer = start_for_ids(
        &[link.server_v4.to_string(), second_v4.to_string()],
        &[id],
        &[],
    );
    let client = SocketAddr::new(IpAddr::V4(link.client_v4), 41020);
    // The first server answers 150 ms late, after the second.
    let asked = [(first, "delay-150.one.fwd.test"), (second, "two.fwd.test")];
    let answers = link.client.within(move || {
        let s = UdpSocket::bind(client).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        for (server, name) in asked {
            s.send_to(&util::dns::build_query(id, name, 1), server)
                .unwrap();
        }
        (0..2)
            .filter(|_| s.recv_from(&mut [0u8; 512]).is_ok())
            .count()
    });
    assert_eq!(answers, 2);
    let out = tracer.stop();
    assert_clean_exit(&out);
    assert_eq!(out.records.len(), 2, "one per server:\n{}", out.stdout);
    for ((server, name), min_ms) in asked.iter().zip([150.0, 0.0]) {
        let mine: Vec<&Value> = out
            .records
            .iter()
            .filter(|r| r["server_ip"] == server.ip().to_string().as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{server}: {}", out.stdout);
        let r = mine[0];
        assert_eq!(
            r["qname"], *name,
            "paired with its own server's answer: {r}"
        );
        assert_eq!(r["rcode"], "NOERROR", "{r}");
        assert_eq!(r["client_port"], 41020, "{r}");
        assert_eq!(r["id"], id, "{r}");
        let ms = r["latency_ms"].as_f64().unwrap();
        assert!(ms >= min_ms && ms < min_ms + 90.0, "{server}: {ms} ms");
    }
    let expected = BTreeMap::from([("queries", 2), ("query_seen_again", 2), ("answered", 2)]);
    assert_counters(&out, &expected, &PAIRING);
}

/// The same on lo, where every packet passes both hooks: each answer
/// completes its query going out and is seen again coming in, which only
/// the cache of finished transactions recognises. That cache must know the
/// query kept beside the first as well as the first: two repeats, no
/// response to no query.
#[test]
fn same_id_from_one_socket_to_two_loopback_servers() {
    let Some(_serial) = privileged("same_id_from_one_socket_to_two_loopback_servers") else {
        return;
    };
    let ns = Netns::new("fwdlo");
    let first: SocketAddr = "127.0.0.1:53".parse().unwrap();
    let second: SocketAddr = "127.0.0.2:53".parse().unwrap();
    let _r1 = Responder::start(&ns, first);
    let _r2 = Responder::start(&ns, second);
    let id = 0x5e5f;
    let tracer = start_for_ids(
        &["127.0.0.1".to_string(), "127.0.0.2".to_string()],
        &[id],
        &[],
    );
    let client: SocketAddr = "127.0.0.1:41021".parse().unwrap();
    let asked = [
        (first, "delay-150.one.fwdlo.test"),
        (second, "two.fwdlo.test"),
    ];
    let answers = ns.within(move || {
        let s = UdpSocket::bind(client).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        for (server, name) in asked {
            s.send_to(&util::dns::build_query(id, name, 1), server)
                .unwrap();
        }
        (0..2)
            .filter(|_| s.recv_from(&mut [0u8; 512]).is_ok())
            .count()
    });
    assert_eq!(answers, 2);
    let out = tracer.stop();
    assert_clean_exit(&out);
    let ino = netns_inode(&ns);
    let mine: Vec<&Value> = out.records.iter().filter(|r| r["netns"] == ino).collect();
    assert_eq!(mine.len(), 2, "one per server:\n{}", out.stdout);
    for (server, name) in asked {
        let r = mine
            .iter()
            .find(|r| r["server_ip"] == server.ip().to_string().as_str())
            .unwrap_or_else(|| panic!("{server}: {}", out.stdout));
        assert_eq!(r["qname"], name, "paired with its own server's answer: {r}");
        assert_eq!(r["rcode"], "NOERROR", "{r}");
        assert_eq!(r["interface"], "lo", "{r}");
    }
    if mine.len() == out.records.len() {
        let expected = BTreeMap::from([
            ("queries", 2),
            ("query_seen_again", 2),
            ("answered", 2),
            ("response_repeat", 2),
        ]);
        assert_counters(&out, &expected, &PAIRING);
    }
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

/// The inode of a named namespace: what the records carry as `netns`.
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

/// A case the kernel program once got wrong: an answer to another name of
/// the same length taken for the query's.
/// Sockets on the server's port 53 that never answer: the injected queries
/// must find a listener, or the server's kernel answers them with an ICMP
/// port unreachable, which ends them as UNREACHABLE before any forged
/// answer is looked at.
fn deaf_server(link: &Link) -> Vec<UdpSocket> {
    let addrs = [
        SocketAddr::new(IpAddr::V4(link.server_v4), 53),
        SocketAddr::new(IpAddr::V6(link.server_v6), 53),
    ];
    link.server.within(move || {
        addrs
            .iter()
            .map(|a| UdpSocket::bind(a).expect("binding the server's port 53"))
            .collect()
    })
}

#[test]
fn answer_with_another_name_of_the_same_length_is_a_mismatch() {
    let Some(_serial) = privileged("answer_with_another_name_of_the_same_length_is_a_mismatch")
    else {
        return;
    };
    let link = Link::new("forge", 227);
    let _listening = deaf_server(&link);
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
