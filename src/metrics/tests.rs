//! Tests of the counting and its rendering, read back with a strict
//! parser of the text format; and the helpers the other test modules of
//! `metrics` share.

use std::collections::{BTreeMap, HashSet};

use super::registry::{BUCKETS, QTYPES};
use super::*;
use crate::kernel::{Counters, Stat};
use crate::record::tests::{bytes_of, raw};
use crate::record::{Kind, Transaction};

pub(super) fn txn(server: &str, qtype: u16, rcode: Option<u16>, latency_ns: u64) -> Transaction {
    let mut t = Transaction::decode(&bytes_of(&raw(b"\x03www\x07example\x00"))).unwrap();
    t.server = server.parse().unwrap();
    t.qtype = qtype;
    match rcode {
        Some(r) => {
            t.rflags = Some(0x8180 | r);
            t.latency_ns = Some(latency_ns);
        }
        None => {
            t.rflags = None;
            t.latency_ns = None;
        }
    }
    t
}

pub(super) type Labels = Vec<(String, String)>;
/// One sample: name, labels in order, value.
type Sample = (String, Labels, f64);

/// Parses a label set `{a="x",b="y"}` with the format's escapes.
pub(super) fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut rest = s.strip_prefix('{').ok_or("no {")?;
    let mut out = Vec::new();
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((out, r));
        }
        let eq = rest.find('=').ok_or("no =")?;
        let name = &rest[..eq];
        if !valid_name(name) || name.contains(':') {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..].strip_prefix('"').ok_or("no opening quote")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, '\n') => return Err("raw newline in a value".into()),
                (_, c) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A strict reading of the text format 0.0.4: HELP and TYPE once per
/// family and before its samples, samples only of declared families
/// (with the histogram suffixes), no series twice, numeric values.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = HashSet::new();
    let mut seen = HashSet::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'), "the last line ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            if !helped.insert(name.to_string()) {
                return Err(format!("HELP twice for {name}"));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or("TYPE without a type")?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("unknown type {kind}"));
            }
            if types.insert(name.to_string(), kind.to_string()).is_some() {
                return Err(format!("TYPE twice for {name}"));
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            return Err(format!("unexpected line {line:?}"));
        }
        let name_end = line.find(['{', ' ']).ok_or("sample without a value")?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(format!("bad metric name {name:?}"));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..])?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let value: f64 = rest
            .strip_prefix(' ')
            .ok_or("no space before the value")?
            .parse()
            .map_err(|e| format!("bad value in {line:?}: {e}"))?;
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        if !types.contains_key(family) || !helped.contains(family) {
            return Err(format!("{name} before its HELP and TYPE"));
        }
        if !seen.insert((name.to_string(), labels.clone())) {
            return Err(format!("series twice: {line}"));
        }
        samples.push((name.to_string(), labels, value));
    }
    Ok(samples)
}

fn rendered(m: &Metrics) -> (String, Vec<Sample>) {
    let mut text = String::new();
    m.render(&mut text);
    let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.2)
}

fn servers_shown(samples: &[Sample]) -> HashSet<String> {
    samples
        .iter()
        .flat_map(|(_, l, _)| l.iter())
        .filter(|(k, _)| k == "server")
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn renders_valid_exposition_format() {
    let mut m = Metrics::new(20);
    let (_, empty) = rendered(&m);
    assert_eq!(
        value(
            &empty,
            "dnstrace_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert_eq!(value(&empty, "dnstrace_timeouts_total", &[]), Some(0.0));

    m.observe(&txn("10.0.0.1", 1, Some(0), 1_200_000));
    m.observe(&txn("10.0.0.1", 1, Some(0), 800_000));
    m.observe(&txn("10.0.0.1", 28, Some(3), 30_000_000));
    m.observe(&txn("fd00::53", 1, None, 0));
    let mut c = Counters::default();
    c.set(Stat::Timeouts, 4);
    c.set(Stat::RingbufDrops, 2);
    c.set(Stat::InsertFailed, 1);
    c.set(Stat::MalformedPointer, 7);
    m.update_kernel(&c, 5);
    let (text, s) = rendered(&m);

    let tx = "dnstrace_transactions_total";
    assert_eq!(
        value(&s, tx, &[("rcode", "NOERROR"), ("type", "A")]),
        Some(2.0)
    );
    assert_eq!(
        value(&s, tx, &[("rcode", "NXDOMAIN"), ("type", "AAAA")]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, tx, &[("rcode", "TIMEOUT"), ("type", "A")]),
        Some(1.0)
    );
    assert_eq!(value(&s, tx, &[("rcode", "SERVFAIL"), ("type", "A")]), None);
    assert_eq!(value(&s, "dnstrace_timeouts_total", &[]), Some(4.0));
    assert_eq!(value(&s, "dnstrace_ringbuf_drops_total", &[]), Some(2.0));
    assert_eq!(
        value(&s, "dnstrace_pending_evictions_total", &[]),
        Some(5.0)
    );
    assert_eq!(
        value(&s, "dnstrace_pending_insert_failures_total", &[]),
        Some(1.0)
    );
    let mal = "dnstrace_malformed_packets_total";
    assert_eq!(value(&s, mal, &[("reason", "pointer")]), Some(7.0));
    assert_eq!(value(&s, mal, &[("reason", "short")]), Some(0.0));

    let lat = "dnstrace_latency_seconds";
    let one = [("server", "10.0.0.1")];
    assert_eq!(value(&s, &format!("{lat}_count"), &one), Some(3.0));
    let sum = value(&s, &format!("{lat}_sum"), &one).unwrap();
    assert!((sum - 0.032).abs() < 1e-12, "{sum}");
    // The timeout has no latency, but its server has a label.
    assert_eq!(
        value(&s, &format!("{lat}_count"), &[("server", "fd00::53")]),
        Some(0.0)
    );
    assert!(
        !text.contains("server=\"other\""),
        "no other while labels are free"
    );
    assert!(text.contains("# TYPE dnstrace_latency_seconds histogram\n"));
    assert!(text.contains("# TYPE dnstrace_transactions_total counter\n"));
}

#[test]
fn every_labelled_qtype_has_a_name() {
    for v in QTYPES {
        assert!(crate::record::dns::known_qtype(v).is_some(), "type {v}");
    }
    let mut t = txn("10.0.0.1", 1, None, 0);
    assert_eq!("TIMEOUT", t.rcode_name());
    t.rflags = Some(0x8180 | 11);
    assert_eq!(t.rcode_name(), "RCODE11");
}

#[test]
fn cardinality_is_bounded_with_other() {
    let mut m = Metrics::new(3);
    let mut answered = 0;
    for i in 0..200u32 {
        let server = format!("10.1.{}.{}", i / 250, i % 250);
        // Uncommon and unassigned types, and rcodes past the named ones.
        let qtype = [1, 28, 65280, 99, 13][i as usize % 5];
        let rcode = [Some(0), Some(3), Some(12), None][i as usize % 4];
        answered += u64::from(rcode.is_some());
        m.observe(&txn(&server, qtype, rcode, u64::from(i) * 100_000));
    }
    let (_, s) = rendered(&m);
    let servers = servers_shown(&s);
    assert_eq!(servers.len(), 4, "3 servers and other: {servers:?}");
    assert!(servers.contains("other"));
    assert!(servers.contains("10.1.0.0"), "the first seen get labels");

    let qtypes: HashSet<&str> = s
        .iter()
        .flat_map(|(_, l, _)| l.iter())
        .filter(|(k, _)| k == "type")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(qtypes, HashSet::from(["A", "AAAA", "other"]));
    let rcodes: HashSet<&str> = s
        .iter()
        .flat_map(|(_, l, _)| l.iter())
        .filter(|(k, _)| k == "rcode")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        rcodes,
        HashSet::from(["NOERROR", "NXDOMAIN", "RCODE12", "TIMEOUT"])
    );

    let total: f64 = s
        .iter()
        .filter(|(n, _, _)| n == "dnstrace_transactions_total")
        .map(|x| x.2)
        .sum();
    assert_eq!(total, 200.0, "every transaction counted once");
    let counted: f64 = s
        .iter()
        .filter(|(n, _, _)| n == "dnstrace_latency_seconds_count")
        .map(|x| x.2)
        .sum();
    assert_eq!(counted, answered as f64, "every answer in one histogram");

    let mut none = Metrics::new(0);
    none.observe(&txn("10.0.0.1", 1, Some(0), 1));
    let (_, s) = rendered(&none);
    assert_eq!(servers_shown(&s), HashSet::from(["other".to_string()]));
}

#[test]
fn histogram_buckets_grow_and_end_at_the_count() {
    let mut m = Metrics::new(1);
    let latencies = [
        0,
        499_999,
        500_000, // exactly on a bound: le means "at most"
        500_001,
        3_000_000,
        24_000_000,
        31_000_000,
        999_000_000,
        5_000_000_000,
        6_000_000_000, // beyond the last bound: only in +Inf
    ];
    for ns in latencies {
        m.observe(&txn("192.0.2.1", 1, Some(0), ns));
    }
    let (_, s) = rendered(&m);
    let buckets: Vec<(String, f64)> = s
        .iter()
        .filter(|(n, _, _)| n == "dnstrace_latency_seconds_bucket")
        .map(|(_, l, v)| (l.iter().find(|(k, _)| k == "le").unwrap().1.clone(), *v))
        .collect();
    assert_eq!(buckets.len(), BUCKETS.len() + 1);
    let bounds: Vec<f64> = buckets
        .iter()
        .map(|(le, _)| {
            if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            }
        })
        .collect();
    assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
    assert_eq!(bounds[0], 0.0005);
    assert_eq!(bounds[BUCKETS.len() - 1], 5.0);
    for ((le, v), (ns, _)) in buckets.iter().zip(BUCKETS) {
        let expected = latencies.iter().filter(|l| **l <= ns).count() as f64;
        assert_eq!(*v, expected, "bucket le={le}");
    }
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    let count = value(
        &s,
        "dnstrace_latency_seconds_count",
        &[("server", "192.0.2.1")],
    );
    assert_eq!(buckets.last().unwrap(), &("+Inf".to_string(), 10.0));
    assert_eq!(count, Some(10.0));
    let sum = value(
        &s,
        "dnstrace_latency_seconds_sum",
        &[("server", "192.0.2.1")],
    )
    .unwrap();
    let expected = latencies.iter().sum::<u64>() as f64 / 1e9;
    assert!((sum - expected).abs() < 1e-9, "{sum} vs {expected}");
}

#[test]
fn kernel_counters_never_go_down() {
    let mut m = Metrics::new(1);
    let mut c = Counters::default();
    c.set(Stat::Timeouts, 9);
    m.update_kernel(&c, 12);
    c.set(Stat::Timeouts, 3);
    m.update_kernel(&c, 10);
    let (_, s) = rendered(&m);
    assert_eq!(value(&s, "dnstrace_timeouts_total", &[]), Some(9.0));
    assert_eq!(
        value(&s, "dnstrace_pending_evictions_total", &[]),
        Some(12.0)
    );
}

fn tick(m: &mut Metrics, n: u32) {
    let c = Counters::default();
    for _ in 0..n {
        m.update_kernel(&c, 0);
    }
}

#[test]
fn a_busy_server_takes_the_label_of_a_quiet_one() {
    let mut m = Metrics::new(2);
    for _ in 0..5 {
        m.observe(&txn("10.0.0.1", 1, Some(0), 1_000_000));
        m.observe(&txn("10.0.0.2", 1, Some(0), 1_000_000));
    }
    // Many servers seen once each: none earns a label.
    for i in 0..5000u32 {
        let addr = format!("10.9.{}.{}", i / 250, i % 250);
        m.observe(&txn(&addr, 1, Some(0), 1_000_000));
    }
    for _ in 0..200 {
        m.observe(&txn("10.0.0.3", 1, Some(0), 1_000_000));
        m.observe(&txn("10.0.0.1", 1, Some(0), 1_000_000));
    }
    tick(&mut m, REBALANCE_EVERY - 1);
    let (_, s) = rendered(&m);
    assert_eq!(
        servers_shown(&s),
        HashSet::from(["10.0.0.1", "10.0.0.2", "other"].map(String::from)),
        "no change before the ranking"
    );
    tick(&mut m, 1);
    let (_, s) = rendered(&m);
    assert_eq!(
        servers_shown(&s),
        HashSet::from(["10.0.0.1", "10.0.0.3", "other"].map(String::from)),
    );
    // The newcomer's series starts empty, the incumbent's goes on.
    let count = |s: &[Sample], server| {
        value(s, "dnstrace_latency_seconds_count", &[("server", server)]).unwrap()
    };
    assert_eq!(count(&s, "10.0.0.3"), 0.0);
    assert_eq!(count(&s, "10.0.0.1"), 205.0);
    m.observe(&txn("10.0.0.3", 1, Some(0), 1_000_000));
    let (_, s) = rendered(&m);
    assert_eq!(count(&s, "10.0.0.3"), 1.0);

    // Traffic of the same order does not swap labels back and forth.
    for _ in 0..30 {
        m.observe(&txn("10.0.0.2", 1, Some(0), 1_000_000));
        m.observe(&txn("10.0.0.3", 1, Some(0), 1_000_000));
        m.observe(&txn("10.0.0.1", 1, Some(0), 1_000_000));
    }
    tick(&mut m, REBALANCE_EVERY);
    let (_, s) = rendered(&m);
    assert!(servers_shown(&s).contains("10.0.0.3"));
    assert!(!servers_shown(&s).contains("10.0.0.2"));
}
/// Counting a transaction allocates nothing (the lib tests' allocator,
/// crate::testing::alloc, counts).
#[test]
fn observing_never_allocates() {
    let mut m = Metrics::new(20);
    // Transactions built beforehand: decoding allocates, counting must not.
    let txns: Vec<Transaction> = (0..20_000u32)
        .map(|i| {
            let server = if i % 3 == 0 {
                format!("10.0.0.{}", i % 7)
            } else {
                format!("fd00::{:x}", i)
            };
            let rcode = [Some(0), Some(3), None, Some(2)][i as usize % 4];
            let mut t = txn(
                &server,
                [1, 28, 12, 65280][i as usize % 4],
                rcode,
                u64::from(i) * 7919,
            );
            // Behind DNAT, a path of its own; late and duplicate answers,
            // and ICMP errors, among the rest.
            if i % 5 == 0 {
                t.backend_ip = Some(format!("10.244.0.{}", i % 11).parse().unwrap());
                t.backend_port = Some(53);
            }
            t.kind = match i % 13 {
                0 => Kind::Late,
                1 => Kind::Duplicate,
                2 => Kind::Unreachable,
                _ => t.kind,
            };
            t
        })
        .collect();
    let c = Counters::default();
    let probe = crate::testing::alloc::COUNT.with(|c| c.get());
    drop(std::hint::black_box(vec![0u8; 16]));
    assert!(
        crate::testing::alloc::COUNT.with(|c| c.get()) > probe,
        "the count works"
    );
    let before = crate::testing::alloc::COUNT.with(|c| c.get());
    for (i, t) in txns.iter().enumerate() {
        m.observe(t);
        if i % 500 == 0 {
            // Rankings swap labels and candidates in place too.
            m.update_kernel(&c, 0);
        }
    }
    let after = crate::testing::alloc::COUNT.with(|c| c.get());
    assert_eq!(after - before, 0, "allocations while observing");
    let (_, s) = rendered(&m);
    assert!(servers_shown(&s).len() <= 21);
}

/// `txn` to a VIP that DNAT delivered to `backend`.
fn via(server: &str, backend: &str, rcode: Option<u16>, latency_ns: u64) -> Transaction {
    let mut t = txn(server, 1, rcode, latency_ns);
    t.backend_ip = Some(backend.parse().unwrap());
    t.backend_port = Some(53);
    t
}

fn backends_shown(samples: &[Sample]) -> HashSet<String> {
    samples
        .iter()
        .flat_map(|(_, l, _)| l.iter())
        .filter(|(k, _)| k == "backend")
        .map(|(_, v)| v.clone())
        .collect()
}

/// A backend label where DNAT delivered the query elsewhere; none (the
/// series as they always were) where it did not.
#[test]
fn backend_label_only_behind_dnat() {
    let mut m = Metrics::new(20);
    m.observe(&txn("10.0.0.1", 1, Some(0), 1_000_000));
    for _ in 0..3 {
        m.observe(&via("10.96.0.10", "10.244.1.2", Some(0), 2_000_000));
    }
    m.observe(&via("10.96.0.10", "10.244.2.2", Some(0), 90_000_000));
    let (text, s) = rendered(&m);
    let count = "dnstrace_latency_seconds_count";
    assert_eq!(value(&s, count, &[("server", "10.0.0.1")]), Some(1.0));
    assert!(text.contains("dnstrace_latency_seconds_count{server=\"10.0.0.1\"} 1\n"));
    let slow = [("server", "10.96.0.10"), ("backend", "10.244.2.2")];
    assert_eq!(value(&s, count, &slow), Some(1.0));
    let sum = value(&s, "dnstrace_latency_seconds_sum", &slow).unwrap();
    assert!((sum - 0.09).abs() < 1e-12, "{sum}");
    let fast = [("server", "10.96.0.10"), ("backend", "10.244.1.2")];
    assert_eq!(value(&s, count, &fast), Some(3.0));
    assert_eq!(
        value(
            &s,
            "dnstrace_latency_seconds_bucket",
            &[fast[0], fast[1], ("le", "0.0025")]
        ),
        Some(3.0)
    );
    assert_eq!(value(&s, count, &[("server", "10.96.0.10")]), None);
}

/// Every backend is a path of its own, counted against
/// --metrics-max-servers like a server; the rest is other, with a
/// backend label of other where DNAT was.
#[test]
fn backend_labels_are_bounded_like_servers() {
    let mut m = Metrics::new(3);
    m.observe(&txn("10.0.0.1", 1, Some(0), 1_000_000));
    let mut answered = 1;
    for i in 0..200u32 {
        let backend = format!("10.244.{}.{}", i / 250, i % 250);
        let rcode = [Some(0), None, Some(3)][i as usize % 3];
        answered += u64::from(rcode.is_some());
        m.observe(&via("10.96.0.10", &backend, rcode, 1_000_000));
    }
    m.observe(&txn("10.0.0.2", 1, Some(0), 1_000_000));
    answered += 1;
    let (text, s) = rendered(&m);
    let backends = backends_shown(&s);
    assert_eq!(
        backends,
        HashSet::from(["10.244.0.0", "10.244.0.1", "other"].map(String::from)),
        "the first seen get labels"
    );
    assert_eq!(
        servers_shown(&s),
        HashSet::from(["10.0.0.1", "10.96.0.10", "other"].map(String::from))
    );
    // Two series of other: without a backend (10.0.0.2) and with one.
    let count = "dnstrace_latency_seconds_count";
    assert_eq!(value(&s, count, &[("server", "other")]), Some(1.0));
    let other = [("server", "other"), ("backend", "other")];
    assert!(value(&s, count, &other).unwrap() > 100.0, "{text}");
    let counted: f64 = s.iter().filter(|(n, _, _)| n == count).map(|x| x.2).sum();
    assert_eq!(counted, answered as f64, "every answer in one histogram");
    let histograms = s.iter().filter(|(n, _, _)| n == count).count();
    assert_eq!(histograms, 3 + 2, "at most the labelled and the two others");

    // A busy backend takes the label of a quiet one, as a server would.
    for _ in 0..300 {
        m.observe(&via("10.96.0.10", "10.244.9.9", Some(0), 1_000_000));
    }
    tick(&mut m, REBALANCE_EVERY);
    let (_, s) = rendered(&m);
    assert!(
        backends_shown(&s).contains("10.244.9.9"),
        "{:?}",
        backends_shown(&s)
    );
}

/// Late and duplicate answers are not transactions again; an ICMP error
/// is one, by rcode UNREACHABLE, without a latency. The kernel's counts
/// of all three are their own counters.
#[test]
fn late_duplicate_and_unreachable() {
    let mut m = Metrics::new(20);
    let answered = txn("10.0.0.1", 1, Some(0), 1_000_000);
    m.observe(&answered);
    for kind in [Kind::Late, Kind::Duplicate] {
        let mut t = txn("10.0.0.1", 1, Some(2), 7_000_000_000);
        t.kind = kind;
        m.observe(&t);
    }
    let mut t = txn("10.0.0.1", 28, None, 0);
    t.kind = Kind::Unreachable;
    t.latency_ns = Some(300_000);
    m.observe(&t);
    let mut c = Counters::default();
    c.set(Stat::LateAnswers, 4);
    c.set(Stat::DuplicateAnswers, 5);
    c.set(Stat::Unreachable, 6);
    m.update_kernel(&c, 0);
    let (_, s) = rendered(&m);
    let tx = "dnstrace_transactions_total";
    let total: f64 = s.iter().filter(|(n, _, _)| n == tx).map(|x| x.2).sum();
    assert_eq!(total, 2.0, "{s:?}");
    assert_eq!(
        value(&s, tx, &[("rcode", "UNREACHABLE"), ("type", "AAAA")]),
        Some(1.0)
    );
    assert_eq!(value(&s, tx, &[("rcode", "SERVFAIL"), ("type", "A")]), None);
    let one = [("server", "10.0.0.1")];
    assert_eq!(value(&s, "dnstrace_latency_seconds_count", &one), Some(1.0));
    assert_eq!(value(&s, "dnstrace_late_answers_total", &[]), Some(4.0));
    assert_eq!(
        value(&s, "dnstrace_duplicate_answers_total", &[]),
        Some(5.0)
    );
    assert_eq!(value(&s, "dnstrace_unreachable_total", &[]), Some(6.0));
}

/// `--metrics-namespaces 2`: the first two namespaces labelled, then
/// `_other`; no pod, an empty namespace; late answers not counted; and
/// nothing of it without the flag.
#[test]
fn transactions_by_namespace_are_bounded() {
    let mut m = Metrics::new(20).with_namespaces(2);
    assert!(m.by_namespace());
    let ok = txn("10.0.0.1", 1, Some(0), 1_000_000);
    let nx = txn("10.0.0.1", 1, Some(3), 1_000_000);
    for (t, ns) in [
        (&ok, Some("shop")),
        (&ok, Some("shop")),
        (&nx, Some("kube-system")),
        (&ok, Some("third")),
        (&nx, Some("fourth")),
        (&ok, None),
    ] {
        m.observe(t);
        m.observe_namespace(t, ns);
    }
    let mut late = ok.clone();
    late.kind = Kind::Late;
    m.observe_namespace(&late, Some("shop"));
    let mut text = String::new();
    m.render(&mut text);
    let samples = parse_exposition(&text).unwrap();
    let by_ns: Vec<(String, f64)> = samples
        .iter()
        .filter(|(name, _, _)| name == "dnstrace_namespace_transactions_total")
        .map(|(_, labels, v)| (format!("{}/{}", labels[0].1, labels[1].1), *v))
        .collect();
    assert_eq!(
        by_ns,
        vec![
            ("shop/NOERROR".to_string(), 2.0),
            ("kube-system/NXDOMAIN".to_string(), 1.0),
            ("_other/NOERROR".to_string(), 1.0),
            ("_other/NXDOMAIN".to_string(), 1.0),
            ("/NOERROR".to_string(), 1.0),
        ]
    );

    let mut off = Metrics::new(20);
    off.observe(&ok);
    off.observe_namespace(&ok, Some("shop"));
    let mut text = String::new();
    off.render(&mut text);
    assert!(!text.contains("namespace"), "{text}");
}

#[test]
fn suspicious_reasons_are_counted_by_kind_from_zero() {
    use crate::security::{Kind, Reason, Suspicion};
    let (text, _) = rendered(&Metrics::new(4));
    assert!(
        !text.contains("dnstrace_suspicious_total"),
        "off: not shown"
    );
    let mut m = Metrics::new(4).with_security();
    let (_, samples) = rendered(&m);
    for k in Kind::ALL {
        let got = value(
            &samples,
            "dnstrace_suspicious_total",
            &[("reason", k.as_str())],
        );
        assert_eq!(got, Some(0.0), "{k:?} from 0");
    }
    let reason = |kind| Reason {
        kind,
        text: "".into(),
    };
    m.observe_suspicion(&Suspicion {
        score: 90,
        reasons: vec![reason(Kind::UniqueSubdomains), reason(Kind::LongLabel)],
    });
    m.observe_suspicion(&Suspicion {
        score: 30,
        reasons: vec![reason(Kind::LongLabel)],
    });
    let (_, samples) = rendered(&m);
    let of = |k: Kind| {
        value(
            &samples,
            "dnstrace_suspicious_total",
            &[("reason", k.as_str())],
        )
    };
    assert_eq!(of(Kind::UniqueSubdomains), Some(1.0));
    assert_eq!(of(Kind::LongLabel), Some(2.0));
    assert_eq!(of(Kind::GeneratedName), Some(0.0));
}
