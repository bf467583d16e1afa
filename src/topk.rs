//! Rankings of names over a whole run in bounded memory, however many
//! distinct names go by: the aggregates' per-name statistics keep only the
//! names seen last, which a flood of distinct names (a random-subdomain
//! attack, a soak of millions of names) turns over in seconds, taking the
//! slowest and the failing names with it.
//!
//! - [`Slowest`]: the `capacity` keys with the largest value each has
//!   had, exactly, in `capacity` entries;
//! - [`Frequent`]: the keys seen most often (the names that timed out
//!   most), by the space-saving algorithm (Metwally, Agrawal and El Abbadi,
//!   "Efficient computation of frequent and top-k elements in data
//!   streams", 2005): `capacity` counters, and an error bound on each.

use std::collections::HashMap;

/// The maps' hasher: names anyone on the host can choose, so keyed, as
/// the aggregates' (see `aggregate::KeyedHash`).
type KeyedHash = foldhash::fast::RandomState;

/// One of [`Slowest`]'s keys: its largest value, and what `D` tells of
/// the time it had it.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak<D> {
    pub value: u64,
    pub key: String,
    pub detail: D,
}

/// The `capacity` keys with the largest values, each by its largest.
/// Exact: a key left out or dropped had a value no larger than the
/// smallest kept, which only grows, so when it comes back larger than
/// that, it is larger than anything it had before. Ties: the first seen
/// stays. A value no larger than the smallest kept (nearly every one,
/// once full) costs one comparison.
#[derive(Debug, Clone)]
pub struct Slowest<D> {
    peaks: Vec<Peak<D>>,
    capacity: usize,
    /// The smallest value kept once full; 0 until then.
    floor: u64,
}

impl<D> Slowest<D> {
    pub fn new(capacity: usize) -> Slowest<D> {
        Slowest {
            peaks: Vec::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
            floor: 0,
        }
    }

    /// Counts `value` for `key`; `detail` is called only when the value
    /// is kept.
    pub fn offer(&mut self, value: u64, key: &str, detail: impl FnOnce() -> D) {
        let full = self.peaks.len() == self.capacity;
        if full && value <= self.floor {
            return;
        }
        if let Some(p) = self.peaks.iter_mut().find(|p| p.key == key) {
            if value > p.value {
                p.value = value;
                p.detail = detail();
            }
        } else if !full {
            self.peaks.push(Peak {
                value,
                key: key.to_owned(),
                detail: detail(),
            });
        } else {
            let least = self
                .peaks
                .iter_mut()
                .min_by_key(|p| p.value)
                .expect("full, so not empty");
            least.value = value;
            least.key.clear();
            least.key.push_str(key);
            least.detail = detail();
        }
        if self.peaks.len() == self.capacity {
            self.floor = self.peaks.iter().map(|p| p.value).min().unwrap_or(0);
        }
    }

    /// Largest first, ties in the keys' order.
    pub fn ranked(&self) -> Vec<&Peak<D>> {
        let mut v: Vec<&Peak<D>> = self.peaks.iter().collect();
        v.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.key.cmp(&b.key)));
        v
    }

    pub fn len(&self) -> usize {
        self.peaks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peaks.is_empty()
    }
}

/// One of [`Frequent`]'s counters: the key's count, and how much of it
/// may belong to the keys whose counter it took over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub key: String,
    /// At least the key's true count, at most `error` more.
    pub count: u64,
    pub error: u64,
}

impl Counted {
    /// Certainly this many.
    pub fn at_least(&self) -> u64 {
        self.count - self.error
    }
}

/// The keys seen most often, in `capacity` counters (space-saving). A key
/// without a counter takes over the smallest, and counts on from it,
/// noting it as its error. Guarantees: a key seen more than
/// `total / capacity` times has a counter; a counter's key was seen
/// between `count - error` and `count` times. Exact until more than
/// `capacity` distinct keys were seen. O(log capacity) per key seen: the
/// counters are a binary min-heap, indexed by key.
#[derive(Debug, Clone)]
pub struct Frequent {
    heap: Vec<Counted>,
    position: HashMap<String, usize, KeyedHash>,
    capacity: usize,
    total: u64,
    /// Counters taken over: until then, every count is exact.
    replaced: u64,
}

impl Frequent {
    pub fn new(capacity: usize) -> Frequent {
        Frequent {
            heap: Vec::new(),
            position: HashMap::default(),
            capacity: capacity.max(1),
            total: 0,
            replaced: 0,
        }
    }

    pub fn add(&mut self, key: &str) {
        self.total += 1;
        if let Some(&i) = self.position.get(key) {
            self.heap[i].count += 1;
            self.sift_down(i);
            return;
        }
        if self.heap.len() < self.capacity {
            self.heap.push(Counted {
                key: key.to_owned(),
                count: 1,
                error: 0,
            });
            let last = self.heap.len() - 1;
            self.position.insert(key.to_owned(), last);
            self.sift_up(last);
            return;
        }
        self.replaced += 1;
        let least = &mut self.heap[0];
        self.position.remove(&least.key);
        least.error = least.count;
        least.count += 1;
        least.key.clear();
        least.key.push_str(key);
        self.position.insert(key.to_owned(), 0);
        self.sift_down(0);
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.heap.swap(i, j);
        for k in [i, j] {
            if let Some(p) = self.position.get_mut(&self.heap[k].key) {
                *p = k;
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[parent].count <= self.heap[i].count {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            for c in [l, r] {
                if c < self.heap.len() && self.heap[c].count < self.heap[least].count {
                    least = c;
                }
            }
            if least == i {
                return;
            }
            self.swap(i, least);
            i = least;
        }
    }

    /// The `n` keys certainly seen most (by `count - error`), ties by the
    /// larger count, then in the keys' order. Not by `count` alone: under
    /// a flood of keys seen once, each newcomer takes over the smallest
    /// counter, and its count, nearly all error, would top the list.
    pub fn top(&self, n: usize) -> Vec<&Counted> {
        let mut v: Vec<&Counted> = self.heap.iter().collect();
        v.sort_by(|a, b| {
            b.at_least()
                .cmp(&a.at_least())
                .then(b.count.cmp(&a.count))
                .then_with(|| a.key.cmp(&b.key))
        });
        v.truncate(n);
        v
    }

    /// Keys counted, all told.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether every count is exact: no counter was ever taken over.
    pub fn is_exact(&self) -> bool {
        self.replaced == 0
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the truth: each key's largest value, the `capacity`
    /// largest kept, whatever the order they come in.
    #[test]
    fn slowest_is_exact() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut truth: HashMap<String, u64> = HashMap::new();
        let mut s: Slowest<u64> = Slowest::new(5);
        for i in 0..20_000u64 {
            let key = format!("k{}", next() % 500);
            let value = next() % 1_000_000;
            let t = truth.entry(key.clone()).or_default();
            *t = (*t).max(value);
            s.offer(value, &key, || i);
            assert!(s.len() <= 5);
        }
        let mut want: Vec<(u64, String)> = truth.into_iter().map(|(k, v)| (v, k)).collect();
        want.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        want.truncate(5);
        let got: Vec<(u64, String)> = s
            .ranked()
            .into_iter()
            .map(|p| (p.value, p.key.clone()))
            .collect();
        assert_eq!(got, want);
    }

    /// A key dropped, back with a larger value; the detail of its largest;
    /// ties keep the first seen.
    #[test]
    fn slowest_keeps_each_keys_largest() {
        let mut s: Slowest<&str> = Slowest::new(2);
        s.offer(10, "a", || "a10");
        s.offer(20, "b", || "b20");
        s.offer(30, "c", || "c30"); // a goes
        s.offer(5, "b", || "b5"); // smaller than b's: no change
        s.offer(25, "a", || "a25"); // back, larger than before; b goes
        let got: Vec<(u64, &str, &str)> = s
            .ranked()
            .iter()
            .map(|p| (p.value, p.key.as_str(), p.detail))
            .collect();
        assert_eq!(got, [(30, "c", "c30"), (25, "a", "a25")]);
        s.offer(25, "d", || "d25"); // a tie with the smallest: a stays
        assert_eq!(s.ranked()[1].key, "a");
        let mut called = false;
        s.offer(1, "e", || {
            called = true;
            "e1"
        });
        assert!(!called, "the detail only of a value kept");
    }

    /// Exact while there are no more keys than counters.
    #[test]
    fn frequent_is_exact_until_full() {
        let mut f = Frequent::new(4);
        for k in ["a", "b", "a", "c", "a", "b", "d"] {
            f.add(k);
        }
        assert!(f.is_exact());
        let got: Vec<(&str, u64, u64)> = f
            .top(3)
            .iter()
            .map(|c| (c.key.as_str(), c.count, c.error))
            .collect();
        assert_eq!(got, [("a", 3, 0), ("b", 2, 0), ("c", 1, 0)]);
        assert_eq!(f.total(), 7);
    }

    /// The guarantees against the truth, under a flood of distinct keys
    /// with a few heavy ones among them: every key seen more than
    /// total/capacity times is kept, and its true count is within its
    /// counter's bounds; the counters stay `capacity`.
    #[test]
    fn frequent_keeps_the_heavy_under_a_flood() {
        let capacity = 256;
        let mut f = Frequent::new(capacity);
        let mut truth: HashMap<String, u64> = HashMap::new();
        let mut see = |f: &mut Frequent, key: String| {
            f.add(&key);
            *truth.entry(key).or_default() += 1;
        };
        for i in 0..50_000u64 {
            if i % 20 == 0 {
                see(&mut f, format!("heavy{}", i % 60 / 20));
            }
            if i % 1000 == 0 {
                see(&mut f, "early-then-steady".into());
            }
            see(&mut f, format!("flood{i}"));
            assert!(f.len() <= capacity);
        }
        assert!(!f.is_exact());
        assert_eq!(f.total(), truth.values().sum::<u64>());
        let threshold = f.total() / capacity as u64;
        for (key, &n) in &truth {
            let kept = f.heap.iter().find(|c| &c.key == key);
            if n > threshold {
                assert!(kept.is_some(), "{key} seen {n} > {threshold} times");
            }
            if let Some(c) = kept {
                assert!(c.at_least() <= n && n <= c.count, "{key}: {n} in {c:?}");
            }
        }
        assert!(threshold > 100, "a flood: {threshold}");
        let top: Vec<&str> = f.top(3).iter().map(|c| c.key.as_str()).collect();
        let mut top_sorted = top.clone();
        top_sorted.sort_unstable();
        assert_eq!(top_sorted, ["heavy0", "heavy1", "heavy2"], "{top:?}");
        // Exact counts for them: each had its counter from the start.
        assert!(f.top(3).iter().all(|c| c.error == 0 && c.count >= 833));
        // The index agrees with the heap.
        assert_eq!(f.position.len(), f.heap.len());
        for (i, c) in f.heap.iter().enumerate() {
            assert_eq!(f.position[&c.key], i);
            if i > 0 {
                assert!(f.heap[(i - 1) / 2].count <= c.count);
            }
        }
    }
}
