//! Suspicious transactions by client and registered domain: what the
//! table's suspicious view and the summary list.

use std::collections::HashMap;

use super::{domain, Suspicion};
use crate::attribution::Attribution;
use crate::record::Transaction;

/// Flagged transactions of one client under one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `namespace/pod` (or container, unit) when known, else the
    /// process name and the client's address, else the address.
    pub client: String,
    /// The site (one label under the public suffix, hosting suffixes
    /// included); the name itself when it has none; the server for a
    /// connection without a name (DoT).
    pub domain: String,
    pub count: u64,
    pub max_score: u8,
    /// Every kind given, as a bit set ([`super::kinds_of`]).
    pub kinds: u16,
    /// The newest reasons' texts, `; `-joined.
    pub last: String,
    pub last_mono_ns: u64,
}

/// At most `cap` (client, domain) pairs; later ones are counted only.
#[derive(Debug, Clone)]
pub struct Findings {
    /// By a hash of the pair, made without building its strings (they
    /// are built once, for a new pair).
    map: HashMap<u64, Finding, foldhash::fast::RandomState>,
    hasher: foldhash::fast::RandomState,
    /// The name in lowercase, reused.
    lower: String,
    cap: usize,
    /// Flagged transactions of pairs beyond the cap.
    pub other: u64,
    pub total: u64,
}

impl Findings {
    pub fn new(cap: usize) -> Findings {
        Findings {
            map: HashMap::default(),
            hasher: foldhash::fast::RandomState::default(),
            lower: String::new(),
            cap,
            other: 0,
            total: 0,
        }
    }

    pub fn observe(&mut self, t: &Transaction, who: Option<&Attribution>, s: &Suspicion) {
        use std::hash::{BuildHasher, Hash, Hasher};
        self.total += 1;
        let label = who.and_then(|w| w.label());
        self.lower.clear();
        self.lower.push_str(&t.qname);
        self.lower.make_ascii_lowercase();
        let site = domain::site(&self.lower);
        let mut h = self.hasher.build_hasher();
        match label {
            Some(l) => l.hash(&mut h),
            None => (t.comm.as_deref(), t.client).hash(&mut h),
        }
        match site {
            Some(d) => d.hash(&mut h),
            None if t.qname.is_empty() => t.server.hash(&mut h),
            None => self.lower.hash(&mut h),
        }
        let key = h.finish();
        if !self.map.contains_key(&key) && self.map.len() >= self.cap {
            self.other += 1;
            return;
        }
        let f = self.map.entry(key).or_insert_with(|| Finding {
            client: client_label(t, label),
            domain: match site {
                Some(d) => d.to_string(),
                None if t.qname.is_empty() => format!("(server {})", t.server),
                None => self.lower.clone(),
            },
            count: 0,
            max_score: 0,
            kinds: 0,
            last: String::new(),
            last_mono_ns: 0,
        });
        f.count += 1;
        f.max_score = f.max_score.max(s.score);
        f.kinds |= s.kinds();
        f.last.clear();
        for (i, r) in s.reasons.iter().enumerate() {
            if i > 0 {
                f.last.push_str("; ");
            }
            f.last.push_str(&r.text);
        }
        f.last_mono_ns = t.mono_ns;
    }

    /// The pairs, highest score first, then most flagged.
    pub fn ranked(&self) -> Vec<&Finding> {
        let mut v: Vec<&Finding> = self.map.values().collect();
        v.sort_by(|a, b| {
            (b.max_score, b.count, &a.client, &a.domain).cmp(&(
                a.max_score,
                a.count,
                &b.client,
                &b.domain,
            ))
        });
        v
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn reset(&mut self) {
        self.map.clear();
        self.other = 0;
        self.total = 0;
    }
}

fn client_label(t: &Transaction, label: Option<&str>) -> String {
    if let Some(label) = label {
        return label.to_string();
    }
    match &t.comm {
        Some(comm) => format!("{} {}", comm.as_str(), t.client),
        None => t.client.to_string(),
    }
}
