//! The stream view's columns: parsed from `--columns`, titled, and each
//! transaction's cells.

use comfy_table::Color;

use super::table::CellText;
use crate::output::{self, About, Clock};
use crate::record::{dns, Kind, Transaction};

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

    pub(super) fn title(&self) -> String {
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

    pub(super) fn right_aligned(&self) -> bool {
        matches!(self, Column::Id | Column::Latency | Column::Client)
    }
}

fn endpoint(ip: std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// The colour of a transaction's outcome, as `rcode_name` names it:
/// success green, no such name yellow, failures, timeouts and ICMP errors
/// red, the rest (encrypted connections, other codes) magenta.
fn rcode_color(t: &Transaction) -> Color {
    match (t.kind, t.rcode()) {
        (Kind::Encrypted, _) => Color::Magenta,
        (Kind::Unreachable, _) => Color::Red,
        (_, None) => Color::Red,
        (_, Some(dns::NOERROR)) => Color::Green,
        (_, Some(dns::NXDOMAIN)) => Color::Yellow,
        (_, Some(dns::SERVFAIL | dns::REFUSED)) => Color::Red,
        (_, Some(_)) => Color::Magenta,
    }
}

pub(super) fn latency_color(ns: Option<u64>) -> Option<Color> {
    match ns {
        None => Some(Color::Red),
        Some(ns) if ns >= 500_000_000 => Some(Color::Red),
        Some(ns) if ns >= 50_000_000 => Some(Color::Yellow),
        _ => None,
    }
}

pub(super) fn cell(t: &Transaction, about: About<'_>, col: &Column, clock: &Clock) -> CellText {
    let who = about.who;
    match col {
        Column::Time => {
            let mut s = String::new();
            clock.time_of_day(t.mono_ns, &mut s);
            (s, None)
        }
        Column::Process => (output::process_of(t, who), None),
        Column::Client => (endpoint(t.client, t.client_port), None),
        Column::Server => (output::server_cell(t), None),
        Column::Proto => (t.proto.as_str().into(), None),
        Column::Id => (t.id.to_string(), None),
        Column::Type => (dns::qtype_name(t.qtype).into_owned(), None),
        Column::Name => (output::name_cell(t), None),
        Column::Rcode => {
            let mut r = t.rcode_name().into_owned();
            let color = rcode_color(t);
            if t.truncated() {
                r.push_str(",TC");
            }
            (r, Some(color))
        }
        Column::Latency => (
            t.latency_ns.map_or("-".into(), output::human_latency),
            latency_color(t.latency_ns),
        ),
        Column::Field(f) => (output::fields::cell_of(f, t, about, clock), None),
    }
}
