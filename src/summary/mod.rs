//! The report printed at exit: what was seen, what was lost and why, and
//! the shape of the latencies. A pure function of the data, so it is tested
//! without a kernel.

use std::fmt::{Display, Write};
use std::time::Duration;

use crate::aggregate::{
    Aggregates, Dimension, KeyStats, RANKED_NAMES, RCODE_SLOTS, TIMEOUT_SLOT, UNREACHABLE_SLOT,
};
use crate::kernel::{Counters, Stat};
use crate::output::human_latency;
use crate::record::dns;

mod lookups;
mod security;
pub use lookups::lookups;
pub use security::security;

/// What the run saw besides the aggregates.
pub struct RunFacts<'a> {
    pub counters: &'a Counters,
    /// Queries, and NAT twins, left in the pending map by the last sweep.
    pub in_flight: u64,
    pub twins_left: u64,
    pub shown: u64,
    pub decode_errors: u64,
    pub elapsed: Duration,
    pub verbose: u8,
}

impl RunFacts<'_> {
    /// Queries that left the pending map without an answer, a timeout, or
    /// still being there at exit: the LRU evicted them. Exact: nothing
    /// moves any more when the counters are read.
    pub fn evicted(&self) -> u64 {
        self.counters.evicted(self.counters, self.in_flight)
    }

    /// NAT twins the LRU evicted (no transaction lost, see
    /// [`Counters::twins_evicted`]).
    pub fn twins_evicted(&self) -> u64 {
        self.counters.twins_evicted(self.counters, self.twins_left)
    }
}

fn us(v: u64) -> String {
    human_latency(v * 1000)
}

fn rcode_label(slot: usize) -> String {
    match slot {
        TIMEOUT_SLOT => "TIMEOUT".into(),
        UNREACHABLE_SLOT => "UNREACHABLE".into(),
        _ => dns::rcode_name(slot as u16).into_owned(),
    }
}

/// bcc-style log2 histogram of microseconds.
pub fn histogram(agg: &Aggregates, out: &mut String) {
    let buckets = agg.latency.log2_buckets();
    let peak = buckets.iter().map(|b| b.2).max().unwrap_or(0).max(1);
    let _ = writeln!(out, "{:>22} : {:<9} distribution", "usecs", "count");
    for (lo, hi, n) in buckets {
        let stars = ((n * 40).div_ceil(peak)) as usize;
        let _ = writeln!(
            out,
            "{:>9} -> {:<9} : {:<9} |{:<40}|",
            lo,
            hi,
            n,
            "*".repeat(stars)
        );
    }
}

/// The five slowest keys: those whose queries all timed out (most
/// timeouts first), then the highest p95; then the most transactions,
/// then in the keys' order: a total order, so the report does not depend
/// on the order of the aggregates' (randomly seeded) hash maps.
fn slowest<K: Display + Ord>(title: &str, dim: &Dimension<K>, out: &mut String) {
    let mut rows: Vec<(&K, &KeyStats)> = dim
        .iter()
        .filter(|(_, s)| s.answered > 0 || s.unanswered())
        .collect();
    if rows.is_empty() {
        return;
    }
    let rank = |s: &KeyStats| s.slowness(s.p95_us());
    rows.sort_by(|a, b| {
        rank(b.1)
            .cmp(&rank(a.1))
            .then(b.1.count.cmp(&a.1.count))
            .then_with(|| a.0.cmp(b.0))
    });
    let _ = writeln!(out, "{title} (by p95, those that answered nothing first):");
    for (key, s) in rows.iter().take(5) {
        let _ = writeln!(
            out,
            "  {:<40} n={:<7} avg {:>8}  p95 {:>8}  max {:>8}  timeouts {}",
            key.to_string(),
            s.count,
            s.avg_us().map_or("-".into(), us),
            s.p95_us().map_or("-".into(), us),
            s.max_us().map_or("-".into(), us),
            s.timeouts()
        );
    }
}

/// The whole report; `full` adds the histogram and the breakdowns.
pub fn render(agg: &Aggregates, facts: &RunFacts<'_>, full: bool) -> String {
    let c = facts.counters;
    let mut out = String::new();
    let answered = c.get(Stat::Answered);
    let timeouts = c.get(Stat::Timeouts);
    let unreachable = c.get(Stat::Unreachable);
    let _ = write!(
        out,
        "dnstrace: {} transactions in {:.1}s: {} answered, {} timed out",
        answered + timeouts + unreachable,
        facts.elapsed.as_secs_f64(),
        answered,
        timeouts,
    );
    if unreachable > 0 {
        let _ = write!(out, ", {unreachable} unreachable");
    }
    let _ = writeln!(out, "; {} shown", facts.shown);
    let _ = writeln!(
        out,
        "dnstrace: lost: {} (ring buffer full), {} (evicted from the pending map), {} (not tracked: map update failed); {} queries still pending at exit",
        c.get(Stat::RingbufDrops),
        facts.evicted(),
        c.get(Stat::InsertFailed),
        facts.in_flight
    );
    let malformed = c.malformed();
    if !malformed.is_empty() {
        let total: u64 = malformed.iter().map(|(_, n)| n).sum();
        let parts: Vec<String> = malformed
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        let _ = writeln!(
            out,
            "dnstrace: skipped {total} sightings of malformed DNS packets (a packet counts once per interface it crosses): {}",
            parts.join(", ")
        );
    }
    if facts.decode_errors > 0 {
        let _ = writeln!(
            out,
            "dnstrace: {} records from the kernel could not be decoded",
            facts.decode_errors
        );
    }
    if facts.verbose > 0 {
        for (stat, n) in c.iter() {
            let (key, what) = (stat.key(), stat.describe());
            let _ = writeln!(out, "dnstrace:   {key:<24} {n:>12}  {what}");
        }
        let _ = writeln!(
            out,
            "dnstrace:   {:<24} {:>12}  queries evicted from the pending map (counted from the above)",
            "evicted",
            facts.evicted()
        );
        let _ = writeln!(
            out,
            "dnstrace:   {:<24} {:>12}  NAT twins evicted from it (no transaction lost)",
            "twins_evicted",
            facts.twins_evicted()
        );
    }
    if !full || agg.total + agg.late + agg.duplicates == 0 {
        return out;
    }
    if agg.total > 0 {
        transactions(agg, &mut out);
    }
    beyond_transactions(agg, &mut out);
    out
}

/// The latency and response codes of the transactions shown, and the
/// slowest keys.
fn transactions(agg: &Aggregates, out: &mut String) {
    let _ = writeln!(
        out,
        "\nLatency of the {} answered transactions shown:",
        agg.latency.count()
    );
    if agg.latency.count() > 0 {
        histogram(agg, out);
        let q = |p: f64| agg.latency.quantile(p).map_or("-".into(), us);
        // A handful of answers: nearest rank, each percentile one of them.
        // More: read from the histogram's buckets, and said so.
        let _ = writeln!(
            out,
            "p50 {}  p95 {}  p99 {}  max {}{}",
            q(0.5),
            q(0.95),
            q(0.99),
            us(agg.latency.max_us()),
            if agg.latency.is_exact() {
                ""
            } else {
                "  (percentiles within 3 %)"
            }
        );
    }

    let _ = writeln!(out, "\nResponse codes:");
    let mut codes: Vec<(usize, u64)> = (0..RCODE_SLOTS)
        .map(|s| (s, agg.rcodes[s]))
        .filter(|(_, n)| *n > 0)
        .collect();
    codes.sort_by_key(|c| std::cmp::Reverse(c.1));
    for (slot, n) in codes {
        // The counts end in one column, after labels longer than the 10
        // characters of the rest (UNREACHABLE) too.
        let label = rcode_label(slot);
        let width = 19usize.saturating_sub(label.len()).max(1);
        let _ = writeln!(
            out,
            "  {label} {n:>width$}  {:>5.1}%",
            n as f64 * 100.0 / agg.total as f64
        );
    }
    out.push('\n');
    slowest("Slowest servers", &agg.by_server, out);
    // Backends differ from servers only behind DNAT.
    if agg.translated > 0 {
        slowest("Slowest backends", agg.by_backend(), out);
    }
    slowest_names(agg, out);
    timed_out_names(agg, out);
}

/// The names with the slowest answers over the whole run: each name by
/// its slowest answer, exact however many names went by.
fn slowest_names(agg: &Aggregates, out: &mut String) {
    if agg.slowest_names.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Slowest names (each by its slowest answer, over the whole run):"
    );
    for p in agg.slowest_names.ranked() {
        let (qtype, server) = p.detail;
        let _ = writeln!(
            out,
            "  {:<40} max {:>8}  {} from {}",
            p.key,
            us(p.value),
            dns::qtype_name(qtype),
            server
        );
    }
}

/// The names that timed out most over the whole run, counted in a bounded
/// table (space-saving): exact until more names time out than it has
/// counters; then a name's count is a range, and a name seen rarely may
/// be missing, which the note says.
fn timed_out_names(agg: &Aggregates, out: &mut String) {
    let names = &agg.timeout_names;
    if names.is_empty() {
        return;
    }
    let _ = writeln!(out, "Names that timed out most (over the whole run):");
    for c in names.top(RANKED_NAMES) {
        let count = if c.error == 0 {
            c.count.to_string()
        } else {
            format!("{}-{}", c.at_least(), c.count)
        };
        let _ = writeln!(out, "  {:<40} timeouts {count}", c.key);
    }
    if !names.is_exact() {
        let _ = writeln!(
            out,
            "  (approximate: {} timeouts counted by name in {} counters; every name with more than {} is listed, a-b is at least a, at most b)",
            names.total(),
            names.capacity(),
            names.total() / names.capacity() as u64
        );
    }
}

/// What the transactions shown do not count: answers that came too late
/// or twice; and the ICMP errors among them.
fn beyond_transactions(agg: &Aggregates, out: &mut String) {
    let mut lines = Vec::new();
    if agg.late > 0 {
        lines.push(format!("late answers {}", agg.late));
    }
    if agg.duplicates > 0 {
        lines.push(format!(
            "duplicate answers {} ({} with a different rcode)",
            agg.duplicates, agg.duplicates_differing
        ));
    }
    if agg.unreachable > 0 {
        lines.push(format!("unreachable {}", agg.unreachable));
    }
    if lines.is_empty() {
        return;
    }
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{bytes_of, raw};
    use crate::record::Transaction;

    fn counters(pairs: &[(Stat, u64)]) -> Counters {
        let mut c = Counters::default();
        for (s, v) in pairs {
            c.set(*s, *v);
        }
        c
    }

    fn sample() -> Aggregates {
        let mut a = Aggregates::new(64);
        for (name, lat, rflags) in [
            (&b"\x04fast\x00"[..], Some(300u64), 0x8180u16),
            (b"\x04fast\x00", Some(500), 0x8180),
            (b"\x04slow\x00", Some(80_000), 0x8180),
            (b"\x02nx\x00", Some(1000), 0x8183),
            (b"\x04dead\x00", None, 0),
        ] {
            let mut ev = raw(name);
            match lat {
                Some(us) => ev.latency_ns = us * 1000,
                None => ev.kind = 1,
            }
            ev.rflags = rflags;
            a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        }
        a
    }

    #[test]
    fn summary_reports_counts_losses_and_shape() {
        let c = counters(&[
            (Stat::Queries, 10),
            (Stat::Answered, 4),
            (Stat::Timeouts, 1),
            (Stat::RingbufDrops, 2),
            (Stat::MalformedPointer, 3),
        ]);
        let facts = RunFacts {
            counters: &c,
            in_flight: 1,
            twins_left: 0,
            shown: 5,
            decode_errors: 0,
            elapsed: Duration::from_millis(2500),
            verbose: 0,
        };
        assert_eq!(facts.evicted(), 4);
        let s = render(&sample(), &facts, true);
        assert!(
            s.contains("5 transactions in 2.5s: 4 answered, 1 timed out; 5 shown"),
            "{s}"
        );
        assert!(
            s.contains("lost: 2 (ring buffer full), 4 (evicted from the pending map)"),
            "{s}"
        );
        assert!(
            s.contains("skipped 3 sightings of malformed DNS packets (a packet counts once per interface it crosses): 3 compression pointer"),
            "{s}"
        );
        assert!(s.contains("usecs"), "{s}");
        assert!(s.contains("256 -> 511"), "{s}");
        assert!(s.contains("65536 -> 131071"), "{s}");
        assert!(s.contains("p50 "), "{s}");
        assert!(s.contains("max 80.00ms"), "{s}");
        assert!(s.contains("NOERROR            3   60.0%"), "{s}");
        assert!(s.contains("TIMEOUT            1   20.0%"), "{s}");
        let slow = s.split("Slowest names").nth(1).unwrap();
        let first = slow.lines().nth(1).unwrap();
        assert!(
            first.trim_start().starts_with("slow ")
                && first.contains("max  80.00ms  AAAA from 10.0.0.1"),
            "slowest first: {slow}"
        );
        assert!(
            s.contains("Names that timed out most (over the whole run):\n  dead ")
                && s.contains(" timeouts 1\n"),
            "{s}"
        );
        assert!(!s.contains("approximate"), "{s}");
        // The short form stops after the counts.
        let short = render(&sample(), &facts, false);
        assert!(!short.contains("usecs"));
        assert!(short.lines().count() == 3, "{short}");
    }

    /// Ties in p95 and count: in the keys' order, whatever the order of
    /// the maps (randomly seeded: each map here iterates differently).
    #[test]
    fn slowest_ties_are_in_key_order() {
        let facts = RunFacts {
            counters: &counters(&[]),
            in_flight: 0,
            twins_left: 0,
            shown: 40,
            decode_errors: 0,
            elapsed: Duration::from_secs(1),
            verbose: 0,
        };
        let mut first = None;
        for _ in 0..8 {
            let mut a = Aggregates::new(64);
            for i in 0..20u8 {
                let mut ev = raw(b"\x04same\x00");
                ev.name[1] = b'a' + i;
                ev.server_addr[3] = 100 + i;
                ev.latency_ns = 2_000_000;
                ev.rflags = 0x8180;
                a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
            }
            let s = render(&a, &facts, true);
            let names: Vec<&str> = s
                .split("Slowest names")
                .nth(1)
                .unwrap()
                .lines()
                .skip(1)
                .map(|l| l.split_whitespace().next().unwrap())
                .collect();
            assert_eq!(names, ["aame", "bame", "came", "dame", "eame"], "{s}");
            let servers = s.split("Slowest servers").nth(1).unwrap();
            assert!(
                servers
                    .lines()
                    .nth(1)
                    .unwrap()
                    .trim_start()
                    .starts_with("10.0.0.100 "),
                "{s}"
            );
            assert_eq!(*first.get_or_insert_with(|| s.clone()), s);
        }
    }

    /// Servers that answered nothing, only timed out: at the top of the
    /// slowest, the most timeouts first, with their counts; above a
    /// server whose answers are slow.
    #[test]
    fn dead_servers_top_the_slowest() {
        let facts = RunFacts {
            counters: &counters(&[]),
            in_flight: 0,
            twins_left: 0,
            shown: 9,
            decode_errors: 0,
            elapsed: Duration::from_secs(1),
            verbose: 0,
        };
        let mut a = Aggregates::new(64);
        for (server, latency_us) in [
            (1, Some(500)),
            (1, Some(700)),
            (2, Some(900_000)),
            (9, None),
            (9, None),
            (9, None),
            (8, None),
        ] {
            let mut ev = raw(b"\x01a\x00");
            ev.server_addr[3] = server;
            match latency_us {
                Some(us) => ev.latency_ns = us * 1000,
                None => ev.kind = 1,
            }
            a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        }
        let s = render(&a, &facts, true);
        let rows: Vec<(&str, &str)> = s
            .split("Slowest servers")
            .nth(1)
            .unwrap()
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                (words[0], words[words.len() - 1])
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("10.0.0.9", "3"),
                ("10.0.0.8", "1"),
                ("10.0.0.2", "0"),
                ("10.0.0.1", "0")
            ],
            "{s}"
        );
        let dead = s.lines().find(|l| l.contains("10.0.0.9")).unwrap();
        assert!(
            dead.contains("n=3") && dead.contains("p95        -"),
            "{dead}"
        );
    }

    /// A soak: a million distinct names, the slowest answers and the
    /// names that timed out most seen early on, then a flood of fast names
    /// and of names that each timed out once. The rankings cover the whole
    /// run (the names seen last, all `by_name` keeps, have none of them),
    /// in memory bounded whatever the number of names.
    #[test]
    fn rankings_cover_the_whole_run_in_bounded_memory() {
        use crate::aggregate::{RANKED_NAMES, TIMEOUT_NAME_COUNTERS};
        use crate::pipeline::MAX_KEYS;
        use crate::record::Kind;
        let mut a = Aggregates::new(MAX_KEYS);
        let mut t = Transaction::decode(&bytes_of(&raw(b"\x01a\x00"))).unwrap();
        let mut see = |a: &mut Aggregates, name: &str, latency_us: Option<u64>| {
            t.qname.clear();
            t.qname.push_str(name);
            (t.kind, t.latency_ns, t.rflags) = match latency_us {
                Some(us) => (Kind::Answered, Some(us * 1000), Some(0x8180)),
                None => (Kind::Timeout, None, None),
            };
            a.observe(&t);
        };
        for (name, latency_us) in [
            ("slow1.soak.test", 2_000_000),
            ("slow2.soak.test", 1_500_000),
            ("slow3.soak.test", 900_000),
        ] {
            see(&mut a, name, Some(latency_us));
        }
        for _ in 0..50 {
            see(&mut a, "dead.soak.test", None);
        }
        for _ in 0..20 {
            see(&mut a, "lost.soak.test", None);
        }
        let mut name = String::new();
        for i in 0..1_000_000u64 {
            name.clear();
            let _ = write!(name, "n{i}.soak.test");
            let outcome = (i % 100 != 0).then_some(100 + i % 100);
            see(&mut a, &name, outcome);
            // A slow answer again for a name seen early: counted by its slowest.
            if i == 500_000 {
                see(&mut a, "slow3.soak.test", Some(300_000));
            }
        }
        assert!(a.by_name.len() <= MAX_KEYS);
        assert!(!a.by_name.iter().any(|(k, _)| k.contains("slow")));
        assert_eq!(a.slowest_names.len(), RANKED_NAMES);
        assert_eq!(a.timeout_names.len(), TIMEOUT_NAME_COUNTERS);
        let facts = RunFacts {
            counters: &counters(&[]),
            in_flight: 0,
            twins_left: 0,
            shown: a.total,
            decode_errors: 0,
            elapsed: Duration::from_secs(60),
            verbose: 0,
        };
        let s = render(&a, &facts, true);
        let section = |title: &str| -> Vec<String> {
            s.split(title)
                .nth(1)
                .unwrap_or_else(|| panic!("no {title}: {s}"))
                .lines()
                .skip(1)
                .take_while(|l| l.starts_with("  "))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        };
        let slowest = section("Slowest names");
        assert_eq!(
            slowest[..3],
            [
                "slow1.soak.test max 2.00s AAAA from 10.0.0.1",
                "slow2.soak.test max 1.50s AAAA from 10.0.0.1",
                "slow3.soak.test max 900.0ms AAAA from 10.0.0.1",
            ],
            "{s}"
        );
        let timed_out = section("Names that timed out most");
        assert_eq!(
            timed_out[..2],
            ["dead.soak.test timeouts 50", "lost.soak.test timeouts 20"],
            "{s}"
        );
        assert_eq!(timed_out.len(), RANKED_NAMES + 1, "{s}");
        assert!(
            timed_out[RANKED_NAMES].starts_with(
                "(approximate: 10070 timeouts counted by name in 1024 counters; every name with more than 9 is listed"
            ),
            "{s}"
        );
    }

    /// Late and duplicate answers and ICMP errors, each on a line of its
    /// own; none of them in the latency; backends only behind DNAT.
    #[test]
    fn summary_counts_late_duplicate_and_unreachable_apart() {
        let facts = |c| RunFacts {
            counters: c,
            in_flight: 0,
            twins_left: 0,
            shown: 9,
            decode_errors: 0,
            elapsed: Duration::from_secs(1),
            verbose: 0,
        };
        let c = counters(&[
            (Stat::Answered, 4),
            (Stat::Timeouts, 1),
            (Stat::Unreachable, 2),
        ]);
        let mut a = sample();
        let without = render(&a, &facts(&c), true);
        assert!(
            without.contains(
                "7 transactions in 1.0s: 4 answered, 1 timed out, 2 unreachable; 9 shown"
            ),
            "{without}"
        );
        assert!(!without.contains("late answers"), "{without}");
        assert!(!without.contains("Slowest backends"), "{without}");
        for (kind, first, latency_us) in [(4, 0, 9_000_000), (6, 0, 900_000), (6, 3, 900_000)] {
            let mut ev = raw(b"\x04slow\x00");
            ev.kind = kind;
            ev.rflags = 0x8183;
            ev.first_rcode = first;
            ev.latency_ns = latency_us * 1000;
            a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        }
        let mut ev = raw(b"\x04gone\x00");
        ev.nat = 1;
        ev.backend_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
        ev.backend_port = 53;
        a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        ev.kind = 5;
        a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        let s = render(&a, &facts(&c), true);
        assert!(s.contains("\nlate answers 1\n"), "{s}");
        assert!(
            s.contains("\nduplicate answers 2 (1 with a different rcode)\n"),
            "{s}"
        );
        assert!(s.contains("\nunreachable 1\n"), "{s}");
        assert!(s.contains("\n  UNREACHABLE        1   14.3%\n"), "{s}");
        assert!(s.contains("\n  NOERROR            3   42.9%\n"), "{s}");
        assert!(s.contains("max 80.00ms"), "late answers not timed: {s}");
        assert!(s.contains("Latency of the 5 answered"), "{s}");
        let backends = s.split("Slowest backends").nth(1).unwrap();
        assert!(backends.contains("10.244.2.2"), "{s}");

        // Only late answers shown: no transactions, still reported.
        let mut only = Aggregates::new(8);
        let mut ev = raw(b"\x04slow\x00");
        ev.kind = 4;
        only.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        let s = render(&only, &facts(&c), true);
        assert!(s.ends_with("\n\nlate answers 1\n"), "{s}");
        assert!(!s.contains("Response codes"), "{s}");
        assert!(
            !render(&only, &facts(&c), false).contains("late"),
            "short form"
        );
    }

    /// Three answers: the p50 is the middle one, p95 and p99 the slowest,
    /// not the middle of a histogram bucket; many: said to be approximate.
    #[test]
    fn percentiles_of_a_few_answers_are_answers() {
        let facts = RunFacts {
            counters: &counters(&[]),
            in_flight: 0,
            twins_left: 0,
            shown: 3,
            decode_errors: 0,
            elapsed: Duration::from_secs(1),
            verbose: 0,
        };
        let mut a = Aggregates::new(8);
        let answer = |us: u64| {
            let mut ev = raw(b"\x01a\x00");
            ev.latency_ns = us * 1000;
            Transaction::decode(&bytes_of(&ev)).unwrap()
        };
        for us in [3001, 1003, 2011] {
            a.observe(&answer(us));
        }
        let s = render(&a, &facts, true);
        assert!(
            s.contains("\np50 2.01ms  p95 3.00ms  p99 3.00ms  max 3.00ms\n"),
            "{s}"
        );
        for _ in 0..100 {
            a.observe(&answer(2011));
        }
        let s = render(&a, &facts, true);
        assert!(s.contains("max 3.00ms  (percentiles within 3 %)\n"), "{s}");
    }

    #[test]
    fn histogram_bars_scale_to_the_peak() {
        let s = render(
            &sample(),
            &RunFacts {
                counters: &counters(&[]),
                in_flight: 0,
                twins_left: 0,
                shown: 5,
                decode_errors: 0,
                elapsed: Duration::from_secs(1),
                verbose: 0,
            },
            true,
        );
        let bars: Vec<usize> = s
            .lines()
            .filter(|l| l.contains(" -> "))
            .map(|l| l.matches('*').count())
            .collect();
        assert_eq!(bars.iter().max(), Some(&40));
        assert!(bars.iter().all(|&b| b <= 40));
    }
}
