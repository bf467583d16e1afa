//! The lookups view (key `l`): one row per lookup, what the application
//! asked and got, newest, slowest or most queries first. A pure function
//! of the lookups, like the other views.

use std::collections::VecDeque;

use comfy_table::Color;
use crossterm::style::{self, Stylize};

use super::columns::latency_color;
use super::table::{shorten, table_lines, CellText};
use super::view::{SortKey, Status, ViewState};
use crate::lookup::LookupRecord;
use crate::output::{self, Clock};
use crate::record::dns;

/// Renders a frame of the lookups view: a status line, then the lookups
/// (None: lookups are not shown, for want of --lookups).
pub fn render_lookups(
    state: &ViewState,
    lookups: Option<&VecDeque<LookupRecord>>,
    status: &Status,
    clock: &Clock,
    width: u16,
    height: u16,
) -> Vec<String> {
    let width = usize::from(width.max(20));
    let height = usize::from(height.max(3));
    let shown = lookups.map_or(0, VecDeque::len);
    let elapsed = status.elapsed.as_secs();
    let mut head = format!(
        " dnstrace {:02}:{:02}:{:02} | {} lookups kept | lookups | sort: {}{} | ? keys",
        elapsed / 3600,
        elapsed / 60 % 60,
        elapsed % 60,
        shown,
        state.sort_key().title(),
        if state.paused { " | PAUSED" } else { "" },
    );
    if let Some(w) = &status.warning {
        head = format!(" {w} |{head}");
    }
    let mut head = shorten(&head, width, false);
    if state.color {
        head = format!("{}", style::style(format!("{head:<width$}")).reverse());
    }
    let mut lines = vec![head];
    let Some(lookups) = lookups else {
        lines.push(shorten(
            "Lookups are shown with --lookups (restart dnstrace with it); t goes back to the other views.",
            width,
            false,
        ));
        return lines;
    };
    let mut rows: Vec<&LookupRecord> = lookups.iter().rev().collect();
    match state.sort_key() {
        // A timed-out lookup is the slowest.
        SortKey::Latency => {
            rows.sort_by_key(|l| std::cmp::Reverse(l.latency_ns.unwrap_or(u64::MAX)))
        }
        SortKey::Queries => rows.sort_by_key(|l| std::cmp::Reverse(l.queries)),
        _ => {}
    }
    let rows: Vec<Vec<CellText>> = rows
        .into_iter()
        .take(height.saturating_sub(2))
        .map(|l| row(l, clock))
        .collect();
    let titles: Vec<String> = [
        "TIME", "PROCESS", "NAME", "RCODE", "LATENCY", "QUERIES", "MISSES", "RESENT", "TYPES",
        "ANSWERED", "NOTES",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let right = [
        false, false, false, false, true, true, true, true, false, false, false,
    ];
    lines.extend(table_lines(
        &titles,
        &right,
        rows,
        width,
        Some(2),
        state.color,
    ));
    lines.truncate(height);
    lines
}

fn row(l: &LookupRecord, clock: &Clock) -> Vec<CellText> {
    let mut time = String::new();
    clock.time_of_day(l.mono_ns, &mut time);
    let process = match (l.pid, &l.comm) {
        (Some(pid), Some(comm)) => format!("{comm}[{pid}]"),
        (Some(pid), None) => format!("[{pid}]"),
        _ => format!("{}:{}", l.client_ip, l.client_port),
    };
    let rcode_color = match l.rcode.name().as_ref() {
        "NOERROR" => Some(Color::Green),
        "NXDOMAIN" => Some(Color::Yellow),
        _ => Some(Color::Red),
    };
    let resent = l.retries + l.retransmits;
    let types: Vec<String> = l
        .qtypes
        .iter()
        .map(|t| dns::qtype_name(*t).into_owned())
        .collect();
    vec![
        (time, None),
        (process, None),
        (l.name.clone(), None),
        (l.rcode.name().into_owned(), rcode_color),
        (
            l.latency_ns.map_or("-".into(), output::human_latency),
            latency_color(l.latency_ns),
        ),
        (
            l.queries.to_string(),
            (l.search_misses > 0).then_some(Color::Yellow),
        ),
        (l.search_misses.to_string(), None),
        (resent.to_string(), (resent > 0).then_some(Color::Red)),
        (types.join(","), None),
        (l.answered_name.clone().unwrap_or_else(|| "-".into()), None),
        (output::lookup_notes(l).join(" "), None),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::LookupRcode;
    use crate::testing::fixtures::lookup_record;
    use crate::tui::View;

    fn lookup(name: &str, latency_ms: Option<u64>, queries: u32) -> LookupRecord {
        LookupRecord {
            answered_name: latency_ms.map(|_| name.to_string()),
            queries,
            search_misses: queries.saturating_sub(2),
            rcode: match latency_ms {
                Some(_) => LookupRcode::Rcode(0),
                None => LookupRcode::Timeout,
            },
            latency_ns: latency_ms.map(|ms| ms * 1_000_000),
            pid: Some(7),
            comm: Some("curl".into()),
            ..lookup_record(name)
        }
    }

    fn names(lines: &[String]) -> Vec<&str> {
        ["first.test", "slow.test", "many.test", "dead.test"]
            .into_iter()
            .filter(|n| lines.iter().any(|l| l.contains(n)))
            .map(|n| {
                let row = lines.iter().position(|l| l.contains(n)).unwrap();
                (row, n)
            })
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_values()
            .collect()
    }

    #[test]
    fn sorts_by_time_latency_and_queries() {
        let lookups: VecDeque<LookupRecord> = [
            lookup("first.test", Some(1), 2),
            lookup("slow.test", Some(900), 2),
            lookup("many.test", Some(5), 8),
            lookup("dead.test", None, 1),
        ]
        .into();
        let mut state = ViewState::new(Vec::new(), false);
        state.view = View::Lookups;
        let clock = Clock::fixed(0);
        let frame = |state: &ViewState| {
            render_lookups(state, Some(&lookups), &Status::default(), &clock, 200, 20)
        };
        let f = frame(&state);
        assert!(
            f[0].contains("4 lookups kept | lookups | sort: time"),
            "{}",
            f[0]
        );
        assert!(
            f[1].contains("QUERIES") && f[1].contains("MISSES"),
            "{}",
            f[1]
        );
        assert!(
            f[2].contains("curl[7]") && !f[2].contains("[search-inferred]"),
            "{}",
            f[2]
        );
        assert_eq!(
            names(&f),
            ["dead.test", "many.test", "slow.test", "first.test"]
        );
        state.sort = 1;
        let f = frame(&state);
        assert!(f[0].contains("sort: latency"), "{}", f[0]);
        assert_eq!(
            names(&f),
            ["dead.test", "slow.test", "many.test", "first.test"]
        );
        state.sort = 2;
        let f = frame(&state);
        assert!(f[0].contains("sort: queries"), "{}", f[0]);
        assert_eq!(names(&f)[0], "many.test");
        assert!(frame(&state).len() <= 20);
    }

    #[test]
    fn says_how_to_get_lookups_without_them() {
        let mut state = ViewState::new(Vec::new(), false);
        state.view = View::Lookups;
        let f = render_lookups(&state, None, &Status::default(), &Clock::fixed(0), 100, 10);
        assert!(f[1].contains("--lookups"), "{f:?}");
    }
}
