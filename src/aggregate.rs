//! Running aggregates over the transactions shown: latency histograms,
//! response codes, and per-server, per-backend, per-name and per-client
//! statistics for the live views and the exit summary. Late and duplicate
//! answers are about transactions counted already: they are only counted
//! apart. Each transaction costs O(1) (amortised): a few hash lookups and
//! histogram increments. The number of keys per dimension is bounded; the
//! least recently seen are evicted, in batches, and counted.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;

use crate::record::{dns, Kind, Transaction};
use crate::topk::{Frequent, Slowest};

/// The aggregate maps' hasher. Their keys are names and addresses that
/// anyone on the host can choose, so the hash is keyed (seeded at random
/// per process and per map): an unkeyed one lets crafted keys collide and
/// turn each lookup into a scan, until the reader falls behind the ring
/// buffer. foldhash is keyed, and on these short keys cheaper than the
/// FNV it replaced.
type KeyedHash = foldhash::fast::RandomState;

/// Slots per response code breakdown: rcodes 0-15, then TIMEOUT, then
/// UNREACHABLE.
pub const RCODE_SLOTS: usize = 18;
pub const TIMEOUT_SLOT: usize = 16;
pub const UNREACHABLE_SLOT: usize = 17;

/// Values a histogram keeps as they are, so that the quantiles of a
/// handful of samples are samples (nearest rank), not the middle of a
/// bucket that none of them is.
pub const EXACT_SAMPLES: usize = 16;

/// A log-linear latency histogram in microseconds: 2^SUB_BITS buckets per
/// power of two, so any percentile is within 100/2^SUB_BITS % of the truth;
/// up to [`EXACT_SAMPLES`] values, the percentiles are exact.
#[derive(Debug, Clone, Default)]
pub struct Histogram<const SUB_BITS: u32> {
    buckets: Vec<u32>,
    count: u64,
    min_us: u64,
    max_us: u64,
    /// The first values, while there are at most [`EXACT_SAMPLES`].
    first: [u64; EXACT_SAMPLES],
}

impl<const SUB_BITS: u32> Histogram<SUB_BITS> {
    const SUB: u64 = 1 << SUB_BITS;

    fn index(us: u64) -> usize {
        if us < Self::SUB {
            return us as usize;
        }
        let msb = 63 - us.leading_zeros();
        let shift = msb - SUB_BITS;
        ((u64::from(shift) + 1) * Self::SUB + ((us >> shift) - Self::SUB)) as usize
    }

    /// The smallest value that lands in bucket `i`, and the bucket's width.
    fn bounds(i: usize) -> (u64, u64) {
        let i = i as u64;
        if i < Self::SUB {
            return (i, 1);
        }
        let shift = i / Self::SUB - 1;
        let low = (Self::SUB + i % Self::SUB) << shift;
        (low, 1 << shift)
    }

    pub fn record(&mut self, us: u64) {
        let i = Self::index(us);
        if i >= self.buckets.len() {
            self.buckets.resize(i + 1, 0);
        }
        self.buckets[i] = self.buckets[i].saturating_add(1);
        if let Some(slot) = self.first.get_mut(self.count as usize) {
            *slot = us;
        }
        self.min_us = if self.count == 0 {
            us
        } else {
            self.min_us.min(us)
        };
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// Whether [`Histogram::quantile`] is exact: a value recorded.
    pub fn is_exact(&self) -> bool {
        self.count <= EXACT_SAMPLES as u64
    }

    /// The q-quantile (0 < q <= 1) in microseconds, by nearest rank: the
    /// value of rank ceil(q * count). Exact up to [`EXACT_SAMPLES`] values;
    /// beyond, the middle of the bucket holding that rank, kept within the
    /// smallest and largest values seen. None when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if self.is_exact() {
            let mut values = self.first;
            let values = &mut values[..self.count as usize];
            values.sort_unstable();
            return Some(values[rank as usize - 1]);
        }
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                let (low, width) = Self::bounds(i);
                return Some((low + width / 2).clamp(self.min_us, self.max_us));
            }
        }
        Some(self.max_us)
    }

    /// Counts per power of two of microseconds: (low, high, count), the
    /// way bcc's tools draw latency distributions.
    pub fn log2_buckets(&self) -> Vec<(u64, u64, u64)> {
        let mut out: Vec<(u64, u64, u64)> = Vec::new();
        for (i, &n) in self.buckets.iter().enumerate() {
            let (low, _) = Self::bounds(i);
            let (lo, hi) = if low < 2 {
                (0, 1)
            } else {
                let p = 63 - low.leading_zeros();
                (1u64 << p, (1u64 << (p + 1)) - 1)
            };
            match out.last_mut() {
                Some(last) if last.0 == lo => last.2 += u64::from(n),
                _ => out.push((lo, hi, u64::from(n))),
            }
        }
        // Fill the gaps so the bars read as one distribution.
        let mut filled: Vec<(u64, u64, u64)> = Vec::new();
        for b in out {
            while let Some(last) = filled.last() {
                let next_lo = last.1 + 1;
                if next_lo >= b.0 {
                    break;
                }
                filled.push((next_lo, next_lo * 2 - 1, 0));
            }
            filled.push(b);
        }
        while filled.first().is_some_and(|b| b.2 == 0) {
            filled.remove(0);
        }
        filled
    }
}

/// Statistics of one server, name or client.
#[derive(Debug, Clone, Default)]
pub struct KeyStats {
    pub count: u64,
    pub answered: u64,
    pub sum_ns: u64,
    pub hist: Histogram<3>,
    pub rcodes: [u64; RCODE_SLOTS],
    last_seen: u64,
}

impl KeyStats {
    fn record(&mut self, tick: u64, t: &Transaction) {
        self.last_seen = tick;
        self.count += 1;
        self.rcodes[rcode_slot(t)] += 1;
        if let Some(ns) = t.answer_latency_ns() {
            self.answered += 1;
            self.sum_ns = self.sum_ns.saturating_add(ns);
            self.hist.record(ns / 1000);
        }
    }

    pub fn avg_us(&self) -> Option<u64> {
        (self.answered > 0).then(|| self.sum_ns / self.answered / 1000)
    }

    pub fn p95_us(&self) -> Option<u64> {
        self.hist.quantile(0.95)
    }

    pub fn max_us(&self) -> Option<u64> {
        (self.answered > 0).then(|| self.hist.max_us())
    }

    pub fn timeouts(&self) -> u64 {
        self.rcodes[TIMEOUT_SLOT]
    }

    /// No query answered, and some timed out: a dead server, a name
    /// nothing answers. It has no latency, yet is slower than any key
    /// that answered.
    pub fn unanswered(&self) -> bool {
        self.answered == 0 && self.timeouts() > 0
    }

    /// How a key ranks, slowest last, by `latency`, one of its statistics
    /// of answered queries: the keys whose queries all timed out above
    /// all others, the most timeouts first; then the rest by `latency`.
    pub fn slowness(&self, latency: Option<u64>) -> (bool, u64) {
        if self.unanswered() {
            (true, self.timeouts())
        } else {
            (false, latency.unwrap_or(0))
        }
    }

    /// Anything but NOERROR, timeouts and ICMP errors included.
    pub fn errors(&self) -> u64 {
        self.count - self.rcodes[usize::from(dns::NOERROR)]
    }
}

fn rcode_slot(t: &Transaction) -> usize {
    match (t.kind, t.rcode()) {
        (Kind::Unreachable, _) => UNREACHABLE_SLOT,
        (_, Some(r)) => usize::from(r).min(15),
        (_, None) => TIMEOUT_SLOT,
    }
}

/// A server as the views and the summary show it: its address, and its
/// port unless 53.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Server {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 53 {
            write!(f, "{}", self.ip)
        } else {
            write!(f, "{}:{}", self.ip, self.port)
        }
    }
}

/// Statistics per key of one kind, at most `max_keys` of them. Keys are
/// kept as they come (addresses, names), and written out only when shown.
#[derive(Debug, Clone)]
pub struct Dimension<K> {
    map: HashMap<K, KeyStats, KeyedHash>,
    max_keys: usize,
    tick: u64,
    pub evicted: u64,
}

impl<K: Hash + Eq> Dimension<K> {
    pub fn new(max_keys: usize) -> Dimension<K> {
        Dimension {
            map: HashMap::default(),
            max_keys: max_keys.max(8),
            tick: 0,
            evicted: 0,
        }
    }

    /// Counts `t` for `key`, which is copied only when new (a name is
    /// looked up as a `&str`).
    pub fn observe<Q>(&mut self, key: &Q, t: &Transaction)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.tick += 1;
        if let Some(s) = self.map.get_mut(key) {
            s.record(self.tick, t);
            return;
        }
        if self.map.len() >= self.max_keys {
            self.evict_oldest();
        }
        self.map
            .entry(key.to_owned())
            .or_default()
            .record(self.tick, t);
    }

    /// Drops the least recently seen eighth: one O(n) selection every n/8
    /// new keys keeps the cost per transaction constant on average.
    fn evict_oldest(&mut self) {
        let mut ages: Vec<u64> = self.map.values().map(|s| s.last_seen).collect();
        let k = (ages.len() / 8).max(1) - 1;
        let (_, cutoff, _) = ages.select_nth_unstable(k);
        let cutoff = *cutoff;
        let before = self.map.len();
        self.map.retain(|_, s| s.last_seen > cutoff);
        self.evicted += (before - self.map.len()) as u64;
    }
}

impl<K> Dimension<K> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &KeyStats)> {
        self.map.iter()
    }
}

/// Names in the summary's rankings over the whole run.
pub const RANKED_NAMES: usize = 5;

/// Counters of timeouts by name (space-saving): every name with more than
/// 1/1024 of the run's timeouts has one. Each name is held twice (the
/// heap and its index): about 150 KiB for names of usual lengths, 640 KiB
/// at most (names of 255 bytes).
pub const TIMEOUT_NAME_COUNTERS: usize = 1024;

/// What [`Aggregates::slowest_names`] tells of a name's slowest answer:
/// its query type and the server that gave it.
pub type SlowAnswer = (u16, Server);

/// Everything the views and the summary need.
#[derive(Debug, Clone)]
pub struct Aggregates {
    /// Transactions: answered, timed out, failed by an ICMP error.
    pub total: u64,
    pub timeouts: u64,
    pub unreachable: u64,
    pub errors: u64,
    /// Of the answered ones.
    pub latency: Histogram<5>,
    pub rcodes: [u64; RCODE_SLOTS],
    /// Transactions whose query DNAT delivered to a backend.
    pub translated: u64,
    /// Answers after their query's TIMEOUT; not transactions.
    pub late: u64,
    /// Second answers to answered queries, and how many of them had
    /// another rcode than the first; not transactions.
    pub duplicates: u64,
    pub duplicates_differing: u64,
    pub by_server: Dimension<Server>,
    /// By where the query was delivered (the backend behind DNAT, else
    /// the server asked), once DNAT was seen; read through
    /// [`Aggregates::by_backend`].
    by_backend: Dimension<Server>,
    pub by_name: Dimension<String>,
    pub by_client: Dimension<IpAddr>,
    /// By who sent the query (`namespace/pod`, a container, a unit), as
    /// attribution names it; "-" for no one known.
    pub by_pod: Dimension<String>,
    /// Over the whole run, unlike `by_name`, which keeps the names seen
    /// last: the names with the slowest answers (exact), and the names
    /// that timed out most (approximate beyond 1024 names).
    pub slowest_names: Slowest<SlowAnswer>,
    pub timeout_names: Frequent,
}

impl Aggregates {
    pub fn new(max_keys: usize) -> Aggregates {
        Aggregates {
            total: 0,
            timeouts: 0,
            unreachable: 0,
            errors: 0,
            latency: Histogram::default(),
            rcodes: [0; RCODE_SLOTS],
            translated: 0,
            late: 0,
            duplicates: 0,
            duplicates_differing: 0,
            by_server: Dimension::new(max_keys),
            by_backend: Dimension::new(max_keys),
            by_name: Dimension::new(max_keys),
            by_client: Dimension::new(max_keys),
            by_pod: Dimension::new(max_keys),
            slowest_names: Slowest::new(RANKED_NAMES),
            timeout_names: Frequent::new(TIMEOUT_NAME_COUNTERS),
        }
    }

    pub fn observe(&mut self, t: &Transaction) {
        match t.kind {
            Kind::Answered => {
                if let Some(ns) = t.answer_latency_ns() {
                    self.latency.record(ns / 1000);
                }
            }
            Kind::Timeout => self.timeouts += 1,
            Kind::Unreachable => self.unreachable += 1,
            // Facts about a transaction counted already.
            Kind::Late => {
                self.late += 1;
                return;
            }
            Kind::Duplicate => {
                self.duplicates += 1;
                self.duplicates_differing += u64::from(t.rcode_differs());
                return;
            }
            // Connections and announcements are no query to time.
            Kind::Announcement | Kind::Encrypted => return,
        }
        self.total += 1;
        let slot = rcode_slot(t);
        self.rcodes[slot] += 1;
        if slot != 0 {
            self.errors += 1;
        }
        let server = Server {
            ip: t.server,
            port: t.server_port,
        };
        let backend = match (t.backend_ip, t.backend_port) {
            (Some(ip), Some(port)) => Some(Server { ip, port }),
            _ => None,
        };
        // Until DNAT is seen, by backend is by server, key for key and
        // eviction for eviction: kept once, which spares hosts without NAT
        // a lookup per transaction. The first translated query forks it.
        if backend.is_some() && self.translated == 0 {
            self.by_backend = self.by_server.clone();
        }
        self.by_server.observe(&server, t);
        if let Some(backend) = backend {
            self.translated += 1;
            self.by_backend.observe(&backend, t);
        } else if self.translated > 0 {
            self.by_backend.observe(&server, t);
        }
        self.by_name.observe(t.qname.as_str(), t);
        self.by_client.observe(&t.client, t);
        if let Some(ns) = t.answer_latency_ns() {
            self.slowest_names
                .offer(ns / 1000, &t.qname, || (t.qtype, server));
        } else if t.is_timeout() {
            self.timeout_names.add(&t.qname);
        }
    }

    /// Counts a transaction by who sent it; after [`Aggregates::observe`].
    pub fn observe_who(&mut self, t: &Transaction, who: Option<&crate::attribution::Attribution>) {
        if t.kind.is_transaction() {
            let key = who.and_then(|w| w.label()).unwrap_or("-");
            self.by_pod.observe(key, t);
        }
    }

    /// By where the query was delivered: the backend behind DNAT, else
    /// the server asked.
    pub fn by_backend(&self) -> &Dimension<Server> {
        if self.translated == 0 {
            &self.by_server
        } else {
            &self.by_backend
        }
    }

    pub fn reset(&mut self) {
        *self = Aggregates::new(self.by_server.max_keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{bytes_of, raw};

    fn txn(name: &[u8], latency_us: Option<u64>, rflags: u16) -> Transaction {
        let mut ev = raw(name);
        match latency_us {
            Some(us) => ev.latency_ns = us * 1000,
            None => ev.kind = 1,
        }
        ev.rflags = rflags;
        Transaction::decode(&bytes_of(&ev)).unwrap()
    }

    #[test]
    fn histogram_quantiles_are_close() {
        let mut h: Histogram<5> = Histogram::default();
        for us in 1..=10_000u64 {
            h.record(us);
        }
        for (q, truth) in [(0.5, 5000.0), (0.95, 9500.0), (0.99, 9900.0)] {
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - truth).abs() / truth < 0.04, "q{q}: {got} vs {truth}");
        }
        assert_eq!(h.quantile(1.0), Some(10_000));
        assert_eq!(h.max_us(), 10_000);
        assert_eq!(Histogram::<5>::default().quantile(0.5), None);
        let mut one: Histogram<3> = Histogram::default();
        one.record(158);
        assert_eq!(one.quantile(0.95), Some(158), "one value is every quantile");
        // Every value maps into a bucket whose bounds contain it.
        for us in [0u64, 1, 31, 32, 33, 1000, 123_456, u32::MAX as u64] {
            let (low, width) = Histogram::<5>::bounds(Histogram::<5>::index(us));
            assert!(low <= us && us < low + width, "{us} in [{low}, +{width})");
        }
    }

    /// A handful of values: every quantile is one of them, by nearest
    /// rank (a bucket's middle, 2000 and 1000 here, is none of them).
    #[test]
    fn quantiles_of_a_few_values_are_values() {
        let mut h: Histogram<5> = Histogram::default();
        for us in [3001u64, 1003, 2011] {
            h.record(us);
        }
        assert_eq!(h.quantile(0.5), Some(2011));
        assert_eq!(h.quantile(0.3), Some(1003));
        assert_eq!(h.quantile(0.95), Some(3001));
        let mut coarse: Histogram<3> = Histogram::default();
        for us in [1003u64, 1150, 1190, 1230] {
            coarse.record(us);
        }
        assert_eq!(coarse.quantile(0.5), Some(1150));
        assert_eq!(coarse.quantile(0.75), Some(1190));
        assert_eq!(coarse.quantile(0.95), Some(1230));
        // Exact up to EXACT_SAMPLES values, by nearest rank.
        let mut h: Histogram<5> = Histogram::default();
        for i in (1..=EXACT_SAMPLES as u64).rev() {
            h.record(1000 + 7 * i);
        }
        assert!(h.is_exact());
        assert_eq!(h.quantile(0.5), Some(1000 + 7 * 8));
        assert_eq!(h.quantile(1.0), Some(1000 + 7 * 16));
        assert_eq!(h.quantile(0.01), Some(1007));
        // Then from the buckets: within their bounds.
        h.record(5000);
        assert!(!h.is_exact());
        let p50 = h.quantile(0.5).unwrap();
        assert!((1056..=1088).contains(&p50), "{p50}");
    }

    #[test]
    fn log2_buckets_cover_the_range() {
        let mut h: Histogram<5> = Histogram::default();
        for us in [3u64, 3, 200, 5000] {
            h.record(us);
        }
        let b = h.log2_buckets();
        assert_eq!(b.first(), Some(&(2, 3, 2)));
        assert!(b.contains(&(128, 255, 1)));
        assert!(b.contains(&(4096, 8191, 1)));
        // Contiguous, and counts add up.
        for w in b.windows(2) {
            assert_eq!(w[0].1 + 1, w[1].0);
        }
        assert_eq!(b.iter().map(|x| x.2).sum::<u64>(), 4);
    }

    #[test]
    fn aggregates_count_by_key_and_rcode() {
        let mut a = Aggregates::new(100);
        a.observe(&txn(b"\x01a\x00", Some(1000), 0x8180));
        a.observe(&txn(b"\x01a\x00", Some(3000), 0x8183));
        a.observe(&txn(b"\x01b\x00", None, 0));
        assert_eq!((a.total, a.timeouts, a.errors), (3, 1, 2));
        assert_eq!(a.rcodes[0], 1);
        assert_eq!(a.rcodes[3], 1);
        assert_eq!(a.rcodes[TIMEOUT_SLOT], 1);
        let (_, s) = a.by_name.iter().find(|(k, _)| *k == "a").unwrap();
        assert_eq!(s.count, 2);
        assert_eq!(s.avg_us(), Some(2000));
        assert_eq!(s.errors(), 1);
        let (k, srv) = a.by_server.iter().next().unwrap();
        assert_eq!(k.to_string(), "10.0.0.1");
        assert_eq!(srv.count, 3);
        assert_eq!(srv.timeouts(), 1);
        a.reset();
        assert_eq!(a.total, 0);
        assert!(a.by_name.is_empty());
    }

    /// Late and duplicate answers are counted apart, not as transactions
    /// again; an ICMP error is a transaction, an error without a latency.
    #[test]
    fn late_and_duplicate_answers_are_not_transactions_again() {
        let mut a = Aggregates::new(100);
        let decode = |f: &dyn Fn(&mut crate::kernel::abi::RawEvent)| {
            let mut ev = raw(b"\x01a\x00");
            ev.rflags = 0x8180;
            ev.latency_ns = 1_000_000;
            f(&mut ev);
            Transaction::decode(&bytes_of(&ev)).unwrap()
        };
        a.observe(&decode(&|_| {}));
        a.observe(&decode(&|e| e.kind = 1));
        a.observe(&decode(&|e| {
            e.kind = 4;
            e.latency_ns = 9_000_000_000;
        }));
        for first in [0, 2] {
            a.observe(&decode(&|e| {
                e.kind = 6;
                e.rflags = 0x8182;
                e.first_rcode = first;
                e.latency_ns = 50_000_000;
            }));
        }
        a.observe(&decode(&|e| {
            e.kind = 5;
            e.latency_ns = 100_000;
        }));
        assert_eq!((a.total, a.timeouts, a.unreachable), (3, 1, 1));
        assert_eq!((a.late, a.duplicates, a.duplicates_differing), (1, 2, 1));
        assert_eq!(a.errors, 2, "the timeout and the ICMP error");
        assert_eq!(a.rcodes[UNREACHABLE_SLOT], 1);
        assert_eq!(a.rcodes[2], 0, "no SERVFAIL transaction");
        assert_eq!(a.latency.count(), 1, "only the answer is timed");
        assert_eq!(a.latency.max_us(), 1000);
        for dim in [&a.by_server, a.by_backend()] {
            let (_, s) = dim.iter().next().unwrap();
            assert_eq!((s.count, s.answered, s.errors()), (3, 1, 2));
            assert_eq!(s.max_us(), Some(1000));
        }
        let (_, name) = a.by_name.iter().next().unwrap();
        assert_eq!(name.count, 3);
    }

    /// By backend: where DNAT delivered the query, else the server; one
    /// slow replica behind a VIP stands apart from the others.
    #[test]
    fn backends_behind_a_vip_apart() {
        let mut a = Aggregates::new(100);
        for i in 0..30u8 {
            let mut ev = raw(b"\x01a\x00");
            ev.server_addr[..4].copy_from_slice(&[10, 96, 0, 10]);
            ev.nat = 1;
            ev.backend_addr[..4].copy_from_slice(&[10, 244, 0, 2 + i % 3]);
            ev.backend_port = if i % 3 == 2 { 5353 } else { 53 };
            ev.latency_ns = if i % 3 == 1 { 80_000_000 } else { 1_000_000 };
            a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        }
        a.observe(&Transaction::decode(&bytes_of(&raw(b"\x01a\x00"))).unwrap());
        assert_eq!(a.translated, 30);
        assert_eq!(a.by_server.len(), 2, "the VIP and 10.0.0.1");
        let mut rows: Vec<(String, u64, Option<u64>)> = a
            .by_backend()
            .iter()
            .map(|(k, s)| (k.to_string(), s.count, s.p95_us()))
            .collect();
        rows.sort();
        assert_eq!(
            rows,
            [
                ("10.0.0.1".to_string(), 1, Some(2500)),
                ("10.244.0.2".to_string(), 10, Some(1000)),
                ("10.244.0.3".to_string(), 10, Some(80_000)),
                ("10.244.0.4:5353".to_string(), 10, Some(1000)),
            ]
        );
    }

    /// by_backend() before and after the first DNAT: by server until then,
    /// then the same rows, and the backends beside them.
    #[test]
    fn backends_fork_from_servers_at_the_first_dnat() {
        let mut a = Aggregates::new(16);
        for i in 0..40u8 {
            let mut ev = raw(b"\x01a\x00");
            ev.server_addr[3] = i;
            ev.latency_ns = u64::from(i) * 1000;
            a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        }
        let rows = |d: &Dimension<Server>| {
            let mut r: Vec<(String, u64, u64)> = d
                .iter()
                .map(|(k, s)| (k.to_string(), s.count, s.sum_ns))
                .collect();
            r.sort();
            r
        };
        let before = rows(a.by_backend());
        assert_eq!(before, rows(&a.by_server));
        assert!(a.by_server.evicted > 0, "evictions too");
        let mut ev = raw(b"\x01a\x00");
        ev.server_addr[..4].copy_from_slice(&[10, 96, 0, 10]);
        ev.nat = 1;
        ev.backend_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
        ev.backend_port = 53;
        a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        let mut ev = raw(b"\x01a\x00");
        ev.server_addr[3] = 39;
        a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        let after = rows(a.by_backend());
        assert!(after.iter().any(|r| r.0 == "10.244.2.2"), "{after:?}");
        assert!(!after.iter().any(|r| r.0 == "10.96.0.10"), "{after:?}");
        assert!(rows(&a.by_server).iter().any(|r| r.0 == "10.96.0.10"));
        let same = |k: &str| {
            let find = |r: &[(String, u64, u64)]| r.iter().find(|x| x.0 == k).cloned();
            (find(&after), find(&rows(&a.by_server)))
        };
        let (b, s) = same("10.0.0.39");
        assert_eq!(b, s);
        assert_eq!(b.map(|r| r.1), Some(2), "counted on both sides of the fork");
        a.reset();
        assert!(a.by_backend().is_empty() && a.translated == 0);
    }

    #[test]
    fn servers_show_their_port_unless_53() {
        let server = |ip: &str, port| {
            Server {
                ip: ip.parse().unwrap(),
                port,
            }
            .to_string()
        };
        assert_eq!(server("10.0.0.1", 53), "10.0.0.1");
        assert_eq!(server("10.0.0.1", 5353), "10.0.0.1:5353");
        assert_eq!(server("fd00::1", 53), "fd00::1");
        // Unbracketed, as the views have always shown it.
        assert_eq!(server("fd00::1", 5353), "fd00::1:5353");
        let mut a = Aggregates::new(100);
        let mut ev = raw(b"\x01a\x00");
        ev.server_port = 5300;
        a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        let (k, _) = a.by_server.iter().next().unwrap();
        assert_eq!(k.to_string(), "10.0.0.1:5300");
        let (k, _) = a.by_client.iter().next().unwrap();
        assert_eq!(k.to_string(), "10.0.0.2");
    }

    #[test]
    fn address_keys_are_bounded_too() {
        let mut a = Aggregates::new(16);
        for i in 0..200u8 {
            let mut ev = raw(b"\x01a\x00");
            ev.client_addr[3] = i;
            a.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        }
        assert!(a.by_client.len() <= 16);
        assert_eq!(a.by_client.evicted + a.by_client.len() as u64, 200);
        let newest: IpAddr = "10.0.0.199".parse().unwrap();
        assert!(a.by_client.iter().any(|(k, _)| *k == newest));
    }

    #[test]
    fn keys_are_bounded_and_the_oldest_go_first() {
        let mut a = Aggregates::new(16);
        a.observe(&txn(b"\x04keep\x00", Some(10), 0x8180));
        for i in 0..200u32 {
            let label = format!("n{i}");
            let mut wire = vec![label.len() as u8];
            wire.extend_from_slice(label.as_bytes());
            wire.push(0);
            a.observe(&txn(&wire, Some(10), 0x8180));
            // Seen again all along: never the least recent for long.
            a.observe(&txn(b"\x04keep\x00", Some(10), 0x8180));
        }
        assert!(a.by_name.len() <= 16);
        assert!(a.by_name.evicted >= 200 + 1 - 16);
        assert!(a.by_name.iter().any(|(k, _)| k == "keep"));
    }
}
