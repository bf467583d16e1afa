//! The exit summary's lookups section: what applications experienced, and
//! what an expert would change.

use std::fmt::Write;

use crate::lookup::stats::LookupStats;

/// The lookups section: what applications experienced, and what an
/// expert would change, naming the names concerned. Always printed
/// (`0 lookups` says there were none); `evicted`: lookups finished early
/// because too many were open.
pub fn lookups(stats: &LookupStats, evicted: u64) -> String {
    let mut out = String::new();
    let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let _ = writeln!(
        out,
        "dnstrace: {} lookups (application calls), {:.1} queries per lookup; {:.1}% of their {} queries were search misses; {} failed ({} timed out)",
        stats.lookups,
        per(stats.queries, stats.lookups),
        100.0 * per(stats.search_misses, stats.queries),
        stats.queries,
        stats.failed,
        stats.timed_out,
    );
    let _ = writeln!(
        out,
        "dnstrace: lookups resent: {} ({} queries again; {} about 5 s after the first try); A/AAAA sibling lost: {} (conntrack insert_failed or drop moved for {}); TCP after TC: {}; evicted: {}",
        stats.resent,
        stats.resends,
        stats.resent_after_5s,
        stats.sibling_lost,
        stats.conntrack_moved,
        stats.tcp_fallback,
        evicted,
    );
    let list = |names: Vec<(&str, u64)>| {
        names
            .iter()
            .map(|(n, c)| format!("{n} ({c})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let misses = LookupStats::top(stats.missing.iter().map(|(k, v)| (k, v.1)), 5);
    if !misses.is_empty() {
        let _ = writeln!(
            out,
            "dnstrace: advice: search misses (name, queries wasted): {}: the search list is tried first (ndots); ask for fully qualified names with a trailing dot (\"{}.\") or lower ndots (options ndots:1, or a pod's dnsConfig)",
            list(misses.clone()),
            misses[0].0,
        );
    }
    let slow = LookupStats::top(stats.slow_resends.iter().map(|(k, v)| (k, *v)), 5);
    if !slow.is_empty() {
        let _ = writeln!(
            out,
            "dnstrace: advice: resent about 5 s after the first try (name, lookups): {}: a lost query waited out the resolver's timeout; with parallel A and AAAA from one socket this is the conntrack insert race: use options single-request-reopen (or single-request), or NodeLocal DNSCache",
            list(slow),
        );
    }
    if stats.names_dropped > 0 {
        let _ = writeln!(
            out,
            "dnstrace: ({} lookups of names beyond the first {} are counted but not named)",
            stats.names_dropped,
            crate::lookup::stats::MAX_NAMES,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookups_section_names_the_names_to_fix() {
        use crate::lookup::{LookupRcode, LookupRecord};
        use crate::testing::fixtures::lookup_record;
        let mut stats = LookupStats::default();
        assert!(
            lookups(&stats, 0).contains("0 lookups (application calls), 0.0 queries per lookup"),
            "always said, even of none"
        );
        let base = LookupRecord {
            mono_ns: 0,
            queries: 8,
            search_misses: 6,
            client_port: 1,
            ..lookup_record("api.example.test")
        };
        stats.observe(&base);
        stats.observe(&LookupRecord {
            name: "db.test".into(),
            queries: 3,
            search_misses: 0,
            retransmits: 1,
            retry_after_timeout: true,
            retry_delay_ns: Some(5_002_000_000),
            sibling_lost: true,
            ..base.clone()
        });
        stats.observe(&LookupRecord {
            name: "gone.test".into(),
            queries: 1,
            search_misses: 0,
            rcode: LookupRcode::Timeout,
            latency_ns: None,
            ..base.clone()
        });
        let s = lookups(&stats, 2);
        assert!(
            s.contains("3 lookups (application calls), 4.0 queries per lookup; 50.0% of their 12 queries were search misses; 1 failed (1 timed out)"),
            "{s}"
        );
        assert!(
            s.contains("lookups resent: 1 (1 queries again; 1 about 5 s after the first try); A/AAAA sibling lost: 1"),
            "{s}"
        );
        assert!(s.contains("evicted: 2"), "{s}");
        assert!(
            s.contains("search misses (name, queries wasted): api.example.test (6)"),
            "{s}"
        );
        assert!(s.contains("(\"api.example.test.\")"), "{s}");
        assert!(
            s.contains("5 s after the first try (name, lookups): db.test (1)"),
            "{s}"
        );
        assert!(
            s.contains("single-request-reopen") && s.contains("NodeLocal DNSCache"),
            "{s}"
        );
    }
}
