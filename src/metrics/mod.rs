//! Prometheus metrics: an aggregator fed with every transaction that passes
//! the user's filters and, once a second, with the kernel's counters, and
//! its rendering in the text exposition format 0.0.4.
//!
//! The aggregator lives on the ring-buffer consumer's thread and needs no
//! lock there: `observe` is a few array increments and one hash lookup, and
//! allocates nothing once the aggregator is built. Label cardinality is
//! bounded: 17 rcodes (16 header codes and TIMEOUT), the common query types
//! and "other", and at most `max_servers` server addresses and "other".
//!
//! Which servers get their own label: the first `max_servers` seen, and
//! after that the busiest. Servers without a label are ranked by a
//! Space-Saving sketch of fixed size; every [`REBALANCE_EVERY`] kernel
//! updates, a candidate whose guaranteed recent count is well above the
//! quietest labelled server's takes its label. The demoted server's series
//! disappears (Prometheus sees it go stale) and the newcomer's starts from
//! zero, so every series that is rendered only ever grows.
//!
//! [`MetricsServer`] serves the rendering over HTTP from a thread of its
//! own, on a plain `TcpListener`: a scrape is one short request every few
//! seconds, which needs no async runtime and no dependency.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::kernel::{Counters, Stat};
use crate::record::Transaction;

/// Upper bounds of the latency buckets, in nanoseconds and as rendered:
/// 0.5 ms to 5 s in steps of 2 and 2.5 (even on a log scale), from a
/// resolver's cache on the same host to a client's last retry.
pub const BUCKETS: [(u64, &str); 13] = [
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
];

/// Query types with their own label value; the rest are "other". The
/// names are those of the JSON output (a test keeps them in step).
const QTYPES: [(u16, &str); 16] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (15, "MX"),
    (2, "NS"),
    (12, "PTR"),
    (6, "SOA"),
    (33, "SRV"),
    (16, "TXT"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (257, "CAA"),
    (35, "NAPTR"),
    (43, "DS"),
    (48, "DNSKEY"),
    (255, "ANY"),
];
const QTYPE_OTHER: usize = QTYPES.len();

/// Header rcodes by value (the names of the JSON output), then TIMEOUT.
const RCODES: [&str; 17] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
    "TIMEOUT",
];
const RCODE_TIMEOUT: usize = 16;

/// The label value for everything beyond the bounded set.
const OTHER: &str = "other";

/// Unlabelled servers tracked as candidates for a label. A constant, so
/// that admitting a new one (a scan for the least counted) stays cheap
/// whatever `--metrics-max-servers` is.
const CANDIDATES: usize = 64;

/// Kernel updates (one a second) between two rankings of the servers; the
/// recent counts are halved at each, so the ranking follows the last
/// minute or so of traffic.
pub const REBALANCE_EVERY: u32 = 30;

/// A candidate must have at least twice the quietest labelled server's
/// recent count, plus this, to take its label: the hysteresis that keeps
/// two servers of similar traffic from trading places (and series).
const PROMOTION_MARGIN: u64 = 16;

/// The largest accepted `--metrics-max-servers`.
pub const MAX_SERVERS_LIMIT: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Histogram {
    /// Observations per bucket (not cumulative; that is done on output).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_ns: u64,
}

impl Histogram {
    fn observe(&mut self, ns: u64) {
        if let Some(i) = BUCKETS.iter().position(|(le, _)| ns <= *le) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }
}

#[derive(Debug)]
struct Labelled {
    addr: IpAddr,
    latency: Histogram,
    /// Transactions since about the last ranking (halved at each).
    recent: u64,
}

/// A Space-Saving entry: `recent` may overcount by up to `error` (the count
/// inherited from the entry it replaced), never undercount.
#[derive(Debug)]
struct Candidate {
    addr: IpAddr,
    recent: u64,
    error: u64,
}

impl Candidate {
    fn guaranteed(&self) -> u64 {
        self.recent - self.error
    }
}

#[derive(Debug, Clone, Copy)]
enum Seat {
    Labelled(usize),
    Candidate(usize),
}

/// Which servers have a label, and the latency of each.
#[derive(Debug)]
struct Servers {
    max: usize,
    labelled: Vec<Labelled>,
    candidates: Vec<Candidate>,
    seats: HashMap<IpAddr, Seat>,
    other: Histogram,
}

impl Servers {
    fn new(max: usize) -> Servers {
        Servers {
            max,
            labelled: Vec::with_capacity(max),
            candidates: Vec::with_capacity(CANDIDATES),
            // Twice what it can ever hold: a removal leaves a tombstone,
            // and at half load the table is rebuilt in place instead of
            // grown, so inserts never allocate.
            seats: HashMap::with_capacity(2 * (max + CANDIDATES)),
            other: Histogram::default(),
        }
    }

    /// The histogram this server's transactions go to.
    fn latency_for(&mut self, addr: IpAddr) -> &mut Histogram {
        match self.seats.get(&addr).copied() {
            Some(Seat::Labelled(i)) => {
                let l = &mut self.labelled[i];
                l.recent += 1;
                &mut l.latency
            }
            Some(Seat::Candidate(i)) => {
                self.candidates[i].recent += 1;
                &mut self.other
            }
            None if self.labelled.len() < self.max => {
                self.seats.insert(addr, Seat::Labelled(self.labelled.len()));
                self.labelled.push(Labelled {
                    addr,
                    latency: Histogram::default(),
                    recent: 1,
                });
                &mut self.labelled.last_mut().expect("just pushed").latency
            }
            None => {
                self.admit(addr);
                &mut self.other
            }
        }
    }

    /// A new unlabelled server: a free candidate entry, or the least
    /// counted one's, whose count it inherits as its possible error.
    fn admit(&mut self, addr: IpAddr) {
        if self.candidates.len() < CANDIDATES {
            self.seats
                .insert(addr, Seat::Candidate(self.candidates.len()));
            self.candidates.push(Candidate {
                addr,
                recent: 1,
                error: 0,
            });
            return;
        }
        let (i, least) = self
            .candidates
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| c.recent)
            .map(|(i, c)| (i, c.recent))
            .expect("CANDIDATES > 0");
        self.seats.remove(&self.candidates[i].addr);
        self.seats.insert(addr, Seat::Candidate(i));
        self.candidates[i] = Candidate {
            addr,
            recent: least + 1,
            error: least,
        };
    }

    /// Gives the quietest labels to clearly busier candidates, then halves
    /// every recent count.
    fn rebalance(&mut self) {
        // Each swap raises the labelled servers' total recent count, so
        // this ends; the bound is a second guarantee.
        for _ in 0..=self.max {
            let Some(c) =
                (0..self.candidates.len()).max_by_key(|&i| self.candidates[i].guaranteed())
            else {
                break;
            };
            let Some(l) = (0..self.labelled.len()).min_by_key(|&i| self.labelled[i].recent) else {
                break;
            };
            let challenger = self.candidates[c].guaranteed();
            let incumbent = self.labelled[l].recent;
            if challenger <= 2 * incumbent + PROMOTION_MARGIN {
                break;
            }
            let promoted = self.candidates[c].addr;
            let demoted = std::mem::replace(
                &mut self.labelled[l],
                Labelled {
                    addr: promoted,
                    latency: Histogram::default(),
                    recent: challenger,
                },
            );
            self.candidates[c] = Candidate {
                addr: demoted.addr,
                recent: incumbent,
                error: 0,
            };
            self.seats.insert(promoted, Seat::Labelled(l));
            self.seats.insert(demoted.addr, Seat::Candidate(c));
        }
        for l in &mut self.labelled {
            l.recent /= 2;
        }
        for c in &mut self.candidates {
            c.recent /= 2;
            c.error /= 2;
        }
    }
}

/// Everything the metrics endpoint shows.
#[derive(Debug)]
pub struct Metrics {
    /// By rcode (16 header codes, then TIMEOUT) and query type.
    transactions: [[u64; QTYPES.len() + 1]; RCODES.len()],
    servers: Servers,
    /// The kernel's counters, as they last stood (each only grows).
    kernel: Counters,
    evicted: u64,
    updates: u32,
    /// Changes whenever anything shown changes.
    generation: u64,
}

impl Metrics {
    /// `max_servers` servers get their own `server` label (at most
    /// [`MAX_SERVERS_LIMIT`]); the others share "other".
    pub fn new(max_servers: usize) -> Metrics {
        Metrics {
            transactions: [[0; QTYPES.len() + 1]; RCODES.len()],
            servers: Servers::new(max_servers.min(MAX_SERVERS_LIMIT)),
            kernel: Counters::default(),
            evicted: 0,
            updates: 0,
            generation: 0,
        }
    }

    /// Counts one transaction that passed the filters. O(1), and no
    /// allocation: this runs for every transaction.
    pub fn observe(&mut self, t: &Transaction) {
        let rcode = t.rcode().map_or(RCODE_TIMEOUT, |r| usize::from(r & 0xf));
        let qtype = QTYPES
            .iter()
            .position(|(v, _)| *v == t.qtype)
            .unwrap_or(QTYPE_OTHER);
        self.transactions[rcode][qtype] += 1;
        let latency = self.servers.latency_for(t.server);
        if let Some(ns) = t.latency_ns {
            latency.observe(ns);
        }
        self.generation += 1;
    }

    /// Takes the kernel's counters and the derived eviction count (see
    /// [`Counters::evicted`]); called about once a second, which also paces
    /// the ranking of servers. Each value shown only grows, as a counter
    /// must, even if a derived one comes out lower than before.
    pub fn update_kernel(&mut self, counters: &Counters, evicted: u64) {
        for (stat, theirs) in counters.iter() {
            self.kernel.set(stat, self.kernel.get(stat).max(theirs));
        }
        self.evicted = self.evicted.max(evicted);
        self.updates += 1;
        if self.updates % REBALANCE_EVERY == 0 {
            self.servers.rebalance();
        }
        self.generation += 1;
    }

    /// A number that changes whenever the rendered text would.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn kernel(&self, stat: Stat) -> u64 {
        self.kernel.get(stat)
    }

    /// Appends the text exposition format (version 0.0.4) to `out`.
    pub fn render(&self, out: &mut String) {
        family(
            out,
            "dnstrace_build_info",
            "gauge",
            "A constant 1, labelled with the version of dnstrace.",
        );
        sample(
            out,
            "dnstrace_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );

        family(
            out,
            "dnstrace_transactions_total",
            "counter",
            "DNS transactions that passed dnstrace's filters, by response code \
             (TIMEOUT when unanswered) and query type (other for uncommon types).",
        );
        for (rcode, row) in RCODES.iter().zip(&self.transactions) {
            for (i, n) in row.iter().enumerate().filter(|(_, n)| **n > 0) {
                let qtype = QTYPES.get(i).map_or(OTHER, |(_, name)| name);
                sample(
                    out,
                    "dnstrace_transactions_total",
                    &[("rcode", rcode), ("qtype", qtype)],
                    *n,
                );
            }
        }

        family(
            out,
            "dnstrace_latency_seconds",
            "histogram",
            "Time from query to response of answered transactions that passed the filters, \
             by server address (the busiest servers; other for the rest).",
        );
        let mut addr = String::with_capacity(40);
        for l in &self.servers.labelled {
            addr.clear();
            let _ = write!(addr, "{}", l.addr);
            histogram(out, "dnstrace_latency_seconds", &addr, &l.latency);
        }
        if self.servers.other.count > 0 {
            histogram(out, "dnstrace_latency_seconds", OTHER, &self.servers.other);
        }

        for (name, help, value) in [
            (
                "dnstrace_timeouts_total",
                "Queries unanswered within --timeout, as the kernel expired them \
                 (every traced query, before the filters).",
                self.kernel(Stat::Timeouts),
            ),
            (
                "dnstrace_ringbuf_drops_total",
                "Finished transactions lost because the ring buffer was full \
                 (the reader was too slow).",
                self.kernel(Stat::RingbufDrops),
            ),
            (
                "dnstrace_pending_evictions_total",
                "Queries evicted from the full pending-query map before an answer or a timeout \
                 (derived from the kernel's counters; raise --max-pending).",
                self.evicted,
            ),
            (
                "dnstrace_pending_insert_failures_total",
                "Queries not tracked because the pending-query map update failed.",
                self.kernel(Stat::InsertFailed),
            ),
        ] {
            family(out, name, "counter", help);
            sample(out, name, &[], value);
        }

        family(
            out,
            "dnstrace_malformed_packets_total",
            "counter",
            "Packets on a DNS port skipped as malformed, by reason.",
        );
        for (stat, n) in self.kernel.iter() {
            if let Some(reason) = stat.malformed_reason() {
                sample(
                    out,
                    "dnstrace_malformed_packets_total",
                    &[("reason", reason)],
                    n,
                );
            }
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    // HELP text escapes backslash and newline.
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

/// A label value as the format requires: backslash, double quote and
/// newline escaped.
pub fn push_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        push_label_value(out, v);
        out.push('"');
    }
    out.push('}');
}

fn sample(out: &mut String, name: &str, l: &[(&str, &str)], value: u64) {
    out.push_str(name);
    labels(out, l);
    let _ = writeln!(out, " {value}");
}

fn histogram(out: &mut String, name: &str, server: &str, h: &Histogram) {
    let mut cumulative = 0;
    for ((_, le), n) in BUCKETS.iter().zip(&h.buckets) {
        cumulative += n;
        out.push_str(name);
        out.push_str("_bucket");
        labels(out, &[("server", server), ("le", le)]);
        let _ = writeln!(out, " {cumulative}");
    }
    out.push_str(name);
    out.push_str("_bucket");
    labels(out, &[("server", server), ("le", "+Inf")]);
    let _ = writeln!(out, " {}", h.count);
    out.push_str(name);
    out.push_str("_sum");
    labels(out, &[("server", server)]);
    // Exact in integer nanoseconds; shown in seconds as the name says.
    let _ = writeln!(out, " {}", h.sum_ns as f64 / 1e9);
    out.push_str(name);
    out.push_str("_count");
    labels(out, &[("server", server)]);
    let _ = writeln!(out, " {}", h.count);
}

/// How long a client has to send its request head.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long a client has to take the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Request heads longer than this are refused (Prometheus sends ~300 bytes).
const MAX_REQUEST_HEAD: usize = 8192;
/// The shortest time between two renderings for the endpoint.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(100);

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

const INDEX_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>dnstrace</title></head>\n\
<body><h1>dnstrace</h1><p>Prometheus metrics are at <a href=\"/metrics\">/metrics</a>.</p></body></html>\n";

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Metrics,
    Index,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Reads the request line of a request head: the route, and whether a
/// body is wanted (not for HEAD).
fn route(head: &[u8]) -> (Route, bool) {
    let Some(line) = head
        .split(|b| *b == b'\n')
        .next()
        .filter(|_| head.contains(&b'\n'))
        .and_then(|l| std::str::from_utf8(l).ok())
    else {
        return (Route::BadRequest, true);
    };
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (Route::BadRequest, true);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return (Route::BadRequest, true);
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    match method {
        "GET" | "HEAD" => {
            let found = match path {
                "/metrics" => Route::Metrics,
                "/" => Route::Index,
                _ => Route::NotFound,
            };
            (found, method == "GET")
        }
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => {
            (Route::MethodNotAllowed, true)
        }
        _ => (Route::BadRequest, true),
    }
}

/// The whole response to a route, into `out`.
fn respond(route: Route, with_body: bool, metrics: &str, out: &mut Vec<u8>) {
    let (status, content_type, body) = match route {
        Route::Metrics => ("200 OK", CONTENT_TYPE, metrics),
        Route::Index => ("200 OK", "text/html; charset=utf-8", INDEX_PAGE),
        Route::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: metrics are at /metrics\n",
        ),
        Route::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD\n",
        ),
        Route::BadRequest => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n",
        ),
    };
    out.clear();
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if route == Route::MethodNotAllowed {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
}

/// State shared by the tracer's thread and the serving thread.
struct Shared {
    /// The latest rendering; the tracer swaps a fresh one in.
    page: Mutex<String>,
    stop: AtomicBool,
    /// The connection being served, so that stopping can cut it short.
    active: Mutex<Option<TcpStream>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The HTTP endpoint: a thread that answers one connection at a time, and
/// the tracer's side that publishes renderings to it. The tracer never
/// waits for the server: it renders into its own buffer and swaps it in
/// only when the lock is free at once; the server holds the lock just
/// long enough to copy the text out.
pub struct MetricsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The serving thread's socket too: shutting it down wakes accept().
    listener: TcpListener,
    thread: Option<JoinHandle<()>>,
    scratch: String,
    published: Option<u64>,
    last_publish: Option<Instant>,
}

impl MetricsServer {
    /// Listens on `addr` and starts serving (an empty set of metrics until
    /// the first [`MetricsServer::publish`]).
    pub fn start(addr: SocketAddr) -> Result<MetricsServer> {
        let listener = TcpListener::bind(addr)
            .with_context(|| format!("--metrics {addr}: cannot listen there"))?;
        let local = listener
            .local_addr()
            .context("--metrics: reading the bound address")?;
        let mut page = String::new();
        Metrics::new(0).render(&mut page);
        let shared = Arc::new(Shared {
            page: Mutex::new(page),
            stop: AtomicBool::new(false),
            active: Mutex::new(None),
        });
        let theirs = listener
            .try_clone()
            .context("--metrics: sharing the listening socket")?;
        let shared2 = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(theirs, &shared2))
            .context("--metrics: starting the server thread")?;
        Ok(MetricsServer {
            addr: local,
            shared,
            listener,
            thread: Some(thread),
            scratch: String::new(),
            published: None,
            last_publish: None,
        })
    }

    /// The address actually bound (a port 0 is chosen by the kernel).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Renders `m` for the endpoint if it changed, at most every
    /// [`PUBLISH_EVERY`]. Never blocks: if the server is copying the
    /// previous rendering just now, this one waits for the next call.
    pub fn publish(&mut self, m: &Metrics) {
        if self.published == Some(m.generation())
            || self
                .last_publish
                .is_some_and(|t| t.elapsed() < PUBLISH_EVERY)
        {
            return;
        }
        self.scratch.clear();
        m.render(&mut self.scratch);
        let mut page = match self.shared.page.try_lock() {
            Ok(page) => page,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        std::mem::swap(&mut *page, &mut self.scratch);
        drop(page);
        self.published = Some(m.generation());
        self.last_publish = Some(Instant::now());
    }

    /// Stops serving: no new connection is taken, the one being served is
    /// cut, and the thread is joined. Also done on drop.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // SAFETY: shutdown(2) on the listening socket we own (its fd is
        // valid while `self.listener` lives); on Linux it makes the
        // serving thread's blocked accept() return at once.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        if let Some(conn) = lock(&self.shared.active).as_ref() {
            let _ = conn.shutdown(Shutdown::Both);
        }
        let _ = thread.join();
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(listener: TcpListener, shared: &Shared) {
    let mut head = Vec::with_capacity(MAX_REQUEST_HEAD);
    let mut page = String::new();
    let mut response = Vec::new();
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        match conn {
            Ok(stream) => {
                // A client that misbehaves costs its own connection only.
                let _ = handle(&stream, shared, &mut head, &mut page, &mut response);
                *lock(&shared.active) = None;
            }
            // Out of file descriptors, or a connection reset before it was
            // taken: wait a little rather than spin, and go on.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn handle(
    stream: &TcpStream,
    shared: &Shared,
    head: &mut Vec<u8>,
    page: &mut String,
    response: &mut Vec<u8>,
) -> std::io::Result<()> {
    *lock(&shared.active) = Some(stream.try_clone()?);
    // Checked after registering, so that stop() either sees this
    // connection or this thread sees stop().
    if shared.stop.load(Ordering::SeqCst) {
        return Ok(());
    }
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let (route, with_body) = if read_head(stream, head)? {
        route(head)
    } else {
        (Route::BadRequest, true)
    };
    page.clear();
    if route == Route::Metrics {
        page.push_str(&lock(&shared.page));
    }
    respond(route, with_body, page, response);
    let mut w = stream;
    w.write_all(response)?;
    w.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// Reads up to the blank line that ends a request head, within the
/// deadline: true if it came, false if the client closed or sent too much.
fn read_head(mut stream: &TcpStream, head: &mut Vec<u8>) -> std::io::Result<bool> {
    head.clear();
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut buf = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(true);
        }
        if head.len() >= MAX_REQUEST_HEAD {
            return Ok(false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(false);
        }
        let room = MAX_REQUEST_HEAD - head.len();
        head.extend_from_slice(&buf[..n.min(room)]);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::tests::{bytes_of, raw};
    use std::collections::{BTreeMap, HashSet};

    fn txn(server: &str, qtype: u16, rcode: Option<u16>, latency_ns: u64) -> Transaction {
        let mut t = Transaction::decode(&bytes_of(&raw(b"\x03www\x07example\x00"))).unwrap();
        t.server = server.parse().unwrap();
        t.qtype = qtype;
        match rcode {
            Some(r) => {
                t.rflags = Some(0x8180 | r);
                t.latency_ns = Some(latency_ns);
            }
            None => {
                t.rflags = None;
                t.latency_ns = None;
            }
        }
        t
    }

    type Labels = Vec<(String, String)>;
    /// One sample: name, labels in order, value.
    type Sample = (String, Labels, f64);

    /// Parses a label set `{a="x",b="y"}` with the format's escapes.
    fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
        let mut rest = s.strip_prefix('{').ok_or("no {")?;
        let mut out = Vec::new();
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                return Ok((out, r));
            }
            let eq = rest.find('=').ok_or("no =")?;
            let name = &rest[..eq];
            if !valid_name(name) || name.contains(':') {
                return Err(format!("bad label name {name:?}"));
            }
            rest = rest[eq + 1..].strip_prefix('"').ok_or("no opening quote")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next().ok_or("unterminated value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    (_, '\n') => return Err("raw newline in a value".into()),
                    (_, c) => value.push(c),
                }
            };
            out.push((name.to_string(), value));
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }

    fn valid_name(n: &str) -> bool {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    /// A strict reading of the text format 0.0.4: HELP and TYPE once per
    /// family and before its samples, samples only of declared families
    /// (with the histogram suffixes), no series twice, numeric values.
    fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
        let mut types: BTreeMap<String, String> = BTreeMap::new();
        let mut helped = HashSet::new();
        let mut seen = HashSet::new();
        let mut samples = Vec::new();
        assert!(text.ends_with('\n'), "the last line ends with a newline");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                if !helped.insert(name.to_string()) {
                    return Err(format!("HELP twice for {name}"));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or("TYPE without a type")?;
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(format!("unknown type {kind}"));
                }
                if types.insert(name.to_string(), kind.to_string()).is_some() {
                    return Err(format!("TYPE twice for {name}"));
                }
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                return Err(format!("unexpected line {line:?}"));
            }
            let name_end = line.find(['{', ' ']).ok_or("sample without a value")?;
            let name = &line[..name_end];
            if !valid_name(name) {
                return Err(format!("bad metric name {name:?}"));
            }
            let (labels, rest) = if line[name_end..].starts_with('{') {
                parse_labels(&line[name_end..])?
            } else {
                (Vec::new(), &line[name_end..])
            };
            let value: f64 = rest
                .strip_prefix(' ')
                .ok_or("no space before the value")?
                .parse()
                .map_err(|e| format!("bad value in {line:?}: {e}"))?;
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
                })
                .unwrap_or(name);
            if !types.contains_key(family) || !helped.contains(family) {
                return Err(format!("{name} before its HELP and TYPE"));
            }
            if !seen.insert((name.to_string(), labels.clone())) {
                return Err(format!("series twice: {line}"));
            }
            samples.push((name.to_string(), labels, value));
        }
        Ok(samples)
    }

    fn rendered(m: &Metrics) -> (String, Vec<Sample>) {
        let mut text = String::new();
        m.render(&mut text);
        let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        (text, samples)
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.2)
    }

    fn servers_shown(samples: &[Sample]) -> HashSet<String> {
        samples
            .iter()
            .flat_map(|(_, l, _)| l.iter())
            .filter(|(k, _)| k == "server")
            .map(|(_, v)| v.clone())
            .collect()
    }

    #[test]
    fn renders_valid_exposition_format() {
        let mut m = Metrics::new(20);
        let (_, empty) = rendered(&m);
        assert_eq!(
            value(
                &empty,
                "dnstrace_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))]
            ),
            Some(1.0)
        );
        assert_eq!(value(&empty, "dnstrace_timeouts_total", &[]), Some(0.0));

        m.observe(&txn("10.0.0.1", 1, Some(0), 1_200_000));
        m.observe(&txn("10.0.0.1", 1, Some(0), 800_000));
        m.observe(&txn("10.0.0.1", 28, Some(3), 30_000_000));
        m.observe(&txn("fd00::53", 1, None, 0));
        let mut c = Counters::default();
        c.set(Stat::Timeouts, 4);
        c.set(Stat::RingbufDrops, 2);
        c.set(Stat::InsertFailed, 1);
        c.set(Stat::MalformedPointer, 7);
        m.update_kernel(&c, 5);
        let (text, s) = rendered(&m);

        let tx = "dnstrace_transactions_total";
        assert_eq!(
            value(&s, tx, &[("rcode", "NOERROR"), ("qtype", "A")]),
            Some(2.0)
        );
        assert_eq!(
            value(&s, tx, &[("rcode", "NXDOMAIN"), ("qtype", "AAAA")]),
            Some(1.0)
        );
        assert_eq!(
            value(&s, tx, &[("rcode", "TIMEOUT"), ("qtype", "A")]),
            Some(1.0)
        );
        assert_eq!(
            value(&s, tx, &[("rcode", "SERVFAIL"), ("qtype", "A")]),
            None
        );
        assert_eq!(value(&s, "dnstrace_timeouts_total", &[]), Some(4.0));
        assert_eq!(value(&s, "dnstrace_ringbuf_drops_total", &[]), Some(2.0));
        assert_eq!(
            value(&s, "dnstrace_pending_evictions_total", &[]),
            Some(5.0)
        );
        assert_eq!(
            value(&s, "dnstrace_pending_insert_failures_total", &[]),
            Some(1.0)
        );
        let mal = "dnstrace_malformed_packets_total";
        assert_eq!(value(&s, mal, &[("reason", "pointer")]), Some(7.0));
        assert_eq!(value(&s, mal, &[("reason", "short")]), Some(0.0));

        let lat = "dnstrace_latency_seconds";
        let one = [("server", "10.0.0.1")];
        assert_eq!(value(&s, &format!("{lat}_count"), &one), Some(3.0));
        let sum = value(&s, &format!("{lat}_sum"), &one).unwrap();
        assert!((sum - 0.032).abs() < 1e-12, "{sum}");
        // The timeout has no latency, but its server has a label.
        assert_eq!(
            value(&s, &format!("{lat}_count"), &[("server", "fd00::53")]),
            Some(0.0)
        );
        assert!(
            !text.contains("server=\"other\""),
            "no other while labels are free"
        );
        assert!(text.contains("# TYPE dnstrace_latency_seconds histogram\n"));
        assert!(text.contains("# TYPE dnstrace_transactions_total counter\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        push_label_value(&mut out, "a\\b\"c\nd é");
        assert_eq!(out, "a\\\\b\\\"c\\nd é");
        let line = format!("x{{v=\"{out}\"}} 1\n");
        let (labels, rest) = parse_labels(&line[1..]).unwrap();
        assert_eq!(labels, vec![("v".to_string(), "a\\b\"c\nd é".to_string())]);
        assert_eq!(rest, " 1\n");

        let mut text = String::new();
        family(
            &mut text,
            "x_total",
            "counter",
            "back\\slash\nnewline \"quoted\"",
        );
        assert_eq!(
            text,
            "# HELP x_total back\\\\slash\\nnewline \"quoted\"\n# TYPE x_total counter\n"
        );
    }

    #[test]
    fn label_names_match_the_json_output() {
        for (v, name) in QTYPES {
            assert_eq!(crate::record::dns::qtype_name(v), name);
        }
        for (v, name) in RCODES[..RCODE_TIMEOUT].iter().enumerate() {
            assert_eq!(crate::record::dns::rcode_name(v as u16), *name);
        }
        let mut t = txn("10.0.0.1", 1, None, 0);
        assert_eq!(RCODES[RCODE_TIMEOUT], t.rcode_name());
        t.rflags = Some(0x8180 | 11);
        assert_eq!(t.rcode_name(), "RCODE11");
    }

    #[test]
    fn cardinality_is_bounded_with_other() {
        let mut m = Metrics::new(3);
        let mut answered = 0;
        for i in 0..200u32 {
            let server = format!("10.1.{}.{}", i / 250, i % 250);
            // Uncommon and unassigned types, and rcodes past the named ones.
            let qtype = [1, 28, 65280, 99, 13][i as usize % 5];
            let rcode = [Some(0), Some(3), Some(12), None][i as usize % 4];
            answered += u64::from(rcode.is_some());
            m.observe(&txn(&server, qtype, rcode, u64::from(i) * 100_000));
        }
        let (_, s) = rendered(&m);
        let servers = servers_shown(&s);
        assert_eq!(servers.len(), 4, "3 servers and other: {servers:?}");
        assert!(servers.contains("other"));
        assert!(servers.contains("10.1.0.0"), "the first seen get labels");

        let qtypes: HashSet<&str> = s
            .iter()
            .flat_map(|(_, l, _)| l.iter())
            .filter(|(k, _)| k == "qtype")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(qtypes, HashSet::from(["A", "AAAA", "other"]));
        let rcodes: HashSet<&str> = s
            .iter()
            .flat_map(|(_, l, _)| l.iter())
            .filter(|(k, _)| k == "rcode")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            rcodes,
            HashSet::from(["NOERROR", "NXDOMAIN", "RCODE12", "TIMEOUT"])
        );

        let total: f64 = s
            .iter()
            .filter(|(n, _, _)| n == "dnstrace_transactions_total")
            .map(|x| x.2)
            .sum();
        assert_eq!(total, 200.0, "every transaction counted once");
        let counted: f64 = s
            .iter()
            .filter(|(n, _, _)| n == "dnstrace_latency_seconds_count")
            .map(|x| x.2)
            .sum();
        assert_eq!(counted, answered as f64, "every answer in one histogram");

        let mut none = Metrics::new(0);
        none.observe(&txn("10.0.0.1", 1, Some(0), 1));
        let (_, s) = rendered(&none);
        assert_eq!(servers_shown(&s), HashSet::from(["other".to_string()]));
    }

    #[test]
    fn histogram_buckets_grow_and_end_at_the_count() {
        let mut m = Metrics::new(1);
        let latencies = [
            0,
            499_999,
            500_000, // exactly on a bound: le means "at most"
            500_001,
            3_000_000,
            24_000_000,
            31_000_000,
            999_000_000,
            5_000_000_000,
            6_000_000_000, // beyond the last bound: only in +Inf
        ];
        for ns in latencies {
            m.observe(&txn("192.0.2.1", 1, Some(0), ns));
        }
        let (_, s) = rendered(&m);
        let buckets: Vec<(String, f64)> = s
            .iter()
            .filter(|(n, _, _)| n == "dnstrace_latency_seconds_bucket")
            .map(|(_, l, v)| (l.iter().find(|(k, _)| k == "le").unwrap().1.clone(), *v))
            .collect();
        assert_eq!(buckets.len(), BUCKETS.len() + 1);
        let bounds: Vec<f64> = buckets
            .iter()
            .map(|(le, _)| {
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                }
            })
            .collect();
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        assert_eq!(bounds[0], 0.0005);
        assert_eq!(bounds[BUCKETS.len() - 1], 5.0);
        for ((le, v), (ns, _)) in buckets.iter().zip(BUCKETS) {
            let expected = latencies.iter().filter(|l| **l <= ns).count() as f64;
            assert_eq!(*v, expected, "bucket le={le}");
        }
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
        let count = value(
            &s,
            "dnstrace_latency_seconds_count",
            &[("server", "192.0.2.1")],
        );
        assert_eq!(buckets.last().unwrap(), &("+Inf".to_string(), 10.0));
        assert_eq!(count, Some(10.0));
        let sum = value(
            &s,
            "dnstrace_latency_seconds_sum",
            &[("server", "192.0.2.1")],
        )
        .unwrap();
        let expected = latencies.iter().sum::<u64>() as f64 / 1e9;
        assert!((sum - expected).abs() < 1e-9, "{sum} vs {expected}");
    }

    #[test]
    fn kernel_counters_never_go_down() {
        let mut m = Metrics::new(1);
        let mut c = Counters::default();
        c.set(Stat::Timeouts, 9);
        m.update_kernel(&c, 12);
        c.set(Stat::Timeouts, 3);
        m.update_kernel(&c, 10);
        let (_, s) = rendered(&m);
        assert_eq!(value(&s, "dnstrace_timeouts_total", &[]), Some(9.0));
        assert_eq!(
            value(&s, "dnstrace_pending_evictions_total", &[]),
            Some(12.0)
        );
    }

    fn tick(m: &mut Metrics, n: u32) {
        let c = Counters::default();
        for _ in 0..n {
            m.update_kernel(&c, 0);
        }
    }

    #[test]
    fn a_busy_server_takes_the_label_of_a_quiet_one() {
        let mut m = Metrics::new(2);
        for _ in 0..5 {
            m.observe(&txn("10.0.0.1", 1, Some(0), 1_000_000));
            m.observe(&txn("10.0.0.2", 1, Some(0), 1_000_000));
        }
        // Many servers seen once each: none earns a label.
        for i in 0..5000u32 {
            let addr = format!("10.9.{}.{}", i / 250, i % 250);
            m.observe(&txn(&addr, 1, Some(0), 1_000_000));
        }
        for _ in 0..200 {
            m.observe(&txn("10.0.0.3", 1, Some(0), 1_000_000));
            m.observe(&txn("10.0.0.1", 1, Some(0), 1_000_000));
        }
        tick(&mut m, REBALANCE_EVERY - 1);
        let (_, s) = rendered(&m);
        assert_eq!(
            servers_shown(&s),
            HashSet::from(["10.0.0.1", "10.0.0.2", "other"].map(String::from)),
            "no change before the ranking"
        );
        tick(&mut m, 1);
        let (_, s) = rendered(&m);
        assert_eq!(
            servers_shown(&s),
            HashSet::from(["10.0.0.1", "10.0.0.3", "other"].map(String::from)),
        );
        // The newcomer's series starts empty, the incumbent's goes on.
        let count = |s: &[Sample], server| {
            value(s, "dnstrace_latency_seconds_count", &[("server", server)]).unwrap()
        };
        assert_eq!(count(&s, "10.0.0.3"), 0.0);
        assert_eq!(count(&s, "10.0.0.1"), 205.0);
        m.observe(&txn("10.0.0.3", 1, Some(0), 1_000_000));
        let (_, s) = rendered(&m);
        assert_eq!(count(&s, "10.0.0.3"), 1.0);

        // Traffic of the same order does not swap labels back and forth.
        for _ in 0..30 {
            m.observe(&txn("10.0.0.2", 1, Some(0), 1_000_000));
            m.observe(&txn("10.0.0.3", 1, Some(0), 1_000_000));
            m.observe(&txn("10.0.0.1", 1, Some(0), 1_000_000));
        }
        tick(&mut m, REBALANCE_EVERY);
        let (_, s) = rendered(&m);
        assert!(servers_shown(&s).contains("10.0.0.3"));
        assert!(!servers_shown(&s).contains("10.0.0.2"));
    }

    /// One request on a fresh connection: (status line, headers, body).
    fn http(addr: SocketAddr, request: &[u8]) -> (String, String, String) {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(request).unwrap();
        let mut raw = String::new();
        conn.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        (status.to_string(), headers.to_string(), body.to_string())
    }

    #[test]
    fn routes() {
        let r = |s: &str| route(s.as_bytes());
        assert_eq!(r("GET /metrics HTTP/1.1\r\n\r\n"), (Route::Metrics, true));
        assert_eq!(r("HEAD /metrics HTTP/1.0\r\n\r\n"), (Route::Metrics, false));
        assert_eq!(r("GET /metrics?x=1 HTTP/1.1\n\n"), (Route::Metrics, true));
        assert_eq!(r("GET / HTTP/1.1\r\n\r\n"), (Route::Index, true));
        assert_eq!(r("GET /metricsx HTTP/1.1\r\n\r\n"), (Route::NotFound, true));
        assert_eq!(
            r("POST /metrics HTTP/1.1\r\n\r\n"),
            (Route::MethodNotAllowed, true)
        );
        for garbage in [
            "",
            "GET",
            "GET /metrics\r\n\r\n",
            "GET /metrics HTTP/2\r\n\r\n",
            "GET metrics HTTP/1.1\r\n\r\n",
            "GET  /metrics HTTP/1.1\r\n\r\n",
            "get /metrics HTTP/1.1\r\n\r\n",
            "\u{0}\u{1}\r\n\r\n",
        ] {
            assert_eq!(r(garbage).0, Route::BadRequest, "{garbage:?}");
        }
        assert_eq!(route(b"GET /\xff HTTP/1.1\r\n\r\n").0, Route::BadRequest);

        let mut out = Vec::new();
        respond(Route::Metrics, false, "x 1\n", &mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
             Content-Length: 4\r\nConnection: close\r\n\r\n"
        );
        respond(Route::MethodNotAllowed, true, "", &mut out);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Allow: GET, HEAD\r\n"));
    }

    #[test]
    fn serves_survives_garbage_and_stops() {
        let addr: SocketAddr = "127.0.0.1:19254".parse().unwrap();
        let mut server = MetricsServer::start(addr).unwrap();
        assert_eq!(server.local_addr(), addr);
        let (status, _, body) = http(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            body.contains("dnstrace_build_info"),
            "served before any publish"
        );

        let mut m = Metrics::new(5);
        m.observe(&txn("10.0.0.1", 1, Some(3), 2_000_000));
        server.publish(&m);
        let mut expected = String::new();
        m.render(&mut expected);
        let (status, headers, body) = http(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            headers.contains("Content-Type: text/plain; version=0.0.4\r\n"),
            "{headers}"
        );
        assert!(headers.contains(&format!("Content-Length: {}\r\n", expected.len())));
        assert_eq!(body, expected);

        let (status, headers, body) = http(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(headers.contains(&format!("Content-Length: {}", expected.len())));
        assert_eq!(body, "", "no body for HEAD");
        assert_eq!(
            http(addr, b"GET /nope HTTP/1.1\r\n\r\n").0,
            "HTTP/1.1 404 Not Found"
        );
        let (status, headers, body) = http(addr, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(headers.contains("text/html"));
        assert!(body.contains("href=\"/metrics\""));
        assert_eq!(
            http(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").0,
            "HTTP/1.1 405 Method Not Allowed"
        );
        // Garbage, an oversized head, a client that leaves at once.
        assert_eq!(
            http(addr, b"\x16\x03\x01\x00\xff\r\n\r\n").0,
            "HTTP/1.1 400 Bad Request"
        );
        let huge = vec![b'A'; 3 * MAX_REQUEST_HEAD];
        let mut conn = TcpStream::connect(addr).unwrap();
        let _ = conn.write_all(&huge);
        drop(conn);
        drop(TcpStream::connect(addr).unwrap());
        assert_eq!(
            http(addr, b"GET /metrics HTTP/1.1\r\n\r\n").0,
            "HTTP/1.1 200 OK"
        );

        // A second listener on the same address is refused, clearly.
        let err = format!("{:#}", MetricsServer::start(addr).err().unwrap());
        assert!(
            err.contains("--metrics 127.0.0.1:19254: cannot listen there"),
            "{err}"
        );
        assert!(err.contains("in use"), "{err}");

        // Stopping does not wait for a client that sends nothing.
        let idle = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        server.stop();
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        drop(idle);
        assert!(
            TcpStream::connect(addr).is_err(),
            "nothing listens after stop"
        );
    }

    /// The lib tests' allocator, which counts (the sink's tests use it too).
    #[test]
    fn observing_never_allocates() {
        let mut m = Metrics::new(20);
        // Transactions built beforehand: decoding allocates, counting must not.
        let txns: Vec<Transaction> = (0..20_000u32)
            .map(|i| {
                let server = if i % 3 == 0 {
                    format!("10.0.0.{}", i % 7)
                } else {
                    format!("fd00::{:x}", i)
                };
                let rcode = [Some(0), Some(3), None, Some(2)][i as usize % 4];
                txn(
                    &server,
                    [1, 28, 12, 65280][i as usize % 4],
                    rcode,
                    u64::from(i) * 7919,
                )
            })
            .collect();
        let c = Counters::default();
        let probe = crate::testing::alloc::COUNT.with(|c| c.get());
        drop(std::hint::black_box(vec![0u8; 16]));
        assert!(
            crate::testing::alloc::COUNT.with(|c| c.get()) > probe,
            "the count works"
        );
        let before = crate::testing::alloc::COUNT.with(|c| c.get());
        for (i, t) in txns.iter().enumerate() {
            m.observe(t);
            if i % 500 == 0 {
                // Rankings swap labels and candidates in place too.
                m.update_kernel(&c, 0);
            }
        }
        let after = crate::testing::alloc::COUNT.with(|c| c.get());
        assert_eq!(after - before, 0, "allocations while observing");
        let (_, s) = rendered(&m);
        assert!(servers_shown(&s).len() <= 21);
    }
}
