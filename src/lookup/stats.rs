//! What the summary says of the lookups: counts, and the names an SRE
//! would act on (search misses, resends about 5 s after the first try).
//! Bounded: at most [`MAX_NAMES`] names are remembered per list.

use std::collections::HashMap;

use super::{LookupRcode, LookupRecord};

/// Names remembered per list.
pub const MAX_NAMES: usize = 4096;

/// A resend this close to 5 s after the first try is glibc's default
/// timeout at work: the first try was lost.
const FIVE_S_LO: u64 = 4_500_000_000;
const FIVE_S_HI: u64 = 6_000_000_000;

#[derive(Debug, Clone, Default)]
pub struct LookupStats {
    pub lookups: u64,
    pub queries: u64,
    pub search_misses: u64,
    /// Lookups with a retry or retransmit.
    pub resent: u64,
    /// Retries and retransmits.
    pub resends: u64,
    /// Lookups whose first resend came about 5 s after the first try.
    pub resent_after_5s: u64,
    pub sibling_lost: u64,
    /// Lost siblings while the conntrack counters moved.
    pub conntrack_moved: u64,
    pub tcp_fallback: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub incomplete: u64,
    /// Name asked to (lookups, search misses).
    pub missing: HashMap<String, (u64, u64)>,
    /// Name asked to lookups resent about 5 s after the first try.
    pub slow_resends: HashMap<String, u64>,
    /// Names beyond the lists' bounds.
    pub names_dropped: u64,
}

impl LookupStats {
    pub fn observe(&mut self, l: &LookupRecord) {
        self.lookups += 1;
        self.queries += u64::from(l.queries);
        self.search_misses += u64::from(l.search_misses);
        let resends = u64::from(l.retries + l.retransmits);
        self.resends += resends;
        self.resent += u64::from(resends > 0);
        self.sibling_lost += u64::from(l.sibling_lost);
        self.conntrack_moved += u64::from(
            l.conntrack
                .is_some_and(|c| c.insert_failed > 0 || c.drop > 0),
        );
        self.tcp_fallback += u64::from(l.tcp_fallback);
        self.failed += u64::from(l.rcode.is_error());
        self.timed_out += u64::from(l.rcode == LookupRcode::Timeout);
        self.incomplete += u64::from(l.incomplete);
        if l.search_misses > 0 {
            let full = self.missing.len() >= MAX_NAMES;
            match self.missing.get_mut(&l.name) {
                Some(e) => {
                    e.0 += 1;
                    e.1 += u64::from(l.search_misses);
                }
                None if full => self.names_dropped += 1,
                None => {
                    self.missing
                        .insert(l.name.clone(), (1, u64::from(l.search_misses)));
                }
            }
        }
        let five = l
            .retry_delay_ns
            .is_some_and(|d| (FIVE_S_LO..=FIVE_S_HI).contains(&d));
        if five && l.retry_after_timeout {
            self.resent_after_5s += 1;
            let full = self.slow_resends.len() >= MAX_NAMES;
            match self.slow_resends.get_mut(&l.name) {
                Some(n) => *n += 1,
                None if full => self.names_dropped += 1,
                None => {
                    self.slow_resends.insert(l.name.clone(), 1);
                }
            }
        }
    }

    /// The `n` names with the most of `list`'s count, most first, then
    /// by name: a total order, whatever the hash map's.
    pub fn top<'a>(list: impl Iterator<Item = (&'a String, u64)>, n: usize) -> Vec<(&'a str, u64)> {
        let mut v: Vec<(&str, u64)> = list.map(|(k, c)| (k.as_str(), c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }
}
