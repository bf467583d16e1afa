//! Security signals end to end, as root: real clients (dig, getent) and
//! real servers (dnsmasq) in network namespaces created (and removed)
//! here, the client's resolv.conf set the way `ip netns exec` sets it
//! (/etc/netns/NAME/resolv.conf). Each signal fires on its case, and
//! ordinary traffic (popular names, a cluster's service names, search
//! list misses) stays quiet.

mod util;

use std::net::IpAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{dig, privileged, Dnsmasq, Link, Netns, Tracer};

/// /etc/netns/NAME/resolv.conf for a namespace, removed on drop.
struct ResolvConf {
    dir: String,
}

impl ResolvConf {
    fn write(ns: &Netns, text: &str) -> ResolvConf {
        let dir = format!("/etc/netns/{}", ns.name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/resolv.conf"), text).unwrap();
        ResolvConf { dir }
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A dnsmasq that forwards everything to `upstream`, listening on
/// `listen` in `ns`: a node-local cache.
struct Forwarder {
    child: Child,
}

impl Forwarder {
    fn start(ns: &Netns, listen: IpAddr, upstream: IpAddr) -> Forwarder {
        let child = ns
            .command("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--bind-interfaces",
                "--user=root",
                "--pid-file=",
                "--port=53",
                "--cache-size=0",
                "--log-facility=-",
            ])
            .arg(format!("--listen-address={listen}"))
            .arg(format!("--server={upstream}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting dnsmasq");
        let deadline = Instant::now() + Duration::from_secs(10);
        while dig(ns, listen, "ready.ok.test", &["+tries=1", "+timeout=1"]).status != "NOERROR" {
            assert!(Instant::now() < deadline, "the forwarder did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        Forwarder { child }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `dig -f` in `ns`: one process asking every name of `names`, one
/// try each.
fn dig_batch(ns: &Netns, server: IpAddr, names: &[String], qtype: &str) {
    let file = format!("/tmp/dnstrace-security-{}-{qtype}.txt", std::process::id());
    let lines: Vec<String> = names
        .iter()
        .map(|n| format!("@{server} {n} {qtype} +tries=1 +timeout=2 +noedns"))
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = ns
        .command("dig")
        .args(["-f", &file])
        .stdout(Stdio::null())
        .status()
        .expect("running dig");
    let _ = std::fs::remove_file(&file);
    assert!(out.success(), "dig -f");
}

fn getent(ns: &Netns, name: &str) {
    let _ = ns
        .command("getent")
        .args(["ahosts", name])
        .stdout(Stdio::null())
        .status()
        .expect("running getent");
}

fn kinds(r: &Value) -> Vec<String> {
    r["suspicion"]["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["kind"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The popular names of ordinary traffic, and a cluster's own.
const ORDINARY: &[&str] = &[
    "www.google.com",
    "github.com",
    "api.github.com",
    "www.wikipedia.org",
    "en.wikipedia.org",
    "www.amazon.com",
    "s3.eu-west-1.amazonaws.com",
    "login.microsoftonline.com",
    "www.youtube.com",
    "registry-1.docker.io",
    "d111111abcdef8.cloudfront.net",
    "www.bbc.co.uk",
    "kubernetes.default.svc.cluster.local",
    "kube-dns.kube-system.svc.cluster.local",
    "10.0.96.10.in-addr.arpa",
];

#[test]
fn each_signal_fires_on_its_case_and_ordinary_traffic_is_quiet() {
    let Some(_serial) = privileged("each_signal_fires_on_its_case_and_ordinary_traffic_is_quiet")
    else {
        return;
    };
    let link = Link::new("sec1", 81);
    let server = IpAddr::V4(link.server_v4);
    // A second server beside the configured one: nobody's resolv.conf
    // names it.
    let rogue: IpAddr = "10.77.81.53".parse().unwrap();
    link.server
        .ip(&["addr", "add", "10.77.81.53/24", "dev", &link.server_if]);
    link.client.ip(&[
        "neigh",
        "replace",
        "10.77.81.53",
        "lladdr",
        "02:dc:00:00:51:01",
        "dev",
        &link.client_if,
        "nud",
        "permanent",
    ]);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    let _rogue = Dnsmasq::start(&link.server, &[rogue]);
    let _conf = ResolvConf::write(
        &link.client,
        &format!(
            "nameserver {server}\n\
             search default.svc.cluster.local svc.cluster.local cluster.local\n\
             options ndots:5\n"
        ),
    );
    let client = link.client_v4.to_string();
    let tracer = Tracer::start(&["--client", &client]);

    // Ordinary: popular names, the cluster's names, a getent whose
    // search list is tried first (misses under cluster.local).
    for name in ORDINARY {
        dig(&link.client, server, name, &[]);
    }
    getent(&link.client, "api.ok.test");
    getent(&link.client, "www.github.com");
    // A tunnel: 120 unique names of 60-character labels under one domain.
    let tunnel: Vec<String> = (0..120)
        .map(|i| format!("{:060x}.tunnel.test", 0x5eed_0000_0000_u64 + i * 7919))
        .collect();
    dig_batch(&link.client, server, &tunnel, "A");
    // A NULL query, as iodine sends.
    dig(&link.client, server, "q1.nulltype.test", &["-t", "NULL"]);
    // A server nobody is configured to use.
    dig(&link.client, rogue, "www.ok.test", &[]);
    std::thread::sleep(Duration::from_millis(500));
    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);

    let qname = |r: &Value| r["qname"].as_str().unwrap_or("").to_ascii_lowercase();
    let mut checked = 0;
    for r in &out.records {
        let name = qname(r);
        let k = kinds(r);
        if name.ends_with(".tunnel.test") {
            assert!(k.contains(&"long_label".to_string()), "{r}");
        } else if name == "q1.nulltype.test" {
            assert_eq!(k, ["unusual_type"], "{r}");
            assert!(r["suspicion"]["reasons"][0]["text"]
                .as_str()
                .unwrap()
                .contains("NULL"));
        } else if r["server_ip"] == rogue.to_string() {
            assert_eq!(k, ["unauthorized_resolver"], "{r}");
            let text = r["suspicion"]["reasons"][0]["text"].as_str().unwrap();
            assert!(
                text.contains("10.77.81.53") && text.contains(&server.to_string()),
                "{text}"
            );
            assert_eq!(r["suspicion"]["score"], 50);
        } else {
            assert!(r["suspicion"].is_null(), "ordinary traffic flagged: {r}");
            checked += 1;
        }
    }
    assert!(
        checked >= ORDINARY.len() + 8,
        "the ordinary queries were seen: {checked}\n{}",
        out.stdout
    );
    let tunnel_seen = out
        .records
        .iter()
        .filter(|r| qname(r).ends_with(".tunnel.test"))
        .count();
    let unique_flagged = out
        .records
        .iter()
        .filter(|r| kinds(r).contains(&"unique_subdomains".to_string()))
        .count();
    assert_eq!(tunnel_seen, 120, "{}", out.stdout);
    assert_eq!(unique_flagged, 20, "from the 101st unique name on");
    assert!(
        out.stderr.contains("dnstrace: security: ") && out.stderr.contains("unique_subdomains 20"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("-> tunnel.test: 120 flagged, score 90"),
        "{}",
        out.stderr
    );
    eprintln!("{}", out.stderr);

    // --suspicious shows only what is flagged.
    let tracer = Tracer::start(&["--client", &client, "--suspicious"]);
    dig(&link.client, server, "www.ok.test", &[]);
    dig(&link.client, rogue, "www.ok.test", &[]);
    std::thread::sleep(Duration::from_millis(300));
    let out = tracer.stop();
    assert_eq!(out.records.len(), 1, "{}", out.stdout);
    assert_eq!(out.records[0]["server_ip"], rogue.to_string());
    assert_eq!(kinds(&out.records[0]), ["unauthorized_resolver"]);
}

#[test]
fn a_configured_forwarders_upstream_queries_are_not_flagged() {
    let Some(_serial) = privileged("a_configured_forwarders_upstream_queries_are_not_flagged")
    else {
        return;
    };
    let link = Link::new("sec2", 82);
    let server = IpAddr::V4(link.server_v4);
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    link.client.ip(&["link", "set", "lo", "up"]);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    // The client's resolver is a cache on its loopback, which forwards to
    // the server.
    let _conf = ResolvConf::write(&link.client, "nameserver 127.0.0.1\n");
    let _cache = Forwarder::start(&link.client, local, server);
    let server_s = server.to_string();
    let tracer = Tracer::start(&["--server", &server_s, "--server", "127.0.0.1"]);
    // Through the cache, as configured: the client's query and the
    // cache's upstream query are both fine.
    dig(&link.client, local, "a.ok.test", &[]);
    // Around it, straight to the server: not configured.
    dig(&link.client, server, "b.ok.test", &[]);
    std::thread::sleep(Duration::from_millis(500));
    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);
    let of = |name: &str, comm: &str| -> Vec<&Value> {
        out.records
            .iter()
            .filter(|r| r["qname"] == name && r["comm"] == comm)
            .collect()
    };
    let asked = of("a.ok.test", "dig");
    let upstream = of("a.ok.test", "dnsmasq");
    let around = of("b.ok.test", "dig");
    assert_eq!(
        (asked.len(), upstream.len(), around.len()),
        (1, 1, 1),
        "{}",
        out.stdout
    );
    assert_eq!(asked[0]["server_ip"], "127.0.0.1");
    assert!(asked[0]["suspicion"].is_null(), "{}", asked[0]);
    assert_eq!(upstream[0]["server_ip"], server_s);
    assert!(
        upstream[0]["suspicion"].is_null(),
        "the configured cache's upstream query: {}",
        upstream[0]
    );
    assert_eq!(kinds(around[0]), ["unauthorized_resolver"], "{}", around[0]);
}

#[test]
fn the_suspicious_view_lists_clients_and_domains_with_why() {
    let Some(_serial) = privileged("the_suspicious_view_lists_clients_and_domains_with_why") else {
        return;
    };
    let link = Link::new("sec3", 83);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    let _conf = ResolvConf::write(&link.client, &format!("nameserver {server}\n"));
    let tmux = util::tmux::Tmux::start(&format!(
        "{} --client {}; echo dnstrace-exit=$?",
        util::DNSTRACE,
        link.client_v4
    ));
    tmux.wait_for("the table", |s| {
        s.contains("dnstrace 00:") && s.contains("LATENCY")
    });
    dig(&link.client, server, "q1.nulltype.test", &["-t", "NULL"]);
    let long = format!("{}.exfil.test", "a".repeat(60));
    dig(&link.client, server, &long, &[]);
    dig(&link.client, server, "www.ok.test", &[]);
    tmux.wait_for("three rows", |s| s.contains("www.ok.test"));
    tmux.keys("x");
    let screen = tmux.wait_for("the suspicious view", |s| {
        s.contains("suspicious") && s.contains("nulltype.test") && s.contains("exfil.test")
    });
    eprintln!("{screen}");
    let row = |domain: &str| {
        screen
            .lines()
            .find(|l| l.contains(domain))
            .unwrap_or_else(|| panic!("no {domain} row:\n{screen}"))
            .to_string()
    };
    let null = row("nulltype.test");
    assert!(
        null.contains("dig") && null.contains("unusual_type") && null.contains("NULL query"),
        "{null}"
    );
    assert!(row("exfil.test").contains("long_label"), "{screen}");
    assert!(
        !screen.contains("ok.test "),
        "the ordinary name is not listed:\n{screen}"
    );
    assert!(screen.contains("2 flagged in all"), "{screen}");
    assert!(
        screen.contains("CLIENT") && screen.contains("REASONS"),
        "{screen}"
    );
    tmux.keys("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.format("#{pane_dead}") != "1" {
        assert!(Instant::now() < deadline, "q did not quit");
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = tmux.screen();
    assert!(after.contains("dnstrace-exit=0"), "{after}");
    assert!(
        after.contains("dnstrace: security: 2 suspicious of 3"),
        "{after}"
    );
}
