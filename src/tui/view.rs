//! The views and their state, and the rendering of a frame: the status
//! line, then the transactions or the aggregates the view shows.

use std::collections::VecDeque;
use std::fmt::Display;
use std::time::Duration;

use comfy_table::Color;
use crossterm::style::{self, Stylize};

use super::columns::{cell, latency_color, Column};
use super::table::{shorten, table_lines, CellText};
use crate::aggregate::{Aggregates, Dimension, KeyStats, TIMEOUT_SLOT};
use crate::output::{self, About, Clock};
use crate::pipeline::TableData;
use crate::record::{dns, Transaction};
use crate::security::findings::Findings;
use crate::security::kinds_of;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Stream,
    LatencyByServer,
    LatencyByName,
    LatencyByClient,
    RcodesByServer,
    RcodesByName,
    /// By where the query was delivered: behind a Service's VIP, each
    /// backend apart; else the server asked.
    LatencyByBackend,
    /// By who sent the query: `namespace/pod`, a container, a unit.
    LatencyByPod,
    /// One row per lookup (with --lookups); its own key, `l`.
    Lookups,
    /// Suspicious transactions by client and registered domain; its own
    /// key, `x`.
    Suspicious,
}

impl View {
    /// In the order `t` cycles through them; the backend view, which has
    /// its own key, last.
    pub const ALL: [View; 9] = [
        View::Stream,
        View::LatencyByServer,
        View::LatencyByName,
        View::LatencyByClient,
        View::RcodesByServer,
        View::RcodesByName,
        View::LatencyByBackend,
        View::LatencyByPod,
        View::Suspicious,
    ];

    pub fn next(self) -> View {
        let i = View::ALL.iter().position(|v| *v == self).unwrap_or(0);
        View::ALL[(i + 1) % View::ALL.len()]
    }

    pub fn title(self) -> &'static str {
        match self {
            View::Stream => "transactions",
            View::LatencyByServer => "latency by server",
            View::LatencyByName => "latency by name",
            View::LatencyByClient => "latency by client",
            View::RcodesByServer => "response codes by server",
            View::RcodesByName => "response codes by name",
            View::LatencyByBackend => "latency by backend",
            View::LatencyByPod => "latency by pod",
            View::Lookups => "lookups",
            View::Suspicious => "suspicious",
        }
    }

    /// The orders `s` cycles through, first is the default.
    pub fn sort_keys(self) -> &'static [SortKey] {
        use SortKey::*;
        match self {
            View::Stream => &[Time, Latency],
            View::LatencyByServer
            | View::LatencyByName
            | View::LatencyByClient
            | View::LatencyByBackend
            | View::LatencyByPod => &[P95, Avg, Max, Count, Errors],
            View::RcodesByServer | View::RcodesByName => &[Total, Errors],
            View::Lookups => &[Time, Latency, Queries],
            View::Suspicious => &[Score, Count],
        }
    }
}

/// What a view is sorted by, largest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Transactions, newest first.
    Time,
    /// Transactions, slowest first (timeouts before all).
    Latency,
    /// Aggregates by their 95th percentile latency.
    P95,
    /// Aggregates by their mean latency.
    Avg,
    /// Aggregates by their slowest answer.
    Max,
    /// Aggregates by their number of transactions (the latency views).
    Count,
    /// The same, as the response code views call it.
    Total,
    /// Aggregates by their transactions answered otherwise than NOERROR,
    /// timeouts included.
    Errors,
    /// Lookups by the queries each took.
    Queries,
    /// Suspicious findings by their highest score.
    Score,
}

impl SortKey {
    /// As the status line shows it.
    pub fn title(self) -> &'static str {
        match self {
            SortKey::Time => "time",
            SortKey::Latency => "latency",
            SortKey::P95 => "p95",
            SortKey::Avg => "avg",
            SortKey::Max => "max",
            SortKey::Count => "count",
            SortKey::Total => "total",
            SortKey::Errors => "errors",
            SortKey::Queries => "queries",
            SortKey::Score => "score",
        }
    }

    /// What an aggregate's row ranks by, largest first. By a latency, a
    /// key whose queries all timed out has none, yet is the slowest: it
    /// ranks first ([`KeyStats::slowness`]). The stream's keys order
    /// transactions, not aggregates, and no aggregate view offers them;
    /// they rank by the default, the p95.
    fn rank(self, s: &KeyStats) -> (bool, u64) {
        match self {
            SortKey::Avg => s.slowness(s.avg_us()),
            SortKey::Max => s.slowness(s.max_us()),
            SortKey::Count | SortKey::Total => (false, s.count),
            SortKey::Errors => (false, s.errors()),
            SortKey::P95 | SortKey::Time | SortKey::Latency | SortKey::Queries | SortKey::Score => {
                s.slowness(s.p95_us())
            }
        }
    }
}

/// What the header line tells besides the aggregates.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub elapsed: Duration,
    pub rate: f64,
    pub drops: u64,
    pub filters: String,
    pub warning: Option<String>,
}

/// The view's state: what to show and how.
#[derive(Debug, Clone)]
pub struct ViewState {
    pub view: View,
    pub sort: usize,
    pub paused: bool,
    pub help: bool,
    pub columns: Vec<Column>,
    pub color: bool,
}

impl ViewState {
    pub fn new(columns: Vec<Column>, color: bool) -> ViewState {
        ViewState {
            view: View::Stream,
            sort: 0,
            paused: false,
            help: false,
            columns,
            color,
        }
    }

    pub fn sort_key(&self) -> SortKey {
        let keys = self.view.sort_keys();
        keys[self.sort % keys.len()]
    }
}

const HELP: &[&str] = &[
    "Keys",
    "",
    "  q, Ctrl-C   quit",
    "  space       pause or resume the display (tracing goes on)",
    "  t           next view: transactions, latency by server / name / client,",
    "              response codes by server / name, latency by backend / pod, suspicious",
    "  b           latency by backend: behind a Service's VIP, each backend apart",
    "  p           latency by pod: namespace/pod, else container or unit (- unknown)",
    "  l           lookups (with --lookups): what each application call asked and got",
    "  x           suspicious: flagged transactions by client (pod) and domain, with why",
    "  s           next sort column",
    "  r           reset the aggregates",
    "  ?           this help (any key closes it)",
];

fn fmt_us(v: Option<u64>) -> String {
    v.map_or("-".into(), |us| output::human_latency(us * 1000))
}

/// The `limit` keys with the largest `key`, ties in the order of their
/// text, as shown. Only the keys that can make the cut are written out:
/// a view shows a screenful of the thousands kept.
pub(super) fn top<K: Display, R: Ord + Copy>(
    dim: &Dimension<K>,
    key: impl Fn(&KeyStats) -> R,
    limit: usize,
) -> Vec<(String, &KeyStats)> {
    let mut ranked: Vec<(R, &K, &KeyStats)> = dim.iter().map(|(k, s)| (key(s), k, s)).collect();
    if limit == 0 {
        return Vec::new();
    }
    if ranked.len() > limit {
        ranked.select_nth_unstable_by(limit - 1, |a, b| b.0.cmp(&a.0));
        let cutoff = ranked[limit - 1].0;
        ranked.retain(|r| r.0 >= cutoff);
    }
    let mut rows: Vec<(R, String, &KeyStats)> = ranked
        .into_iter()
        .map(|(v, k, s)| (v, k.to_string(), s))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    rows.truncate(limit);
    rows.into_iter().map(|(_, k, s)| (k, s)).collect()
}

fn latency_rows<K: Display>(dim: &Dimension<K>, sort: SortKey, limit: usize) -> Vec<Vec<CellText>> {
    top(dim, |s| sort.rank(s), limit)
        .into_iter()
        .map(|(k, s)| {
            vec![
                (k, None),
                (s.count.to_string(), None),
                (fmt_us(s.avg_us()), None),
                (
                    fmt_us(s.p95_us()),
                    latency_color(s.p95_us().map(|u| u * 1000)),
                ),
                (fmt_us(s.max_us()), None),
                (
                    s.timeouts().to_string(),
                    (s.timeouts() > 0).then_some(Color::Red),
                ),
                (s.errors().to_string(), None),
            ]
        })
        .collect()
}

/// A response code class of the stacked bars: the slot of the aggregates'
/// per-rcode counts it shows (`None`: every transaction no other class
/// shows), the character that draws it (readable without colour) and its
/// colour.
struct Class {
    name: &'static str,
    slot: Option<usize>,
    glyph: char,
    color: Color,
}

/// The slot of a header response code (0-15) in [`KeyStats::rcodes`].
const fn rcode_slot(rcode: u16) -> Option<usize> {
    Some(rcode as usize)
}

/// The classes of the stacked bars, in the order drawn.
const CLASSES: [Class; 6] = [
    Class {
        name: "NOERROR",
        slot: rcode_slot(dns::NOERROR),
        glyph: '=',
        color: Color::Green,
    },
    Class {
        name: "NXDOMAIN",
        slot: rcode_slot(dns::NXDOMAIN),
        glyph: 'N',
        color: Color::Yellow,
    },
    Class {
        name: "SERVFAIL",
        slot: rcode_slot(dns::SERVFAIL),
        glyph: 'S',
        color: Color::Red,
    },
    Class {
        name: "REFUSED",
        slot: rcode_slot(dns::REFUSED),
        glyph: 'R',
        color: Color::Red,
    },
    Class {
        name: "TIMEOUT",
        slot: Some(TIMEOUT_SLOT),
        glyph: 'T',
        color: Color::Red,
    },
    Class {
        name: "OTHER",
        slot: None,
        glyph: 'o',
        color: Color::Magenta,
    },
];

/// A row's transactions by class, in the order of [`CLASSES`].
fn class_counts(s: &KeyStats) -> [u64; 6] {
    let named: u64 = CLASSES
        .iter()
        .filter_map(|c| c.slot)
        .map(|i| s.rcodes[i])
        .sum();
    CLASSES.map(|c| c.slot.map_or(s.count - named, |i| s.rcodes[i]))
}

/// A bar `width * total / max_total` long, split by class in proportion.
pub fn stacked_bar(counts: &[u64; 6], max_total: u64, width: usize) -> String {
    let total: u64 = counts.iter().sum();
    if total == 0 || max_total == 0 {
        return String::new();
    }
    let len = ((total as f64 / max_total as f64) * width as f64)
        .round()
        .max(1.0) as usize;
    let mut bar = String::with_capacity(len);
    let mut acc = 0u64;
    let mut drawn = 0usize;
    for (i, n) in counts.iter().enumerate() {
        acc += n;
        let upto = ((acc as f64 / total as f64) * len as f64).round() as usize;
        for _ in drawn..upto {
            bar.push(CLASSES[i].glyph);
        }
        drawn = drawn.max(upto);
    }
    bar
}

fn rcode_rows<K: Display>(dim: &Dimension<K>, sort: SortKey, limit: usize) -> Vec<Vec<CellText>> {
    let rows = top(dim, |s| sort.rank(s), limit);
    let max_total = rows.iter().map(|(_, s)| s.count).max().unwrap_or(0);
    rows.into_iter()
        .map(|(k, s)| {
            let counts = class_counts(s);
            let mut row = vec![(k, None), (s.count.to_string(), None)];
            for (i, n) in counts.iter().enumerate() {
                row.push((n.to_string(), (*n > 0 && i > 0).then_some(CLASSES[i].color)));
            }
            row.push((stacked_bar(&counts, max_total, 30), None));
            row
        })
        .collect()
}

/// Renders a whole frame: a status line, then the view. Every line fits
/// `width` characters (not counting colour codes) and there are at most
/// `height` lines.
pub fn render(
    state: &ViewState,
    recent: &VecDeque<Transaction>,
    agg: &Aggregates,
    status: &Status,
    clock: &Clock,
    width: u16,
    height: u16,
) -> Vec<String> {
    let none = VecDeque::new();
    let flags = VecDeque::new();
    let data = TableData {
        recent,
        who: &none,
        suspicion: &flags,
        agg,
        findings: None,
    };
    render_of(state, &data, status, clock, width, height)
}

/// [`render`] of all the pipeline's view data: who sent each of the
/// recent transactions and why it is suspicious (at the same index; none
/// beyond the ends), and the suspicious findings.
pub fn render_of(
    state: &ViewState,
    data: &TableData<'_>,
    status: &Status,
    clock: &Clock,
    width: u16,
    height: u16,
) -> Vec<String> {
    let agg = data.agg;
    let width = usize::from(width.max(20));
    let height = usize::from(height.max(3));
    let mut lines = vec![status_line(state, agg, status, width)];

    if state.help {
        lines.extend(HELP.iter().map(|l| shorten(l, width, false)));
        lines.truncate(height);
        return lines;
    }

    let rows_room = height.saturating_sub(2);
    let body = match state.view {
        View::Stream => stream_table(state, data, clock, width, rows_room),
        View::LatencyByServer => latency_table(state, &agg.by_server, "SERVER", width, rows_room),
        View::LatencyByName => latency_table(state, &agg.by_name, "NAME", width, rows_room),
        View::LatencyByClient => latency_table(state, &agg.by_client, "CLIENT", width, rows_room),
        View::RcodesByServer => rcode_table(state, &agg.by_server, "SERVER", width, rows_room),
        View::RcodesByName => rcode_table(state, &agg.by_name, "NAME", width, rows_room),
        View::LatencyByBackend => {
            latency_table(state, agg.by_backend(), "BACKEND", width, rows_room)
        }
        View::LatencyByPod => latency_table(state, &agg.by_pod, "POD", width, rows_room),
        // Drawn from the lookups, by `render_lookups`.
        View::Lookups => Vec::new(),
        View::Suspicious => suspicious_table(state, data.findings, width, rows_room),
    };
    lines.extend(body);
    lines.truncate(height);
    lines
}

/// The first line: run time, totals, the view and its sort, the filters,
/// any warning; reversed when in colour.
fn status_line(state: &ViewState, agg: &Aggregates, status: &Status, width: usize) -> String {
    let mut head = format!(
        " dnstrace {:02}:{:02}:{:02} | {} shown {:.0}/s | {} timeouts | {} errors | {} drops | {} | sort: {}{}",
        status.elapsed.as_secs() / 3600,
        status.elapsed.as_secs() / 60 % 60,
        status.elapsed.as_secs() % 60,
        agg.total,
        status.rate,
        agg.timeouts,
        agg.errors,
        status.drops,
        state.view.title(),
        state.sort_key().title(),
        if state.paused { " | PAUSED" } else { "" },
    );
    if !status.filters.is_empty() {
        head.push_str(" | filters: ");
        head.push_str(&status.filters);
    }
    head.push_str(" | ? keys");
    if let Some(w) = &status.warning {
        head = format!(" {w} |{head}");
    }
    let mut head = shorten(&head, width, false);
    if state.color {
        head = format!("{}", style::style(format!("{head:<width$}")).reverse());
    }
    head
}

/// The stream view: the latest transactions in the chosen columns, newest
/// (or slowest) first.
fn stream_table(
    state: &ViewState,
    data: &TableData<'_>,
    clock: &Clock,
    width: usize,
    rows_room: usize,
) -> Vec<String> {
    let (recent, who, flags) = (data.recent, data.who, data.suspicion);
    let titles: Vec<String> = state.columns.iter().map(Column::title).collect();
    let right: Vec<bool> = state.columns.iter().map(Column::right_aligned).collect();
    let flex = state.columns.iter().position(|c| *c == Column::Name);
    // Newest arrivals first, then by the key: transactions arrive when
    // they end (a timeout after its timeout), not when their query was
    // seen, which is the time they show. Stable: ties keep arrival order.
    let mut recent: Vec<(&Transaction, About<'_>)> = recent
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| {
            let about = About {
                who: who.get(i).and_then(|w| w.as_deref()),
                suspicion: flags.get(i).and_then(|f| f.as_deref()),
            };
            (t, about)
        })
        .collect();
    match state.sort_key() {
        SortKey::Latency => {
            recent.sort_by_key(|(t, _)| std::cmp::Reverse(t.latency_ns.unwrap_or(u64::MAX)))
        }
        _ => recent.sort_by_key(|(t, _)| std::cmp::Reverse(t.mono_ns)),
    }
    let rows = recent
        .into_iter()
        .take(rows_room)
        .map(|(t, a)| state.columns.iter().map(|c| cell(t, a, c, clock)).collect())
        .collect();
    table_lines(&titles, &right, rows, width, flex, state.color)
}

/// The suspicious view: one row per client and registered domain with a
/// flagged transaction, highest score (or most flagged) first.
fn suspicious_table(
    state: &ViewState,
    findings: Option<&Findings>,
    width: usize,
    rows_room: usize,
) -> Vec<String> {
    let Some(findings) = findings else {
        return vec![shorten(
            " security signals are off (--no-security)",
            width,
            false,
        )];
    };
    let mut ranked = findings.ranked();
    if state.sort_key() == SortKey::Count {
        ranked.sort_by(|a, b| b.count.cmp(&a.count).then(b.max_score.cmp(&a.max_score)));
    }
    let room = rows_room.saturating_sub(1);
    let rows: Vec<Vec<CellText>> = ranked
        .iter()
        .take(room)
        .map(|f| {
            let color = match f.max_score {
                80.. => Some(Color::Red),
                50.. => Some(Color::Yellow),
                _ => None,
            };
            let kinds: Vec<&str> = kinds_of(f.kinds).map(|k| k.as_str()).collect();
            vec![
                (f.client.clone(), None),
                (f.domain.clone(), None),
                (f.count.to_string(), None),
                (f.max_score.to_string(), color),
                (kinds.join(","), None),
                (f.last.clone(), None),
            ]
        })
        .collect();
    let titles: Vec<String> = [
        "CLIENT",
        "DOMAIN",
        "FLAGGED",
        "SCORE",
        "REASONS",
        "LAST REASON",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let right = [false, false, true, true, false, false];
    let mut t = table_lines(&titles, &right, rows, width, Some(5), state.color);
    let note = if findings.is_empty() {
        "nothing suspicious seen".to_string()
    } else if findings.other > 0 {
        format!(
            "{} flagged in all; {} of pairs beyond the first {} not listed",
            findings.total,
            findings.other,
            crate::pipeline::MAX_KEYS
        )
    } else {
        format!("{} flagged in all", findings.total)
    };
    t.push(shorten(&note, width, false));
    t
}

/// A latency view: one row per key of `dim`, titled `what`.
fn latency_table<K: Display>(
    state: &ViewState,
    dim: &Dimension<K>,
    what: &str,
    width: usize,
    rows_room: usize,
) -> Vec<String> {
    let rows = latency_rows(dim, state.sort_key(), rows_room);
    let titles: Vec<String> = [what, "COUNT", "AVG", "P95", "MAX", "TIMEOUTS", "ERRORS"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let right = [false, true, true, true, true, true, true];
    table_lines(&titles, &right, rows, width, Some(0), state.color)
}

/// A response code view: one row per key of `dim`, titled `what`, and the
/// bars' legend below.
fn rcode_table<K: Display>(
    state: &ViewState,
    dim: &Dimension<K>,
    what: &str,
    width: usize,
    rows_room: usize,
) -> Vec<String> {
    let rows = rcode_rows(dim, state.sort_key(), rows_room.saturating_sub(1));
    let mut titles: Vec<String> = vec![what.into(), "TOTAL".into()];
    titles.extend(CLASSES.iter().map(|c| c.name.to_string()));
    titles.push("BAR".into());
    let right = [false, true, true, true, true, true, true, true, false];
    let mut t = table_lines(&titles, &right, rows, width, Some(0), state.color);
    let legend: Vec<String> = CLASSES
        .iter()
        .map(|c| format!("{} {}", c.glyph, c.name))
        .collect();
    t.push(shorten(
        &format!("bars: {}", legend.join("  ")),
        width,
        false,
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_cycle_and_are_titled_apart() {
        let mut view = View::Stream;
        for _ in 0..View::ALL.len() {
            let keys = view.sort_keys();
            let mut state = ViewState::new(Vec::new(), false);
            state.view = view;
            assert_eq!(
                state.sort_key(),
                keys[0],
                "{view:?}: the first is the default"
            );
            state.sort = keys.len();
            assert_eq!(state.sort_key(), keys[0], "{view:?}: s wraps around");
            let mut titles: Vec<&str> = keys.iter().map(|k| k.title()).collect();
            titles.sort_unstable();
            titles.dedup();
            assert_eq!(titles.len(), keys.len(), "{view:?}: {titles:?}");
            view = view.next();
        }
        assert_eq!(View::Stream.sort_keys(), [SortKey::Time, SortKey::Latency]);
        assert_eq!(
            View::RcodesByName.sort_keys(),
            [SortKey::Total, SortKey::Errors]
        );
    }

    #[test]
    fn classes_count_their_rcodes_and_other_the_rest() {
        for c in &CLASSES {
            match c.slot {
                Some(TIMEOUT_SLOT) => assert_eq!(c.name, "TIMEOUT"),
                Some(slot) => assert_eq!(dns::rcode_name(slot as u16), c.name),
                None => assert_eq!(c.name, "OTHER"),
            }
        }
        let mut s = KeyStats::default();
        for (slot, n) in [(0, 4), (1, 1), (2, 1), (3, 2), (5, 1), (15, 1)] {
            s.rcodes[slot] = n;
        }
        s.rcodes[TIMEOUT_SLOT] = 1;
        s.count = s.rcodes.iter().sum();
        // NOERROR, NXDOMAIN, SERVFAIL, REFUSED, TIMEOUT, then FORMERR and
        // rcode 15 as OTHER.
        assert_eq!(class_counts(&s), [4, 2, 1, 1, 1, 2]);
    }

    #[test]
    fn stacked_bar_lengths() {
        assert_eq!(stacked_bar(&[1, 1, 0, 0, 0, 0], 2, 10), "=====NNNNN");
        assert_eq!(stacked_bar(&[1, 0, 0, 0, 0, 0], 2, 10), "=====");
        assert_eq!(
            stacked_bar(&[0, 0, 0, 0, 3, 1], 4, 8),
            "TTTTTTo".to_string() + "o"
        );
        assert_eq!(stacked_bar(&[0; 6], 4, 8), "");
    }
}
