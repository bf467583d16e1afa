//! The way of a ring-buffer record through user space: decoded, filtered,
//! counted (aggregates, metrics), and shown: formatted into a reused buffer
//! and written to a buffered stdout, flushed once per batch, or kept for
//! the live table.

use std::collections::VecDeque;
use std::io::{self, BufWriter, ErrorKind, Write};
use std::sync::Arc;

use crate::aggregate::Aggregates;
use crate::attribution::{Attribution, Resolver};
use crate::filter::Filter;
use crate::lookup::conntrack::{self, ConntrackWatch};
use crate::lookup::stats::LookupStats;
use crate::lookup::{LookupRecord, Tracker};
use crate::metrics::Metrics;
use crate::output::{self, About, Clock, OutputFormat, TimeCache};
use crate::record::Transaction;
use crate::security::findings::Findings;
use crate::security::{Detector, Suspicion};

/// What a writer returns (inside an `io::Error`) when it was told to stop
/// while its reader stalled: the output ends there, and is not an error.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped while the output was blocked")
    }
}

impl std::error::Error for Stopped {}

/// Returned to libbpf to stop consuming the current batch.
const STOP: i32 = -libc::ECANCELED;

/// What the views draw from: the newest transactions shown and the
/// statistics of all shown.
#[derive(Debug, Clone, Copy)]
pub struct TableData<'a> {
    pub recent: &'a VecDeque<Transaction>,
    /// Who sent each of `recent`, and its suspicion, at the same index.
    pub who: &'a VecDeque<Who>,
    pub suspicion: &'a VecDeque<Flag>,
    pub agg: &'a Aggregates,
    /// Suspicious transactions by client and domain; None when the
    /// signals are off.
    pub findings: Option<&'a Findings>,
}

/// Who sent a transaction, as attribution named it.
pub type Who = Option<Arc<Attribution>>;

/// Why a transaction is suspicious, when it is.
pub type Flag = Option<Box<Suspicion>>;

/// An owned copy of [`TableData`], for a paused table.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub recent: VecDeque<Transaction>,
    pub who: VecDeque<Who>,
    pub suspicion: VecDeque<Flag>,
    pub agg: Aggregates,
    pub findings: Option<Findings>,
}

impl Snapshot {
    pub fn table_data(&self) -> TableData<'_> {
        TableData {
            recent: &self.recent,
            who: &self.who,
            suspicion: &self.suspicion,
            agg: &self.agg,
            findings: self.findings.as_ref(),
        }
    }
}

/// `W`: where the lines go; stdout but in the benchmarks.
pub struct Pipeline<W: Write> {
    out: BufWriter<W>,
    format: OutputFormat,
    filter: Filter,
    clock: Clock,
    times: TimeCache,
    line: String,
    limit: Option<u64>,
    shown: u64,
    /// Transactions that passed the filter (with lookups shown, `shown`
    /// counts lookups).
    passed: u64,
    decode_errors: u64,
    /// Records taken from the ring buffer, decodable or not.
    received: u64,
    pipe_closed: bool,
    /// The writer stopped at a signal while its reader stalled.
    stalled: bool,
    write_error: Option<io::Error>,
    /// Statistics of what was shown, for the views and the summary.
    agg: Aggregates,
    /// The newest transactions shown (table mode only).
    recent: VecDeque<Transaction>,
    /// Who sent each of `recent`, and why it is suspicious.
    recent_who: VecDeque<Who>,
    recent_flags: VecDeque<Flag>,
    metrics: Option<Metrics>,
    /// Names who sent each query; None: no one is named.
    attribution: Option<Resolver>,
    /// Transactions grouped into lookups; None when nobody wants them.
    lookups: Option<Box<Lookups>>,
    /// The security signals; None when they are off.
    security: Option<Box<Security>>,
}

/// The security side of the pipeline.
struct Security {
    detector: Detector,
    /// `--suspicious`: show only what is flagged (transactions, or
    /// lookups when lookups are shown).
    only_flagged: bool,
    /// What was flagged and shown, by client and domain.
    findings: Findings,
}

/// The lookups side of the pipeline.
struct Lookups {
    tracker: Tracker,
    /// The lookup part of the user's filter.
    filter: Filter,
    /// Show lookups instead of transactions (`--lookups`); else they are
    /// only counted, for the summary.
    shown: bool,
    conntrack: ConntrackWatch,
    stats: LookupStats,
    /// The newest lookups shown (table mode only).
    recent: VecDeque<LookupRecord>,
    finished: Vec<LookupRecord>,
}

/// Transactions kept for the table's stream view.
pub const RECENT: usize = 2000;

/// Keys kept per aggregate dimension (servers, names, clients).
pub const MAX_KEYS: usize = 4096;

impl<W: Write> Pipeline<W> {
    /// `header`: print the column titles first (text on a terminal).
    pub fn new(
        out: W,
        format: OutputFormat,
        filter: Filter,
        clock: Clock,
        limit: Option<u64>,
        header: bool,
    ) -> Pipeline<W> {
        let mut pipeline = Pipeline {
            out: BufWriter::with_capacity(64 * 1024, out),
            format,
            filter,
            clock,
            times: TimeCache::default(),
            line: String::with_capacity(512),
            limit,
            shown: 0,
            passed: 0,
            decode_errors: 0,
            received: 0,
            pipe_closed: false,
            stalled: false,
            write_error: None,
            agg: Aggregates::new(MAX_KEYS),
            recent: VecDeque::new(),
            recent_who: VecDeque::new(),
            recent_flags: VecDeque::new(),
            metrics: None,
            attribution: None,
            lookups: None,
            security: None,
        };
        if header {
            pipeline.line.push_str(&output::text_header());
            pipeline.line.push('\n');
            pipeline.write_line();
        }
        pipeline
    }

    /// Also counts every transaction that passes the filter into `m`.
    pub fn set_metrics(&mut self, m: Metrics) {
        self.metrics = Some(m);
    }

    /// Names who sent each query (container, pod, unit) with `r`.
    pub fn set_attribution(&mut self, r: Resolver) {
        self.attribution = Some(r);
    }

    /// Assesses every transaction that passes with `detector`.
    /// `only_flagged` (`--suspicious`): shows only suspicious ones (or,
    /// when lookups are shown, only lookups with a suspicious query).
    pub fn set_security(&mut self, detector: Detector, only_flagged: bool) {
        self.security = Some(Box::new(Security {
            detector,
            only_flagged,
            findings: Findings::new(MAX_KEYS),
        }));
    }

    /// What the detector saw, and what was flagged by client and domain;
    /// None when the signals are off.
    pub fn security(&self) -> Option<(crate::security::Stats, &Findings)> {
        self.security
            .as_ref()
            .map(|s| (s.detector.stats(), &s.findings))
    }

    /// Groups the transactions that pass into lookups. `show`: lookups
    /// are what is shown (and counted by `--count`), filtered by
    /// `lookup_filter`; else they are only counted for the summary.
    /// `header`: print the lookup columns' titles first.
    pub fn enable_lookups(
        &mut self,
        tracker: Tracker,
        lookup_filter: Filter,
        show: bool,
        header: bool,
    ) {
        self.lookups = Some(Box::new(Lookups {
            tracker,
            filter: lookup_filter,
            shown: show,
            conntrack: ConntrackWatch::default(),
            stats: LookupStats::default(),
            recent: VecDeque::new(),
            finished: Vec::new(),
        }));
        if show && header && self.format == OutputFormat::Text {
            self.line.clear();
            self.line.push_str(&output::lookup_text_header());
            self.line.push('\n');
            self.write_line();
        }
    }

    /// Finishes the lookups nothing more can join by `now_ns`
    /// (CLOCK_MONOTONIC), and shows them.
    pub fn advance_lookups(&mut self, now_ns: u64) {
        if let Some(l) = &mut self.lookups {
            let mut finished = std::mem::take(&mut l.finished);
            l.tracker.advance(now_ns, &mut finished);
            self.emit_lookups(finished);
        }
    }

    /// At exit: every open lookup is finished and shown.
    pub fn finish_lookups(&mut self) {
        if let Some(l) = &mut self.lookups {
            let mut finished = std::mem::take(&mut l.finished);
            l.tracker.finish_all(&mut finished);
            self.emit_lookups(finished);
            self.flush();
        }
    }

    /// A reading of the conntrack counters, so that a lookup that lost a
    /// sibling can say whether they moved since it began.
    pub fn sample_conntrack(&mut self, now_ns: u64) {
        if let Some(l) = &mut self.lookups {
            if let Some(stats) = conntrack::read() {
                l.conntrack.sample(now_ns, stats);
            }
        }
    }

    fn emit_lookups(&mut self, mut finished: Vec<LookupRecord>) {
        for mut record in finished.drain(..) {
            if self.done() {
                break;
            }
            let Some(l) = &mut self.lookups else {
                return;
            };
            if record.sibling_lost {
                record.conntrack =
                    conntrack::read().and_then(|now| l.conntrack.moved(record.mono_ns, now));
            }
            if !l.filter.matches_lookup(&record) {
                continue;
            }
            if l.shown
                && record.suspicion.is_none()
                && self.security.as_ref().is_some_and(|s| s.only_flagged)
            {
                continue;
            }
            l.stats.observe(&record);
            if let Some(m) = &mut self.metrics {
                m.observe_lookup(&record);
            }
            if !l.shown {
                continue;
            }
            // Who asked: named when shown, from the lookup's first query.
            record.who = self.attribution.as_mut().and_then(|r| {
                r.resolve_at(record.cgroup_id, record.pid, record.netns, record.mono_ns)
            });
            self.shown += 1;
            self.line.clear();
            match self.format {
                OutputFormat::Json => output::lookup_json(&record, &self.clock, &mut self.line),
                OutputFormat::Text => output::lookup_text(&record, &self.clock, &mut self.line),
                OutputFormat::Table => {
                    if l.recent.len() >= RECENT {
                        l.recent.pop_front();
                    }
                    l.recent.push_back(record);
                    continue;
                }
            }
            self.line.push('\n');
            self.write_line();
        }
        if let Some(l) = &mut self.lookups {
            l.finished = finished;
        }
    }

    /// What the summary says of the lookups, and how many were finished
    /// early; None when lookups were not tracked.
    pub fn lookup_stats(&self) -> Option<(&LookupStats, u64)> {
        self.lookups
            .as_ref()
            .map(|l| (&l.stats, l.tracker.evicted()))
    }

    /// The newest lookups shown (table mode).
    pub fn recent_lookups(&self) -> Option<&VecDeque<LookupRecord>> {
        self.lookups.as_ref().filter(|l| l.shown).map(|l| &l.recent)
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
        self.received += 1;
        let t = match Transaction::decode(data) {
            Ok(t) => t,
            Err(_) => {
                self.decode_errors += 1;
                return 0;
            }
        };
        if !self.filter.matches(&t) {
            return 0;
        }
        let who = self
            .attribution
            .as_mut()
            .and_then(|r| r.resolve_at(t.cgroup_id, t.pid, t.netns, t.mono_ns));
        if !self.filter.matches_who(who.as_deref()) {
            return 0;
        }
        let lookups_shown = self.lookups.as_ref().is_some_and(|l| l.shown);
        let flag: Flag = match &mut self.security {
            Some(s) => {
                let flag = s.detector.assess(&t).map(Box::new);
                // --suspicious filters transactions, unless lookups are
                // shown: then it filters lookups, made of every query.
                if flag.is_none() && s.only_flagged && !lookups_shown {
                    return 0;
                }
                if let Some(f) = &flag {
                    s.findings.observe(&t, who.as_deref(), f);
                }
                flag
            }
            None => None,
        };
        self.agg.observe(&t);
        // Only the table's view by pod reads it.
        if self.format == OutputFormat::Table {
            self.agg.observe_who(&t, who.as_deref());
        }
        self.passed += 1;
        if let Some(m) = &mut self.metrics {
            m.observe(&t);
            m.observe_namespace(&t, who.as_deref().and_then(|w| w.namespace.as_deref()));
            if let Some(f) = &flag {
                m.observe_suspicion(f);
            }
        }
        if let Some(l) = &mut self.lookups {
            let mut finished = std::mem::take(&mut l.finished);
            l.tracker.feed_flagged(&t, flag.as_deref(), &mut finished);
            let show = l.shown;
            self.emit_lookups(finished);
            if show {
                return if self.done() { STOP } else { 0 };
            }
        }
        self.shown += 1;
        self.line.clear();
        match self.format {
            OutputFormat::Json => output::json_line_of(
                &t,
                About {
                    who: who.as_deref(),
                    suspicion: flag.as_deref(),
                },
                &self.clock,
                &mut self.times,
                &mut self.line,
            ),
            OutputFormat::Text => output::text_line_of(
                &t,
                About {
                    who: who.as_deref(),
                    suspicion: flag.as_deref(),
                },
                &self.clock,
                &mut self.line,
            ),
            OutputFormat::Table => {
                if self.recent.len() >= RECENT {
                    self.recent.pop_front();
                    self.recent_who.pop_front();
                    self.recent_flags.pop_front();
                }
                self.recent.push_back(t);
                self.recent_who.push_back(who);
                self.recent_flags.push_back(flag);
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
        if !self.writable() {
            return;
        }
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.note_error(e);
        }
    }

    fn note_error(&mut self, e: io::Error) {
        if e.kind() == ErrorKind::BrokenPipe {
            self.pipe_closed = true;
        } else if e.get_ref().is_some_and(|inner| inner.is::<Stopped>()) {
            self.stalled = true;
        } else {
            self.write_error = Some(e);
        }
    }

    pub fn flush(&mut self) {
        if !self.writable() {
            return;
        }
        if let Err(e) = self.out.flush() {
            self.note_error(e);
        }
    }

    fn writable(&self) -> bool {
        !(self.pipe_closed || self.stalled || self.write_error.is_some())
    }

    /// Nothing more to do: the count is reached or the reader went away.
    pub fn done(&self) -> bool {
        !self.writable() || self.limit.is_some_and(|n| self.shown >= n)
    }

    /// The reader of the output is gone (`| head`): nothing more to say.
    pub fn pipe_closed(&self) -> bool {
        self.pipe_closed
    }

    /// The reader went away without a write noticing yet.
    pub fn close_pipe(&mut self) {
        self.pipe_closed = true;
    }

    /// Writes the summary where this output mode puts it: stdout, except
    /// for JSON, which keeps stdout to JSON lines.
    pub fn write_summary(&mut self, text: &str) {
        // A stalled reader would block the summary too: stderr has it.
        if self.format == OutputFormat::Json || self.stalled {
            eprint!("{text}");
            return;
        }
        self.line.clear();
        self.line.push_str(text);
        self.write_line();
        self.flush();
        if self.stalled {
            // The reader stalled while it was being written.
            eprint!("{text}");
        }
    }

    /// What the views draw now.
    pub fn table_data(&self) -> TableData<'_> {
        TableData {
            recent: &self.recent,
            who: &self.recent_who,
            suspicion: &self.recent_flags,
            agg: &self.agg,
            findings: self.security.as_ref().map(|s| &s.findings),
        }
    }

    /// A copy of what the views draw, to keep while the table is paused.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            recent: self.recent.clone(),
            who: self.recent_who.clone(),
            suspicion: self.recent_flags.clone(),
            agg: self.agg.clone(),
            findings: self.security.as_ref().map(|s| s.findings.clone()),
        }
    }

    /// Starts the statistics afresh (the table's `r`).
    pub fn reset(&mut self) {
        self.agg.reset();
        if let Some(s) = &mut self.security {
            s.findings.reset();
        }
    }

    /// The statistics of everything shown, for the summary.
    pub fn aggregates(&self) -> &Aggregates {
        &self.agg
    }

    pub fn take_write_error(&mut self) -> Option<io::Error> {
        self.write_error.take()
    }

    pub fn shown(&self) -> u64 {
        self.shown
    }

    /// Transactions that passed the filter, shown or grouped into
    /// lookups.
    pub fn passed(&self) -> u64 {
        self.passed
    }

    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Records taken from the ring buffer so far.
    pub fn received(&self) -> u64 {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::alloc::COUNT;
    use crate::testing::fixtures::{bytes_of, varied};

    /// Once the aggregates know the keys, a record written as JSON costs
    /// one allocation: its name's String (and a second one for the rare
    /// name that grows when escaped). Unnamed types, classes, opcodes and
    /// rcodes (TYPE65280) are formatted into Strings of their own, and
    /// left out here.
    #[test]
    fn a_json_record_allocates_only_its_name() {
        use crate::record::dns;
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
        let mut pipeline =
            Pipeline::new(io::sink(), OutputFormat::Json, filter, clock, None, false);
        for r in &records {
            assert_eq!(pipeline.on_record(r), 0);
        }
        let before = COUNT.with(|c| c.get());
        for r in &records {
            pipeline.on_record(r);
        }
        let allocations = COUNT.with(|c| c.get()) - before;
        assert_eq!(pipeline.shown(), 2 * records.len() as u64);
        assert!(
            allocations <= records.len() as u64 * 11 / 10,
            "{allocations} allocations for {} records",
            records.len()
        );
    }

    /// Records of one getaddrinfo with a search list: NXDOMAIN for the
    /// search name, then the answer; as the kernel reports them.
    fn getaddrinfo_records(pid: u32, at_ms: u64) -> Vec<Vec<u8>> {
        use crate::testing::fixtures::{record, wire};
        let mut out = Vec::new();
        for (i, (labels, rflags, ancount)) in [
            (&[&b"api"[..], b"svc", b"test"][..], 0x8183u16, 0u16),
            (&[&b"api"[..], b"svc", b"test"][..], 0x8183, 0),
            (&[&b"api"[..]][..], 0x8180, 1),
            (&[&b"api"[..]][..], 0x8180, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let mut ev = record(&wire(labels));
            ev.pid = pid;
            ev.ts = (at_ms + i as u64 / 2) * 1_000_000;
            ev.qtype = if i % 2 == 0 { 1 } else { 28 };
            ev.rflags = rflags;
            ev.ancount = ancount;
            out.push(bytes_of(&ev));
        }
        out
    }

    struct Conf;
    impl crate::resolv::ResolvSource for Conf {
        fn lookup(
            &mut self,
            _: Option<u32>,
            _: u32,
        ) -> Option<(
            std::rc::Rc<crate::resolv::ResolvConf>,
            crate::resolv::SearchSource,
        )> {
            let c = crate::resolv::ResolvConf::parse(
                "nameserver 10.0.0.1\nsearch svc.test\noptions ndots:2\n",
            );
            Some((std::rc::Rc::new(c), crate::resolv::SearchSource::Process))
        }
    }

    fn lookup_pipeline(lookup_filter: Filter, count: Option<u64>) -> Pipeline<Vec<u8>> {
        let clock = Clock::fixed(1_795_802_400 * 1_000_000_000);
        let (filter, _) = Filter::new(vec![53]).split_for_lookups();
        let mut p = Pipeline::new(Vec::new(), OutputFormat::Json, filter, clock, count, false);
        let settings = crate::lookup::Settings {
            max_open: 16,
            kernel_timeout_ns: 1_000_000_000,
        };
        let tracker = Tracker::new(settings, Box::new(Conf));
        p.enable_lookups(tracker, lookup_filter, true, false);
        p
    }

    #[test]
    fn lookups_replace_transactions_and_count_for_count() {
        let mut p = lookup_pipeline(Filter::new(vec![53]), Some(2));
        for (pid, at) in [(1, 0), (2, 10), (3, 20)] {
            for r in getaddrinfo_records(pid, at) {
                p.on_record(&r);
            }
        }
        assert_eq!(p.shown(), 0, "nothing is finished before the clock moves");
        p.advance_lookups(10_000_000_000);
        assert_eq!(p.shown(), 2, "--count counts lookups");
        assert!(p.done());
        p.flush();
        let (stats, evicted) = p.lookup_stats().unwrap();
        assert_eq!(
            (stats.lookups, stats.queries, stats.search_misses, evicted),
            (2, 8, 4, 0)
        );
        let out = String::from_utf8(p.out.get_ref().clone()).unwrap();
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0]["kind"], "lookup");
        assert_eq!(lines[0]["name"], "api");
        assert_eq!(lines[0]["answered_name"], "api");
        assert_eq!(lines[0]["queries"], 4);
        assert_eq!(lines[0]["search_misses"], 2);
        assert_eq!(lines[0]["pid"], 1);
        assert_eq!(lines[1]["pid"], 2);
    }

    #[test]
    fn the_lookup_filter_picks_by_what_the_application_got() {
        let mut errors = Filter::new(vec![53]);
        errors.set_rcodes(&[], true);
        let mut p = lookup_pipeline(errors, None);
        for r in getaddrinfo_records(1, 0) {
            p.on_record(&r);
        }
        p.finish_lookups();
        assert_eq!(
            p.shown(),
            0,
            "a lookup that got its answer is no error, whatever its misses"
        );
        assert_eq!(p.lookup_stats().unwrap().0.lookups, 0);
        assert!(p.out.get_ref().is_empty());
    }

    /// Listens on nothing: no sender is a resolver.
    struct NoListeners;
    impl crate::security::resolvers::ListenerSource for NoListeners {
        fn dns_listeners(&mut self, _: u32) -> crate::security::resolvers::Listeners {
            crate::security::resolvers::Listeners::Known(Vec::new())
        }
    }

    fn detector() -> Detector {
        Detector::new(
            crate::security::Settings::default(),
            Box::new(Conf),
            Box::new(NoListeners),
        )
    }

    #[test]
    fn suspicious_shows_only_flagged_transactions_and_lookups() {
        use crate::testing::fixtures::{record, wire};
        let long = "x".repeat(60);
        let tunnel = bytes_of(&record(&wire(&[long.as_bytes(), b"exfil", b"test"])));
        // Transactions: the ordinary ones are not shown.
        let clock = Clock::fixed(1_795_802_400 * 1_000_000_000);
        let mut p = Pipeline::new(
            Vec::new(),
            OutputFormat::Json,
            Filter::new(vec![53]),
            clock,
            None,
            false,
        );
        p.set_security(detector(), true);
        for r in getaddrinfo_records(1, 0) {
            p.on_record(&r);
        }
        p.on_record(&tunnel);
        p.flush();
        assert_eq!((p.passed(), p.shown()), (1, 1));
        let out = String::from_utf8(p.out.get_ref().clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["suspicion"]["reasons"][0]["kind"], "long_label", "{out}");
        let (stats, findings) = p.security().unwrap();
        assert_eq!((stats.assessed, stats.flagged, findings.total), (5, 1, 1));

        // Lookups: made of every query, shown when one was flagged, with
        // the merged suspicion.
        let mut p = lookup_pipeline(Filter::new(vec![53]), None);
        p.set_security(detector(), true);
        for r in getaddrinfo_records(1, 0) {
            p.on_record(&r);
        }
        let mut ev = record(&wire(&[long.as_bytes(), b"exfil", b"test"]));
        ev.pid = 2;
        ev.ts = 30_000_000;
        p.on_record(&bytes_of(&ev));
        p.finish_lookups();
        assert_eq!(p.shown(), 1, "only the suspicious lookup");
        let out = String::from_utf8(p.out.get_ref().clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["kind"], "lookup");
        assert_eq!(v["pid"], 2);
        assert_eq!(v["suspicion"]["score"], 30, "{out}");
    }
}
