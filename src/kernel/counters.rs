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
    MdnsQueries = DT_STAT_MDNS_QUERIES, "mdns_queries", "mDNS queries tracked";
    MdnsAnnouncements = DT_STAT_MDNS_ANNOUNCEMENTS, "mdns_announcements", "mDNS answers to no query seen (announcements)";
    EncryptedConnections = DT_STAT_ENCRYPTED_CONNS, "encrypted_connections", "DoT and DoQ connections seen";
    NatQueries = DT_STAT_NAT_QUERIES, "nat_queries", "queries seen translated by NAT (DNAT or SNAT)";
    AliasFailed = DT_STAT_ALIAS_FAILED, "alias_failed", "translated queries without their twin (or connections without their alias): map update failed";
    LateAnswers = DT_STAT_LATE_ANSWERS, "late_answers", "answers after their query's timeout";
    DuplicateAnswers = DT_STAT_DUPLICATE_ANSWERS, "duplicate_answers", "answers to an already answered query";
    Unreachable = DT_STAT_UNREACHABLE, "unreachable", "queries failed by an ICMP destination unreachable";
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
    /// error or a timeout. The kernel cannot count these (the LRU map
    /// evicts silently), so they are what is left of the tracked queries
    /// once the answered, the unreachable, the timed out and the `pending`
    /// ones are taken away (late and duplicate answers complete nothing). Exact once
    /// tracing has stopped; while it runs, queries that arrive between the
    /// sweep that returned `pending` and the reading of the counters make
    /// it slightly off.
    pub fn evicted(&self, pending: u64) -> u64 {
        let completed =
            self.get(Stat::Answered) + self.get(Stat::Unreachable) + self.get(Stat::Timeouts);
        self.get(Stat::Queries).saturating_sub(completed + pending)
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
    fn evictions_are_the_unaccounted_queries() {
        let mut c = Counters::default();
        c.set(Stat::Queries, 100);
        c.set(Stat::Answered, 70);
        c.set(Stat::Timeouts, 10);
        assert_eq!(c.evicted(15), 5);
        assert_eq!(c.evicted(30), 0, "never below zero");
        // An ICMP error completes a query; a late or second answer does not.
        c.set(Stat::Unreachable, 3);
        c.set(Stat::LateAnswers, 2);
        c.set(Stat::DuplicateAnswers, 4);
        assert_eq!(c.evicted(15), 2);
    }
}
