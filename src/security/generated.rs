//! Names that look generated: the registered label of a name (the
//! `xjw3kqpzt` of `a.xjw3kqpzt.com`) scored against English letter
//! sequences, as malware that derives its rendezvous names from the date
//! (a domain generation algorithm) makes labels no person would choose.
//!
//! The model is a table of trigram surprisals built at compile time from
//! Debian's `wamerican` word list (build.rs): -log2 P(c | a b), in
//! sixteenths of a bit, for each letter after the two before it, a digit,
//! a hyphen and the label's ends all counting as a word's edge. A label's
//! evidence is how many bits less likely its letters are under that model
//! than under letters drawn at random (log2 27 bits each), plus a cost for
//! each switch between letters and digits beyond the first (alphanumeric
//! generators switch often; `365online` or `web2go` once or twice). The
//! evidence grows with the length of the label, so that a long random
//! label is judged surely and a short one is left alone.
//!
//! Measured in `security::eval` on names made by fifteen published
//! generators and on about 1,850 registered domains of well-known
//! organisations: the letters' Shannon entropy and the longest consonant
//! run, added to the evidence there, moved the recall by about a point
//! either way at the same false-positive rate, within the noise of the
//! set, so they are not part of the score. Names of joined English words
//! (Suppobox) and of pronounceable syllables (Simda) mostly pass: letters
//! alone cannot tell them from ordinary names.

/// Symbols of the model: a to z, then the edge of a word.
const EDGE: usize = 26;
const SYMBOLS: usize = 27;

/// `SURPRISAL[(a * 27 + b) * 27 + c]`: the cost of c after a and b in
/// English words, in sixteenths of a bit (build.rs).
static SURPRISAL: &[u8; SYMBOLS * SYMBOLS * SYMBOLS] =
    include_bytes!(concat!(env!("OUT_DIR"), "/name_trigrams.bin"));

/// A letter drawn at random from the model's 27 symbols: log2 27 bits,
/// in sixteenths.
const RANDOM_LETTER: i32 = 76;

/// One letter costs at most this (10 bits): a rare junction in an ordinary
/// name (the `bn` of an acronym before a word) then weighs no more than a
/// few letters of a random label.
const MAX_LETTER: u8 = 160;

/// A letter is in a common trigram when it costs less than 6 bits (one
/// in 64); only for the reason given.
const COMMON: u8 = 96;

/// Each switch between letters and digits beyond the first: 3 bits.
const SWITCH: i32 = 48;

/// Labels this long or shorter are not judged: a handful of letters is
/// too little evidence (`qzx`, `hdfc` and `vzw` are someone's names).
const MIN_LEN: usize = 7;

/// Evidence (sixteenths of a bit) above which a label looks generated:
/// tuned on one half of the labelled names in `security::eval` to flag
/// about 0.5 % of the well-known names there, and measured on the other.
pub(crate) const THRESHOLD: i32 = 154;

/// How generated a registered domain's label looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// 0..=100: confidence that the label is generated: 50 at the
    /// threshold, 80 at 16 bits of evidence beyond it, 97 at 40 (a random
    /// label of 14 letters has about 30).
    pub score: u8,
    /// Short and human-readable, e.g. "looks generated: 2 of 14 letters
    /// in common English trigrams, 8.3 bits/char".
    pub reason: String,
}

/// What a label's letters say, before any judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evidence {
    /// Bits in sixteenths that the label is less likely as English than as
    /// random letters; negative for an English-like label.
    pub(crate) sixteenths: i32,
    pub(crate) letters: u32,
    /// Letters in common English trigrams (cost under 6 bits).
    pub(crate) common: u32,
    /// The letters' cost under the model, capped per letter, in
    /// sixteenths, with the cost of each run of them ending where it does.
    pub(crate) cost: u32,
    /// Switches between a letter and a digit next to it.
    pub(crate) switches: u32,
}

/// The cost of a run of letters ending after a and b: English words end
/// in a few ways, random letters anyhow.
fn word_end(a: usize, b: usize) -> u32 {
    u32::from(SURPRISAL[(a * SYMBOLS + b) * SYMBOLS + EDGE].min(MAX_LETTER))
}

/// The evidence of a label of at least [`MIN_LEN`] bytes of a to z, 0 to
/// 9 and `-`, not an IDN (`xn--`, whose encoded letters are no language):
/// None for any other.
pub(crate) fn evidence(label: &str) -> Option<Evidence> {
    let bytes = label.as_bytes();
    if bytes.len() < MIN_LEN || bytes.len() > 63 || bytes.starts_with(b"xn--") {
        return None;
    }
    let (mut a, mut b) = (EDGE, EDGE);
    let (mut letters, mut common, mut cost, mut switches) = (0u32, 0u32, 0u32, 0u32);
    // Runs of letters, each ending in a digit, a hyphen or the label's end.
    let mut ends = 0u32;
    // 0: none yet or a hyphen, 1: a letter, 2: a digit.
    let mut previous = 0u8;
    for &byte in bytes {
        let class = match byte {
            b'a'..=b'z' => {
                let c = (byte - b'a') as usize;
                let bits = SURPRISAL[(a * SYMBOLS + b) * SYMBOLS + c].min(MAX_LETTER);
                letters += 1;
                cost += u32::from(bits);
                common += u32::from(bits < COMMON);
                (a, b) = (b, c);
                1
            }
            b'0'..=b'9' | b'-' => {
                if b != EDGE {
                    cost += word_end(a, b);
                    ends += 1;
                }
                (a, b) = (EDGE, EDGE);
                if byte == b'-' {
                    0
                } else {
                    2
                }
            }
            _ => return None,
        };
        switches += u32::from(class != 0 && previous != 0 && class != previous);
        previous = class;
    }
    if b != EDGE {
        cost += word_end(a, b);
        ends += 1;
    }
    // Random letters would pay log2 27 bits for each letter and each end.
    let sixteenths = cost as i32 - RANDOM_LETTER * (letters + ends) as i32
        + SWITCH * switches.saturating_sub(1) as i32;
    Some(Evidence {
        sixteenths,
        letters,
        common,
        cost,
        switches,
    })
}

/// `label`: the leftmost label of a name's registered domain (e.g.
/// `xjw3kqpzt` of `a.xjw3kqpzt.com`), ASCII lowercase, at most 63 bytes.
/// None when it looks like an ordinary name, which is the common case: no
/// allocation then, and a table lookup per letter.
pub fn assess(label: &str) -> Option<Verdict> {
    let e = evidence(label)?;
    if e.sixteenths <= THRESHOLD {
        return None;
    }
    let beyond = (e.sixteenths - THRESHOLD) as f32 / 16.0;
    // Logistic in bits beyond the threshold: 8 bits double the odds.
    let score = 100.0 / (1.0 + (-beyond / 8.0).exp2());
    let mut reason = format!(
        "looks generated: {} of {} letters in common English trigrams, {:.1} bits/char",
        e.common,
        e.letters,
        e.cost as f32 / 16.0 / e.letters.max(1) as f32
    );
    if e.switches > 1 {
        reason.push_str(&format!(", {} letter-digit switches", e.switches));
    }
    Some(Verdict {
        score: score.round().min(100.0) as u8,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for label in [
            "google",
            "wikipedia",
            "kubernetes",
            "facebook",
            "cloudflare",
            "amazonaws",
            "googleusercontent",
            "stackoverflow",
            "my-service",
            "kube-system",
            "365online",
        ] {
            assert_eq!(assess(label), None, "{label}");
        }
    }

    #[test]
    fn random_letters_are_flagged() {
        for label in [
            "xjwkqpztrvbnmlqw",
            "qzkxvbnwprtlmdsg",
            "1mfbfoh1vdsrw9vl6xau1c8mi5",
            "kqvwzxjhgtrplmnb",
        ] {
            let verdict = assess(label).unwrap_or_else(|| panic!("{label} passed"));
            assert!(verdict.score >= 50, "{label}: {verdict:?}");
            assert!(
                verdict.reason.starts_with("looks generated: "),
                "{verdict:?}"
            );
        }
    }

    #[test]
    fn the_score_grows_with_the_evidence() {
        let shorter = assess("xjwkqpztrv").expect("10 random letters");
        let longer = assess("xjwkqpztrvbnmlqwhgdk").expect("20 random letters");
        assert!(longer.score > shorter.score, "{shorter:?} {longer:?}");
    }

    #[test]
    fn too_little_or_foreign_is_not_judged() {
        // Short: too few letters to tell.
        assert_eq!(evidence("xqzkvw"), None);
        // IDN: the punycode of a name in another script.
        assert_eq!(assess("xn--80ak6aa92e"), None);
        // Not a plain label.
        assert_eq!(evidence("xjwkqpz_trvb"), None);
        assert_eq!(evidence("XJWKQPZTRVB"), None);
        assert_eq!(evidence(&"q".repeat(64)), None);
    }

    #[test]
    fn digits_and_hyphens_are_word_edges() {
        // Each "web" is a word of its own: w, e and b from a word's start,
        // then the word's end.
        let cost = |a: usize, b: usize, c: usize| {
            u32::from(SURPRISAL[(a * SYMBOLS + b) * SYMBOLS + c].min(MAX_LETTER))
        };
        let (w, e, b) = (22, 4, 1);
        let web = cost(EDGE, EDGE, w) + cost(EDGE, w, e) + cost(w, e, b) + cost(e, b, EDGE);
        let split = evidence("web1web2web").unwrap();
        let hyphens = evidence("web-web-web").unwrap();
        assert_eq!(hyphens.cost, 3 * web);
        assert_eq!(split.cost, 3 * web);
        assert_eq!(split.letters, 9);
        assert_eq!(split.switches, 4);
        assert_eq!(hyphens.switches, 0);
        // Switches beyond the first cost 3 bits each.
        assert_eq!(split.sixteenths - hyphens.sixteenths, 3 * SWITCH);
        // Without edges, "bw" inside a word is another matter.
        assert_ne!(evidence("webwebweb").unwrap().cost, 3 * web);
    }
}
