//! The live table: what it shows (a pure function of the data, rendered to
//! lines of text and tested as such) and the terminal it draws on (raw
//! mode, alternate screen, restored on every exit path).

use std::collections::VecDeque;
use std::fmt::Display;
use std::io::{self, Write};
use std::sync::Once;
use std::time::Duration;

use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::style::Stylize;
use crossterm::{cursor, execute, queue, style, terminal};

use crate::aggregate::{Aggregates, Dimension, KeyStats, TIMEOUT_SLOT};
use crate::output::{self, Clock};
use crate::record::Transaction;

/// Most recent transactions kept for the stream view.
pub use crate::pipeline::RECENT;

mod controller;
pub use controller::Live;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Stream,
    LatencyByServer,
    LatencyByName,
    LatencyByClient,
    RcodesByServer,
    RcodesByName,
}

impl View {
    const ALL: [View; 6] = [
        View::Stream,
        View::LatencyByServer,
        View::LatencyByName,
        View::LatencyByClient,
        View::RcodesByServer,
        View::RcodesByName,
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
        }
    }

    /// The columns `s` cycles through, first is the default.
    pub fn sort_keys(self) -> &'static [&'static str] {
        match self {
            View::Stream => &["time", "latency"],
            View::LatencyByServer | View::LatencyByName | View::LatencyByClient => {
                &["p95", "avg", "max", "count", "errors"]
            }
            View::RcodesByServer | View::RcodesByName => &["total", "errors"],
        }
    }
}

/// A column of the stream view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Time,
    Process,
    Client,
    Server,
    Proto,
    Id,
    Type,
    Name,
    Rcode,
    Latency,
    /// Any field of the JSON record, by name.
    Field(&'static str),
}

impl Column {
    pub fn defaults() -> Vec<Column> {
        use Column::*;
        vec![
            Time, Process, Client, Server, Proto, Id, Type, Name, Rcode, Latency,
        ]
    }

    /// A `--columns` entry: a default column's title or a JSON field name.
    pub fn parse(s: &str) -> Result<Column, String> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "time" => Column::Time,
            "process" => Column::Process,
            "client" => Column::Client,
            "server" => Column::Server,
            "proto" => Column::Proto,
            "id" => Column::Id,
            "type" | "qtype" => Column::Type,
            "name" | "qname" => Column::Name,
            "rcode" => Column::Rcode,
            "latency" | "latency_ms" => Column::Latency,
            other => match output::JSON_FIELDS.iter().find(|f| **f == other) {
                Some(f) => Column::Field(f),
                None => {
                    return Err(format!(
                        "unknown column '{s}': use time, process, client, server, proto, id, type, name, rcode, latency, or a JSON field ({})",
                        output::JSON_FIELDS.join(", ")
                    ))
                }
            },
        })
    }

    fn title(&self) -> String {
        match self {
            Column::Time => "TIME".into(),
            Column::Process => "PROCESS".into(),
            Column::Client => "CLIENT".into(),
            Column::Server => "SERVER".into(),
            Column::Proto => "PROTO".into(),
            Column::Id => "ID".into(),
            Column::Type => "TYPE".into(),
            Column::Name => "NAME".into(),
            Column::Rcode => "RCODE".into(),
            Column::Latency => "LATENCY".into(),
            Column::Field(f) => f.to_ascii_uppercase(),
        }
    }

    fn right_aligned(&self) -> bool {
        matches!(self, Column::Id | Column::Latency | Column::Client)
    }
}

fn endpoint(ip: std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

fn rcode_color(rcode: &str) -> Color {
    match rcode {
        "NOERROR" => Color::Green,
        "NXDOMAIN" => Color::Yellow,
        "SERVFAIL" | "REFUSED" | "TIMEOUT" => Color::Red,
        _ => Color::Magenta,
    }
}

fn latency_color(ns: Option<u64>) -> Option<Color> {
    match ns {
        None => Some(Color::Red),
        Some(ns) if ns >= 500_000_000 => Some(Color::Red),
        Some(ns) if ns >= 50_000_000 => Some(Color::Yellow),
        _ => None,
    }
}

/// One cell: its text and, when colour is on, its colour.
type CellText = (String, Option<Color>);

fn cell(t: &Transaction, col: &Column, clock: &Clock) -> CellText {
    match col {
        Column::Time => {
            let mut s = String::new();
            clock.time_of_day(t.mono_ns, &mut s);
            (s, None)
        }
        Column::Process => (output::process(t), None),
        Column::Client => (endpoint(t.client, t.client_port), None),
        Column::Server => (endpoint(t.server, t.server_port), None),
        Column::Proto => (t.proto.as_str().into(), None),
        Column::Id => (t.id.to_string(), None),
        Column::Type => (crate::record::dns::qtype_name(t.qtype).into_owned(), None),
        Column::Name => (output::name_cell(t), None),
        Column::Rcode => {
            let mut r = t.rcode_name().into_owned();
            let color = rcode_color(&r);
            if t.truncated() {
                r.push_str(",TC");
            }
            (r, Some(color))
        }
        Column::Latency => (
            t.latency_ns.map_or("-".into(), output::human_latency),
            latency_color(t.latency_ns),
        ),
        Column::Field(f) => (output::fields::cell(f, t, clock), None),
    }
}

/// Shortens `s` to `width` characters, eliding the middle (names keep
/// their distinctive ends) or the end.
pub fn shorten(s: &str, width: usize, middle: bool) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width <= 1 {
        return "…".chars().take(width).collect();
    }
    if middle {
        let keep = width - 1;
        let head = keep / 2;
        let tail = keep - head;
        let h: String = s.chars().take(head).collect();
        let t: String = s.chars().skip(n - tail).collect();
        format!("{h}…{t}")
    } else {
        let h: String = s.chars().take(width - 1).collect();
        format!("{h}…")
    }
}

/// Lays out a table to fit `width` columns of the terminal: the flexible
/// column (if any) gives up room first, then the rightmost columns go.
fn table_lines(
    titles: &[String],
    right: &[bool],
    rows: Vec<Vec<CellText>>,
    width: usize,
    flex: Option<usize>,
    color: bool,
) -> Vec<String> {
    let ncol = titles.len();
    let mut widths: Vec<usize> = titles.iter().map(|t| t.chars().count()).collect();
    for row in &rows {
        for (i, (text, _)) in row.iter().enumerate() {
            widths[i] = widths[i].max(text.chars().count());
        }
    }
    // Each column takes its width plus one space of padding.
    let total = |w: &[usize]| w.iter().map(|x| x + 1).sum::<usize>();
    if let Some(f) = flex {
        let over = total(&widths).saturating_sub(width);
        widths[f] = widths[f].saturating_sub(over).max(8.min(widths[f]));
    }
    let mut shown = ncol;
    while shown > 1 && total(&widths[..shown]) > width {
        shown -= 1;
    }

    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    let header: Vec<Cell> = titles[..shown]
        .iter()
        .zip(&widths)
        .map(|(t, w)| {
            let c = Cell::new(shorten(t, *w, false));
            if color {
                c.add_attribute(comfy_table::Attribute::Bold)
            } else {
                c
            }
        })
        .collect();
    table.set_header(header);
    for row in rows {
        let cells: Vec<Cell> = row
            .into_iter()
            .take(shown)
            .enumerate()
            .map(|(i, (text, fg))| {
                let c = Cell::new(shorten(&text, widths[i], Some(i) == flex));
                match fg {
                    Some(fg) if color => c.fg(fg),
                    _ => c,
                }
            })
            .collect();
        table.add_row(cells);
    }
    for (i, col) in table.column_iter_mut().enumerate() {
        col.set_padding((0, 1));
        if right.get(i).copied().unwrap_or(false) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.lines().collect()
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

    pub fn sort_key(&self) -> &'static str {
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
    "              response codes by server / name",
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
fn top<K: Display>(
    dim: &Dimension<K>,
    key: impl Fn(&KeyStats) -> u64,
    limit: usize,
) -> Vec<(String, &KeyStats)> {
    let mut ranked: Vec<(u64, &K, &KeyStats)> = dim.iter().map(|(k, s)| (key(s), k, s)).collect();
    if limit == 0 {
        return Vec::new();
    }
    if ranked.len() > limit {
        ranked.select_nth_unstable_by(limit - 1, |a, b| b.0.cmp(&a.0));
        let cutoff = ranked[limit - 1].0;
        ranked.retain(|r| r.0 >= cutoff);
    }
    let mut rows: Vec<(u64, String, &KeyStats)> = ranked
        .into_iter()
        .map(|(v, k, s)| (v, k.to_string(), s))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    rows.truncate(limit);
    rows.into_iter().map(|(_, k, s)| (k, s)).collect()
}

fn latency_rows<K: Display>(dim: &Dimension<K>, sort: &str, limit: usize) -> Vec<Vec<CellText>> {
    let key = |s: &KeyStats| -> u64 {
        match sort {
            "avg" => s.avg_us().unwrap_or(0),
            "max" => s.max_us().unwrap_or(0),
            "count" => s.count,
            "errors" => s.errors(),
            _ => s.p95_us().unwrap_or(0),
        }
    };
    top(dim, key, limit)
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

/// The rcode classes of the stacked bars, with the character that draws
/// each (readable without colour) and its colour.
const CLASSES: [(&str, char, Color); 6] = [
    ("NOERROR", '=', Color::Green),
    ("NXDOMAIN", 'N', Color::Yellow),
    ("SERVFAIL", 'S', Color::Red),
    ("REFUSED", 'R', Color::Red),
    ("TIMEOUT", 'T', Color::Red),
    ("OTHER", 'o', Color::Magenta),
];

fn class_counts(s: &KeyStats) -> [u64; 6] {
    let other =
        s.count - s.rcodes[0] - s.rcodes[3] - s.rcodes[2] - s.rcodes[5] - s.rcodes[TIMEOUT_SLOT];
    [
        s.rcodes[0],
        s.rcodes[3],
        s.rcodes[2],
        s.rcodes[5],
        s.rcodes[TIMEOUT_SLOT],
        other,
    ]
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
            bar.push(CLASSES[i].1);
        }
        drawn = drawn.max(upto);
    }
    bar
}

fn rcode_rows<K: Display>(dim: &Dimension<K>, sort: &str, limit: usize) -> Vec<Vec<CellText>> {
    let key = |s: &KeyStats| {
        if sort == "errors" {
            s.errors()
        } else {
            s.count
        }
    };
    let rows = top(dim, key, limit);
    let max_total = rows.iter().map(|(_, s)| s.count).max().unwrap_or(0);
    rows.into_iter()
        .map(|(k, s)| {
            let counts = class_counts(s);
            let mut row = vec![(k, None), (s.count.to_string(), None)];
            for (i, n) in counts.iter().enumerate() {
                row.push((n.to_string(), (*n > 0 && i > 0).then_some(CLASSES[i].2)));
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
    let width = usize::from(width.max(20));
    let height = usize::from(height.max(3));
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
        state.sort_key(),
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
    let mut lines = vec![head];

    if state.help {
        lines.extend(HELP.iter().map(|l| shorten(l, width, false)));
        lines.truncate(height);
        return lines;
    }

    let rows_room = height.saturating_sub(2);
    let body = match state.view {
        View::Stream => {
            let titles: Vec<String> = state.columns.iter().map(Column::title).collect();
            let right: Vec<bool> = state.columns.iter().map(Column::right_aligned).collect();
            let flex = state.columns.iter().position(|c| *c == Column::Name);
            let mut recent: Vec<&Transaction> = recent.iter().rev().collect();
            if state.sort_key() == "latency" {
                recent.sort_by_key(|t| std::cmp::Reverse(t.latency_ns.unwrap_or(u64::MAX)));
            }
            let rows = recent
                .into_iter()
                .take(rows_room)
                .map(|t| state.columns.iter().map(|c| cell(t, c, clock)).collect())
                .collect();
            table_lines(&titles, &right, rows, width, flex, state.color)
        }
        View::LatencyByServer | View::LatencyByName | View::LatencyByClient => {
            let sort = state.sort_key();
            let (rows, what) = match state.view {
                View::LatencyByServer => (latency_rows(&agg.by_server, sort, rows_room), "SERVER"),
                View::LatencyByName => (latency_rows(&agg.by_name, sort, rows_room), "NAME"),
                _ => (latency_rows(&agg.by_client, sort, rows_room), "CLIENT"),
            };
            let titles: Vec<String> = [what, "COUNT", "AVG", "P95", "MAX", "TIMEOUTS", "ERRORS"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let right = [false, true, true, true, true, true, true];
            table_lines(&titles, &right, rows, width, Some(0), state.color)
        }
        View::RcodesByServer | View::RcodesByName => {
            let (sort, room) = (state.sort_key(), rows_room.saturating_sub(1));
            let (rows, what) = match state.view {
                View::RcodesByServer => (rcode_rows(&agg.by_server, sort, room), "SERVER"),
                _ => (rcode_rows(&agg.by_name, sort, room), "NAME"),
            };
            let mut titles: Vec<String> = vec![what.into(), "TOTAL".into()];
            titles.extend(CLASSES.iter().map(|c| c.0.to_string()));
            titles.push("BAR".into());
            let right = [false, true, true, true, true, true, true, true, false];
            let mut t = table_lines(&titles, &right, rows, width, Some(0), state.color);
            let legend: Vec<String> = CLASSES
                .iter()
                .map(|(name, c, _)| format!("{c} {name}"))
                .collect();
            t.push(shorten(
                &format!("bars: {}", legend.join("  ")),
                width,
                false,
            ));
            t
        }
    };
    lines.extend(body);
    lines.truncate(height);
    lines
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Pause,
    NextView,
    NextSort,
    Reset,
    Help,
    Redraw,
}

/// Reads every pending terminal event without blocking.
pub fn pending_actions(help_open: bool) -> io::Result<Vec<Action>> {
    let mut actions = Vec::new();
    while event::poll(Duration::ZERO)? {
        match event::read()? {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                if help_open {
                    actions.push(Action::Help);
                    continue;
                }
                let ctrl_c =
                    k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
                actions.push(match k.code {
                    _ if ctrl_c => Action::Quit,
                    KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
                    KeyCode::Char(' ') => Action::Pause,
                    KeyCode::Char('t') | KeyCode::Tab => Action::NextView,
                    KeyCode::Char('s') => Action::NextSort,
                    KeyCode::Char('r') => Action::Reset,
                    KeyCode::Char('?') | KeyCode::Char('h') => Action::Help,
                    _ => continue,
                });
            }
            Event::Resize(_, _) => actions.push(Action::Redraw),
            _ => {}
        }
    }
    Ok(actions)
}

fn restore_terminal() {
    let mut out = io::stdout();
    let _ = execute!(out, cursor::Show, terminal::LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
}

/// The terminal in table mode. Dropping it (also while unwinding) puts the
/// terminal back; a panic hook does the same before the message prints.
pub struct Screen {
    out: io::Stdout,
}

impl Screen {
    pub fn enter() -> io::Result<Screen> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_terminal();
                previous(info);
            }));
        });
        terminal::enable_raw_mode()?;
        let mut out = io::stdout();
        execute!(
            out,
            terminal::EnterAlternateScreen,
            cursor::Hide,
            terminal::Clear(terminal::ClearType::All)
        )?;
        Ok(Screen { out })
    }

    pub fn size(&self) -> (u16, u16) {
        terminal::size().unwrap_or((80, 24))
    }

    pub fn draw(&mut self, lines: &[String]) -> io::Result<()> {
        for (i, line) in lines.iter().enumerate() {
            queue!(
                self.out,
                cursor::MoveTo(0, i as u16),
                style::Print(line),
                terminal::Clear(terminal::ClearType::UntilNewLine)
            )?;
        }
        queue!(
            self.out,
            terminal::Clear(terminal::ClearType::FromCursorDown)
        )?;
        self.out.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Colour unless NO_COLOR is set or the terminal cannot show it.
pub fn color_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").map_or(true, |t| t == "dumb" || t.is_empty());
    !no_color && !dumb
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{bytes_of, raw};

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
            agg: Aggregates::new(100),
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
            "TIME", "PROCESS", "CLIENT", "SERVER", "PROTO", "ID", "TYPE", "NAME", "RCODE",
            "LATENCY",
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
        assert_eq!(state.view.next().next(), View::Stream);
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
    fn colour_only_when_asked() {
        let plain = frame(&ViewState::new(Column::defaults(), false), 160, 10);
        assert!(plain.iter().all(|l| !l.contains('\x1b')));
        let colored = frame(&ViewState::new(Column::defaults(), true), 160, 10);
        assert!(colored.iter().any(|l| l.contains('\x1b')));
    }

    #[test]
    fn shortening() {
        assert_eq!(shorten("abcdefghij", 5, true), "ab…ij");
        assert_eq!(shorten("abcdefghij", 5, false), "abcd…");
        assert_eq!(shorten("abc", 5, true), "abc");
    }
}
