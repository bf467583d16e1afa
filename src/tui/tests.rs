//! Frames rendered from a few transactions: every view, the columns, the
//! widths, colour.

use std::collections::VecDeque;
use std::time::Duration;

use super::view::top;
use super::*;
use crate::aggregate::Aggregates;
use crate::output::{About, Clock};
use crate::record::tests::{bytes_of, raw};
use crate::record::Transaction;

const EPOCH: i128 = 1_795_802_400 * 1_000_000_000;

fn txn(name: &[u8], latency_us: Option<u64>, rflags: u16, server: [u8; 4]) -> Transaction {
    let mut ev = raw(name);
    match latency_us {
        Some(us) => ev.latency_ns = us * 1000,
        None => ev.kind = 1,
    }
    ev.rflags = rflags;
    ev.server_addr[..4].copy_from_slice(&server);
    Transaction::decode(&bytes_of(&ev)).unwrap()
}

/// The cut keeps the largest, ties in text order, the same rows as
/// sorting everything would give.
#[test]
fn top_rows_match_a_full_sort() {
    let mut agg = Aggregates::new(100);
    // Servers 10.0.0.1..=40, seen (i % 4) + 1 times: ties at the cut.
    for i in 1..=40u8 {
        for _ in 0..(i % 4) + 1 {
            agg.observe(&txn(b"\x01a\x00", Some(100), 0x8180, [10, 0, 0, i]));
        }
    }
    let mut all: Vec<(String, u64)> = agg
        .by_server
        .iter()
        .map(|(k, s)| (k.to_string(), s.count))
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for limit in [0, 1, 5, 10, 11, 39, 40, 100] {
        let got: Vec<(String, u64)> = top(&agg.by_server, |s| s.count, limit)
            .into_iter()
            .map(|(k, s)| (k, s.count))
            .collect();
        let want: Vec<(String, u64)> = all.iter().take(limit).cloned().collect();
        assert_eq!(got, want, "limit {limit}");
    }
}

fn data() -> crate::pipeline::Snapshot {
    let mut s = crate::pipeline::Snapshot {
        recent: VecDeque::new(),
        who: VecDeque::new(),
        suspicion: VecDeque::new(),
        agg: Aggregates::new(100),
        findings: None,
    };
    for t in [
        txn(
            b"\x03www\x07example\x03com\x00",
            Some(1200),
            0x8180,
            [10, 0, 0, 1],
        ),
        txn(
            b"\x02nx\x07example\x03com\x00",
            Some(900),
            0x8183,
            [10, 0, 0, 1],
        ),
        txn(
            b"\x04slow\x07example\x03com\x00",
            Some(250_000),
            0x8180,
            [10, 0, 0, 2],
        ),
        txn(b"\x04dead\x07example\x03com\x00", None, 0, [10, 0, 0, 2]),
    ] {
        s.agg.observe(&t);
        s.recent.push_back(t);
    }
    s
}

fn frame(state: &ViewState, width: u16, height: u16) -> Vec<String> {
    let status = Status {
        elapsed: Duration::from_secs(83),
        rate: 4.0,
        drops: 0,
        filters: "rcode NXDOMAIN".into(),
        warning: None,
    };
    let d = data();
    render(
        state,
        &d.recent,
        &d.agg,
        &status,
        &Clock::fixed(EPOCH),
        width,
        height,
    )
}

#[test]
fn stream_view_newest_first_with_every_default_column() {
    let state = ViewState::new(Column::defaults(), false);
    let f = frame(&state, 160, 10);
    assert!(f[0].contains("00:01:23"), "{}", f[0]);
    assert!(f[0].contains("4 shown"), "{}", f[0]);
    assert!(
        f[0].contains("1 timeouts") && f[0].contains("2 errors"),
        "{}",
        f[0]
    );
    assert!(f[0].contains("filters: rcode NXDOMAIN"), "{}", f[0]);
    for title in [
        "TIME", "PROCESS", "CLIENT", "SERVER", "PROTO", "ID", "TYPE", "NAME", "RCODE", "LATENCY",
    ] {
        assert!(f[1].contains(title), "{}", f[1]);
    }
    assert!(
        f[2].contains("dead.example.com") && f[2].contains("TIMEOUT"),
        "newest first: {}",
        f[2]
    );
    assert!(
        f[5].contains("www.example.com") && f[5].contains("NOERROR") && f[5].contains("1.20ms")
    );
    assert!(f[4].contains("NXDOMAIN"));
    assert_eq!(f.len(), 6);
    // Columns line up: the name starts at the same place on every row.
    let at = f[1].find("NAME").unwrap();
    for row in &f[2..] {
        assert_eq!(
            row.find("example.com")
                .map(|i| row[..i].rfind(' ').unwrap() + 1),
            Some(at),
            "{row}"
        );
    }
}

#[test]
fn narrow_terminals_shorten_names_not_the_layout() {
    let state = ViewState::new(Column::defaults(), false);
    let f = frame(&state, 100, 10);
    for line in &f {
        assert!(
            line.chars().count() <= 100,
            "{} chars: {line}",
            line.chars().count()
        );
    }
    assert!(f[2].contains('…') || f[2].contains("dead.example.com"));
    let tiny = frame(&state, 30, 4);
    assert_eq!(tiny.len(), 4);
    assert!(tiny.iter().all(|l| l.chars().count() <= 30), "{tiny:#?}");
}

#[test]
fn sort_by_latency_puts_timeouts_first() {
    let mut state = ViewState::new(Column::defaults(), false);
    state.sort = 1;
    let f = frame(&state, 160, 10);
    assert!(f[0].contains("sort: latency"));
    assert!(f[2].contains("TIMEOUT"), "{}", f[2]);
    assert!(f[3].contains("slow.example.com"), "{}", f[3]);
}

#[test]
fn latency_views() {
    let mut state = ViewState::new(Column::defaults(), false);
    state.view = View::Stream.next();
    assert_eq!(state.view, View::LatencyByServer);
    let f = frame(&state, 120, 10);
    assert!(f[0].contains("latency by server") && f[0].contains("sort: p95"));
    assert!(f[1].contains("SERVER") && f[1].contains("P95") && f[1].contains("TIMEOUTS"));
    // 10.0.0.2 has the slow one: first by p95.
    assert!(f[2].starts_with("10.0.0.2"), "{}", f[2]);
    assert!(f[3].starts_with("10.0.0.1"), "{}", f[3]);
    state.view = View::LatencyByName;
    state.sort = 3; // count
    let f = frame(&state, 120, 10);
    assert!(f[0].contains("sort: count"));
    assert_eq!(f.len(), 6);
    state.view = View::LatencyByClient;
    let f = frame(&state, 120, 10);
    assert!(f[2].starts_with("10.0.0.2 "), "the client: {}", f[2]);
    assert!(f[2].contains(" 4 "), "{}", f[2]);
}

#[test]
fn rcode_views_draw_stacked_bars() {
    let mut state = ViewState::new(Column::defaults(), false);
    state.view = View::RcodesByServer;
    let f = frame(&state, 120, 10);
    assert!(f.iter().all(|l| l.chars().count() <= 120));
    assert!(f[1].contains("NXDOMAIN") && f[1].contains("BAR"));
    assert!(f.last().unwrap().contains("N NXDOMAIN"), "legend: {f:#?}");
    let one = f.iter().find(|l| l.starts_with("10.0.0.1")).unwrap();
    assert!(
        one.contains(&"=".repeat(15)) && one.contains(&"N".repeat(15)),
        "{one}"
    );
    let two = f.iter().find(|l| l.starts_with("10.0.0.2")).unwrap();
    assert!(two.contains('T'), "{two}");
    assert_eq!(state.view.next().next(), View::LatencyByBackend);
    assert_eq!(View::LatencyByPod.next(), View::Suspicious);
    assert_eq!(View::Suspicious.next(), View::Stream);
}

#[test]
fn help_and_pause() {
    let mut state = ViewState::new(Column::defaults(), false);
    state.paused = true;
    assert!(frame(&state, 160, 10)[0].contains("PAUSED"));
    state.help = true;
    let f = frame(&state, 160, 20);
    assert!(f.iter().any(|l| l.contains("pause or resume")));
    assert!(f.iter().any(|l| l.contains("next view")));
}

#[test]
fn columns_from_json_fields() {
    let cols: Vec<Column> = ["time", "qname", "server_ip", "flags", "netns"]
        .iter()
        .map(|c| Column::parse(c).unwrap())
        .collect();
    let state = ViewState::new(cols, false);
    let f = frame(&state, 160, 10);
    assert!(
        f[1].contains("SERVER_IP") && f[1].contains("FLAGS"),
        "{}",
        f[1]
    );
    assert!(
        f[5].contains("10.0.0.1") && f[5].contains("rd,ra"),
        "{}",
        f[5]
    );
    assert!(Column::parse("bogus")
        .unwrap_err()
        .contains("unknown column"));
}

#[test]
fn rcode_colours_by_outcome() {
    use comfy_table::Color;
    let clock = Clock::fixed(EPOCH);
    let name = b"\x01a\x00";
    // A DoT or DoQ connection: whatever its flags, not a DNS outcome.
    let mut encrypted = txn(name, Some(100), 0x8180, [10, 0, 0, 1]);
    encrypted.kind = crate::record::Kind::Encrypted;
    let mut unreachable = txn(name, Some(100), 0, [10, 0, 0, 1]);
    unreachable.kind = crate::record::Kind::Unreachable;
    unreachable.rflags = None;
    for (t, want) in [
        (txn(name, Some(100), 0x8180, [10, 0, 0, 1]), Color::Green),
        (txn(name, Some(100), 0x8183, [10, 0, 0, 1]), Color::Yellow),
        (txn(name, Some(100), 0x8182, [10, 0, 0, 1]), Color::Red),
        (txn(name, Some(100), 0x8185, [10, 0, 0, 1]), Color::Red),
        (txn(name, None, 0, [10, 0, 0, 1]), Color::Red),
        (txn(name, Some(100), 0x8181, [10, 0, 0, 1]), Color::Magenta),
        (txn(name, Some(100), 0x818c, [10, 0, 0, 1]), Color::Magenta),
        (encrypted, Color::Magenta),
        (unreachable, Color::Red),
    ] {
        let (text, color) = super::columns::cell(&t, About::default(), &Column::Rcode, &clock);
        assert_eq!(color, Some(want), "{text}");
    }
}

#[test]
fn colour_only_when_asked() {
    let plain = frame(&ViewState::new(Column::defaults(), false), 160, 10);
    assert!(plain.iter().all(|l| !l.contains('\x1b')));
    let colored = frame(&ViewState::new(Column::defaults(), true), 160, 10);
    assert!(colored.iter().any(|l| l.contains('\x1b')));
}

/// The stream view's server cell names the backend behind a VIP, and its
/// name cell marks late and duplicate answers, as the text lines do.
#[test]
fn stream_view_shows_nat_and_marks() {
    let mut recent = VecDeque::new();
    let mut ev = raw(b"\x03www\x07example\x03com\x00");
    ev.server_addr[..4].copy_from_slice(&[10, 96, 0, 10]);
    ev.nat = 1;
    ev.backend_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
    ev.backend_port = 53;
    recent.push_back(Transaction::decode(&bytes_of(&ev)).unwrap());
    ev.kind = 6;
    ev.first_rcode = 0;
    recent.push_back(Transaction::decode(&bytes_of(&ev)).unwrap());
    let state = ViewState::new(Column::defaults(), false);
    let f = render(
        &state,
        &recent,
        &Aggregates::new(10),
        &Status::default(),
        &Clock::fixed(EPOCH),
        200,
        10,
    );
    assert!(f[2].contains("10.96.0.10:53→10.244.2.2"), "{}", f[2]);
    assert!(
        f[2].contains("www.example.com (duplicate, first NOERROR)"),
        "{}",
        f[2]
    );
    assert!(f[3].contains("10.96.0.10:53→10.244.2.2"), "{}", f[3]);
    assert!(!f[3].contains("duplicate"), "{}", f[3]);
}

/// Behind one VIP, a slow replica stands out in the backend view, first
/// by p95; late and duplicate answers add to no row.
#[test]
fn backend_view_sets_a_slow_replica_apart() {
    let mut agg = Aggregates::new(100);
    for i in 0..30u8 {
        let mut ev = raw(b"\x01a\x00");
        ev.server_addr[..4].copy_from_slice(&[10, 96, 0, 10]);
        ev.nat = 1;
        ev.backend_addr[..4].copy_from_slice(&[10, 244, i % 3, 2]);
        ev.backend_port = 53;
        ev.rflags = 0x8180;
        ev.latency_ns = if i % 3 == 1 { 120_000_000 } else { 800_000 };
        agg.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
        ev.kind = if i % 2 == 0 { 4 } else { 6 };
        agg.observe(&Transaction::decode(&bytes_of(&ev)).unwrap());
    }
    agg.observe(&txn(b"\x01a\x00", Some(300), 0x8180, [10, 0, 0, 53]));
    let mut state = ViewState::new(Column::defaults(), false);
    state.view = View::LatencyByBackend;
    let draw = |state: &ViewState, agg: &Aggregates| {
        render(
            state,
            &VecDeque::new(),
            agg,
            &Status::default(),
            &Clock::fixed(EPOCH),
            120,
            10,
        )
    };
    let f = draw(&state, &agg);
    assert!(f[0].contains("latency by backend") && f[0].contains("sort: p95"));
    assert!(
        f[0].contains("31 shown"),
        "late and duplicate apart: {}",
        f[0]
    );
    assert!(
        f[1].starts_with("BACKEND") && f[1].contains("P95"),
        "{}",
        f[1]
    );
    assert!(
        f[2].starts_with("10.244.1.2 "),
        "the slow one first: {}",
        f[2]
    );
    assert!(
        f[2].contains(" 10 ") && f[2].contains("120.0ms"),
        "{}",
        f[2]
    );
    assert!(f[3].starts_with("10.244."), "{}", f[3]);
    assert!(f[4].starts_with("10.244."), "{}", f[4]);
    assert!(
        f[5].starts_with("10.0.0.53 "),
        "no DNAT: the server: {}",
        f[5]
    );
    assert_eq!(f.len(), 6);
    // The server view has the VIP as one row.
    state.view = View::LatencyByServer;
    let f = draw(&state, &agg);
    assert!(
        f[2].starts_with("10.96.0.10 ") && f[2].contains(" 30 "),
        "{}",
        f[2]
    );
}

#[test]
fn help_names_the_backend_key() {
    let mut state = ViewState::new(Column::defaults(), false);
    state.help = true;
    let f = frame(&state, 160, 20);
    assert!(f
        .iter()
        .any(|l| l.trim_start().starts_with("b ") && l.contains("latency by backend")));
}

/// A dead server (every query timed out) has no latency, yet is the
/// slowest: first by p95, avg and max, the most timeouts first, above the
/// server whose answers are slow.
#[test]
fn latency_views_put_a_dead_server_first() {
    let mut agg = data().agg;
    for (server, times) in [([10, 0, 0, 3], 1), ([10, 0, 0, 4], 2)] {
        for _ in 0..times {
            agg.observe(&txn(b"\x01a\x00", None, 0, server));
        }
    }
    let mut state = ViewState::new(Column::defaults(), false);
    state.view = View::LatencyByServer;
    for sort in ["p95", "avg", "max"] {
        let f = render(
            &state,
            &VecDeque::new(),
            &agg,
            &Status::default(),
            &Clock::fixed(EPOCH),
            120,
            10,
        );
        assert!(f[0].contains(&format!("sort: {sort}")), "{}", f[0]);
        let servers: Vec<&str> = f[2..]
            .iter()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            servers,
            ["10.0.0.4", "10.0.0.3", "10.0.0.2", "10.0.0.1"],
            "sort: {sort}\n{f:#?}"
        );
        assert!(
            f[2].contains(" 2 ") && f[2].contains(" - "),
            "no latency, two timeouts: {}",
            f[2]
        );
        state.sort += 1;
    }
}

/// Sorted by time: by when each query was seen, the time the rows show,
/// newest first; not by when the transaction arrived (a timeout arrives
/// after its timeout, behind queries sent after it).
#[test]
fn sort_by_time_is_by_the_query_time() {
    let mut recent = VecDeque::new();
    // In the order they arrive: each is reported when it ends.
    for (name, seen_s, latency_us) in [
        (&b"\x05first\x00"[..], 1, Some(1000)),
        (b"\x05third\x00", 3, Some(1000)),
        (b"\x06second\x00", 2, None),
    ] {
        let mut t = txn(name, latency_us, 0x8180, [10, 0, 0, 1]);
        t.mono_ns = seen_s * 1_000_000_000;
        recent.push_back(t);
    }
    let state = ViewState::new(Column::defaults(), false);
    let f = render(
        &state,
        &recent,
        &Aggregates::new(10),
        &Status::default(),
        &Clock::fixed(EPOCH),
        160,
        10,
    );
    assert!(f[0].contains("sort: time"), "{}", f[0]);
    let row_of = |name: &str| f.iter().position(|l| l.contains(name)).unwrap();
    let order: Vec<usize> = ["first", "second", "third"].map(row_of).to_vec();
    assert_eq!(order, [4, 3, 2], "third, second, first: {f:#?}");
    // The TIME column says so too.
    let times: Vec<&str> = f[2..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "{f:#?}");
    assert_ne!(times.first(), times.last(), "{f:#?}");
}

/// Who sent them: the stream's process column and the view by pod.
#[test]
fn latency_by_pod_and_who_in_the_stream() {
    use crate::attribution::Attribution;
    use std::sync::Arc;
    let pod = Arc::new(
        Attribution {
            pod: Some("web-0".into()),
            namespace: Some("shop".into()),
            ..Default::default()
        }
        .labelled(),
    );
    let mut d = data();
    d.agg = Aggregates::new(100);
    for (i, t) in d.recent.iter().enumerate() {
        // The first two from the pod, the others from no one known.
        let who = (i < 2).then(|| pod.clone());
        d.agg.observe(t);
        d.agg.observe_who(t, who.as_deref());
        d.who.push_back(who);
    }
    let status = Status::default();
    let clock = Clock::fixed(EPOCH);
    let mut state = ViewState::new(Column::defaults(), false);
    let stream = render_of(&state, &d.table_data(), &status, &clock, 160, 20);
    let www = stream
        .iter()
        .find(|l| l.contains("www.example.com"))
        .unwrap();
    assert!(www.contains("shop/web-0:dig[4242]"), "{www}");
    let dead = stream
        .iter()
        .find(|l| l.contains("dead.example.com"))
        .unwrap();
    assert!(!dead.contains("shop/web-0"), "{dead}");

    state.view = View::LatencyByPod;
    let lines = render_of(&state, &d.table_data(), &status, &clock, 160, 20);
    assert!(lines[0].contains("latency by pod"), "{}", lines[0]);
    let row = |key: &str| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in {lines:#?}"))
            .split_whitespace()
            .nth(1)
            .map(String::from)
    };
    assert_eq!(row("shop/web-0").as_deref(), Some("2"), "count");
    assert_eq!(row("- ").as_deref(), Some("2"), "count");
    assert_eq!(View::LatencyByBackend.next(), View::LatencyByPod);
}
