//! JSON string escaping: quotes, backslashes and control bytes, checked
//! eight bytes at a time.

/// Appends a JSON string: quotes, and escapes for quotes, backslashes and
/// control bytes (names are escaped already; this keeps JSON valid anyway).
/// A string with nothing to escape, as a rule, is checked eight bytes at a
/// time and copied at once; bytes of multi-byte characters are never
/// escaped.
pub(super) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    if needs_json_escape(s.as_bytes()) {
        let mut plain = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                0..0x20 => "\\u00",
                _ => continue,
            };
            out.push_str(&s[plain..i]);
            out.push_str(escape);
            if b < 0x20 {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            plain = i + 1;
        }
        out.push_str(&s[plain..]);
    } else {
        out.push_str(s);
    }
    out.push('"');
}

fn needs_json_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        if any_needs_json_escape(u64::from_le_bytes(word.try_into().expect("eight bytes"))) {
            return true;
        }
    }
    // The last bytes, padded with spaces (which need no escape).
    let rest = words.remainder();
    let mut last = [b' '; 8];
    last[..rest.len()].copy_from_slice(rest);
    any_needs_json_escape(u64::from_le_bytes(last))
}

/// Whether any of the eight bytes in `word` is a quote, a backslash or a
/// control byte. Each test is exact for the word as a whole (bit tricks
/// from "Bit Twiddling Hacks": a byte below n, for n <= 128; a zero byte).
fn any_needs_json_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let below = |n: u64| word.wrapping_sub(ONES * n) & !word & HIGH_BITS;
    let equal = |b: u64| {
        let x = word ^ (ONES * b);
        x.wrapping_sub(ONES) & !x & HIGH_BITS
    };
    below(0x20) | equal(u64::from(b'"')) | equal(u64::from(b'\\')) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// The escaping json_str did character by character before its fast
    /// path.
    fn json_str_by_char(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn json_str_escapes_as_before() {
        let mut out = String::new();
        json_str(&mut out, "a\"b\\c\u{0}\u{1f} \u{7f}é\u{1d11e}\n\t");
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\u0000\\u001f \u{7f}é\u{1d11e}\\u000a\\u0009\""
        );
        // Every character up to 0x3ff alone, in pairs and inside a run.
        let chars: Vec<char> = (0..0x400).filter_map(char::from_u32).collect();
        let mut cases: Vec<String> = vec![String::new(), chars.iter().collect()];
        for &a in &chars {
            cases.push(a.to_string());
            cases.push(format!("ab{a}cd"));
            // At every place in and around the words read at once.
            for at in 0..=17 {
                let mut s: String = "abcdefghijklmnopq".into();
                s.insert(at, a);
                cases.push(s);
            }
            for &b in chars.iter().step_by(7) {
                cases.push(format!("{a}{b}"));
            }
        }
        for s in cases {
            out.clear();
            json_str(&mut out, &s);
            assert_eq!(out, json_str_by_char(&s), "{s:?}");
        }
    }

    /// The word-at-a-time test agrees with the byte-by-byte one for every
    /// byte value at every place, beside every other.
    #[test]
    fn escape_test_reads_every_byte_of_a_word() {
        let needs = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        for b in 0..=255u8 {
            for fill in 0..=255u8 {
                for at in 0..8 {
                    let mut word = [fill; 8];
                    word[at] = b;
                    assert_eq!(
                        any_needs_json_escape(u64::from_le_bytes(word)),
                        needs(b) || needs(fill),
                        "{word:?}"
                    );
                }
            }
        }
    }
}
