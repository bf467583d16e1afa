//! Lookups as JSON lines and aligned text: one record per application
//! call (see `crate::lookup`). Pure functions of a record and a clock.

use std::fmt::Write as _;

use super::clock::{Clock, TimeCache};
use super::escape::json_str;
use super::ip::push_ip;
use super::json::{push_ms, push_suspicion};
use super::text::human_latency;
use crate::lookup::LookupRecord;
use crate::record::dns;

/// One field of the lookup JSON record: its key (fixed), its JSON type
/// and its meaning, for the man page and the README. [`lookup_json`]
/// writes them in this order (a test holds it to that).
pub struct LookupField {
    pub name: &'static str,
    pub ty: &'static str,
    pub doc: &'static str,
}

macro_rules! lookup_fields {
    ($($name:literal: $ty:literal, $doc:literal;)+) => {
        /// Every field of a lookup record, in the order written.
        pub const LOOKUP_FIELDS: &[LookupField] = &[$(
            LookupField { name: $name, ty: $ty, doc: $doc },
        )+];
    };
}

lookup_fields! {
    "kind": "string", "`lookup`.";
    "ts": "string", "When the lookup's first query was seen: RFC 3339, UTC, with microseconds.";
    "name": "string",
        "The name as the application asked it, without the search domain (escaped as `qname` is).";
    "answered_name": "string or null",
        "The name whose answer had records (a search expansion, or the name itself); null when none had.";
    "qtypes": "array of strings", "The query types asked, in the order first asked (`A`, `AAAA`, ...).";
    "protos": "array of strings", "The transports its queries used: `udp`, `tcp`, or both (TCP after a truncated answer, `options use-vc`).";
    "queries": "number", "Queries sent for the lookup, resends included.";
    "search_misses": "number",
        "Queries for other names than the one that ended the lookup: the search-list expansions that failed.";
    "retries": "number", "The same question asked again from another socket (another port, or TCP).";
    "retransmits": "number", "The same question asked again on the same socket.";
    "rcode": "string",
        "What the application got: `NOERROR` when a name had records, else the last failure's rcode, `UNREACHABLE`, or `TIMEOUT` when nothing was answered.";
    "latency_ms": "number or null",
        "Milliseconds from the first query out to the answer that ended the lookup; null for `TIMEOUT`.";
    "client_ip": "string", "The address of the lookup's first query.";
    "client_port": "number", "The port of the lookup's first query.";
    "pid": "number or null", "The process that asked; null when not known (then the lookup is one socket's).";
    "comm": "string or null", "That process's name; null when `pid` is.";
    "container_id": "string or null",
        "The container that asked (64 hex digits), named from the first query as a transaction's `container_id` is; null when not known.";
    "container": "string or null", "That container's name; null when not known.";
    "pod": "string or null", "The Kubernetes pod that asked; null outside a pod, or when not known.";
    "namespace": "string or null", "That pod's namespace; null when `pod` is.";
    "unit": "string or null", "The systemd unit of a host process that asked; null otherwise.";
    "sibling_lost": "bool",
        "One of A and AAAA for a name, sent together on one socket, was lost while the other was answered: the fingerprint of the conntrack race.";
    "tcp_fallback": "bool", "A truncated answer was followed by the question over TCP.";
    "retry_after_timeout": "bool", "A question was asked again because its first try went unanswered.";
    "retry_delay_ms": "number or null",
        "Milliseconds from a question's first try to its first resend (about 5000 for glibc's default); null without one.";
    "search": "string",
        "Where the search list came from: `process` (its /etc/resolv.conf), `netns` (the network namespace's), or `inferred` from the names.";
    "conntrack_insert_failed": "number or null",
        "With `sibling_lost`: how much the conntrack `insert_failed` counter (/proc/net/stat/nf_conntrack, all CPUs, dnstrace's network namespace) moved since the lookup began; null otherwise or when unreadable.";
    "conntrack_drop": "number or null", "The same for the conntrack `drop` counter.";
    "incomplete": "bool", "Finished early because too many lookups were open (see the summary's evictions).";
    "suspicion": "object or null",
        "Its queries' security signals merged, as a transaction's `suspicion`: the highest score, each kind once; null when none was suspicious.";
}

fn key(out: &mut String, first: bool, name: &str) {
    out.push_str(if first { "{\"" } else { ",\"" });
    out.push_str(name);
    out.push_str("\":");
}

fn num(out: &mut String, n: Option<u64>) {
    match n {
        Some(n) => out.push_str(itoa::Buffer::new().format(n)),
        None => out.push_str("null"),
    }
}

fn word(out: &mut String, w: &str) {
    out.push('"');
    out.push_str(w);
    out.push('"');
}

fn boolean(out: &mut String, b: bool) {
    out.push_str(if b { "true" } else { "false" });
}

/// One lookup as a JSON object (no newline).
pub fn lookup_json(l: &LookupRecord, clock: &Clock, out: &mut String) {
    let mut fields = LOOKUP_FIELDS.iter().map(|f| f.name);
    let mut next = |out: &mut String, first: bool| {
        key(out, first, fields.next().expect("a field per value"));
    };
    next(out, true);
    word(out, "lookup");
    next(out, false);
    out.push('"');
    TimeCache::default().push_rfc3339_micros(clock.real_ns(l.mono_ns), out);
    out.push('"');
    next(out, false);
    json_str(out, &l.name);
    next(out, false);
    match &l.answered_name {
        Some(n) => json_str(out, n),
        None => out.push_str("null"),
    }
    next(out, false);
    out.push('[');
    for (i, t) in l.qtypes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        word(out, &dns::qtype_name(*t));
    }
    out.push(']');
    next(out, false);
    out.push('[');
    let protos = [("udp", l.udp), ("tcp", l.tcp)];
    for (i, (p, _)) in protos.iter().filter(|(_, used)| *used).enumerate() {
        if i > 0 {
            out.push(',');
        }
        word(out, p);
    }
    out.push(']');
    for n in [l.queries, l.search_misses, l.retries, l.retransmits] {
        next(out, false);
        num(out, Some(u64::from(n)));
    }
    next(out, false);
    word(out, &l.rcode.name());
    next(out, false);
    push_ms(out, l.latency_ns);
    next(out, false);
    out.push('"');
    push_ip(out, l.client_ip);
    out.push('"');
    next(out, false);
    num(out, Some(u64::from(l.client_port)));
    next(out, false);
    num(out, l.pid.map(u64::from));
    next(out, false);
    match &l.comm {
        Some(c) => json_str(out, c),
        None => out.push_str("null"),
    }
    let who = l.who.as_deref();
    for v in [
        who.and_then(|w| w.container_id.as_deref()),
        who.and_then(|w| w.container.as_deref()),
        who.and_then(|w| w.pod.as_deref()),
        who.and_then(|w| w.namespace.as_deref()),
        who.and_then(|w| w.unit.as_deref()),
    ] {
        next(out, false);
        match v {
            Some(v) => json_str(out, v),
            None => out.push_str("null"),
        }
    }
    for b in [l.sibling_lost, l.tcp_fallback, l.retry_after_timeout] {
        next(out, false);
        boolean(out, b);
    }
    next(out, false);
    push_ms(out, l.retry_delay_ns);
    next(out, false);
    word(out, l.search_source.as_str());
    next(out, false);
    num(out, l.conntrack.map(|c| c.insert_failed));
    next(out, false);
    num(out, l.conntrack.map(|c| c.drop));
    next(out, false);
    boolean(out, l.incomplete);
    next(out, false);
    push_suspicion(out, l.suspicion.as_deref());
    out.push('}');
}

/// The column titles of [`lookup_text`].
pub fn lookup_text_header() -> String {
    format!(
        "{:<15} {:<20} {:<40} {:<9} {:>8} {:>3} {:>4} {:>3}  {}",
        "TIME", "PROCESS", "NAME", "RCODE", "LATENCY", "Q", "MISS", "RTY", "ANSWERED / NOTES"
    )
}

/// One aligned line (no newline): time, process, name asked, what the
/// application got and how long it waited, the queries it took (search
/// misses, resends), the name that answered, and what went wrong.
pub fn lookup_text(l: &LookupRecord, clock: &Clock, out: &mut String) {
    clock.time_of_day(l.mono_ns, out);
    let mut process = match (l.pid, &l.comm) {
        (Some(pid), Some(comm)) => format!("{comm}[{pid}]"),
        (Some(pid), None) => format!("[{pid}]"),
        _ => {
            let mut s = String::new();
            push_ip(&mut s, l.client_ip);
            let _ = write!(s, ":{}", l.client_port);
            s
        }
    };
    // Who asked first, as for a transaction: "shop/web-0:curl[4242]".
    if let Some(label) = l.who.as_deref().and_then(|w| w.label()) {
        process = format!("{label}:{process}");
    }
    let latency = l.latency_ns.map_or("-".into(), human_latency);
    let _ = write!(
        out,
        " {:<20} {:<40} {:<9} {:>8} {:>3} {:>4} {:>3}  {}",
        process,
        l.name,
        l.rcode.name(),
        latency,
        l.queries,
        l.search_misses,
        l.retries + l.retransmits,
        l.answered_name.as_deref().unwrap_or("-"),
    );
    for note in notes(l) {
        out.push(' ');
        out.push_str(&note);
    }
    if let Some(s) = &l.suspicion {
        super::text::push_suspicion(out, s);
    }
}

/// What went wrong in a lookup, in words for the text line and the
/// table: `[sibling-lost, conntrack insert_failed +3]`, `[tcp]`, ...
pub fn notes(l: &LookupRecord) -> Vec<String> {
    let mut notes = Vec::new();
    if l.sibling_lost {
        let mut s = String::from("sibling-lost");
        if let Some(c) = l.conntrack {
            let _ = write!(
                s,
                " (conntrack insert_failed +{}, drop +{})",
                c.insert_failed, c.drop
            );
        }
        notes.push(s);
    }
    if l.retry_after_timeout {
        match l.retry_delay_ns {
            Some(ns) => notes.push(format!("resent after {}", human_latency(ns))),
            None => notes.push("resent".into()),
        }
    }
    if l.tcp_fallback {
        notes.push("tcp-after-tc".into());
    }
    if l.search_source == crate::resolv::SearchSource::Inferred && l.queries > 1 {
        notes.push("search-inferred".into());
    }
    if l.incomplete {
        notes.push("incomplete".into());
    }
    notes.into_iter().map(|n| format!("[{n}]")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::conntrack::ConntrackStats;
    use crate::lookup::LookupRcode;
    use crate::resolv::SearchSource;
    use crate::testing::fixtures::lookup_record;

    fn sample() -> LookupRecord {
        LookupRecord {
            queries: 9,
            search_misses: 6,
            retransmits: 1,
            latency_ns: Some(5_001_500_000),
            pid: Some(42),
            comm: Some("getent".into()),
            sibling_lost: true,
            retry_after_timeout: true,
            retry_delay_ns: Some(5_000_000_000),
            search_source: SearchSource::Netns,
            conntrack: Some(ConntrackStats {
                insert_failed: 2,
                drop: 0,
            }),
            ..lookup_record("api.example.test")
        }
    }

    #[test]
    fn json_has_every_field_in_order() {
        let clock = Clock::fixed(1_795_802_400 * 1_000_000_000);
        let mut out = String::new();
        lookup_json(&sample(), &clock, &mut out);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut want: Vec<&str> = LOOKUP_FIELDS.iter().map(|f| f.name).collect();
        let mut got = keys.clone();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
        assert!(
            out.starts_with("{\"kind\":\"lookup\",\"ts\":\"2026-"),
            "{out}"
        );
        assert_eq!(v["qtypes"], serde_json::json!(["A", "AAAA"]));
        assert_eq!(v["protos"], serde_json::json!(["udp"]));
        assert_eq!(v["latency_ms"], 5001.5);
        assert_eq!(v["retry_delay_ms"], 5000.0);
        assert_eq!(v["rcode"], "NOERROR");
        assert_eq!(v["search"], "netns");
        assert_eq!(v["conntrack_insert_failed"], 2);
        assert_eq!(v["pid"], 42);
        let mut l = sample();
        l.rcode = LookupRcode::Timeout;
        l.latency_ns = None;
        l.answered_name = None;
        l.pid = None;
        l.comm = None;
        l.conntrack = None;
        l.name = "evil\"\\\u{1b}".into();
        out.clear();
        lookup_json(&l, &clock, &mut out);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["rcode"], "TIMEOUT");
        assert!(v["latency_ms"].is_null() && v["pid"].is_null() && v["comm"].is_null());
        assert!(v["answered_name"].is_null() && v["conntrack_drop"].is_null());
        assert_eq!(v["name"], "evil\"\\\u{1b}");
    }

    #[test]
    fn text_says_what_went_wrong() {
        let clock = Clock::fixed(0);
        let mut out = String::new();
        lookup_text(&sample(), &clock, &mut out);
        assert!(out.contains("getent[42]"), "{out}");
        assert!(out.contains("api.example.test"), "{out}");
        assert!(
            out.contains(
                "[sibling-lost (conntrack insert_failed +2, drop +0)] [resent after 5.00s]"
            ),
            "{out}"
        );
        let mut l = sample();
        l.pid = None;
        l.comm = None;
        out.clear();
        lookup_text(&l, &clock, &mut out);
        assert!(out.contains("10.0.0.2:40000"), "{out}");
    }

    #[test]
    fn who_asked_is_named_in_json_and_text() {
        use crate::attribution::Attribution;
        let clock = Clock::fixed(0);
        let mut l = sample();
        let mut out = String::new();
        lookup_json(&l, &clock, &mut out);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        for k in ["container_id", "container", "pod", "namespace", "unit"] {
            assert!(v[k].is_null(), "{k}: {out}");
        }
        l.who = Some(std::sync::Arc::new(
            Attribution {
                container_id: Some("ab".repeat(32)),
                container: Some("curl".into()),
                pod: Some("web-7d9f".into()),
                namespace: Some("shop".into()),
                ..Attribution::default()
            }
            .labelled(),
        ));
        out.clear();
        lookup_json(&l, &clock, &mut out);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["pod"], "web-7d9f");
        assert_eq!(v["namespace"], "shop");
        assert_eq!(v["container"], "curl");
        assert_eq!(v["container_id"], "ab".repeat(32));
        assert!(v["unit"].is_null());
        out.clear();
        lookup_text(&l, &clock, &mut out);
        assert!(out.contains("shop/web-7d9f:getent[42]"), "{out}");
    }
}
