//! The conntrack counters that move when parallel A and AAAA queries from
//! one socket race to insert the same conntrack entry: `insert_failed`
//! and `drop` of /proc/net/stat/nf_conntrack, summed over the CPUs.

use std::collections::VecDeque;

/// Insert failures and drops, summed over CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConntrackStats {
    pub insert_failed: u64,
    pub drop: u64,
}

/// Parses the file: a header of field names, then one line of
/// hexadecimal numbers per CPU. None when either field is missing.
pub fn parse(text: &str) -> Option<ConntrackStats> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split_ascii_whitespace().collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (fail_col, drop_col) = (col("insert_failed")?, col("drop")?);
    let mut sum = ConntrackStats::default();
    for line in lines {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let hex = |i: usize| fields.get(i).and_then(|f| u64::from_str_radix(f, 16).ok());
        sum.insert_failed = sum.insert_failed.saturating_add(hex(fail_col)?);
        sum.drop = sum.drop.saturating_add(hex(drop_col)?);
    }
    Some(sum)
}

/// The counters of dnstrace's own network namespace; None without
/// conntrack.
pub fn read() -> Option<ConntrackStats> {
    parse(&std::fs::read_to_string("/proc/net/stat/nf_conntrack").ok()?)
}

/// Samples kept: one a second, about two minutes.
const SAMPLES: usize = 128;

/// Samples of the counters over time, so that a lookup found to have lost
/// a sibling can be told whether they moved since it started.
#[derive(Debug, Default)]
pub struct ConntrackWatch {
    samples: VecDeque<(u64, ConntrackStats)>,
}

impl ConntrackWatch {
    /// `mono_ns`: CLOCK_MONOTONIC of the reading.
    pub fn sample(&mut self, mono_ns: u64, stats: ConntrackStats) {
        if self.samples.len() >= SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((mono_ns, stats));
    }

    /// How much the counters moved from the last sample at or before
    /// `since_ns` (or the oldest kept) to `now`.
    pub fn moved(&self, since_ns: u64, now: ConntrackStats) -> Option<ConntrackStats> {
        let before = self
            .samples
            .iter()
            .rev()
            .find(|(t, _)| *t <= since_ns)
            .or_else(|| self.samples.front())?
            .1;
        Some(ConntrackStats {
            insert_failed: now.insert_failed.saturating_sub(before.insert_failed),
            drop: now.drop.saturating_sub(before.drop),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "entries  clashres found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
        0000000a  00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000010 00000000 00000000  00000000 00000000 00000000 00000000\n\
        0000000a  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000001 00000000 00000000  00000000 00000000 00000000 00000000\n";

    #[test]
    fn sums_the_cpus() {
        assert_eq!(
            parse(FILE),
            Some(ConntrackStats {
                insert_failed: 3,
                drop: 17
            })
        );
        assert_eq!(parse("entries found\n00 00\n"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn measures_from_before_the_lookup() {
        let mut w = ConntrackWatch::default();
        assert_eq!(w.moved(5, ConntrackStats::default()), None);
        let s = |f, d| ConntrackStats {
            insert_failed: f,
            drop: d,
        };
        w.sample(1_000, s(1, 1));
        w.sample(2_000, s(4, 1));
        assert_eq!(w.moved(1_500, s(5, 1)), Some(s(4, 0)));
        assert_eq!(w.moved(500, s(5, 1)), Some(s(4, 0)), "the oldest kept");
        assert_eq!(w.moved(2_500, s(4, 1)), Some(s(0, 0)));
    }
}
