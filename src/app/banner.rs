//! The start-up line: what is traced, where, how fast it attached, with
//! which reader, and the filters in effect.

use std::time::Duration;

use crate::filter::Filter;
use crate::kernel::loader::{Reader, Tracer};

pub fn start_line(tracer: &Tracer<'_>, filter: &Filter, to_attach: Duration) -> String {
    let ports: Vec<String> = filter.ports.iter().map(u16::to_string).collect();
    let (protocols, mdns) = match tracer.reader {
        Reader::Dynptr => ("UDP and TCP", "mDNS on 5353, "),
        Reader::Linear | Reader::Tracepoint => ("UDP", ""),
    };
    let filters = filter.describe();
    format!(
        "dnstrace: tracing DNS over {protocols} on port {} ({mdns}DoT/DoQ on 853) in every network namespace ({}ms to attach, {}){}{filters}; Ctrl-C to stop",
        ports.join(","),
        to_attach.as_millis(),
        tracer.reader.name(),
        if filters.is_empty() { "" } else { "; filters: " },
    )
}
