//! Where ring-buffer records go: decoded, filtered, formatted into a reused
//! buffer and written to a buffered stdout, flushed once per batch.

use std::collections::VecDeque;
use std::io::{self, BufWriter, ErrorKind, Write};

use crate::aggregate::Aggregates;
use crate::cli::OutputFormat;
use crate::event::Transaction;
use crate::filter::Filter;
use crate::metrics::Metrics;
use crate::output::{self, Clock, TimeCache};

/// Returned to libbpf to stop consuming the current batch.
const STOP: i32 = -libc::ECANCELED;

/// `W`: where the lines go; stdout but in the benchmarks.
pub struct Sink<W: Write = io::Stdout> {
    out: BufWriter<W>,
    format: OutputFormat,
    filter: Filter,
    clock: Clock,
    times: TimeCache,
    line: String,
    limit: Option<u64>,
    shown: u64,
    filtered: u64,
    decode_errors: u64,
    pipe_closed: bool,
    write_error: Option<io::Error>,
    /// Statistics of what was shown, for the views and the summary.
    pub agg: Aggregates,
    /// The newest transactions shown (table mode only).
    pub recent: VecDeque<Transaction>,
    metrics: Option<Metrics>,
}

/// Keys kept per aggregate dimension (servers, names, clients).
pub const MAX_KEYS: usize = 4096;

impl Sink {
    /// `header`: print the column titles first (text on a terminal).
    pub fn new(
        format: OutputFormat,
        filter: Filter,
        clock: Clock,
        limit: Option<u64>,
        header: bool,
    ) -> Sink {
        Sink::with_writer(io::stdout(), format, filter, clock, limit, header)
    }
}

impl<W: Write> Sink<W> {
    /// A sink writing to `out` instead of stdout.
    pub fn with_writer(
        out: W,
        format: OutputFormat,
        filter: Filter,
        clock: Clock,
        limit: Option<u64>,
        header: bool,
    ) -> Sink<W> {
        let mut sink = Sink {
            out: BufWriter::with_capacity(64 * 1024, out),
            format,
            filter,
            clock,
            times: TimeCache::default(),
            line: String::with_capacity(512),
            limit,
            shown: 0,
            filtered: 0,
            decode_errors: 0,
            pipe_closed: false,
            write_error: None,
            agg: Aggregates::new(MAX_KEYS),
            recent: VecDeque::new(),
            metrics: None,
        };
        if header {
            sink.line.push_str(&output::text_header());
            sink.line.push('\n');
            sink.write_line();
        }
        sink
    }

    /// Also counts every transaction that passes the filter into `m`.
    pub fn set_metrics(&mut self, m: Metrics) {
        self.metrics = Some(m);
    }

    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    pub fn metrics_mut(&mut self) -> Option<&mut Metrics> {
        self.metrics.as_mut()
    }

    /// The ring-buffer callback: 0 to go on, negative to stop the batch.
    pub fn on_record(&mut self, data: &[u8]) -> i32 {
        if self.done() {
            return STOP;
        }
        let t = match Transaction::decode(data) {
            Ok(t) => t,
            Err(_) => {
                self.decode_errors += 1;
                return 0;
            }
        };
        if !self.filter.matches(&t) {
            self.filtered += 1;
            return 0;
        }
        self.agg.observe(&t);
        self.shown += 1;
        if let Some(m) = &mut self.metrics {
            m.observe(&t);
        }
        self.line.clear();
        match self.format {
            OutputFormat::Json => {
                output::json_line_cached(&t, &self.clock, &mut self.times, &mut self.line)
            }
            OutputFormat::Text => output::text_line(&t, &self.clock, &mut self.line),
            OutputFormat::Table => {
                if self.recent.len() >= crate::tui::RECENT {
                    self.recent.pop_front();
                }
                self.recent.push_back(t);
                return if self.done() { STOP } else { 0 };
            }
        }
        self.line.push('\n');
        self.write_line();
        if self.done() {
            self.flush();
            return STOP;
        }
        0
    }

    fn write_line(&mut self) {
        if self.pipe_closed || self.write_error.is_some() {
            return;
        }
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.note_error(e);
        }
    }

    fn note_error(&mut self, e: io::Error) {
        if e.kind() == ErrorKind::BrokenPipe {
            self.pipe_closed = true;
        } else {
            self.write_error = Some(e);
        }
    }

    pub fn flush(&mut self) {
        if self.pipe_closed || self.write_error.is_some() {
            return;
        }
        if let Err(e) = self.out.flush() {
            self.note_error(e);
        }
    }

    /// Nothing more to do: the count is reached or the reader went away.
    pub fn done(&self) -> bool {
        self.pipe_closed
            || self.write_error.is_some()
            || self.limit.is_some_and(|n| self.shown >= n)
    }

    pub fn pipe_closed(&self) -> bool {
        self.pipe_closed
    }

    /// Writes the summary where this output mode puts it: stdout, except
    /// for JSON, which keeps stdout to JSON lines.
    pub fn write_summary(&mut self, text: &str) {
        if self.format == OutputFormat::Json {
            eprint!("{text}");
            return;
        }
        self.line.clear();
        self.line.push_str(text);
        self.write_line();
        self.flush();
    }

    pub fn take_write_error(&mut self) -> Option<io::Error> {
        self.write_error.take()
    }

    pub fn shown(&self) -> u64 {
        self.shown
    }

    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{bytes_of, varied};
    use crate::metrics::tests::allocations::COUNT;

    /// Once the aggregates know the keys, a record written as JSON costs
    /// one allocation: its name's String (and a second one for the rare
    /// name that grows when escaped). Unnamed types, classes, opcodes and
    /// rcodes (TYPE65280) are formatted into Strings of their own, and
    /// left out here.
    #[test]
    fn a_json_record_allocates_only_its_name() {
        use crate::dns;
        use std::borrow::Cow;
        let named = |t: &Transaction| {
            [
                dns::qtype_name(t.qtype),
                dns::qclass_name(t.qclass),
                dns::opcode_name(t.opcode()),
                t.rcode_name(),
            ]
            .iter()
            .all(|name| matches!(name, Cow::Borrowed(_)))
        };
        let records: Vec<Vec<u8>> = (0..2000)
            .map(|i| bytes_of(&varied(i)))
            .filter(|r| named(&Transaction::decode(r).unwrap()))
            .collect();
        assert!(records.len() > 1000);
        let filter = Filter {
            rcode_mask: u32::MAX,
            ..Filter::default()
        };
        let clock = Clock::fixed(1_795_802_400 * 1_000_000_000);
        let mut sink =
            Sink::with_writer(io::sink(), OutputFormat::Json, filter, clock, None, false);
        for r in &records {
            assert_eq!(sink.on_record(r), 0);
        }
        let before = COUNT.with(|c| c.get());
        for r in &records {
            sink.on_record(r);
        }
        let allocations = COUNT.with(|c| c.get()) - before;
        assert_eq!(sink.shown(), 2 * records.len() as u64);
        assert!(
            allocations <= records.len() as u64 * 11 / 10,
            "{allocations} allocations for {} records",
            records.len()
        );
    }
}
