//! The kernel program's per-CPU counters (`enum dt_stat`), as a typed enum:
//! a misspelt counter is a compile error, not a panic at run time. The
//! numbering is the kernel's own, taken from the skeleton's generated
//! types; a test checks that every kernel counter has a variant here.

use super::abi;

macro_rules! stats {
    ($($variant:ident = $c:ident, $key:literal, $what:literal;)*) => {
        /// One of the kernel's counters.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Stat {
            $($variant,)*
        }

        impl Stat {
            /// Every counter, in the kernel's order.
            pub const ALL: &'static [Stat] = &[$(Stat::$variant,)*];

            /// The slot the kernel counts this in.
            pub fn index(self) -> usize {
                match self {
                    $(Stat::$variant => abi::dt_stat::$c.0 as usize,)*
                }
            }

            /// A short key for machine-readable output (`-v`, metrics).
            pub fn key(self) -> &'static str {
                match self {
                    $(Stat::$variant => $key,)*
                }
            }

            /// What it counts, for people.
            pub fn describe(self) -> &'static str {
                match self {
                    $(Stat::$variant => $what,)*
                }
            }
        }
    };
}

stats! {
    DnsPackets = DT_STAT_DNS_PACKETS, "dns_packets", "packets on a DNS port (every sighting)";
    Queries = DT_STAT_QUERIES, "queries", "queries tracked";
    QuerySeenAgain = DT_STAT_QUERY_SEEN_AGAIN, "query_seen_again", "retransmits and later sightings of a tracked query";
    Answered = DT_STAT_ANSWERED, "answered", "transactions answered";
    Timeouts = DT_STAT_TIMEOUTS, "timeouts", "transactions timed out";
    RingbufDrops = DT_STAT_RINGBUF_DROPS, "ringbuf_drops", "transactions lost: ring buffer full";
    InsertFailed = DT_STAT_INSERT_FAILED, "insert_failed", "queries not tracked: map update failed";
    ResponseWithoutQuery = DT_STAT_RESP_NO_QUERY, "response_without_query", "responses to no tracked query";
    ResponseRepeat = DT_STAT_RESP_REPEAT, "response_repeat", "responses seen again after their transaction completed";
    ResponseMismatch = DT_STAT_RESP_MISMATCH, "response_mismatch", "responses whose question differs from the query's";
    MalformedShort = DT_STAT_MAL_SHORT, "malformed_short", "malformed: shorter than a DNS header";
    MalformedNoQuestion = DT_STAT_MAL_NO_QUESTION, "malformed_no_question", "malformed: query without a question";
    MalformedTruncated = DT_STAT_MAL_TRUNCATED, "malformed_truncated", "malformed: question runs past the end of the packet";
    MalformedLabel = DT_STAT_MAL_LABEL, "malformed_label", "malformed: reserved label type in the question";
    MalformedPointer = DT_STAT_MAL_POINTER, "malformed_pointer", "malformed: compression pointer in the question";
    MalformedNameLong = DT_STAT_MAL_NAME_LONG, "malformed_name_long", "malformed: question name over 255 bytes";
    Nonlinear = DT_STAT_NONLINEAR, "nonlinear", "payload in page fragments, unreadable by the linear reader";
    IpFragment = DT_STAT_IP_FRAGMENT, "ip_fragment", "later IP fragments (no UDP header) skipped";
    TcpResync = DT_STAT_TCP_RESYNC, "tcp_resync", "TCP stream position lost (a segment missed): restarted at the next";
    TcpSkipped = DT_STAT_TCP_SKIPPED, "tcp_skipped", "TCP messages beyond 64 in one segment, skipped";
    TcpHeld = DT_STAT_TCP_HELD, "tcp_held", "TCP messages cut between segments, read when the next came";
    TcpLost = DT_STAT_TCP_LOST, "tcp_lost", "TCP messages cut between segments, lost: more held at once than the 1024 kept";
    MdnsQueries = DT_STAT_MDNS_QUERIES, "mdns_queries", "mDNS queries tracked";
    MdnsAnnouncements = DT_STAT_MDNS_ANNOUNCEMENTS, "mdns_announcements", "mDNS answers to no query seen (announcements)";
    EncryptedConnections = DT_STAT_ENCRYPTED_CONNS, "encrypted_connections", "DoT and DoQ connections seen";
    NatQueries = DT_STAT_NAT_QUERIES, "nat_queries", "queries seen translated by NAT (DNAT or SNAT)";
    AliasFailed = DT_STAT_ALIAS_FAILED, "alias_failed", "translated queries without their twin (or connections without their alias): map update failed";
    LateAnswers = DT_STAT_LATE_ANSWERS, "late_answers", "answers after their query's timeout";
    DuplicateAnswers = DT_STAT_DUPLICATE_ANSWERS, "duplicate_answers", "answers to an already answered query";
    Unreachable = DT_STAT_UNREACHABLE, "unreachable", "queries failed by an ICMP destination unreachable";
    TwinsAdded = DT_STAT_TWINS_ADDED, "twins_added", "NAT twins inserted into the pending map";
    TwinsRemoved = DT_STAT_TWINS_REMOVED, "twins_removed", "NAT twins deleted from the pending map";
    MdnsEnded = DT_STAT_MDNS_ENDED, "mdns_ended", "mDNS queries answered or expired";
}

impl Stat {
    /// For the counters of malformed packets, the reason (`pointer`, ...).
    pub fn malformed_reason(self) -> Option<&'static str> {
        self.key().strip_prefix("malformed_")
    }
}

/// The kernel's counters, summed over the CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters([u64; abi::STAT_COUNT]);

impl Default for Counters {
    fn default() -> Counters {
        Counters([0; abi::STAT_COUNT])
    }
}

impl Counters {
    pub fn get(&self, s: Stat) -> u64 {
        self.0[s.index()]
    }

    pub fn set(&mut self, s: Stat, value: u64) {
        self.0[s.index()] = value;
    }

    /// Every counter with its value, in the kernel's order.
    pub fn iter(&self) -> impl Iterator<Item = (Stat, u64)> + '_ {
        Stat::ALL.iter().map(|s| (*s, self.get(*s)))
    }

    /// Packets skipped as malformed, by reason (only the non-zero ones).
    pub fn malformed(&self) -> Vec<(&'static str, u64)> {
        self.iter()
            .filter(|(s, n)| s.malformed_reason().is_some() && *n > 0)
            .map(|(s, n)| (s.describe().trim_start_matches("malformed: "), n))
            .collect()
    }

    /// Queries evicted from the full pending map before an answer, an ICMP
    /// error or a timeout: the LRU map evicts silently, so they are the
    /// queries that went in (counted in `before`) and neither left by a
    /// delete (counted in `self`: answered, unreachable, timed out; mDNS
    /// queries, counted there too, have their own map) nor were `left` in
    /// the map by a sweep run between the two readings of the counters.
    /// Never more than the true count (see `dt_last_queries_left` in
    /// maps.bpf.h); exact when nothing moves, as at exit (then `before` may
    /// be `self`).
    pub fn evicted(&self, before: &Counters, left: u64) -> u64 {
        let removed =
            (self.get(Stat::Answered) + self.get(Stat::Unreachable) + self.get(Stat::Timeouts))
                .saturating_sub(self.get(Stat::MdnsEnded));
        before.get(Stat::Queries).saturating_sub(removed + left)
    }

    /// NAT twins evicted from the full pending map, counted as
    /// [`Counters::evicted`] counts queries. An evicted twin loses no
    /// transaction (its query still completes where it was first seen),
    /// only the sighting of the answer beyond NAT.
    pub fn twins_evicted(&self, before: &Counters, left: u64) -> u64 {
        before
            .get(Stat::TwinsAdded)
            .saturating_sub(self.get(Stat::TwinsRemoved) + left)
    }
}

impl FromIterator<(usize, u64)> for Counters {
    /// From (kernel slot, value) pairs; slots the kernel does not have are
    /// ignored.
    fn from_iter<I: IntoIterator<Item = (usize, u64)>>(iter: I) -> Counters {
        let mut c = Counters::default();
        for (i, v) in iter {
            if let Some(slot) = c.0.get_mut(i) {
                *slot = v;
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_counter_has_a_variant_in_the_kernels_order() {
        let seen: Vec<usize> = Stat::ALL.iter().map(|s| s.index()).collect();
        assert_eq!(seen, (0..abi::STAT_COUNT).collect::<Vec<_>>());
        let keys: std::collections::HashSet<_> = Stat::ALL.iter().map(|s| s.key()).collect();
        assert_eq!(keys.len(), Stat::ALL.len(), "keys are unique");
    }

    #[test]
    fn malformed_reasons() {
        let mut c = Counters::default();
        c.set(Stat::MalformedPointer, 3);
        c.set(Stat::Queries, 9);
        assert_eq!(
            c.malformed(),
            vec![("compression pointer in the question", 3)]
        );
        assert_eq!(c.get(Stat::Queries), 9);
        assert_eq!(Stat::MalformedPointer.malformed_reason(), Some("pointer"));
        assert_eq!(Stat::Queries.malformed_reason(), None);
    }

    #[test]
    fn evictions_are_the_entries_that_left_without_a_delete() {
        let mut c = Counters::default();
        c.set(Stat::Queries, 100);
        c.set(Stat::Answered, 70);
        c.set(Stat::Timeouts, 10);
        assert_eq!(c.evicted(&c, 15), 5);
        assert_eq!(c.evicted(&c, 30), 0, "never below zero");
        // An ICMP error completes a query; a late or second answer does not.
        c.set(Stat::Unreachable, 3);
        c.set(Stat::LateAnswers, 2);
        c.set(Stat::DuplicateAnswers, 4);
        assert_eq!(c.evicted(&c, 15), 2);
        // mDNS answers and timeouts are in Answered and Timeouts, but not
        // from this map.
        c.set(Stat::MdnsQueries, 9);
        c.set(Stat::Answered, 76);
        c.set(Stat::Timeouts, 13);
        c.set(Stat::MdnsEnded, 9);
        assert_eq!(c.evicted(&c, 15), 2);
        // Queries that came in after the first reading (and the sweep
        // missed, or saw) are not counted as evicted: inserts are taken
        // from before, deletes from after.
        let before = c.clone();
        c.set(Stat::Queries, 150);
        c.set(Stat::Answered, 96);
        assert_eq!(
            c.evicted(&before, 15),
            0,
            "20 answered since: a lower bound"
        );
        assert_eq!(c.evicted(&c, 45), 2, "exact once still");
        // Twins, apart.
        c.set(Stat::TwinsAdded, 40);
        c.set(Stat::TwinsRemoved, 30);
        assert_eq!(c.twins_evicted(&c, 6), 4);
        assert_eq!(c.twins_evicted(&c, 12), 0);
        assert_eq!(c.evicted(&c, 45), 2, "twins are not queries");
    }
}
