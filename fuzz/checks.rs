//! What the fuzz targets check. The same file is compiled into the corpus
//! test (tests/fuzz_corpus.rs), which runs every committed corpus file
//! through these functions with stable Rust, so a corpus regression fails
//! `cargo test` without a fuzzer.
//!
//! Every check panics on failure: that is how libFuzzer learns of a crash.

use std::collections::VecDeque;
use std::time::Duration;

use dnstrace::aggregate::Aggregates;
use dnstrace::kernel::Counters;
use dnstrace::output::{self, Clock};
use dnstrace::record::dns;
use dnstrace::record::{Kind, Transaction};
use dnstrace::summary::{self, RunFacts};
use dnstrace::tui::{self, Column, Status, View, ViewState};

/// 2026-11-27T18:00:00Z: a fixed clock makes every run reproducible.
const EPOCH_NS: i128 = 1_795_802_400 * 1_000_000_000;

/// Terminal widths the live table is drawn at: its narrowest and two usual.
const WIDTHS: [u16; 3] = [20, 80, 200];

/// No byte that a terminal would act on: no control byte, no DEL.
fn inert(s: &str) -> bool {
    s.bytes().all(|b| b >= 0x20 && b != 0x7f)
}

/// Printable ASCII without space: what an escaped name is made of.
fn printable(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// A ring-buffer record, as the kernel would send it: decoding may refuse
/// it, but must not panic; whatever it accepts must render as valid JSON
/// and as text a terminal cannot be steered by, in every output mode.
pub fn decode_record(data: &[u8]) {
    let Ok(t) = Transaction::decode(data) else {
        return;
    };
    assert!(printable(&t.qname), "qname not escaped: {:?}", t.qname);
    assert!(
        inert(&t.interface),
        "interface not escaped: {:?}",
        t.interface
    );
    if let Some(comm) = &t.comm {
        assert!(inert(comm), "comm not escaped: {comm:?}");
    }
    let clock = Clock::fixed(EPOCH_NS);

    let mut json = String::new();
    output::json_line(&t, &clock, &mut json);
    assert!(inert(&json), "control byte in the JSON line: {json:?}");
    let v: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the JSON line does not parse back ({e}): {json}"));
    for field in output::JSON_FIELDS {
        assert!(v.get(field).is_some(), "no {field} in {json}");
    }
    if t.kind == Kind::Encrypted {
        // A connection has no question and no id.
        assert!(v["qname"].is_null() && v["id"].is_null(), "{json}");
    } else {
        assert_eq!(v["qname"].as_str(), Some(t.qname.as_str()), "{json}");
        assert_eq!(v["id"].as_u64(), Some(u64::from(t.id)), "{json}");
    }
    assert_eq!(v["interface"].as_str(), Some(t.interface.as_str()));
    assert_eq!(v["comm"].as_str(), t.comm.as_deref(), "{json}");
    assert_eq!(v["client_ip"].as_str(), Some(t.client.to_string().as_str()));
    assert_eq!(v["server_port"].as_u64(), Some(u64::from(t.server_port)));
    assert_eq!(v["latency_ms"].is_null(), t.latency_ns.is_none(), "{json}");
    assert_eq!(v["kind"].as_str(), Some(t.kind.as_str()), "{json}");
    // What NAT did, and the ICMP error, only where the record says so.
    assert_eq!(v["backend_ip"].is_null(), t.backend_ip.is_none(), "{json}");
    assert_eq!(v["nat_ip"].is_null(), t.nat_ip.is_none(), "{json}");
    assert_eq!(v["icmp"].is_null(), t.kind != Kind::Unreachable, "{json}");
    assert_eq!(
        v["first_rcode"].is_null(),
        t.kind != Kind::Duplicate,
        "{json}"
    );

    let mut text = String::new();
    output::text_line(&t, &clock, &mut text);
    assert!(inert(&text), "control byte in the text line: {text:?}");
    assert!(text.contains(t.qname.as_str()), "{text}");

    // The live table and the exit summary draw from the same record.
    let mut agg = Aggregates::new(16);
    agg.observe(&t);
    let recent = VecDeque::from([t.clone()]);
    let mut state = ViewState::new(Column::defaults(), false);
    for _ in View::ALL {
        for width in WIDTHS {
            let lines = tui::render(&state, &recent, &agg, &Status::default(), &clock, width, 24);
            for line in &lines {
                assert!(inert(line), "control byte in the table: {line:?}");
                assert!(
                    line.chars().count() <= usize::from(width),
                    "{:?} view line wider than {width}: {line:?}",
                    state.view
                );
            }
        }
        state.view = state.view.next();
    }
    assert_eq!(state.view, View::Stream, "every view was drawn");
    let counters = Counters::default();
    let facts = RunFacts {
        counters: &counters,
        in_flight: 0,
        twins_left: 0,
        shown: 1,
        decode_errors: 0,
        elapsed: Duration::from_secs(1),
        verbose: 1,
    };
    let report = summary::render(&agg, &facts, true);
    for line in report.lines() {
        assert!(inert(line), "control byte in the summary: {line:?}");
    }
}

/// A wire-format name, as found in a packet: it may be refused, but never
/// with a panic; an accepted name is printable ASCII that reads back to
/// exactly the wire bytes it came from, at most 255 of them.
pub fn name(data: &[u8]) {
    const BEFORE: &str = "kept ";
    let mut out = String::from(BEFORE);
    let result = dns::write_name(data, &mut out);
    if let Err(e) = result {
        assert_eq!(out, BEFORE, "a refused name leaves the output as it was");
        assert_eq!(dns::name_to_string(data), Err(e));
        return;
    }
    let shown = out
        .strip_prefix(BEFORE)
        .expect("write_name appends to the output");
    assert!(printable(shown), "not printable ASCII: {shown:?}");
    assert_eq!(dns::name_to_string(data).as_deref(), Ok(shown));
    let wire = presentation_to_wire(shown)
        .unwrap_or_else(|| panic!("{shown:?} does not read back as a name"));
    assert!(wire.len() <= 255, "{} bytes on the wire", wire.len());
    assert_eq!(
        &data[..wire.len()],
        &wire[..],
        "{shown:?} reads back to other bytes"
    );
    // Each byte of a label takes one to four characters (`\DDD`); each
    // length byte but the first becomes a dot.
    assert!(
        shown.len() <= 4 * wire.len() && shown.len() + 2 >= wire.len(),
        "{} characters for {} wire bytes",
        shown.len(),
        wire.len()
    );
}

/// The wire form of a presentation name written the way dig and
/// `dns::write_name` escape it (`\.`, `\\`, `\DDD`); None if malformed.
pub fn presentation_to_wire(s: &str) -> Option<Vec<u8>> {
    if s == "." {
        return Some(vec![0]);
    }
    let mut wire = Vec::new();
    let mut label: Vec<u8> = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    let end_label = |wire: &mut Vec<u8>, label: &mut Vec<u8>| -> Option<()> {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        wire.push(label.len() as u8);
        wire.append(label);
        Some(())
    };
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                end_label(&mut wire, &mut label)?;
                i += 1;
            }
            b'\\' => {
                let next = *bytes.get(i + 1)?;
                if next.is_ascii_digit() {
                    let digits = std::str::from_utf8(bytes.get(i + 1..i + 4)?).ok()?;
                    if !digits.bytes().all(|d| d.is_ascii_digit()) {
                        return None;
                    }
                    label.push(digits.parse::<u8>().ok()?);
                    i += 4;
                } else {
                    label.push(next);
                    i += 2;
                }
            }
            b => {
                label.push(b);
                i += 1;
            }
        }
    }
    end_label(&mut wire, &mut label)?;
    wire.push(0);
    Some(wire)
}
