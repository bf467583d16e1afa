//! The counting side of the metrics: the bounded label sets (rcodes,
//! query types, servers and backends), the latency histograms, and which
//! servers get a label of their own (see the module documentation of
//! `metrics` for the ranking). Nothing here formats text: `exposition`
//! reads this state.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::kernel::Counters;
use crate::lookup::{LookupRcode, LookupRecord};
use crate::record::{Kind, Transaction};

/// Upper bounds of the latency buckets, in nanoseconds and as rendered:
/// 0.5 ms to 5 s in steps of 2 and 2.5 (even on a log scale), from a
/// resolver's cache on the same host to a client's last retry.
pub const BUCKETS: [(u64, &str); 13] = [
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
];

/// Query types with their own label value (named as in the JSON output,
/// by record::dns); the rest are "other".
pub(super) const QTYPES: [u16; 16] = [
    1,   // A
    28,  // AAAA
    5,   // CNAME
    15,  // MX
    2,   // NS
    12,  // PTR
    6,   // SOA
    33,  // SRV
    16,  // TXT
    64,  // SVCB
    65,  // HTTPS
    257, // CAA
    35,  // NAPTR
    43,  // DS
    48,  // DNSKEY
    255, // ANY
];
const QTYPE_OTHER: usize = QTYPES.len();

/// Rows of the transaction counts: the 16 header rcodes by value, then
/// unanswered queries, then queries an ICMP error failed.
pub(super) const RCODE_ROWS: usize = 18;
pub(super) const RCODE_TIMEOUT: usize = 16;
pub(super) const RCODE_UNREACHABLE: usize = 17;

/// The label value for everything beyond the bounded set.
pub(super) const OTHER: &str = "other";

/// Unlabelled servers tracked as candidates for a label. A constant, so
/// that admitting a new one (a scan for the least counted) stays cheap
/// whatever `--metrics-max-servers` is.
const CANDIDATES: usize = 64;

/// Kernel updates (one a second) between two rankings of the servers; the
/// recent counts are halved at each, so the ranking follows the last
/// minute or so of traffic.
pub const REBALANCE_EVERY: u32 = 30;

/// A candidate must have at least twice the quietest labelled server's
/// recent count, plus this, to take its label: the hysteresis that keeps
/// two servers of similar traffic from trading places (and series).
const PROMOTION_MARGIN: u64 = 16;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Histogram {
    /// Observations per bucket (not cumulative; that is done on output).
    pub(super) buckets: [u64; BUCKETS.len()],
    pub(super) count: u64,
    pub(super) sum_ns: u64,
}

impl Histogram {
    fn observe(&mut self, ns: u64) {
        if let Some(i) = BUCKETS.iter().position(|(le, _)| ns <= *le) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }
}

/// Where a query went: the server asked and, when DNAT delivered it
/// elsewhere, the backend. The unit that gets a label (a `server` label,
/// and a `backend` label when there is one): a VIP's backends count one
/// each against `--metrics-max-servers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Path {
    pub(super) server: IpAddr,
    pub(super) backend: Option<IpAddr>,
}

impl Path {
    pub(super) fn of(t: &Transaction) -> Path {
        Path {
            server: t.server,
            backend: t.backend_ip,
        }
    }
}

#[derive(Debug)]
pub(super) struct Labelled {
    pub(super) addr: Path,
    pub(super) latency: Histogram,
    /// Transactions since about the last ranking (halved at each).
    recent: u64,
}

/// A Space-Saving entry: `recent` may overcount by up to `error` (the count
/// inherited from the entry it replaced), never undercount.
#[derive(Debug)]
struct Candidate {
    addr: Path,
    recent: u64,
    error: u64,
}

impl Candidate {
    fn guaranteed(&self) -> u64 {
        self.recent - self.error
    }
}

#[derive(Debug, Clone, Copy)]
enum Seat {
    Labelled(usize),
    Candidate(usize),
}

/// Which servers (and backends) have a label, and the latency of each.
#[derive(Debug)]
pub(super) struct Servers {
    max: usize,
    pub(super) labelled: Vec<Labelled>,
    candidates: Vec<Candidate>,
    seats: HashMap<Path, Seat>,
    /// The rest: the queries no NAT delivered elsewhere, and those DNAT
    /// did (apart, so that a series never gains or loses a label).
    pub(super) other: Histogram,
    pub(super) other_translated: Histogram,
}

impl Servers {
    fn new(max: usize) -> Servers {
        Servers {
            max,
            labelled: Vec::with_capacity(max),
            candidates: Vec::with_capacity(CANDIDATES),
            // Twice what it can ever hold: a removal leaves a tombstone,
            // and at half load the table is rebuilt in place instead of
            // grown, so inserts never allocate.
            seats: HashMap::with_capacity(2 * (max + CANDIDATES)),
            other: Histogram::default(),
            other_translated: Histogram::default(),
        }
    }

    /// The histogram of what has no label of its own.
    fn other_for(&mut self, addr: Path) -> &mut Histogram {
        match addr.backend {
            None => &mut self.other,
            Some(_) => &mut self.other_translated,
        }
    }

    /// The histogram this path's transactions go to.
    fn latency_for(&mut self, addr: Path) -> &mut Histogram {
        match self.seats.get(&addr).copied() {
            Some(Seat::Labelled(i)) => {
                let l = &mut self.labelled[i];
                l.recent += 1;
                &mut l.latency
            }
            Some(Seat::Candidate(i)) => {
                self.candidates[i].recent += 1;
                self.other_for(addr)
            }
            None if self.labelled.len() < self.max => {
                self.seats.insert(addr, Seat::Labelled(self.labelled.len()));
                self.labelled.push(Labelled {
                    addr,
                    latency: Histogram::default(),
                    recent: 1,
                });
                &mut self.labelled.last_mut().expect("just pushed").latency
            }
            None => {
                self.admit(addr);
                self.other_for(addr)
            }
        }
    }

    /// A new unlabelled path: a free candidate entry, or the least
    /// counted one's, whose count it inherits as its possible error.
    fn admit(&mut self, addr: Path) {
        if self.candidates.len() < CANDIDATES {
            self.seats
                .insert(addr, Seat::Candidate(self.candidates.len()));
            self.candidates.push(Candidate {
                addr,
                recent: 1,
                error: 0,
            });
            return;
        }
        let (i, least) = self
            .candidates
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| c.recent)
            .map(|(i, c)| (i, c.recent))
            .expect("CANDIDATES > 0");
        self.seats.remove(&self.candidates[i].addr);
        self.seats.insert(addr, Seat::Candidate(i));
        self.candidates[i] = Candidate {
            addr,
            recent: least + 1,
            error: least,
        };
    }

    /// Gives the quietest labels to clearly busier candidates, then halves
    /// every recent count.
    fn rebalance(&mut self) {
        // Each swap raises the labelled servers' total recent count, so
        // this ends; the bound is a second guarantee.
        for _ in 0..=self.max {
            let Some(c) =
                (0..self.candidates.len()).max_by_key(|&i| self.candidates[i].guaranteed())
            else {
                break;
            };
            let Some(l) = (0..self.labelled.len()).min_by_key(|&i| self.labelled[i].recent) else {
                break;
            };
            let challenger = self.candidates[c].guaranteed();
            let incumbent = self.labelled[l].recent;
            if challenger <= 2 * incumbent + PROMOTION_MARGIN {
                break;
            }
            let promoted = self.candidates[c].addr;
            let demoted = std::mem::replace(
                &mut self.labelled[l],
                Labelled {
                    addr: promoted,
                    latency: Histogram::default(),
                    recent: challenger,
                },
            );
            self.candidates[c] = Candidate {
                addr: demoted.addr,
                recent: incumbent,
                error: 0,
            };
            self.seats.insert(promoted, Seat::Labelled(l));
            self.seats.insert(demoted.addr, Seat::Candidate(c));
        }
        for l in &mut self.labelled {
            l.recent /= 2;
        }
        for c in &mut self.candidates {
            c.recent /= 2;
            c.error /= 2;
        }
    }
}

/// The row of the transaction counts `t` goes to; None for what is no
/// transaction of its own (late and duplicate answers).
pub(super) fn rcode_row(t: &Transaction) -> Option<usize> {
    Some(match (t.kind, t.rcode()) {
        (Kind::Late | Kind::Duplicate, _) => return None,
        (Kind::Unreachable, _) => RCODE_UNREACHABLE,
        (_, Some(r)) => usize::from(r & 0xf),
        (_, None) => RCODE_TIMEOUT,
    })
}

/// The counts behind everything the metrics endpoint shows.
#[derive(Debug)]
pub(super) struct Registry {
    /// By rcode (16 header codes, TIMEOUT, UNREACHABLE) and query type.
    pub(super) transactions: [[u64; QTYPES.len() + 1]; RCODE_ROWS],
    pub(super) servers: Servers,
    /// The kernel's counters, as they last stood (each only grows).
    pub(super) kernel: Counters,
    pub(super) evicted: u64,
    updates: u32,
    /// Lookups by what the application got (rows as `transactions`').
    pub(super) lookups: [u64; RCODE_ROWS],
    /// First query to the answer that ended the lookup.
    pub(super) lookup_latency: Histogram,
    /// Queries each lookup took, by [`QUERY_BUCKETS`].
    pub(super) lookup_queries: [u64; QUERY_BUCKETS.len()],
    pub(super) lookup_queries_sum: u64,
    /// Reasons given by the security signals, by kind
    /// (`security::Kind::ALL` order); None when the signals are off.
    pub(super) suspicious: Option<[u64; 9]>,
}

/// Upper bounds of the queries-per-lookup buckets: one query (a fully
/// qualified name, one type), A and AAAA, a search list of three with
/// both types (8), and beyond.
pub const QUERY_BUCKETS: [(u64, &str); 7] = [
    (1, "1"),
    (2, "2"),
    (4, "4"),
    (6, "6"),
    (8, "8"),
    (12, "12"),
    (16, "16"),
];

impl Registry {
    /// `max_servers` servers get their own label (bounded by the caller).
    pub(super) fn new(max_servers: usize) -> Registry {
        Registry {
            transactions: [[0; QTYPES.len() + 1]; RCODE_ROWS],
            servers: Servers::new(max_servers),
            kernel: Counters::default(),
            evicted: 0,
            updates: 0,
            lookups: [0; RCODE_ROWS],
            lookup_latency: Histogram::default(),
            lookup_queries: [0; QUERY_BUCKETS.len()],
            lookup_queries_sum: 0,
            suspicious: None,
        }
    }

    /// Counts one lookup: its rcode, latency and queries.
    pub(super) fn observe_lookup(&mut self, l: &LookupRecord) {
        let row = match l.rcode {
            LookupRcode::Rcode(r) => usize::from(r & 0xf),
            LookupRcode::Timeout => RCODE_TIMEOUT,
            LookupRcode::Unreachable => RCODE_UNREACHABLE,
        };
        self.lookups[row] += 1;
        if let Some(ns) = l.latency_ns {
            self.lookup_latency.observe(ns);
        }
        let q = u64::from(l.queries);
        if let Some(i) = QUERY_BUCKETS.iter().position(|(le, _)| q <= *le) {
            self.lookup_queries[i] += 1;
        }
        self.lookup_queries_sum += q;
    }

    /// Counts one transaction: a few array increments and one hash
    /// lookup, and no allocation. Late and duplicate answers are about a
    /// transaction counted already (the kernel's counters count them).
    pub(super) fn observe(&mut self, t: &Transaction) {
        let Some(rcode) = rcode_row(t) else {
            return;
        };
        let qtype = QTYPES
            .iter()
            .position(|v| *v == t.qtype)
            .unwrap_or(QTYPE_OTHER);
        self.transactions[rcode][qtype] += 1;
        let latency = self.servers.latency_for(Path::of(t));
        if let Some(ns) = t.answer_latency_ns() {
            latency.observe(ns);
        }
    }

    /// Takes the kernel's counters, keeping each at its highest, and
    /// ranks the servers every [`REBALANCE_EVERY`] calls.
    pub(super) fn update_kernel(&mut self, counters: &Counters, evicted: u64) {
        for (stat, theirs) in counters.iter() {
            self.kernel.set(stat, self.kernel.get(stat).max(theirs));
        }
        self.evicted = self.evicted.max(evicted);
        self.updates += 1;
        if self.updates % REBALANCE_EVERY == 0 {
            self.servers.rebalance();
        }
    }
}
