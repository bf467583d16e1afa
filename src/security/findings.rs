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
    map: HashMap<(String, String), Finding>,
    cap: usize,
    /// Flagged transactions of pairs beyond the cap.
    pub other: u64,
    pub total: u64,
}

impl Findings {
    pub fn new(cap: usize) -> Findings {
        Findings {
            map: HashMap::new(),
            cap,
            other: 0,
            total: 0,
        }
    }

    pub fn observe(&mut self, t: &Transaction, who: Option<&Attribution>, s: &Suspicion) {
        self.total += 1;
        let client = client_label(t, who);
        let domain = domain_label(t);
        let key = (client, domain);
        if !self.map.contains_key(&key) && self.map.len() >= self.cap {
            self.other += 1;
            return;
        }
        let f = self.map.entry(key).or_insert_with_key(|(c, d)| Finding {
            client: c.clone(),
            domain: d.clone(),
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

fn client_label(t: &Transaction, who: Option<&Attribution>) -> String {
    if let Some(label) = who.and_then(|w| w.label()) {
        return label.to_string();
    }
    match &t.comm {
        Some(comm) => format!("{} {}", comm.as_str(), t.client),
        None => t.client.to_string(),
    }
}

fn domain_label(t: &Transaction) -> String {
    if t.qname.is_empty() {
        return format!("(server {})", t.server);
    }
    let lower = t.qname.to_ascii_lowercase();
    match domain::site(&lower) {
        Some(d) => d.to_string(),
        None => lower,
    }
}
