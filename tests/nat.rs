//! Every query once, through NAT: a node built as Kubernetes builds one
//! (tests/util/nat.rs), kube-proxy's rules DNATing the cluster DNS VIP to
//! CoreDNS pods, the CNI masquerading pod traffic out of the uplink, and
//! dnstrace watching all of it as root.
//!
//! Each test builds its node from one place (`cluster`), checks that the
//! bed really translated (the node's conntrack entries), and then that
//! each query is one record whose addresses are the ones conntrack has:
//! `server_ip` what the client asked, `backend_ip` where DNAT delivered it,
//! `client_ip` the pod, `nat_ip` the source SNAT gave it. Each tracer
//! filters on this node's clients (`--client`), so other tests' traffic,
//! even to the same VIP, never counts. The tests share the node numbers
//! 240-249; they run one at a time (`privileged`), each node gone before
//! the next test starts.

mod util;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use util::nat::{kube_dns, Node, ProxyMode, COREDNS, POD_IF, VIP4, VIP6};
use util::{counter, dig, latency, privileged, query, Dig, TraceOutput, Tracer};

/// What answers in the CoreDNS pods.
enum Coredns {
    /// The harness's responder in both, each waiting this long more.
    Responders([u64; 2]),
    Dnsmasq,
    /// Nothing: port 53 closed.
    Closed,
    /// A VIP whose only endpoint is the upstream resolver, beyond the
    /// masqueraded uplink.
    Upstream,
}

/// A node whose kube-dns VIPs (UDP and TCP, IPv4 and IPv6) kube-proxy, in
/// `mode`, spreads over the CoreDNS pods; and how many each pod answered.
fn cluster(
    tag: &str,
    subnet: u8,
    mode: ProxyMode,
    coredns: Coredns,
) -> (Node, Vec<Arc<AtomicUsize>>) {
    let mut node = Node::new(tag, subnet);
    let mut answered = Vec::new();
    let (v4, v6) = match coredns {
        Coredns::Responders(delays) => {
            for (replica, ms) in delays.into_iter().enumerate() {
                answered.push(node.responder(COREDNS[replica], Duration::from_millis(ms)));
            }
            (node.coredns_ips(false), node.coredns_ips(true))
        }
        Coredns::Dnsmasq => {
            for pod in COREDNS {
                node.dnsmasq(pod);
            }
            (node.coredns_ips(false), node.coredns_ips(true))
        }
        Coredns::Closed => (node.coredns_ips(false), node.coredns_ips(true)),
        Coredns::Upstream => {
            node.upstream_responder();
            (
                vec![IpAddr::V4(node.upstream.v4)],
                vec![IpAddr::V6(node.upstream.v6)],
            )
        }
    };
    let mut services = kube_dns(IpAddr::V4(VIP4), &v4);
    services.extend(kube_dns(IpAddr::V6(VIP6), &v6));
    node.kube_proxy(mode, &services);
    (node, answered)
}

/// dnstrace watching this node's clients only, plus `extra`.
fn trace(node: &Node, extra: &[&str]) -> Tracer {
    let mut args = node.own_clients();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Tracer::start(&args)
}

/// Who sent a query.
#[derive(Clone, Copy)]
enum Sender {
    /// dig, in its own context: the record names it.
    Dig,
    /// A thread of this test.
    ThisProcess,
}

/// What one record must say, besides what conntrack knows.
struct Want<'a> {
    proto: &'a str,
    client: IpAddr,
    server: IpAddr,
    /// Where DNAT may deliver the query; empty: no DNAT.
    backends: &'a [IpAddr],
    /// The source SNAT gives it; None: no SNAT.
    nat: Option<IpAddr>,
    interface: &'a str,
    sender: Sender,
}

/// The records with this DNS id.
fn with_id(out: &TraceOutput, id: u16) -> Vec<&Value> {
    out.with("id", &Value::from(id))
}

/// The one record with this id, or a failure showing all of them.
fn one<'a>(out: &'a TraceOutput, id: u16, what: &str) -> &'a Value {
    let found = with_id(out, id);
    assert_eq!(
        found.len(),
        1,
        "{what}: one record for query {id} whatever NAT it crossed, got {}:\n{}",
        found.len(),
        found
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    found[0]
}

/// Checks a record against `want`, and its backend and translated source
/// against the node's conntrack entry for its client port: conntrack must
/// show the NAT `want` expects (the bed works), and the record must name
/// what conntrack did.
fn check(node: &Node, r: &Value, want: &Want) {
    assert_eq!(r["proto"], want.proto, "{r}");
    assert_eq!(
        r["client_ip"],
        want.client.to_string(),
        "client: the pod: {r}"
    );
    assert_eq!(
        r["server_ip"],
        want.server.to_string(),
        "server: what was asked: {r}"
    );
    assert_eq!(r["server_port"], 53, "{r}");
    assert_eq!(r["interface"], want.interface, "the client's side: {r}");
    match want.sender {
        Sender::Dig => {
            assert_eq!(r["comm"], "dig", "{r}");
            assert!(r["pid"].as_u64().is_some_and(|p| p > 1), "{r}");
        }
        Sender::ThisProcess => assert_eq!(r["pid"], std::process::id(), "{r}"),
    }
    let port = r["client_port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("no client_port: {r}"));
    let ct = node.conntrack_of(want.proto, SocketAddr::new(want.client, port));
    assert_eq!(ct.orig.dst, SocketAddr::new(want.server, 53), "{ct:?}");
    match ct.backend() {
        Some(b) => {
            assert!(want.backends.contains(&b.ip()), "DNAT to {b}: {ct:?}");
            assert_eq!(r["backend_ip"], b.ip().to_string(), "DNAT's backend: {r}");
            assert_eq!(r["backend_port"], b.port(), "{r}");
        }
        None => {
            assert!(want.backends.is_empty(), "no DNAT done: {ct:?}");
            assert!(r["backend_ip"].is_null(), "no DNAT: {r}");
            assert!(r["backend_port"].is_null(), "no DNAT: {r}");
        }
    }
    match ct.nat() {
        Some(n) => {
            assert_eq!(Some(n.ip()), want.nat, "SNAT to {n}: {ct:?}");
            assert_eq!(r["nat_ip"], n.ip().to_string(), "SNAT's source: {r}");
            assert_eq!(r["nat_port"], n.port(), "SNAT's port: {r}");
        }
        None => {
            assert_eq!(want.nat, None, "no SNAT done: {ct:?}");
            assert!(r["nat_ip"].is_null(), "no SNAT: {r}");
            assert!(r["nat_port"].is_null(), "no SNAT: {r}");
        }
    }
    let timeout = r["rcode"] == "TIMEOUT";
    match (timeout, r["latency_ms"].as_f64()) {
        (true, None) => assert!(r["backend_latency_ms"].is_null(), "{r}"),
        (false, Some(ms)) => {
            assert!(ms > 0.0, "{r}");
            let backend = &r["backend_latency_ms"];
            assert!(
                backend.is_null() || backend.as_f64().is_some_and(|b| b > 0.0 && b <= ms),
                "backend_latency_ms null or within latency_ms: {r}"
            );
        }
        _ => panic!("latency_ms null exactly for TIMEOUT: {r}"),
    }
}

/// dig asks `server` each of `names` from `ns`, one after the other, each
/// from a source port of its own. Two digs that drew the same ephemeral
/// port within conntrack's UDP timeout would be one flow to conntrack:
/// one DNAT for two queries, which the tests count (it happened once in
/// CI). The ports lie below the ephemeral range and are used once per
/// test process, so no socket or TCP TIME_WAIT holds one.
fn digs(ns: &util::Netns, server: IpAddr, names: &[String], extra: &[&str]) -> Vec<Dig> {
    static NEXT_PORT: AtomicU16 = AtomicU16::new(20000);
    let any = if server.is_ipv6() { "::" } else { "0.0.0.0" };
    names
        .iter()
        .map(|name| {
            let port = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
            assert!(
                port < 32768,
                "digs: out of source ports below the ephemeral range"
            );
            let bind = format!("{any}#{port}");
            let mut args = vec!["-b", bind.as_str()];
            args.extend_from_slice(extra);
            dig(ns, server, name, &args)
        })
        .collect()
}

fn names(prefix: &str, n: usize, zone: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}.{zone}")).collect()
}

/// Pod queries to the VIP answered by `cluster`: each one record, asked
/// the VIP, delivered to a CoreDNS pod, no SNAT, sent by dig from the pod.
fn vip_queries_once(node: &Node, out: &TraceOutput, asked: &[Dig], proto: &str, v6: bool) {
    let (vip, client) = if v6 {
        (IpAddr::V6(VIP6), node.client().ip(true))
    } else {
        (IpAddr::V4(VIP4), node.client().ip(false))
    };
    let backends = node.coredns_ips(v6);
    for d in asked {
        let r = one(out, d.id.unwrap(), "through the VIP");
        assert_eq!(r["rcode"], d.status.as_str(), "{r}");
        assert_eq!(r["kind"], "transaction", "{r}");
        check(
            node,
            r,
            &Want {
                proto,
                client,
                server: vip,
                backends: &backends,
                nat: None,
                interface: POD_IF,
                sender: Sender::Dig,
            },
        );
    }
    assert_eq!(out.records.len(), asked.len(), "{}", out.stdout);
}

/// conntrack's DNAT of every query `client` sent to `vip`: where each went.
fn dnat_targets(node: &Node, proto: &str, client: IpAddr, vip: IpAddr) -> Vec<SocketAddr> {
    node.conntrack(vip.is_ipv6(), proto)
        .into_iter()
        .filter(|c| c.orig.src.ip() == client && c.orig.dst == SocketAddr::new(vip, 53))
        .filter_map(|c| c.backend())
        .collect()
}

#[test]
fn vip_over_udp_with_kube_proxy_iptables_rules() {
    let Some(_serial) = privileged("vip_over_udp_with_kube_proxy_iptables_rules") else {
        return;
    };
    let (node, _) = cluster("udp", 240, ProxyMode::Iptables, Coredns::Dnsmasq);
    let backends = node.coredns_ips(false);
    let (b1, b2) = (backends[0].to_string(), backends[1].to_string());
    let all = trace(&node, &[]);
    let by_vip = trace(&node, &["--server", "10.96.0.10"]);
    let by_backend = trace(&node, &["--server", &b1, "--server", &b2]);
    let asked = digs(
        &node.client().ns,
        IpAddr::V4(VIP4),
        &names("q", 6, "ok.test"),
        &[],
    );
    assert!(asked.iter().all(|d| d.status == "NOERROR"), "{asked:#?}");
    let targets = dnat_targets(&node, "udp", node.client().ip(false), IpAddr::V4(VIP4));
    assert_eq!(
        targets.len(),
        6,
        "each query DNATed:\n{}",
        node.nat_counters()
    );
    let (out, vip_out, backend_out) = (all.stop(), by_vip.stop(), by_backend.stop());
    vip_queries_once(&node, &out, &asked, "udp", false);
    // --server matches what the client asked and where it was delivered.
    for (filtered, what) in [
        (&vip_out, "--server VIP"),
        (&backend_out, "--server backend"),
    ] {
        for d in &asked {
            let r = one(filtered, d.id.unwrap(), what);
            assert_eq!(r["server_ip"], "10.96.0.10", "{what}: {r}");
        }
        assert_eq!(
            filtered.records.len(),
            asked.len(),
            "{what}: {}",
            filtered.stdout
        );
    }
}

#[test]
fn vip_over_tcp_with_kube_proxy_iptables_rules() {
    let Some(_serial) = privileged("vip_over_tcp_with_kube_proxy_iptables_rules") else {
        return;
    };
    let (node, _) = cluster("tcp", 241, ProxyMode::Iptables, Coredns::Responders([0, 0]));
    let tracer = trace(&node, &[]);
    let asked = digs(
        &node.client().ns,
        IpAddr::V4(VIP4),
        &names("t", 4, "tcp.test"),
        &["+tcp"],
    );
    assert!(asked.iter().all(|d| d.status == "NOERROR"), "{asked:#?}");
    let targets = dnat_targets(&node, "tcp", node.client().ip(false), IpAddr::V4(VIP4));
    assert_eq!(
        targets.len(),
        4,
        "each connection DNATed:\n{}",
        node.nat_counters()
    );
    let out = tracer.stop();
    vip_queries_once(&node, &out, &asked, "tcp", false);
}

#[test]
fn vip_with_kube_proxy_nftables_rules() {
    let Some(_serial) = privileged("vip_with_kube_proxy_nftables_rules") else {
        return;
    };
    let (node, _) = cluster("nft", 242, ProxyMode::Nftables, Coredns::Responders([0, 0]));
    let tracer = trace(&node, &[]);
    let asked = digs(
        &node.client().ns,
        IpAddr::V4(VIP4),
        &names("n", 5, "nft.test"),
        &[],
    );
    assert!(asked.iter().all(|d| d.status == "NOERROR"), "{asked:#?}");
    let targets = dnat_targets(&node, "udp", node.client().ip(false), IpAddr::V4(VIP4));
    assert_eq!(targets.len(), 5, "each query DNATed by nftables");
    let out = tracer.stop();
    vip_queries_once(&node, &out, &asked, "udp", false);
}

/// A host-network process (dig in the node's own namespace) asks the VIP:
/// OUTPUT DNAT has translated the query before any hook sees it.
#[test]
fn host_network_process_through_output_dnat() {
    let Some(_serial) = privileged("host_network_process_through_output_dnat") else {
        return;
    };
    let (node, _) = cluster("out", 243, ProxyMode::Iptables, Coredns::Responders([0, 0]));
    let tracer = trace(&node, &[]);
    let d = dig(&node.ns, IpAddr::V4(VIP4), "host.out.test", &[]);
    assert_eq!(d.status, "NOERROR", "{}", d.stdout);
    // The route to the VIP is the default one: the query's source is the
    // node's uplink address, and it is DNATed in OUTPUT.
    let client = IpAddr::V4(node.upstream.node_v4);
    let targets = dnat_targets(&node, "udp", client, IpAddr::V4(VIP4));
    assert_eq!(
        targets.len(),
        1,
        "DNATed in OUTPUT:\n{}",
        node.nat_counters()
    );
    let out = tracer.stop();
    let r = one(&out, d.id.unwrap(), "host-network query");
    assert_eq!(r["rcode"], "NOERROR", "{r}");
    let backend = node.pod_at(&targets[0].ip().to_string());
    check(
        &node,
        r,
        &Want {
            proto: "udp",
            client,
            server: IpAddr::V4(VIP4),
            backends: &node.coredns_ips(false),
            nat: None,
            interface: &backend.node_if,
            sender: Sender::Dig,
        },
    );
    assert_eq!(out.records.len(), 1, "{}", out.stdout);
}

/// A pod asks the upstream resolver: the query leaves the node
/// masqueraded to the uplink's address.
#[test]
fn pod_to_upstream_through_masquerade() {
    let Some(_serial) = privileged("pod_to_upstream_through_masquerade") else {
        return;
    };
    let (node, _) = cluster("masq", 244, ProxyMode::Iptables, Coredns::Upstream);
    let upstream = IpAddr::V4(node.upstream.v4);
    let tracer = trace(&node, &["-v"]);
    let asked = digs(
        &node.client().ns,
        upstream,
        &names("m", 3, "masq.test"),
        &[],
    );
    assert!(asked.iter().all(|d| d.status == "NOERROR"), "{asked:#?}");
    let out = tracer.stop();
    for d in &asked {
        let r = one(&out, d.id.unwrap(), "through MASQUERADE");
        assert_eq!(r["rcode"], "NOERROR", "{r}");
        check(
            &node,
            r,
            &Want {
                proto: "udp",
                client: node.client().ip(false),
                server: upstream,
                backends: &[],
                nat: Some(IpAddr::V4(node.upstream.node_v4)),
                interface: POD_IF,
                sender: Sender::Dig,
            },
        );
    }
    assert_eq!(out.records.len(), asked.len(), "{}", out.stdout);
    // SNAT changes the client's end, which keys the pending map: each
    // query had a twin under its translated tuple for the sightings
    // beyond, and deleted it when it completed.
    let n = asked.len() as u64;
    assert_eq!(counter(&out.stderr, "nat_queries"), n, "{}", out.stderr);
    assert_eq!(counter(&out.stderr, "twins_added"), n, "{}", out.stderr);
    assert_eq!(counter(&out.stderr, "twins_removed"), n, "{}", out.stderr);
    assert_eq!(counter(&out.stderr, "twins_evicted"), 0, "{}", out.stderr);
    assert_eq!(
        counter(&out.stderr, "response_without_query"),
        0,
        "{}",
        out.stderr
    );
}

/// A VIP whose endpoint is beyond the uplink: DNAT in PREROUTING, then
/// MASQUERADE on the way out.
#[test]
fn vip_endpoint_beyond_the_uplink_dnat_and_snat() {
    let Some(_serial) = privileged("vip_endpoint_beyond_the_uplink_dnat_and_snat") else {
        return;
    };
    let (node, _) = cluster("both", 245, ProxyMode::Iptables, Coredns::Upstream);
    let tracer = trace(&node, &[]);
    let asked = digs(
        &node.client().ns,
        IpAddr::V4(VIP4),
        &names("b", 3, "both.test"),
        &[],
    );
    assert!(asked.iter().all(|d| d.status == "NOERROR"), "{asked:#?}");
    let out = tracer.stop();
    for d in &asked {
        let r = one(&out, d.id.unwrap(), "through DNAT and SNAT");
        assert_eq!(r["rcode"], "NOERROR", "{r}");
        check(
            &node,
            r,
            &Want {
                proto: "udp",
                client: node.client().ip(false),
                server: IpAddr::V4(VIP4),
                backends: &[IpAddr::V4(node.upstream.v4)],
                nat: Some(IpAddr::V4(node.upstream.node_v4)),
                interface: POD_IF,
                sender: Sender::Dig,
            },
        );
    }
    assert_eq!(out.records.len(), asked.len(), "{}", out.stdout);
}

#[test]
fn ipv6_vip_through_ip6tables_dnat() {
    let Some(_serial) = privileged("ipv6_vip_through_ip6tables_dnat") else {
        return;
    };
    let (node, _) = cluster("six", 246, ProxyMode::Iptables, Coredns::Responders([0, 0]));
    let tracer = trace(&node, &[]);
    let asked = digs(
        &node.client().ns,
        IpAddr::V6(VIP6),
        &names("s", 4, "six.test"),
        &["AAAA"],
    );
    assert!(asked.iter().all(|d| d.status == "NOERROR"), "{asked:#?}");
    let targets = dnat_targets(&node, "udp", node.client().ip(true), IpAddr::V6(VIP6));
    assert_eq!(targets.len(), 4, "each query DNATed by ip6tables");
    let out = tracer.stop();
    vip_queries_once(&node, &out, &asked, "udp", true);
}

/// A query through the VIP that the endpoint never answers: one TIMEOUT.
#[test]
fn timeout_through_the_vip_reported_once() {
    let Some(_serial) = privileged("timeout_through_the_vip_reported_once") else {
        return;
    };
    let (node, _) = cluster("tmo", 247, ProxyMode::Iptables, Coredns::Responders([0, 0]));
    let tracer = trace(&node, &["--timeout", "500ms"]);
    let d = dig(
        &node.client().ns,
        IpAddr::V4(VIP4),
        "drop.tmo.test",
        &["+timeout=1"],
    );
    assert_eq!(d.status, "NO-ANSWER", "{}", d.stdout);
    std::thread::sleep(Duration::from_millis(800));
    let out = tracer.stop();
    let found = out.with("qname", &Value::from("drop.tmo.test"));
    assert_eq!(found.len(), 1, "one TIMEOUT:\n{}", out.stdout);
    let r = found[0];
    assert_eq!(r["rcode"], "TIMEOUT", "{r}");
    assert_eq!(r["kind"], "transaction", "{r}");
    assert!(r["answers"].is_null(), "{r}");
    check(
        &node,
        r,
        &Want {
            proto: "udp",
            client: node.client().ip(false),
            server: IpAddr::V4(VIP4),
            backends: &node.coredns_ips(false),
            nat: None,
            interface: POD_IF,
            sender: Sender::Dig,
        },
    );
    assert_eq!(out.records.len(), 1, "{}", out.stdout);
}

/// An answer after --timeout: the TIMEOUT, then a `late` record of the
/// same query with the answer's rcode.
#[test]
fn late_answer_through_the_vip() {
    let Some(_serial) = privileged("late_answer_through_the_vip") else {
        return;
    };
    let (node, _) = cluster(
        "late",
        248,
        ProxyMode::Iptables,
        Coredns::Responders([0, 0]),
    );
    let tracer = trace(&node, &["--timeout", "500ms", "-v"]);
    let d = dig(
        &node.client().ns,
        IpAddr::V4(VIP4),
        "delay-1500.late.test",
        &["+timeout=3"],
    );
    assert_eq!(
        d.status, "NOERROR",
        "dig waits longer than dnstrace: {}",
        d.stdout
    );
    std::thread::sleep(Duration::from_millis(300));
    let out = tracer.stop();
    let found = with_id(&out, d.id.unwrap());
    assert_eq!(found.len(), 2, "TIMEOUT and late:\n{}", out.stdout);
    let timeout = *found
        .iter()
        .find(|r| r["kind"] == "transaction")
        .unwrap_or_else(|| panic!("no transaction record:\n{}", out.stdout));
    let late = *found
        .iter()
        .find(|r| r["kind"] == "late")
        .unwrap_or_else(|| panic!("no late record:\n{}", out.stdout));
    assert_eq!(timeout["rcode"], "TIMEOUT", "{timeout}");
    assert_eq!(late["rcode"], "NOERROR", "{late}");
    for key in ["id", "client_ip", "client_port", "ts", "backend_ip"] {
        assert_eq!(late[key], timeout[key], "{key}: {timeout}\n{late}");
    }
    let ms = latency(late);
    assert!(
        (1500.0..2000.0).contains(&ms),
        "answered after 1.5 s, past the 500 ms timeout: {late}"
    );
    for r in [timeout, late] {
        check(
            &node,
            r,
            &Want {
                proto: "udp",
                client: node.client().ip(false),
                server: IpAddr::V4(VIP4),
                backends: &node.coredns_ips(false),
                nat: None,
                interface: POD_IF,
                sender: Sender::Dig,
            },
        );
    }
    // The kernel's counters are host-wide: other tests may add to them.
    assert!(counter(&out.stderr, "late_answers") >= 1, "{}", out.stderr);
}

/// A second answer that contradicts the first: the transaction as
/// answered first, and a `duplicate` record with the second rcode.
#[test]
fn conflicting_second_answer_through_the_vip() {
    let Some(_serial) = privileged("conflicting_second_answer_through_the_vip") else {
        return;
    };
    let (node, _) = cluster("dup", 249, ProxyMode::Iptables, Coredns::Responders([0, 0]));
    let tracer = trace(&node, &["-v"]);
    let d = dig(&node.client().ns, IpAddr::V4(VIP4), "twice.dup.test", &[]);
    assert_eq!(d.status, "NOERROR", "dig takes the first: {}", d.stdout);
    std::thread::sleep(Duration::from_millis(200));
    let out = tracer.stop();
    let found = with_id(&out, d.id.unwrap());
    assert_eq!(found.len(), 2, "answer and duplicate:\n{}", out.stdout);
    let first = *found
        .iter()
        .find(|r| r["kind"] == "transaction")
        .unwrap_or_else(|| panic!("no transaction record:\n{}", out.stdout));
    let dup = *found
        .iter()
        .find(|r| r["kind"] == "duplicate")
        .unwrap_or_else(|| panic!("no duplicate record:\n{}", out.stdout));
    assert_eq!(first["rcode"], "NOERROR", "{first}");
    assert_eq!(dup["rcode"], "NXDOMAIN", "{dup}");
    assert_eq!(dup["first_rcode"], "NOERROR", "{dup}");
    for key in ["id", "qname", "client_ip", "client_port", "backend_ip"] {
        assert_eq!(dup[key], first[key], "{key}: {first}\n{dup}");
    }
    for r in [first, dup] {
        check(
            &node,
            r,
            &Want {
                proto: "udp",
                client: node.client().ip(false),
                server: IpAddr::V4(VIP4),
                backends: &node.coredns_ips(false),
                nat: None,
                interface: POD_IF,
                sender: Sender::Dig,
            },
        );
    }
    assert!(
        counter(&out.stderr, "duplicate_answers") >= 1,
        "{}",
        out.stderr
    );
}

/// A pod asks an address where nothing listens on 53: the ICMP port
/// unreachable that comes back ends the query at once, IPv4 and IPv6.
#[test]
fn icmp_port_unreachable_ends_the_query() {
    let Some(_serial) = privileged("icmp_port_unreachable_ends_the_query") else {
        return;
    };
    let (node, _) = cluster("icmp", 240, ProxyMode::Iptables, Coredns::Closed);
    let tracer = trace(&node, &["--timeout", "1s"]);
    let dead = node.coredns(1);
    let mut asked = Vec::new();
    for (id, v6) in [(0x2404u16, false), (0x2406, true)] {
        let server = SocketAddr::new(dead.ip(v6), 53);
        let got = util::nat::ask_connected(
            &node.client().ns,
            server,
            id,
            "nobody.icmp.test",
            1,
            Duration::from_secs(2),
        );
        assert_eq!(
            got,
            Err(std::io::ErrorKind::ConnectionRefused),
            "the ICMP error reached the client"
        );
        asked.push((id, v6));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let out = tracer.stop();
    assert!(
        out.with("rcode", &Value::from("TIMEOUT")).is_empty(),
        "no TIMEOUT after the ICMP error:\n{}",
        out.stdout
    );
    for (id, v6) in asked {
        let r = one(&out, id, "port unreachable");
        assert_eq!(r["rcode"], "UNREACHABLE", "{r}");
        assert_eq!(r["icmp"], "port-unreachable", "{r}");
        assert_eq!(r["icmp_from"], dead.ip(v6).to_string(), "{r}");
        assert!(latency(r) < 100.0, "at once, not after --timeout: {r}");
        check(
            &node,
            r,
            &Want {
                proto: "udp",
                client: node.client().ip(v6),
                server: dead.ip(v6),
                backends: &[],
                nat: None,
                interface: POD_IF,
                sender: Sender::ThisProcess,
            },
        );
    }
    assert_eq!(out.records.len(), 2, "{}", out.stdout);
}

/// A DoT connection through the node closed as TLS closes: the client
/// sends close_notify and its FIN, the server its close_notify after that
/// FIN. One connection, one record.
#[test]
fn dot_connection_closing_is_one_record() {
    let Some(_serial) = privileged("dot_connection_closing_is_one_record") else {
        return;
    };
    let (node, _) = cluster("dot", 241, ProxyMode::Iptables, Coredns::Responders([0, 0]));
    let tracer = trace(&node, &[]);
    let dot = SocketAddr::new(node.coredns(0).ip(false), 853);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = node.coredns(0).ns.spawn(move || {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind(dot).unwrap();
        ready_tx.send(()).unwrap();
        let (mut c, _) = l.accept().unwrap();
        let mut hello = [0u8; 517];
        c.read_exact(&mut hello).unwrap();
        c.write_all(&[0x16; 1400]).unwrap();
        // The client's close_notify, then its FIN.
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        // Ours, after its FIN: a last write on a half-closed connection.
        c.write_all(&[0x15; 24]).unwrap();
        rest.len()
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let got = node.client().ns.within(move || {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(dot).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.write_all(&[0x16; 517]).unwrap();
        let mut reply = [0u8; 1400];
        c.read_exact(&mut reply).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        c.write_all(&[0x15; 24]).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        rest.len()
    });
    assert_eq!((server.join().unwrap(), got), (24, 24), "both close_notify");
    std::thread::sleep(Duration::from_millis(200));
    let out = tracer.stop();
    let conns = out.with("kind", &Value::from("encrypted"));
    assert_eq!(
        conns.len(),
        1,
        "one connection, one record:\n{}",
        out.stdout
    );
    let d = conns[0];
    assert_eq!(d["service"], "dot", "{d}");
    assert_eq!(d["rcode"], "ENCRYPTED", "{d}");
    assert_eq!(d["proto"], "tcp", "{d}");
    assert_eq!(d["client_ip"], node.client().v4.to_string(), "{d}");
    assert_eq!(d["server_ip"], dot.ip().to_string(), "{d}");
    assert_eq!(d["server_port"], 853, "{d}");
    assert_eq!(d["interface"], POD_IF, "{d}");
    assert_eq!(d["pid"], std::process::id(), "the connecting process: {d}");
    assert_eq!(
        (d["bytes_sent"].as_u64(), d["bytes_received"].as_u64()),
        (Some(517 + 24), Some(1400 + 24)),
        "every payload byte, the close_notify included: {d}"
    );
    assert!(
        d["duration_ms"].as_f64().is_some_and(|ms| ms >= 30.0),
        "{d}"
    );
    assert_eq!(out.records.len(), 1, "{}", out.stdout);
}

/// Two CoreDNS replicas behind the VIP, the second 200 ms slow: the
/// records tell them apart by backend_ip, and their latencies with it.
#[test]
fn two_endpoints_one_slow() {
    let Some(_serial) = privileged("two_endpoints_one_slow") else {
        return;
    };
    let (node, answered) = cluster(
        "slow",
        242,
        ProxyMode::Iptables,
        Coredns::Responders([0, 200]),
    );
    let tracer = trace(&node, &[]);
    let vip = SocketAddr::new(IpAddr::V4(VIP4), 53);
    // kube-proxy picks at random: ask until each replica answered thrice.
    let mut ids = Vec::new();
    for i in 0..40u16 {
        if answered.iter().all(|a| a.load(Ordering::Relaxed) >= 3) {
            break;
        }
        let id = 0x1300 + i;
        let reply = query(&node.client().ns, vip, id, &format!("q{i}.slow.test"), 1);
        assert!(reply.is_some(), "query {i} through the VIP answered");
        ids.push(id);
    }
    let counts: Vec<usize> = answered.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    assert!(
        counts.iter().all(|&n| n >= 3),
        "both replicas used: {counts:?}"
    );
    let out = tracer.stop();
    let backends = node.coredns_ips(false);
    let mut by_backend = [0usize; 2];
    for &id in &ids {
        let r = one(&out, id, "two endpoints");
        check(
            &node,
            r,
            &Want {
                proto: "udp",
                client: node.client().ip(false),
                server: IpAddr::V4(VIP4),
                backends: &backends,
                nat: None,
                interface: POD_IF,
                sender: Sender::ThisProcess,
            },
        );
        let ms = latency(r);
        let backend_ms = r["backend_latency_ms"].as_f64();
        if r["backend_ip"] == backends[1].to_string() {
            by_backend[1] += 1;
            assert!((200.0..300.0).contains(&ms), "the slow replica: {r}");
            assert!(backend_ms.is_none_or(|b| b >= 200.0), "{r}");
        } else {
            by_backend[0] += 1;
            assert!(ms < 50.0, "the fast replica: {r}");
        }
    }
    assert_eq!(
        by_backend.to_vec(),
        counts,
        "records per backend as answered"
    );
    assert_eq!(out.records.len(), ids.len(), "{}", out.stdout);
}

/// A resolver on the node's own loopback behind an OUTPUT DNAT (as a
/// node-local cache can be reached): the query is seen on lo already
/// translated, and its answer on lo already translated back, so the two
/// halves carry different tuples and meet through the conntrack entry.
#[test]
fn local_resolver_through_output_dnat_on_lo() {
    let Some(_serial) = privileged("local_resolver_through_output_dnat_on_lo") else {
        return;
    };
    let ns = util::Netns::new("lodnat");
    // The VIP routed nowhere but lo, from an address of the node's own.
    ns.ip(&["addr", "add", "10.250.9.1/32", "dev", "lo"]);
    ns.ip(&[
        "route",
        "add",
        "10.96.0.0/16",
        "dev",
        "lo",
        "src",
        "10.250.9.1",
    ]);
    let _dnsmasq = util::Dnsmasq::start(&ns, &["127.0.0.1".parse().unwrap()]);
    let rule = [
        "-t",
        "nat",
        "-A",
        "OUTPUT",
        "-d",
        "10.96.0.10",
        "-p",
        "udp",
        "--dport",
        "53",
        "-j",
        "DNAT",
        "--to-destination",
        "127.0.0.1:53",
    ];
    let status = ns
        .command("iptables")
        .args(rule)
        .status()
        .expect("iptables");
    assert!(status.success(), "iptables OUTPUT DNAT");
    let tracer = Tracer::start(&["-v", "--client", "10.250.9.1"]);
    let d = dig(&ns, IpAddr::V4(VIP4), "lo.ok.test", &[]);
    assert_eq!(d.status, "NOERROR", "the DNAT to lo works: {}", d.stdout);
    let out = tracer.stop();
    let r = one(&out, d.id.unwrap(), "through OUTPUT DNAT to lo");
    assert_eq!(r["rcode"], "NOERROR", "{r}");
    assert_eq!(r["kind"], "transaction", "{r}");
    assert_eq!(r["server_ip"], VIP4.to_string(), "what dig asked: {r}");
    assert_eq!(r["backend_ip"], "127.0.0.1", "where DNAT delivered it: {r}");
    assert_eq!(r["backend_port"], 53, "{r}");
    assert_eq!(r["client_ip"], "10.250.9.1", "{r}");
    assert!(r["nat_ip"].is_null(), "no SNAT: {r}");
    assert_eq!(r["interface"], "lo", "{r}");
    assert_eq!(r["comm"], "dig", "{r}");
    assert!(r["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{r}");
    assert_eq!(
        counter(&out.stderr, "response_without_query"),
        0,
        "{}",
        out.stderr
    );
    // The answer crosses lo twice: completed going out, the second
    // sighting (translated back, under the other tuple) a repeat.
    assert_eq!(counter(&out.stderr, "response_repeat"), 1, "{}", out.stderr);
}

/// Evictions are counted exactly through the VIP, where each query takes
/// one entry of the pending map: keyed by the pod's end of its tuple, which
/// DNAT leaves as it was, it serves the sightings beyond DNAT too, and no
/// twin is made. 200 answered queries, then
/// a burst of 1,000 the endpoint never answers, watched by a tracer with
/// the default map (nothing evicted) and one with a 64-entry map (most
/// evicted). For the small one, the records are the evidence: every
/// tracked query is an answered record, a TIMEOUT record or an eviction,
/// and its metric, scraped all along, never counts more than that and ends
/// equal to it.
#[test]
fn evictions_through_the_vip_counted_exactly() {
    let Some(_serial) = privileged("evictions_through_the_vip_counted_exactly") else {
        return;
    };
    const METRICS: &str = "127.0.0.1:19265";
    const ANSWERED: u16 = 200;
    const UNANSWERED: u16 = 1000;
    let (node, _) = cluster("evn", 248, ProxyMode::Iptables, Coredns::Responders([0, 0]));
    let roomy = trace(&node, &["-v", "--timeout", "500ms"]);
    let small = trace(
        &node,
        &[
            "-v",
            "--timeout",
            "500ms",
            "--max-pending",
            "64",
            "--metrics",
            METRICS,
        ],
    );
    let vip = SocketAddr::new(IpAddr::V4(VIP4), 53);
    for id in 0..ANSWERED {
        let a = query(&node.client().ns, vip, id, &format!("ok{id}.evn.test"), 1);
        assert!(a.is_some(), "query {id} through the VIP unanswered");
    }
    let scraping = std::sync::atomic::AtomicBool::new(true);
    let scraped = std::thread::scope(|s| {
        let scraper = s.spawn(|| {
            let mut seen = Vec::new();
            while scraping.load(Ordering::Relaxed) {
                let (status, _, body) = util::prometheus::http(METRICS, "GET", "/metrics");
                assert_eq!(status, 200);
                seen.push(evictions_in(&body));
                std::thread::sleep(Duration::from_millis(100));
            }
            seen
        });
        node.client().ns.within(move || {
            let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            for id in 0..UNANSWERED {
                let q = util::dns::build_query(id, &format!("drop.u{id}.evn.test"), 1);
                sock.send_to(&q, vip).unwrap();
            }
        });
        // Every unanswered query expired (500 ms) and the metric updated
        // (every second) since.
        std::thread::sleep(Duration::from_millis(3500));
        scraping.store(false, Ordering::Relaxed);
        scraper.join().unwrap()
    });
    let settled = *scraped.last().unwrap();
    let (roomy, small) = (roomy.stop(), small.stop());

    let timeouts = |out: &TraceOutput| {
        out.records
            .iter()
            .filter(|r| r["rcode"] == "TIMEOUT")
            .count() as u64
    };
    let answered = |out: &TraceOutput| {
        out.records
            .iter()
            .filter(|r| r["rcode"] == "NOERROR")
            .count() as u64
    };
    for out in [&roomy, &small] {
        assert_eq!(
            counter(&out.stderr, "queries"),
            u64::from(ANSWERED + UNANSWERED),
            "{}",
            out.stderr
        );
        assert_eq!(counter(&out.stderr, "ringbuf_drops"), 0, "{}", out.stderr);
        assert_eq!(counter(&out.stderr, "insert_failed"), 0, "{}", out.stderr);
        assert!(
            out.stderr.contains("0 queries still pending at exit"),
            "{}",
            out.stderr
        );
    }
    // The roomy map: everything reported, nothing evicted, every query
    // seen translated, and no twin made for DNAT alone.
    assert_eq!(answered(&roomy), u64::from(ANSWERED), "{}", roomy.stdout);
    assert_eq!(timeouts(&roomy), u64::from(UNANSWERED), "{}", roomy.stdout);
    assert_eq!(counter(&roomy.stderr, "evicted"), 0, "{}", roomy.stderr);
    assert_eq!(
        counter(&roomy.stderr, "nat_queries"),
        u64::from(ANSWERED + UNANSWERED),
        "{}",
        roomy.stderr
    );
    assert_eq!(counter(&roomy.stderr, "twins_added"), 0, "{}", roomy.stderr);
    assert_eq!(
        counter(&roomy.stderr, "twins_evicted"),
        0,
        "{}",
        roomy.stderr
    );

    // The small map: what was not reported was evicted, exactly.
    let evicted = counter(&small.stderr, "evicted");
    let reported = answered(&small) + timeouts(&small);
    println!(
        "64-entry map through the VIP: {} answered, {} timed out, {evicted} evicted; twins: {} added, {} evicted; metric scraped {} times, max {:?}, settled {settled}",
        answered(&small),
        timeouts(&small),
        counter(&small.stderr, "twins_added"),
        counter(&small.stderr, "twins_evicted"),
        scraped.len(),
        scraped.iter().max()
    );
    assert_eq!(answered(&small), u64::from(ANSWERED), "{}", small.stderr);
    assert!(evicted > 0, "1,000 queries in 64 entries");
    assert_eq!(
        reported + evicted,
        u64::from(ANSWERED + UNANSWERED),
        "{}",
        small.stderr
    );
    assert!(
        scraped.iter().all(|&e| e <= evicted),
        "the metric never counts more than were evicted: {scraped:?}, {evicted}"
    );
    assert_eq!(settled, evicted, "{scraped:?}");
}

/// `dnstrace_pending_evictions_total` in a scraped body.
fn evictions_in(body: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix("dnstrace_pending_evictions_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no evictions in:\n{body}"))
}
