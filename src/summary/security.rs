//! The exit summary's security section: how many transactions the
//! signals flagged, for which reasons, and the worst clients and domains.

use std::fmt::Write;

use crate::security::findings::Findings;
use crate::security::{kinds_of, Kind, Stats};

/// Findings listed at most.
const LISTED: usize = 5;

/// The security section. Always printed when the signals are on (`0
/// suspicious` says nothing was flagged); the windows dropped to stay
/// within `--security-max-keys` are counted, not silent.
pub fn security(stats: &Stats, findings: &Findings) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "dnstrace: security: {} suspicious of {} transactions assessed",
        stats.flagged, stats.assessed,
    );
    let reasons: Vec<String> = Kind::ALL
        .iter()
        .zip(&stats.by_kind)
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{} {n}", k.as_str()))
        .collect();
    if !reasons.is_empty() {
        let _ = write!(out, " ({})", reasons.join(", "));
    }
    if stats.domains_evicted > 0 || stats.clients_evicted > 0 {
        let _ = write!(
            out,
            "; windows dropped at the cap: {} domains, {} clients",
            stats.domains_evicted, stats.clients_evicted,
        );
    }
    out.push('\n');
    for f in findings.ranked().into_iter().take(LISTED) {
        let kinds: Vec<&str> = kinds_of(f.kinds).map(|k| k.as_str()).collect();
        let _ = writeln!(
            out,
            "dnstrace: suspicious: {} -> {}: {} flagged, score {} ({}): {}",
            f.client,
            f.domain,
            f.count,
            f.max_score,
            kinds.join(","),
            f.last,
        );
    }
    if findings.other > 0 {
        let _ = writeln!(
            out,
            "dnstrace: ({} suspicious transactions of clients and domains beyond the first {} are counted but not listed)",
            findings.other,
            crate::pipeline::MAX_KEYS,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::{Reason, Suspicion};
    use crate::testing::fixtures::{bytes_of, record, wire};

    #[test]
    fn names_the_reasons_and_the_worst_pairs() {
        let t = crate::record::Transaction::decode(&bytes_of(&record(&wire(&[
            b"x1", b"tunnel", b"test",
        ]))))
        .unwrap();
        let mut findings = Findings::new(16);
        let s = Suspicion {
            score: 90,
            reasons: vec![Reason {
                kind: Kind::UniqueSubdomains,
                text: "over 100 unique names under tunnel.test in 1h".into(),
            }],
        };
        findings.observe(&t, None, &s);
        findings.observe(&t, None, &s);
        let mut stats = Stats {
            assessed: 10,
            flagged: 2,
            ..Stats::default()
        };
        stats.by_kind[Kind::UniqueSubdomains as usize] = 2;
        let text = security(&stats, &findings);
        assert_eq!(
            text,
            "dnstrace: security: 2 suspicious of 10 transactions assessed (unique_subdomains 2)\n\
             dnstrace: suspicious: dig 10.0.0.2 -> tunnel.test: 2 flagged, score 90 \
             (unique_subdomains): over 100 unique names under tunnel.test in 1h\n"
        );
        stats.domains_evicted = 3;
        assert!(security(&stats, &Findings::new(1))
            .contains("windows dropped at the cap: 3 domains, 0 clients"));
    }
}
