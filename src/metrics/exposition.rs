//! The text exposition format, version 0.0.4: the rendering of the
//! registry's counts, with the format's escapes for HELP text and label
//! values.

use std::fmt::Write as _;

use super::namespaces::{Namespaces, OTHER_NAMESPACE};
use super::registry::{Histogram, Registry, BUCKETS, OTHER, QTYPES, QUERY_BUCKETS};
use crate::kernel::Stat;
use crate::record::dns;
use crate::security::Kind;

/// The content type of the text format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Appends the whole rendering of `r` to `out`.
pub(super) fn render(r: &Registry, out: &mut String) {
    render_transactions(r, out);
    lookups(r, out);
    suspicious(r, out);
}

/// The security signals' reasons, by kind: every kind, from 0.
fn suspicious(r: &Registry, out: &mut String) {
    let Some(counts) = &r.suspicious else {
        return;
    };
    family(
        out,
        "dnstrace_suspicious_total",
        "counter",
        "Reasons the security signals gave for transactions that passed the filters, by \
         kind (a transaction with two reasons counts under both).",
    );
    for (kind, n) in Kind::ALL.iter().zip(counts) {
        sample(
            out,
            "dnstrace_suspicious_total",
            &[("reason", kind.as_str())],
            *n,
        );
    }
}

fn render_transactions(r: &Registry, out: &mut String) {
    family(
        out,
        "dnstrace_build_info",
        "gauge",
        "A constant 1, labelled with the version of dnstrace.",
    );
    sample(
        out,
        "dnstrace_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );

    family(
        out,
        "dnstrace_transactions_total",
        "counter",
        "DNS transactions that passed dnstrace's filters, by response code \
         (TIMEOUT when unanswered, UNREACHABLE when an ICMP error failed the query) and \
         query type (other for uncommon types).",
    );
    let rcodes = dns::HEADER_RCODES.iter().chain(&["TIMEOUT", "UNREACHABLE"]);
    for (rcode, row) in rcodes.zip(&r.transactions) {
        for (i, n) in row.iter().enumerate().filter(|(_, n)| **n > 0) {
            let qtype = QTYPES
                .get(i)
                .and_then(|v| dns::known_qtype(*v))
                .unwrap_or(OTHER);
            sample(
                out,
                "dnstrace_transactions_total",
                &[("rcode", rcode), ("type", qtype)],
                *n,
            );
        }
    }

    family(
        out,
        "dnstrace_latency_seconds",
        "histogram",
        "Time from query to response of answered transactions that passed the filters, \
         by server address and, when DNAT delivered the query elsewhere, backend address \
         (the busiest; other for the rest).",
    );
    let (mut server, mut backend) = (String::with_capacity(40), String::with_capacity(40));
    for l in &r.servers.labelled {
        server.clear();
        let _ = write!(server, "{}", l.addr.server);
        match l.addr.backend {
            None => histogram(out, &[("server", &server)], &l.latency),
            Some(b) => {
                backend.clear();
                let _ = write!(backend, "{b}");
                histogram(
                    out,
                    &[("server", &server), ("backend", &backend)],
                    &l.latency,
                );
            }
        }
    }
    if r.servers.other.count > 0 {
        histogram(out, &[("server", OTHER)], &r.servers.other);
    }
    if r.servers.other_translated.count > 0 {
        histogram(
            out,
            &[("server", OTHER), ("backend", OTHER)],
            &r.servers.other_translated,
        );
    }

    for (name, help, value) in [
        (
            "dnstrace_timeouts_total",
            "Queries unanswered within --timeout, as the kernel expired them \
             (every traced query, before the filters).",
            r.kernel.get(Stat::Timeouts),
        ),
        (
            "dnstrace_ringbuf_drops_total",
            "Finished transactions lost because the ring buffer was full \
             (the reader was too slow).",
            r.kernel.get(Stat::RingbufDrops),
        ),
        (
            "dnstrace_pending_evictions_total",
            "Queries evicted from the full pending-query map before an answer or a timeout \
             (derived from the kernel's counters; raise --max-pending).",
            r.evicted,
        ),
        (
            "dnstrace_pending_insert_failures_total",
            "Queries not tracked because the pending-query map update failed.",
            r.kernel.get(Stat::InsertFailed),
        ),
        (
            "dnstrace_late_answers_total",
            "Answers that came after their query was reported as a timeout \
             (every traced query, before the filters).",
            r.kernel.get(Stat::LateAnswers),
        ),
        (
            "dnstrace_duplicate_answers_total",
            "Answers to a query already answered: a second backend's, or the same one's \
             again (every traced query, before the filters).",
            r.kernel.get(Stat::DuplicateAnswers),
        ),
        (
            "dnstrace_unreachable_total",
            "Queries an ICMP destination unreachable failed \
             (every traced query, before the filters).",
            r.kernel.get(Stat::Unreachable),
        ),
    ] {
        family(out, name, "counter", help);
        sample(out, name, &[], value);
    }

    family(
        out,
        "dnstrace_malformed_packets_total",
        "counter",
        "Packets on a DNS port skipped as malformed, by reason.",
    );
    for (stat, n) in r.kernel.iter() {
        if let Some(reason) = stat.malformed_reason() {
            sample(
                out,
                "dnstrace_malformed_packets_total",
                &[("reason", reason)],
                n,
            );
        }
    }
}

/// Appends the transactions by namespace (`--metrics-namespaces`).
pub(super) fn render_namespaces(n: &Namespaces, out: &mut String) {
    const NAME: &str = "dnstrace_namespace_transactions_total";
    family(
        out,
        NAME,
        "counter",
        "DNS transactions that passed dnstrace's filters, by the Kubernetes namespace of the \
         pod that sent them (the first --metrics-namespaces seen; _other for the rest; empty \
         when no pod is known) and response code.",
    );
    let rows = || dns::HEADER_RCODES.iter().chain(&["TIMEOUT", "UNREACHABLE"]);
    let groups = n
        .labelled
        .iter()
        .map(|(ns, counts)| (ns.as_str(), counts))
        .chain([(OTHER_NAMESPACE, &n.other), ("", &n.none)]);
    for (ns, counts) in groups {
        for (rcode, count) in rows().zip(counts).filter(|(_, c)| **c > 0) {
            sample(out, NAME, &[("namespace", ns), ("rcode", rcode)], *count);
        }
    }
}

/// The lookups: by rcode, their latency, and the queries each took.
/// Only once a lookup was counted (dnstrace groups transactions into
/// lookups unless --no-summary is given without --lookups).
fn lookups(r: &Registry, out: &mut String) {
    let counted: u64 = r.lookups.iter().sum();
    if counted == 0 {
        return;
    }
    family(
        out,
        "dnstrace_lookups_total",
        "counter",
        "Lookups (what one application call asked: search expansions, A and AAAA, resends) \
         that passed the filters, by what the application got.",
    );
    let rcodes = dns::HEADER_RCODES.iter().chain(&["TIMEOUT", "UNREACHABLE"]);
    for (rcode, n) in rcodes.zip(&r.lookups).filter(|(_, n)| **n > 0) {
        sample(out, "dnstrace_lookups_total", &[("rcode", rcode)], *n);
    }
    family(
        out,
        "dnstrace_lookup_latency_seconds",
        "histogram",
        "Time from a lookup's first query to the answer that ended it (timed-out lookups \
         are not observed).",
    );
    histogram_named(
        out,
        "dnstrace_lookup_latency_seconds",
        &[],
        &r.lookup_latency,
    );
    family(
        out,
        "dnstrace_lookup_queries",
        "histogram",
        "Queries each lookup took (search misses and resends included).",
    );
    let mut cumulative = 0;
    for ((_, le), n) in QUERY_BUCKETS.iter().zip(&r.lookup_queries) {
        cumulative += n;
        sample(
            out,
            "dnstrace_lookup_queries_bucket",
            &[("le", le)],
            cumulative,
        );
    }
    sample(
        out,
        "dnstrace_lookup_queries_bucket",
        &[("le", "+Inf")],
        counted,
    );
    sample(
        out,
        "dnstrace_lookup_queries_sum",
        &[],
        r.lookup_queries_sum,
    );
    sample(out, "dnstrace_lookup_queries_count", &[], counted);
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    // HELP text escapes backslash and newline.
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

/// A label value as the format requires: backslash, double quote and
/// newline escaped.
pub fn push_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        push_label_value(out, v);
        out.push('"');
    }
    out.push('}');
}

fn sample(out: &mut String, name: &str, l: &[(&str, &str)], value: u64) {
    out.push_str(name);
    labels(out, l);
    let _ = writeln!(out, " {value}");
}

/// One series of `dnstrace_latency_seconds`, labelled `series` (the
/// server, and the backend when there is one).
fn histogram(out: &mut String, series: &[(&str, &str)], h: &Histogram) {
    histogram_named(out, "dnstrace_latency_seconds", series, h);
}

/// One series of a latency histogram called `name`.
fn histogram_named(out: &mut String, name: &str, series: &[(&str, &str)], h: &Histogram) {
    let mut with_le = series.to_vec();
    with_le.push(("le", ""));
    let les = BUCKETS.iter().map(|(_, le)| *le).chain(["+Inf"]);
    let counts = BUCKETS
        .iter()
        .zip(&h.buckets)
        .scan(0, |cumulative, (_, n)| {
            *cumulative += n;
            Some(*cumulative)
        })
        .chain([h.count]);
    for (le, n) in les.zip(counts) {
        *with_le.last_mut().expect("le pushed") = ("le", le);
        out.push_str(name);
        out.push_str("_bucket");
        labels(out, &with_le);
        let _ = writeln!(out, " {n}");
    }
    out.push_str(name);
    out.push_str("_sum");
    labels(out, series);
    // Exact in integer nanoseconds; shown in seconds as the name says.
    let _ = writeln!(out, " {}", h.sum_ns as f64 / 1e9);
    out.push_str(name);
    out.push_str("_count");
    labels(out, series);
    let _ = writeln!(out, " {}", h.count);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::parse_labels;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        push_label_value(&mut out, "a\\b\"c\nd é");
        assert_eq!(out, "a\\\\b\\\"c\\nd é");
        let line = format!("x{{v=\"{out}\"}} 1\n");
        let (labels, rest) = parse_labels(&line[1..]).unwrap();
        assert_eq!(labels, vec![("v".to_string(), "a\\b\"c\nd é".to_string())]);
        assert_eq!(rest, " 1\n");

        let mut text = String::new();
        family(
            &mut text,
            "x_total",
            "counter",
            "back\\slash\nnewline \"quoted\"",
        );
        assert_eq!(
            text,
            "# HELP x_total back\\\\slash\\nnewline \"quoted\"\n# TYPE x_total counter\n"
        );
    }

    #[test]
    fn lookups_are_rendered_once_counted() {
        use crate::lookup::{LookupRcode, LookupRecord};
        use crate::testing::fixtures::lookup_record;
        let mut r = Registry::new(4);
        let mut out = String::new();
        render(&r, &mut out);
        assert!(!out.contains("dnstrace_lookup"), "none before a lookup");
        let l = LookupRecord {
            queries: 8,
            search_misses: 6,
            rcode: LookupRcode::Rcode(3),
            latency_ns: Some(3_000_000),
            ..lookup_record("a.test")
        };
        r.observe_lookup(&l);
        r.observe_lookup(&LookupRecord {
            rcode: LookupRcode::Timeout,
            latency_ns: None,
            queries: 20,
            ..l.clone()
        });
        let mut out = String::new();
        render(&r, &mut out);
        for line in [
            "dnstrace_lookups_total{rcode=\"NXDOMAIN\"} 1\n",
            "dnstrace_lookups_total{rcode=\"TIMEOUT\"} 1\n",
            "dnstrace_lookup_latency_seconds_bucket{le=\"0.005\"} 1\n",
            "dnstrace_lookup_latency_seconds_count 1\n",
            "dnstrace_lookup_queries_bucket{le=\"6\"} 0\n",
            "dnstrace_lookup_queries_bucket{le=\"8\"} 1\n",
            "dnstrace_lookup_queries_bucket{le=\"16\"} 1\n",
            "dnstrace_lookup_queries_bucket{le=\"+Inf\"} 2\n",
            "dnstrace_lookup_queries_sum 28\n",
            "# TYPE dnstrace_lookup_queries histogram\n",
        ] {
            assert!(out.contains(line), "{line:?} not in:\n{out}");
        }
    }
}
