use std::net::IpAddr;
use std::rc::Rc;

use super::*;
use crate::record::Transaction;
use crate::resolv::{ResolvConf, SearchSource};
use crate::testing::fixtures::{bytes_of, record, wire};

/// Every client's resolv.conf: the given text.
struct Conf(Rc<ResolvConf>);

impl ResolvSource for Conf {
    fn lookup(&mut self, _: Option<u32>, _: u32) -> Option<(Rc<ResolvConf>, SearchSource)> {
        Some((self.0.clone(), SearchSource::Process))
    }
}

/// Each pid's port-53 listeners, as given; every other pid listens on
/// none, but pid 1000 has exited and pid 1001 cannot be read.
struct Sockets(Vec<(u32, IpAddr)>);

impl ListenerSource for Sockets {
    fn dns_listeners(&mut self, pid: u32) -> resolvers::Listeners {
        match pid {
            // Gone, and not to be told.
            1000 => resolvers::Listeners::Exited,
            1001 => resolvers::Listeners::Unknown,
            _ => resolvers::Listeners::Known(
                self.0
                    .iter()
                    .filter(|(p, _)| *p == pid)
                    .map(|(_, a)| *a)
                    .collect(),
            ),
        }
    }
}

const CONF: &str = "nameserver 10.0.0.1\n\
                    search default.svc.cluster.local svc.cluster.local corp.test\n\
                    options ndots:5\n";

fn detector(settings: Settings) -> Detector {
    detector_with(settings, CONF, Vec::new())
}

fn detector_with(settings: Settings, conf: &str, listeners: Vec<(u32, IpAddr)>) -> Detector {
    Detector::new(
        settings,
        Box::new(Conf(Rc::new(ResolvConf::parse(conf)))),
        Box::new(Sockets(listeners)),
    )
}

/// An answered (NOERROR, 100 bytes) A query for `name` from dig (pid
/// 4242) to 10.0.0.1, leaving at `at_s` seconds.
fn tx(name: &str, at_s: u64) -> Transaction {
    let labels: Vec<&[u8]> = name.split('.').map(str::as_bytes).collect();
    let mut ev = record(&wire(&labels));
    ev.qtype = 1;
    ev.rflags = 0x8180;
    ev.ancount = 1;
    ev.ts = at_s * 1_000_000_000 + 1;
    Transaction::decode(&bytes_of(&ev)).unwrap()
}

fn kinds(s: &Option<Suspicion>) -> Vec<Kind> {
    s.as_ref()
        .map(|s| s.reasons.iter().map(|r| r.kind).collect())
        .unwrap_or_default()
}

#[test]
fn ordinary_traffic_is_quiet() {
    let mut d = detector(Settings::default());
    let names = [
        "www.google.com",
        "api.github.com",
        "en.wikipedia.org",
        "kubernetes.default.svc.cluster.local",
        "coredns.kube-system.svc.cluster.local",
        // Search-list misses of an outside name.
        "www.google.com.default.svc.cluster.local",
        "www.google.com.svc.cluster.local",
        "registry.corp.test",
        "10.0.96.10.in-addr.arpa",
        "d111111abcdef8.cloudfront.net",
        "s3.eu-west-1.amazonaws.com",
    ];
    for (i, n) in names.iter().enumerate() {
        assert_eq!(d.assess(&tx(n, i as u64)), None, "{n}");
    }
    let s = d.stats();
    assert_eq!((s.assessed, s.flagged), (names.len() as u64, 0));
}

#[test]
fn an_unconfigured_server_is_an_unauthorized_resolver() {
    let mut d = detector(Settings::default());
    let mut t = tx("www.example.com", 0);
    t.server = "198.51.100.7".parse().unwrap();
    let s = d.assess(&t).expect("flagged");
    assert_eq!(kinds(&Some(s.clone())), [Kind::UnauthorizedResolver]);
    assert_eq!(s.score, 50);
    assert!(
        s.reasons[0].text.contains("198.51.100.7"),
        "{:?}",
        s.reasons
    );
    assert!(s.reasons[0].text.contains("10.0.0.1"), "{:?}", s.reasons);
    // Seen arriving, or from no known process: the client's settings are
    // not known, so nothing is said.
    let mut arriving = t.clone();
    arriving.direction = Direction::Ingress;
    assert_eq!(d.assess(&arriving), None);
    let mut unknown = t.clone();
    unknown.pid = None;
    assert_eq!(d.assess(&unknown), None);
    // --resolvers allows it.
    let mut d = detector(Settings {
        resolvers: vec!["198.51.100.0/24".parse().unwrap()],
        ..Settings::default()
    });
    assert_eq!(d.assess(&t), None);
}

/// Each pid's own resolv.conf: pid 4242 the first, any other the second.
struct PerPid(Rc<ResolvConf>, Rc<ResolvConf>);

impl ResolvSource for PerPid {
    fn lookup(&mut self, pid: Option<u32>, _: u32) -> Option<(Rc<ResolvConf>, SearchSource)> {
        let c = if pid == Some(4242) { &self.0 } else { &self.1 };
        Some((c.clone(), SearchSource::Process))
    }
}

#[test]
fn each_unauthorized_reason_names_its_own_server_and_settings() {
    let mut d = Detector::new(
        Settings::default(),
        Box::new(PerPid(
            Rc::new(ResolvConf::parse("nameserver 10.0.0.1\n")),
            Rc::new(ResolvConf::parse("nameserver 10.0.0.2\n")),
        )),
        Box::new(Sockets(Vec::new())),
    );
    let text = |d: &mut Detector, server: &str, pid: u32| {
        let mut t = tx("www.example.com", 0);
        t.server = server.parse().unwrap();
        t.pid = Some(pid);
        d.assess(&t).expect("flagged").reasons[0].text.to_string()
    };
    // Alternating servers and settings, each asked twice in a row (the
    // second time from what the first wrote).
    for _ in 0..2 {
        for (server, pid, ns) in [
            ("198.51.100.7", 4242, "10.0.0.1"),
            ("198.51.100.7", 4242, "10.0.0.1"),
            ("198.51.100.8", 4242, "10.0.0.1"),
            ("198.51.100.8", 4343, "10.0.0.2"),
            ("198.51.100.8", 4343, "10.0.0.2"),
        ] {
            assert_eq!(
                text(&mut d, server, pid),
                format!("server {server} is not a configured resolver ({ns})")
            );
        }
    }
}

#[test]
fn a_configured_resolvers_upstream_queries_pass() {
    // A local forwarder (pid 77) serving 10.0.0.1, which clients use,
    // asks its upstream 203.0.113.53; another process asking there is
    // flagged; a forwarder serving an address nobody uses is too.
    let listeners = vec![
        (77, "10.0.0.1".parse().unwrap()),
        (78, "10.9.9.9".parse().unwrap()),
    ];
    let mut d = detector_with(Settings::default(), CONF, listeners);
    let mut t = tx("www.example.com", 0);
    t.server = "203.0.113.53".parse().unwrap();
    t.pid = Some(77);
    assert_eq!(d.assess(&t), None);
    t.pid = Some(78);
    assert_eq!(kinds(&d.assess(&t)), [Kind::UnauthorizedResolver]);
    t.pid = Some(4242);
    assert_eq!(kinds(&d.assess(&t)), [Kind::UnauthorizedResolver]);
    // A sender gone by the time its answer came was no running resolver;
    // one that cannot be read is not judged.
    t.pid = Some(1000);
    assert_eq!(kinds(&d.assess(&t)), [Kind::UnauthorizedResolver]);
    t.pid = Some(1001);
    assert_eq!(d.assess(&t), None);
}

#[test]
fn a_tunnel_trips_the_unique_names_and_length_signals() {
    let mut d = detector(Settings::default());
    let chunk = "a".repeat(60);
    let mut flagged_at = None;
    for i in 0..150u64 {
        let name = format!("{chunk}{i:03}.x{i}.tunnel.test");
        let s = d.assess(&tx(&name, 1));
        let k = kinds(&s);
        assert!(k.contains(&Kind::LongLabel), "{name}: {k:?}");
        assert!(k.contains(&Kind::LongName) == (name.len() > 90), "{name}");
        if k.contains(&Kind::UniqueSubdomains) && flagged_at.is_none() {
            flagged_at = Some(i);
            let s = s.unwrap();
            assert!(s.score >= 90, "{s:?}");
            let text = &s
                .reasons
                .iter()
                .find(|r| r.kind == Kind::UniqueSubdomains)
                .unwrap()
                .text;
            assert!(
                text.contains("100") && text.contains("tunnel.test"),
                "{text}"
            );
        }
    }
    assert_eq!(flagged_at, Some(100), "the 101st unique name");
    // The same names again in the window stay flagged; a window later,
    // counting starts over.
    assert!(kinds(&d.assess(&tx("b.tunnel.test", 2))).contains(&Kind::UniqueSubdomains));
    assert_eq!(d.assess(&tx("b.tunnel.test", 3602)), None);
}

#[test]
fn repeated_names_are_not_unique_names() {
    let mut d = detector(Settings::default());
    for i in 0..1000u64 {
        let name = format!("host{}.example.com", i % 20);
        assert_eq!(d.assess(&tx(&name, i / 10)), None, "{name}");
    }
}

#[test]
fn null_and_txt_volume() {
    let mut d = detector(Settings::default());
    let mut t = tx("q.iodine.test", 0);
    t.qtype = dns::NULL;
    let s = d.assess(&t).unwrap();
    assert_eq!(kinds(&Some(s.clone())), [Kind::UnusualType]);
    assert!(s.reasons[0].text.contains("NULL"), "{:?}", s.reasons);
    let mut t = tx("q.txt.test", 0);
    t.qtype = dns::TXT;
    for i in 1..=60 {
        let k = kinds(&d.assess(&t));
        assert_eq!(k.contains(&Kind::TypeVolume), i > 50, "query {i}: {k:?}");
    }
}

#[test]
fn large_answers() {
    let mut d = detector(Settings::default());
    let mut t = tx("big.example.com", 0);
    t.response_size = Some(1232);
    assert_eq!(d.assess(&t), None);
    t.response_size = Some(1800);
    let s = d.assess(&t).unwrap();
    assert_eq!(kinds(&Some(s.clone())), [Kind::LargeAnswer]);
    assert_eq!(s.score, 15);
}

#[test]
fn an_nxdomain_burst_per_client() {
    let mut d = detector(Settings {
        nxdomain: 5,
        ..Settings::default()
    });
    let nx = |name: &str, client: &str, at: u64| {
        let mut t = tx(name, at);
        t.rflags = Some(0x8183);
        t.client = client.parse().unwrap();
        t
    };
    for i in 1..=7u64 {
        let k = kinds(&d.assess(&nx(&format!("n{i}.example.com"), "10.0.0.2", 1)));
        assert_eq!(k.contains(&Kind::NxdomainBurst), i > 5, "answer {i}: {k:?}");
    }
    // Another client is counted on its own, and the window ends.
    assert_eq!(d.assess(&nx("n.example.com", "10.0.0.3", 1)), None);
    assert_eq!(d.assess(&nx("n.example.com", "10.0.0.2", 1 + 900)), None);
}

#[test]
fn allowed_domains_are_not_checked() {
    let mut d = detector(Settings {
        allow: vec!["dnsbl.test".into()],
        subdomains: 3,
        ..Settings::default()
    });
    for i in 0..10 {
        let name = format!("{i}.2.0.192.zen.dnsbl.test");
        assert_eq!(d.assess(&tx(&name, 0)), None, "{name}");
    }
    // Only at a label boundary.
    for i in 0..5 {
        let name = format!("{i}.notdnsbl.test");
        let _ = d.assess(&tx(&name, 0));
    }
    assert!(d.stats().flagged > 0);
}

#[test]
fn memory_is_bounded_under_a_flood_of_domains() {
    let mut d = detector(Settings {
        max_keys: 64,
        nxdomain: 1_000_000,
        ..Settings::default()
    });
    for i in 0..10_000u64 {
        let mut t = tx(&format!("x.d{i}.example{}.com", i % 1000), 0);
        t.rflags = Some(0x8183);
        t.client = IpAddr::from([10, 1, (i >> 8) as u8, i as u8]);
        let _ = d.assess(&t);
    }
    assert!(d.domains.map.len() <= 64 && d.domains.order.len() <= 64);
    assert!(d.clients.map.len() <= 64);
    let s = d.stats();
    assert_eq!(s.domains_evicted, 10_000 - 64);
    assert_eq!(s.clients_evicted, 10_000 - 64);
}

#[test]
fn scores_add_up_to_at_most_100_and_merge() {
    let mut d = detector(Settings::default());
    let mut t = tx(
        &format!("{}.{}.exfil.test", "z".repeat(60), "y".repeat(40)),
        0,
    );
    t.qtype = dns::NULL;
    t.response_size = Some(4000);
    t.server = "198.51.100.7".parse().unwrap();
    let s = d.assess(&t).unwrap();
    assert_eq!(s.score, 100);
    assert_eq!(
        s.kind_names(),
        "unauthorized_resolver,long_name,long_label,unusual_type,large_answer"
    );
    let mut a = Suspicion {
        score: 20,
        reasons: vec![Reason {
            kind: Kind::LongName,
            text: "x".into(),
        }],
    };
    a.merge(&s);
    assert_eq!((a.score, a.reasons.len()), (100, 5));
}

#[test]
fn later_answers_and_announcements_are_not_assessed_again() {
    let mut d = detector(Settings::default());
    let mut t = tx("q.iodine.test", 0);
    t.qtype = dns::NULL;
    assert!(d.assess(&t).is_some());
    for kind in [
        crate::record::Kind::Late,
        crate::record::Kind::Duplicate,
        crate::record::Kind::Announcement,
    ] {
        let mut again = t.clone();
        again.kind = kind;
        assert_eq!(d.assess(&again), None, "{kind:?}");
    }
    assert_eq!(d.stats().assessed, 1);
}

#[test]
fn lengths_count_wire_bytes() {
    assert_eq!(wire_lengths("www.example.com"), (15, 7));
    assert_eq!(
        wire_lengths("a\\.b.c"),
        (5, 3),
        "an escaped dot is in the label"
    );
    assert_eq!(wire_lengths("\\000\\001\\002.x"), (5, 3));
    assert_eq!(wire_lengths(""), (0, 0));
    // A 14-byte label of escaped bytes is no long label.
    let mut d = detector(Settings::default());
    let name = format!("{}.example.com", "\\255".repeat(14));
    assert_eq!(d.assess(&tx_escaped(&name)), None);
}

/// A transaction whose name is already in presentation form.
fn tx_escaped(name: &str) -> Transaction {
    let mut t = tx("placeholder.example.com", 0);
    t.qname = name.to_string();
    t
}

#[test]
fn clouds_are_counted_per_customer_site() {
    // 150 buckets, one name each: 150 sites, none over the threshold.
    let mut d = detector(Settings::default());
    for i in 0..150 {
        let name = format!("bucket{i}.s3.us-east-1.amazonaws.com");
        assert_eq!(d.assess(&tx(&name, 0)), None, "{name}");
    }
}

#[test]
fn a_resolvers_forwarded_answers_are_not_its_own_nxdomain_burst() {
    let listeners = vec![(77, "10.0.0.1".parse().unwrap())];
    let mut d = detector_with(
        Settings {
            nxdomain: 3,
            ..Settings::default()
        },
        CONF,
        listeners,
    );
    for i in 0..10 {
        let mut t = tx(&format!("n{i}.example.com"), 0);
        t.rflags = Some(0x8183);
        t.pid = Some(77);
        assert_eq!(d.assess(&t), None, "forwarded {i}");
    }
}

#[test]
fn a_flood_of_new_domains_does_not_evict_a_busy_tunnels_window() {
    let mut d = detector(Settings {
        max_keys: 64,
        subdomains: 50,
        ..Settings::default()
    });
    let mut flagged = 0;
    for i in 0..2000u64 {
        // The tunnel asks between every 20 one-time domains.
        if i % 20 == 0 {
            let name = format!("c{i}.tunnel.test");
            if kinds(&d.assess(&tx(&name, 0))).contains(&Kind::UniqueSubdomains) {
                flagged += 1;
            }
        }
        let _ = d.assess(&tx(&format!("www.once{i}.test"), 0));
    }
    // 100 unique tunnel names: the 51st on are flagged, its window kept.
    assert_eq!(flagged, 50);
    assert!(d.stats().domains_evicted > 1800);
}
