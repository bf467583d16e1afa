//! Lookups end to end, as root: real resolvers (glibc's, through getent;
//! dig) asking dnsmasq or a scripted responder in network namespaces
//! created (and removed) here, with the client's resolv.conf set the way
//! `ip netns exec` sets it (/etc/netns/NAME/resolv.conf, bind-mounted over
//! /etc/resolv.conf for the command). Each test filters on its own server
//! address.

mod util;

use std::net::{IpAddr, SocketAddr};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use util::{privileged, run, Dnsmasq, Link, Netns, Responder, Tracer};

/// /etc/netns/NAME/resolv.conf for a namespace, removed on drop.
struct ResolvConf {
    dir: String,
}

impl ResolvConf {
    fn write(ns: &Netns, server: IpAddr, lines: &str) -> ResolvConf {
        let dir = format!("/etc/netns/{}", ns.name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            format!("{dir}/resolv.conf"),
            format!("nameserver {server}\n{lines}"),
        )
        .unwrap();
        ResolvConf { dir }
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An iptables rule in a namespace, deleted on drop (with the namespace
/// at the latest).
struct Rule<'a> {
    ns: &'a Netns,
    spec: Vec<String>,
}

impl<'a> Rule<'a> {
    fn add(ns: &'a Netns, spec: &[&str]) -> Rule<'a> {
        let spec: Vec<String> = spec.iter().map(|s| s.to_string()).collect();
        let mut args = vec!["netns", "exec", &ns.name, "iptables", "-A"];
        args.extend(spec.iter().map(String::as_str));
        run("ip", &args);
        Rule { ns, spec }
    }
}

impl Drop for Rule<'_> {
    fn drop(&mut self) {
        let mut args = vec!["netns", "exec", &self.ns.name, "iptables", "-D"];
        args.extend(self.spec.iter().map(String::as_str));
        let _ = std::process::Command::new("ip").args(&args).status();
    }
}

/// Drops the first UDP query that reaches the server's namespace (the
/// client's interface has seen it leave), none after.
fn drop_first_query(server: &Netns) -> Rule<'_> {
    Rule::add(
        server,
        &[
            "INPUT",
            "-p",
            "udp",
            "--dport",
            "53",
            "-m",
            "statistic",
            "--mode",
            "nth",
            "--every",
            "1000000",
            "--packet",
            "0",
            "-j",
            "DROP",
        ],
    )
}

fn getent(ns: &Netns, name: &str) -> Output {
    ns.command("getent")
        .args(["ahosts", name])
        .output()
        .expect("running getent")
}

/// The lookup records, after the trace: all of them are kind lookup.
fn lookups(out: &util::TraceOutput) -> Vec<&Value> {
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.records.iter().all(|r| r["kind"] == "lookup"),
        "{}",
        out.stdout
    );
    out.records.iter().collect()
}

fn trace(server: IpAddr, extra: &[&str]) -> Tracer {
    let server = server.to_string();
    let mut args = vec!["--lookups", "--server", server.as_str()];
    args.extend_from_slice(extra);
    Tracer::start(&args)
}

/// Waits for lookups to finish (a second or so after their last query).
fn settle() {
    std::thread::sleep(Duration::from_millis(2500));
}

const SEARCH: &str = "search default.svc.nx.test svc.nx.test nx.test\noptions ndots:5\n";

#[test]
fn getent_with_an_ndots_5_search_list_is_one_lookup() {
    let Some(_serial) = privileged("getent_with_an_ndots_5_search_list_is_one_lookup") else {
        return;
    };
    let link = Link::new("lk1", 61);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    let _conf = ResolvConf::write(&link.client, server, SEARCH);
    let tracer = trace(server, &[]);
    let got = getent(&link.client, "api.ok.test");
    assert!(got.status.success(), "{got:?}");
    settle();
    let out = tracer.stop();
    let all = lookups(&out);
    assert_eq!(all.len(), 1, "{}", out.stdout);
    let l = all[0];
    assert_eq!(l["name"], "api.ok.test", "{l}");
    assert_eq!(l["answered_name"], "api.ok.test");
    assert_eq!(
        l["queries"], 8,
        "A and AAAA for three search names, then the name"
    );
    assert_eq!(l["search_misses"], 6);
    assert_eq!(
        (l["retries"].as_u64(), l["retransmits"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(l["rcode"], "NOERROR");
    assert_eq!(l["qtypes"], serde_json::json!(["A", "AAAA"]));
    assert_eq!(l["comm"], "getent");
    assert!(l["pid"].as_u64().is_some());
    assert!(l["search"] == "process" || l["search"] == "netns", "{l}");
    assert!(l["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(l["sibling_lost"], false);
    assert!(
        out.stderr.contains("1 lookups (application calls), 8.0 queries per lookup; 75.0% of their 8 queries were search misses"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("search misses (name, queries wasted): api.ok.test (6)"),
        "{}",
        out.stderr
    );
    eprintln!("{}\n{}", out.stdout, out.stderr);
}

#[test]
fn a_fully_qualified_name_is_asked_once() {
    let Some(_serial) = privileged("a_fully_qualified_name_is_asked_once") else {
        return;
    };
    let link = Link::new("lk2", 62);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    let _conf = ResolvConf::write(&link.client, server, SEARCH);
    let tracer = trace(server, &[]);
    assert!(getent(&link.client, "api.ok.test.").status.success());
    settle();
    let out = tracer.stop();
    let all = lookups(&out);
    assert_eq!(all.len(), 1, "{}", out.stdout);
    assert_eq!(all[0]["name"], "api.ok.test");
    assert_eq!(
        (all[0]["queries"].as_u64(), all[0]["search_misses"].as_u64()),
        (Some(2), Some(0))
    );
}

#[test]
fn single_request_reopen_and_use_vc_are_one_lookup_each() {
    let Some(_serial) = privileged("single_request_reopen_and_use_vc_are_one_lookup_each") else {
        return;
    };
    let link = Link::new("lk3", 63);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    for (options, proto) in [
        ("options single-request-reopen\n", "udp"),
        ("options use-vc\n", "tcp"),
    ] {
        let _conf = ResolvConf::write(&link.client, server, options);
        let tracer = trace(server, &[]);
        assert!(getent(&link.client, "www.ok.test").status.success());
        settle();
        let out = tracer.stop();
        let all = lookups(&out);
        assert_eq!(all.len(), 1, "{options}: {}", out.stdout);
        let l = all[0];
        assert_eq!(l["queries"], 2, "{options}: {l}");
        assert_eq!(
            l["qtypes"],
            serde_json::json!(["A", "AAAA"]),
            "{options}: {l}"
        );
        assert_eq!(l["rcode"], "NOERROR");
        assert_eq!(
            (l["retries"].as_u64(), l["retransmits"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(
            l["tcp_fallback"], false,
            "use-vc asks over TCP from the start"
        );
        assert_eq!(l["protos"], serde_json::json!([proto]), "{options}: {l}");
    }
}

#[test]
fn glibc_resends_a_lost_query_on_the_same_socket_after_5s() {
    let Some(_serial) = privileged("glibc_resends_a_lost_query_on_the_same_socket_after_5s") else {
        return;
    };
    let link = Link::new("lk4", 64);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    let _conf = ResolvConf::write(&link.client, server, "options ndots:1 attempts:2\n");
    let tracer = trace(server, &[]);
    let _drop = drop_first_query(&link.server);
    let got = getent(&link.client, "api.ok.test");
    assert!(got.status.success(), "{got:?}");
    settle();
    let out = tracer.stop();
    let all = lookups(&out);
    assert_eq!(all.len(), 1, "{}", out.stdout);
    let l = all[0];
    assert!(l["retransmits"].as_u64().unwrap() >= 1, "{l}");
    assert_eq!(l["retries"], 0, "{l}");
    assert_eq!(l["retry_after_timeout"], true);
    assert_eq!(
        l["sibling_lost"], true,
        "the A was lost, its AAAA answered: {l}"
    );
    let delay = l["retry_delay_ms"].as_f64().unwrap();
    assert!((4500.0..6000.0).contains(&delay), "{l}");
    assert_eq!(l["rcode"], "NOERROR");
    assert!(l["latency_ms"].as_f64().unwrap() >= 4500.0, "{l}");
    assert!(
        out.stderr.contains("1 about 5 s after the first try"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("resent about 5 s after the first try (name, lookups): api.ok.test (1)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("single-request-reopen"),
        "{}",
        out.stderr
    );
    eprintln!("{}\n{}", out.stdout, out.stderr);
}

#[test]
fn dig_retries_a_lost_query_on_a_new_port() {
    let Some(_serial) = privileged("dig_retries_a_lost_query_on_a_new_port") else {
        return;
    };
    let link = Link::new("lk5", 65);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    let tracer = trace(server, &[]);
    let _drop = drop_first_query(&link.server);
    let got = link
        .client
        .command("dig")
        .arg(format!("@{server}"))
        .args(["www.ok.test", "A", "+tries=2", "+timeout=1", "+noedns"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&got.stdout).contains("status: NOERROR"),
        "{got:?}"
    );
    settle();
    let out = tracer.stop();
    let all = lookups(&out);
    assert_eq!(all.len(), 1, "{}", out.stdout);
    let l = all[0];
    assert_eq!(
        (l["retries"].as_u64(), l["retransmits"].as_u64()),
        (Some(1), Some(0)),
        "{l}"
    );
    assert_eq!(l["queries"], 2);
    assert_eq!(l["retry_after_timeout"], true);
    assert_eq!(l["comm"], "dig");
    assert_eq!(l["rcode"], "NOERROR");
}

#[test]
fn a_truncated_answer_then_tcp_is_one_lookup() {
    let Some(_serial) = privileged("a_truncated_answer_then_tcp_is_one_lookup") else {
        return;
    };
    let link = Link::new("lk6", 66);
    let server = IpAddr::V4(link.server_v4);
    let _responder = Responder::start(&link.server, SocketAddr::new(server, 53));
    let tracer = trace(server, &[]);
    let got = link
        .client
        .command("dig")
        .arg(format!("@{server}"))
        .args(["big.tc.test", "A", "+tries=1", "+timeout=2", "+noedns"])
        .output()
        .unwrap();
    assert!(got.status.success(), "{got:?}");
    settle();
    let out = tracer.stop();
    let all = lookups(&out);
    assert_eq!(all.len(), 1, "{}", out.stdout);
    let l = all[0];
    assert_eq!(l["tcp_fallback"], true, "{l}");
    assert_eq!(l["protos"], serde_json::json!(["udp", "tcp"]));
    assert_eq!(l["queries"], 2);
    assert_eq!(
        (l["retries"].as_u64(), l["retransmits"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(l["rcode"], "NOERROR");
}

#[test]
fn two_processes_asking_the_same_name_at_once_are_two_lookups() {
    let Some(_serial) = privileged("two_processes_asking_the_same_name_at_once_are_two_lookups")
    else {
        return;
    };
    let link = Link::new("lk7", 67);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    let _conf = ResolvConf::write(&link.client, server, "options ndots:1\n");
    let tracer = trace(server, &[]);
    let children: Vec<_> = (0..2)
        .map(|_| {
            link.client
                .command("getent")
                .args(["ahosts", "same.ok.test"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    settle();
    let out = tracer.stop();
    let all = lookups(&out);
    assert_eq!(all.len(), 2, "{}", out.stdout);
    assert_ne!(all[0]["pid"], all[1]["pid"]);
    for l in all {
        assert_eq!(l["name"], "same.ok.test");
        assert_eq!(l["queries"], 2, "{l}");
    }
}

/// A DNS query for `name`, type A, with id `id`.
fn query_bytes(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn a_flood_of_distinct_names_keeps_the_open_lookups_bounded() {
    let Some(_serial) = privileged("a_flood_of_distinct_names_keeps_the_open_lookups_bounded")
    else {
        return;
    };
    const QUERIES: u32 = 40_000;
    let link = Link::new("lk8", 68);
    let server = IpAddr::V4(link.server_v4);
    let _responder = Responder::start(&link.server, SocketAddr::new(server, 53));
    let tracer = trace(server, &[]);
    // Faster than lookups finish (a second and more), from one process:
    // more open at once than the cap of 16384.
    link.client.within(move || {
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        for i in 0..QUERIES {
            let q = query_bytes(i as u16, &format!("n{i}.flood.test"));
            sock.send_to(&q, SocketAddr::new(server, 53)).unwrap();
        }
    });
    settle();
    let out = tracer.stop();
    let all = lookups(&out);
    // "...; evicted: N" and "dnstrace: N transactions in ...".
    let number_after = |key: &str| {
        out.stderr
            .lines()
            .find_map(|l| {
                let rest = l.split(key).nth(1)?;
                rest.split([' ', ';', ',']).next()?.parse::<u64>().ok()
            })
            .unwrap_or_else(|| panic!("no {key:?} and a number in {}", out.stderr))
    };
    let evicted = number_after("; evicted: ");
    let incomplete = all.iter().filter(|l| l["incomplete"] == true).count() as u64;
    assert!(evicted > 0, "{}", out.stderr);
    assert_eq!(
        incomplete, evicted,
        "each eviction is a lookup reported early"
    );
    assert!(
        all.iter().all(|l| l["queries"] == 1),
        "distinct names: one query each"
    );
    assert!(
        out.stderr.contains(&format!(
            "dnstrace: {} lookups (application calls)",
            all.len()
        )),
        "{}",
        out.stderr
    );
    // Every query that reached user space is in exactly one lookup.
    let transactions = number_after("dnstrace: ");
    assert_eq!(all.len() as u64, transactions, "{}", out.stderr);
}
