//! The JSON writer against serde: the record as serde_json serialized it
//! before the writer was written by hand (and the live table's cells as
//! they were read from it), kept as the oracle the writer and the field
//! table must match byte for byte.

use serde::Serialize;
use serde_json::Value;

use super::*;
use crate::record::dns;
use crate::record::tests::{bytes_of, raw};
use crate::record::{Kind, Outcome, Transaction};

/// 2026-11-27T18:00:00Z in nanoseconds since 1970.
pub(super) const EPOCH: i128 = 1_795_802_400 * 1_000_000_000;

/// The fixture's answered query, changed by `f`.
pub(super) fn txn(f: impl FnOnce(&mut crate::kernel::abi::RawEvent)) -> Transaction {
    let mut ev = raw(b"\x03www\x07example\x03com\x00");
    f(&mut ev);
    Transaction::decode(&bytes_of(&ev)).unwrap()
}

/// The JSON object of one transaction. The first fields are fixed names
/// that users' scripts rely on; never rename them.
#[derive(Debug, Serialize)]
struct JsonRecord<'a> {
    ts: String,
    id: Option<u16>,
    qname: Option<&'a str>,
    qtype: Option<String>,
    rcode: String,
    latency_ms: Option<f64>,
    client_ip: String,
    client_port: u16,
    server_ip: String,
    server_port: u16,
    proto: &'static str,
    interface: &'a str,
    pid: Option<u32>,
    comm: Option<&'a str>,
    /// Who sent it (attribution): null in the oracle's records, which
    /// name no one.
    container_id: Option<&'a str>,
    container: Option<&'a str>,
    pod: Option<&'a str>,
    namespace: Option<&'a str>,
    unit: Option<&'a str>,
    /// "transaction", "announcement" (mDNS, with --announcements) or
    /// "encrypted" (a DoT or DoQ connection: no name, no id).
    kind: &'static str,
    /// "dns", "mdns", "dot" or "doq".
    service: &'static str,
    qclass: Option<String>,
    opcode: Option<String>,
    flags: Vec<&'static str>,
    truncated: bool,
    answers: Option<u16>,
    authority: Option<u16>,
    additional: Option<u16>,
    query_size: Option<u16>,
    response_size: Option<u16>,
    duration_ms: Option<f64>,
    bytes_sent: Option<u64>,
    bytes_received: Option<u64>,
    netns: u32,
    ifindex: u32,
    direction: &'static str,
    backend_ip: Option<String>,
    backend_port: Option<u16>,
    nat_ip: Option<String>,
    nat_port: Option<u16>,
    backend_latency_ms: Option<f64>,
    first_rcode: Option<String>,
    icmp: Option<String>,
    icmp_from: Option<String>,
    cgroup_id: Option<u64>,
    /// Null: the oracle's records are not assessed.
    suspicion: Option<()>,
}

impl<'a> JsonRecord<'a> {
    fn new(t: &'a Transaction, clock: &Clock) -> JsonRecord<'a> {
        let has_response = t.rflags.is_some();
        let dns = t.kind != Kind::Encrypted;
        let ms = |ns: u64| (ns / 1000) as f64 / 1000.0;
        JsonRecord {
            ts: clock.rfc3339(t.mono_ns),
            id: dns.then_some(t.id),
            qname: dns.then_some(t.qname.as_str()),
            qtype: dns.then(|| dns::qtype_name(t.qtype).into_owned()),
            rcode: t.rcode_name().into_owned(),
            latency_ms: t.latency_ns.map(ms),
            client_ip: t.client.to_string(),
            client_port: t.client_port,
            server_ip: t.server.to_string(),
            server_port: t.server_port,
            proto: t.proto.as_str(),
            interface: &t.interface,
            pid: t.pid,
            comm: t.comm.as_deref(),
            container_id: None,
            container: None,
            pod: None,
            namespace: None,
            unit: None,
            kind: t.kind.as_str(),
            service: t.service.as_str(),
            qclass: dns.then(|| dns::qclass_name(t.qclass).into_owned()),
            opcode: dns.then(|| dns::opcode_name(t.opcode()).into_owned()),
            flags: t.flag_names(),
            truncated: t.truncated(),
            answers: has_response.then_some(t.ancount),
            authority: has_response.then_some(t.nscount),
            additional: has_response.then_some(t.arcount),
            query_size: (t.kind != Kind::Encrypted && t.kind != Kind::Announcement)
                .then_some(t.query_size),
            response_size: t.response_size,
            duration_ms: t.duration_ns.map(ms),
            bytes_sent: (!dns).then_some(t.bytes_out),
            bytes_received: (!dns).then_some(t.bytes_in),
            netns: t.netns,
            ifindex: t.ifindex,
            direction: t.direction.as_str(),
            backend_ip: t.backend_ip.map(|ip| ip.to_string()),
            backend_port: t.backend_port,
            nat_ip: t.nat_ip.map(|ip| ip.to_string()),
            nat_port: t.nat_port,
            backend_latency_ms: t.backend_ns.map(ms),
            first_rcode: t.first_rcode.map(|r| match r {
                Outcome::Rcode(r) => dns::rcode_name(r).into_owned(),
                Outcome::Unreachable => "UNREACHABLE".to_string(),
            }),
            icmp: t.icmp.map(|i| i.name().into_owned()),
            icmp_from: t.icmp.map(|i| i.from.to_string()),
            cgroup_id: t.cgroup_id,
            suspicion: None,
        }
    }
}

/// What the live table showed for a JSON field, read from the serde
/// record.
fn cell_from_serde(t: &Transaction, clock: &Clock, field: &str) -> String {
    let v = serde_json::to_value(JsonRecord::new(t, clock)).unwrap_or_default();
    match &v[field] {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

#[test]
fn json_fields_and_types() {
    let t = txn(|_| {});
    let mut s = String::new();
    json_line(&t, &Clock::fixed(EPOCH), &mut s);
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["ts"], "2026-11-27T18:00:01.000000Z");
    assert_eq!(v["id"], 0xbeef);
    assert_eq!(v["qname"], "www.example.com");
    assert_eq!(v["qtype"], "AAAA");
    assert_eq!(v["rcode"], "NXDOMAIN");
    assert_eq!(v["latency_ms"], 2.5);
    assert_eq!(v["client_ip"], "10.0.0.2");
    assert_eq!(v["client_port"], 40000);
    assert_eq!(v["server_ip"], "10.0.0.1");
    assert_eq!(v["server_port"], 53);
    assert_eq!(v["proto"], "udp");
    assert_eq!(v["interface"], "veth0");
    assert_eq!(v["pid"], 4242);
    assert_eq!(v["comm"], "dig");
    assert_eq!(v["flags"], serde_json::json!(["rd", "ra"]));
    assert_eq!(v["answers"], 0);
    assert_eq!(v["direction"], "egress");
    assert!(!s.contains('\n'));
}

/// A pod's container, as attribution names it.
fn pod_container() -> crate::attribution::Attribution {
    crate::attribution::Attribution {
        container_id: Some("4f2a".repeat(16)),
        container: Some("curl".into()),
        pod: Some("web-0".into()),
        namespace: Some("shop".into()),
        pod_uid: Some("3b0e6c1d-2f4a-4e5b-9c8d-7a6b5c4d3e2f".into()),
        ..Default::default()
    }
    .labelled()
}

#[test]
fn who_sent_it_in_json_text_and_cells() {
    let t = txn(|_| {});
    let clock = Clock::fixed(EPOCH);
    let who = pod_container();
    let mut s = String::new();
    let about = About {
        who: Some(&who),
        suspicion: None,
    };
    json_line_of(&t, about, &clock, &mut TimeCache::default(), &mut s);
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["container_id"], "4f2a".repeat(16));
    assert_eq!(v["container"], "curl");
    assert_eq!(v["pod"], "web-0");
    assert_eq!(v["namespace"], "shop");
    assert!(v["unit"].is_null());
    // Unknown: every field null.
    let mut s = String::new();
    json_line(&t, &clock, &mut s);
    let v: Value = serde_json::from_str(&s).unwrap();
    for f in ["container_id", "container", "pod", "namespace", "unit"] {
        assert!(v[f].is_null(), "{f}");
    }

    let mut line = String::new();
    text_line_of(&t, about, &clock, &mut line);
    assert!(
        line.starts_with("18:00:01.000000 shop/web-0:dig[4242] "),
        "{line}"
    );
    assert_eq!(process_of(&t, Some(&who)), "shop/web-0:dig[4242]");
    let unit = crate::attribution::Attribution {
        unit: Some("nginx.service".into()),
        ..Default::default()
    }
    .labelled();
    assert_eq!(process_of(&t, Some(&unit)), "nginx.service:dig[4242]");
    let container = crate::attribution::Attribution {
        container_id: Some("4f2a".repeat(16)),
        ..Default::default()
    }
    .labelled();
    assert_eq!(process_of(&t, Some(&container)), "4f2a4f2a4f2a:dig[4242]");
    // Known by its cgroup when the process is not.
    let no_pid = txn(|e| e.pid = 0);
    assert_eq!(process_of(&no_pid, Some(&who)), "shop/web-0");
    assert_eq!(process_of(&no_pid, None), "-");
    assert_eq!(process_of(&t, None), "dig[4242]");
    assert_eq!(fields::cell_of("pod", &t, about, &clock), "web-0");
    assert_eq!(fields::cell_of("unit", &t, about, &clock), "-");
    assert_eq!(fields::cell("pod", &t, &clock), "-");
}

#[test]
fn suspicion_in_json_text_and_cells() {
    use crate::security::{Kind, Reason, Suspicion};
    let t = txn(|_| {});
    let clock = Clock::fixed(EPOCH);
    let s = Suspicion {
        score: 90,
        reasons: vec![
            Reason {
                kind: Kind::UniqueSubdomains,
                text: "over 100 unique names under \"x\".test in 1h".into(),
            },
            Reason {
                kind: Kind::LongLabel,
                text: "label of 63 characters (over 52)".into(),
            },
        ],
    };
    let about = About {
        who: None,
        suspicion: Some(&s),
    };
    let mut line = String::new();
    json_line_of(&t, about, &clock, &mut TimeCache::default(), &mut line);
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["suspicion"]["score"], 90);
    assert_eq!(v["suspicion"]["reasons"][0]["kind"], "unique_subdomains");
    assert_eq!(
        v["suspicion"]["reasons"][0]["text"],
        "over 100 unique names under \"x\".test in 1h"
    );
    assert_eq!(v["suspicion"]["reasons"][1]["kind"], "long_label");
    let mut plain = String::new();
    json_line(&t, &clock, &mut plain);
    let v: Value = serde_json::from_str(&plain).unwrap();
    assert!(v["suspicion"].is_null());
    let mut text = String::new();
    text_line_of(&t, about, &clock, &mut text);
    assert!(
        text.ends_with(" [suspicious 90: unique_subdomains,long_label]"),
        "{text}"
    );
    assert_eq!(
        fields::cell_of("suspicion", &t, about, &clock),
        "90 unique_subdomains,long_label"
    );
    assert_eq!(fields::cell("suspicion", &t, &clock), "-");
}

#[test]
fn json_field_list_is_complete() {
    let t = txn(|_| {});
    let v = serde_json::to_value(JsonRecord::new(&t, &Clock::fixed(EPOCH))).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut listed = JSON_FIELDS.to_vec();
    keys.sort_unstable();
    listed.sort_unstable();
    assert_eq!(keys, listed);
}

#[test]
fn json_of_an_encrypted_connection() {
    let t = txn(|e| {
        e.kind = 3;
        e.service = 2;
        e.proto = 6;
        e.server_port = 853;
        e.latency_ns = 2_500_000_000;
        e.bytes_out = 1500;
        e.bytes_in = 42;
        e.name_len = 0;
    });
    let mut s = String::new();
    json_line(&t, &Clock::fixed(EPOCH), &mut s);
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["kind"], "encrypted");
    assert_eq!(v["service"], "dot");
    assert_eq!(v["rcode"], "ENCRYPTED");
    assert!(v["qname"].is_null() && v["id"].is_null() && v["latency_ms"].is_null());
    assert_eq!(v["duration_ms"], 2500.0);
    assert_eq!(
        (v["bytes_sent"].as_u64(), v["bytes_received"].as_u64()),
        (Some(1500), Some(42))
    );
    let mut line = String::new();
    text_line(&t, &Clock::fixed(EPOCH), &mut line);
    assert!(line.contains("[DoT 1.5 kB out, 42 B in, 2.50s]"), "{line}");
    assert!(line.contains("ENCRYPTED"), "{line}");
}

/// The hand-written line and the serde record say the same thing, for
/// every kind of record.
#[test]
fn json_line_matches_the_record() {
    let cases = [
        txn(|_| {}),
        txn(|e| e.kind = 1),
        txn(|e| {
            e.kind = 2;
            e.service = 1;
        }),
        txn(|e| {
            e.kind = 3;
            e.service = 3;
            e.name_len = 0;
            e.bytes_out = 7;
            e.latency_ns = 1_000_000_000;
        }),
        txn(|e| {
            e.latency_ns = 123_456_789;
            e.pid = 0;
            e.family = 6;
        }),
        txn(|e| e.latency_ns = 999),
        txn(|e| {
            e.nat = 3;
            e.backend_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
            e.backend_port = 53;
            e.nat_addr[..4].copy_from_slice(&[192, 168, 1, 10]);
            e.nat_port = 61000;
            e.backend_ns = 1_234_567;
        }),
        txn(|e| {
            e.kind = 4;
            e.latency_ns = 5_100_000_000;
        }),
        txn(|e| {
            e.kind = 6;
            e.first_rcode = 0;
        }),
        txn(|e| {
            e.kind = 5;
            e.icmp_type = 3;
            e.icmp_code = 3;
            e.icmp_addr[..4].copy_from_slice(&[10, 0, 0, 1]);
        }),
    ];
    let clock = Clock::fixed(EPOCH);
    for t in cases {
        let mut s = String::new();
        json_line(&t, &clock, &mut s);
        let fast: Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {s}"));
        let slow = serde_json::to_value(JsonRecord::new(&t, &clock)).unwrap();
        assert_eq!(fast, slow, "{s}");
        let keys: Vec<&str> = s
            .split("\":")
            .filter_map(|p| p.rsplit('"').next())
            .collect();
        assert_eq!(&keys[..JSON_FIELDS.len()], JSON_FIELDS, "field order");
    }
}

/// Byte for byte what serde writes for the JsonRecord, over records of
/// every shape: addresses of both families and all their textual
/// forms, hostile strings, every kind, types and rcodes with and
/// without names, times across many seconds; with one time cache for
/// all, as the pipeline writes them.
#[test]
fn json_line_is_serde_byte_for_byte() {
    let clock = Clock::fixed(EPOCH);
    let mut times = TimeCache::default();
    let mut s = String::new();
    let mut shapes = std::collections::BTreeSet::new();
    for seed in 0..20_000 {
        let mut ev = crate::testing::fixtures::varied_nat(seed);
        // Seconds apart too, not only 20 us.
        ev.ts = ev.ts.wrapping_mul(seed % 7 + 1);
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        shapes.insert(format!("{:?}", t.kind));
        for (shape, seen) in [
            ("dnat", t.backend_ip.is_some()),
            ("snat", t.nat_ip.is_some()),
            ("backend leg", t.backend_ns.is_some()),
            ("other rcode first", t.rcode_differs()),
            (
                "unnamed icmp",
                t.icmp.is_some_and(|i| i.name().contains("code")),
            ),
        ] {
            if seen {
                shapes.insert(shape.to_string());
            }
        }
        s.clear();
        json_line_cached(&t, &clock, &mut times, &mut s);
        let slow = serde_json::to_string(&JsonRecord::new(&t, &clock)).unwrap();
        assert_eq!(s, slow, "seed {seed}");
        s.clear();
        json_line(&t, &clock, &mut s);
        assert_eq!(s, slow, "seed {seed}, no cache");
    }
    assert_eq!(shapes.len(), 12, "every kind and NAT shape: {shapes:?}");
}

#[test]
fn json_timeout_has_nulls() {
    let t = txn(|e| {
        e.kind = 1;
        e.pid = 0;
        e.qtype = 65280;
    });
    let mut s = String::new();
    json_line(&t, &Clock::fixed(EPOCH), &mut s);
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["rcode"], "TIMEOUT");
    assert!(v["latency_ms"].is_null());
    assert!(v["pid"].is_null());
    assert!(v["comm"].is_null());
    assert!(v["response_size"].is_null());
    assert_eq!(v["qtype"], "TYPE65280");
}

#[test]
fn json_stays_valid_with_hostile_names() {
    let mut ev = raw(b"\x06a\"b\x1b\\c\x00");
    ev.comm[0] = 0x07;
    let t = Transaction::decode(&bytes_of(&ev)).unwrap();
    let mut s = String::new();
    json_line(&t, &Clock::fixed(EPOCH), &mut s);
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["qname"], "a\"b\\027\\\\c");
    assert!(s.bytes().all(|b| b >= 0x20), "no raw control bytes: {s:?}");
}

/// Every field's cell is what the table read from the serde record, for
/// records of every shape.
#[test]
fn cells_are_what_serde_gave() {
    let clock = Clock::fixed(EPOCH);
    for seed in 0..2_000 {
        let mut ev = crate::testing::fixtures::varied_nat(seed);
        ev.ts = ev.ts.wrapping_mul(seed % 7 + 1);
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        for f in fields::FIELDS {
            assert_eq!(
                f.cell(&t, &clock),
                cell_from_serde(&t, &clock, f.name),
                "{} of seed {seed}",
                f.name
            );
        }
    }
}

/// Without NAT, the new fields are null; with it, what NAT did.
#[test]
fn json_of_a_query_through_nat() {
    let clock = Clock::fixed(EPOCH);
    let json = |t: &Transaction| -> Value {
        let mut s = String::new();
        json_line(t, &clock, &mut s);
        serde_json::from_str(&s).unwrap()
    };
    let v = json(&txn(|_| {}));
    for field in [
        "backend_ip",
        "backend_port",
        "nat_ip",
        "nat_port",
        "backend_latency_ms",
        "first_rcode",
        "icmp",
        "icmp_from",
    ] {
        assert!(v[field].is_null(), "{field}: {v}");
    }
    let v = json(&txn(|e| {
        e.server_addr[..4].copy_from_slice(&[10, 96, 0, 10]);
        e.nat = 3;
        e.backend_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
        e.backend_port = 5353;
        e.nat_addr[..4].copy_from_slice(&[192, 168, 1, 10]);
        e.nat_port = 61000;
        e.backend_ns = 1_500_000;
    }));
    assert_eq!(v["server_ip"], "10.96.0.10");
    assert_eq!(v["backend_ip"], "10.244.2.2");
    assert_eq!(v["backend_port"], 5353);
    assert_eq!(v["nat_ip"], "192.168.1.10");
    assert_eq!(v["nat_port"], 61000);
    assert_eq!(v["backend_latency_ms"], 1.5);
    assert_eq!(v["kind"], "transaction");
}

#[test]
fn json_of_late_duplicate_and_unreachable_records() {
    let clock = Clock::fixed(EPOCH);
    let json = |t: &Transaction| -> Value {
        let mut s = String::new();
        json_line(t, &clock, &mut s);
        serde_json::from_str(&s).unwrap()
    };
    let late = json(&txn(|e| {
        e.kind = 4;
        e.rflags = 0x8180;
        e.latency_ns = 5_250_000_000;
    }));
    assert_eq!(late["kind"], "late");
    assert_eq!(late["rcode"], "NOERROR");
    assert_eq!(late["latency_ms"], 5250.0);
    assert_eq!(late["response_size"], 100);
    assert!(late["first_rcode"].is_null() && late["icmp"].is_null());

    let dup = json(&txn(|e| {
        e.kind = 6;
        e.rflags = 0x8182;
        e.first_rcode = 0;
        e.latency_ns = 7_000_000;
    }));
    assert_eq!(dup["kind"], "duplicate");
    assert_eq!(dup["rcode"], "SERVFAIL");
    assert_eq!(dup["first_rcode"], "NOERROR");
    assert_eq!(dup["latency_ms"], 7.0);
    let after_icmp = json(&txn(|e| {
        e.kind = 6;
        e.first_rcode = 18;
    }));
    assert_eq!(after_icmp["first_rcode"], "UNREACHABLE");

    let icmp = json(&txn(|e| {
        e.kind = 5;
        e.latency_ns = 250_000;
        e.icmp_type = 3;
        e.icmp_code = 13;
        e.icmp_addr[..4].copy_from_slice(&[10, 0, 0, 254]);
    }));
    assert_eq!(icmp["kind"], "transaction");
    assert_eq!(icmp["rcode"], "UNREACHABLE");
    assert_eq!(icmp["latency_ms"], 0.25);
    assert_eq!(icmp["icmp"], "admin-prohibited");
    assert_eq!(icmp["icmp_from"], "10.0.0.254");
    assert!(icmp["answers"].is_null() && icmp["response_size"].is_null());
    assert_eq!(icmp["flags"], serde_json::json!(["rd"]), "the query's only");
    let odd = json(&txn(|e| {
        e.kind = 5;
        e.icmp_type = 11;
        e.icmp_code = 0;
    }));
    assert_eq!(odd["icmp"], "type11-code0");
}
