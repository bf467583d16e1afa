//! User-space cost of one ring-buffer record, end to end: decoding,
//! attribution (who sent it), filtering, the aggregates and the output
//! line, through the same `Pipeline::on_record` the ring-buffer callback
//! calls, with the lines going to `io::sink()` instead of stdout (the
//! write syscall is not counted).
//!
//! `cargo bench --bench pipeline` prints, for JSON and text output, the
//! median (min-max) nanoseconds per record over 7 runs of 200k varied
//! records, and a digest of everything each mode produced (the lines, the
//! exit summary, every view of the live table), and of every lookup the
//! tracker finished (its JSON line, as `--lookups` shows it): two builds
//! that print the same digests produce the same bytes.
//!
//! As the app runs by default: each record's sender named (attribution),
//! the transactions grouped into lookups for the exit summary, and each
//! assessed by the security signals.
//!
//! Options (after `--`): `--records N`, `--runs N`, `--mode json|text`,
//! `--no-digest`, `--names cluster|outside|tunnel` (the fixture's, mostly
//! a cluster's own; ordinary names elsewhere; a tunnel's),
//! `--without attribution|lookups|security` (repeatable: the cost
//! of each, by difference, in paired runs). bench/callgrind.sh counts instructions per record,
//! which on a busy machine compare better than times.

use std::hint::black_box;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use clap::Parser;
use dnstrace::attribution::{Resolver, Settings};
use dnstrace::cli::Args;
use dnstrace::kernel::abi::RawEvent;
use dnstrace::kernel::Counters;
use dnstrace::lookup::{Settings as LookupSettings, Tracker};
use dnstrace::output::{Clock, OutputFormat};
use dnstrace::pipeline::Pipeline;
use dnstrace::resolv::SystemResolv;
use dnstrace::security::Detector;
use dnstrace::summary::{self, RunFacts};
use dnstrace::testing::fixtures::{bytes_of, varied, wire};
use dnstrace::tui::{self, Column, Status, ViewState};

/// Distinct records cycled through: more than fit in the L1 cache, as
/// records fresh from the ring buffer would not be there either.
const TEMPLATES: u64 = 4096;

/// 2026-11-27T18:00:00Z, so that every run formats the same times.
const EPOCH_NS: i128 = 1_795_802_400 * 1_000_000_000;

/// Records 20 us apart, as at 50k transactions/s.
const SPACING_NS: u64 = 20_000;

struct Options {
    records: u64,
    runs: usize,
    modes: Vec<OutputFormat>,
    digest: bool,
    attribution: bool,
    lookups: bool,
    security: bool,
    names: Names,
}

/// The names the records ask.
#[derive(Clone, Copy, PartialEq)]
enum Names {
    /// The fixture's: mostly a cluster's own (under cluster.local, which
    /// the security signals do not check).
    Cluster,
    /// Ordinary names outside: a thousand hosts under fifty sites.
    Outside,
    /// A tunnel: a long label, unique per template, under one site.
    Tunnel,
}

fn options() -> Options {
    let mut o = Options {
        records: 200_000,
        runs: 7,
        modes: vec![OutputFormat::Json, OutputFormat::Text],
        digest: true,
        attribution: true,
        lookups: true,
        security: true,
        names: Names::Cluster,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--records" => o.records = value().parse().expect("--records N"),
            "--runs" => o.runs = value().parse().expect("--runs N"),
            "--mode" => {
                o.modes = vec![match value().as_str() {
                    "json" => OutputFormat::Json,
                    "text" => OutputFormat::Text,
                    m => panic!("no mode {m}: json or text"),
                }]
            }
            "--no-digest" => o.digest = false,
            "--names" => {
                o.names = match value().as_str() {
                    "cluster" => Names::Cluster,
                    "outside" => Names::Outside,
                    "tunnel" => Names::Tunnel,
                    n => panic!("--names {n}: cluster, outside or tunnel"),
                }
            }
            "--without" => match value().as_str() {
                "attribution" => o.attribution = false,
                "lookups" => o.lookups = false,
                "security" => o.security = false,
                w => panic!("--without {w}: attribution, lookups or security"),
            },
            // What cargo bench passes to every bench target.
            "--bench" => {}
            _ => panic!("unknown option {a}"),
        }
    }
    o
}

/// FNV-1a over everything written, and the byte count.
struct Digest {
    hash: u64,
    bytes: u64,
}

impl Digest {
    fn new() -> Digest {
        Digest {
            hash: 0xcbf2_9ce4_8422_2325,
            bytes: 0,
        }
    }

    fn add(&mut self, data: &[u8]) {
        for &b in data {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.bytes += data.len() as u64;
    }
}

impl Write for &mut Digest {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.add(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Pushes `records` records through a new pipeline; returns it, flushed.
/// `show_lookups`: the lines are the finished lookups (as `--lookups`
/// shows them) instead of the transactions.
fn run<W: Write>(
    o: &Options,
    format: OutputFormat,
    templates: &mut [Vec<u8>],
    out: W,
    show_lookups: bool,
) -> Pipeline<W> {
    let (filter, lookup_filter) = Args::parse_from(["dnstrace"]).filter().split_for_lookups();
    let mut pipeline = Pipeline::new(out, format, filter, Clock::fixed(EPOCH_NS), None, false);
    // As the app does: each record's sender looked up (pids and
    // namespaces of this host; the cgroup and kubelet files it has).
    if o.attribution {
        pipeline.set_attribution(Resolver::new(Settings::default()));
    }
    // As the app does for the exit summary: lookups grouped (and, every
    // 50 ms of the records' clock, the finished ones taken out).
    if o.lookups {
        let settings = LookupSettings {
            max_open: 16384,
            kernel_timeout_ns: 5_000_000_000,
        };
        let tracker = Tracker::new(settings, Box::new(SystemResolv::default()));
        pipeline.enable_lookups(tracker, lookup_filter, show_lookups, false);
    }
    // As the app does: each transaction assessed, with the host's
    // resolv.conf and /proc. The fixture's servers count as configured
    // (--resolvers), as on a node whose clients ask their resolvers: else
    // most records would be flagged as asking an unauthorized one.
    if o.security {
        let args = Args::parse_from(["dnstrace", "--resolvers", "0.0.0.0/0,::/0"]);
        pipeline.set_security(Detector::system(args.security()), false);
    }
    let n = templates.len() as u64;
    let advance_every = 50_000_000 / SPACING_NS;
    for i in 0..o.records {
        let record = &mut templates[(i % n) as usize];
        // The kernel's timestamp is the record's first field.
        let ts = 1_000_000_000 + i * SPACING_NS;
        record[..8].copy_from_slice(&ts.to_ne_bytes());
        black_box(pipeline.on_record(black_box(record)));
        if o.lookups && i % advance_every == 0 {
            pipeline.advance_lookups(ts);
        }
    }
    pipeline.finish_lookups();
    pipeline.flush();
    pipeline
}

/// Adds what the exit summary and every view and sort of the live table
/// show of the pipeline's aggregates and findings.
fn digest_views<W: Write>(pipeline: &Pipeline<W>, d: &mut Digest) {
    let counters = Counters::default();
    let facts = RunFacts {
        counters: &counters,
        in_flight: 0,
        twins_left: 0,
        shown: pipeline.shown(),
        decode_errors: pipeline.decode_errors(),
        elapsed: Duration::from_secs(4),
        verbose: 0,
    };
    d.add(summary::render(pipeline.aggregates(), &facts, true).as_bytes());
    if let Some((stats, findings)) = pipeline.security() {
        d.add(summary::security(&stats, findings).as_bytes());
    }
    let mut state = ViewState::new(Column::defaults(), false);
    let clock = Clock::fixed(EPOCH_NS);
    let data = pipeline.table_data();
    for _ in 0..tui::View::ALL.len() {
        for sort in 0..6 {
            state.sort = sort;
            let lines = tui::render_of(&state, &data, &Status::default(), &clock, 200, 60);
            for l in lines {
                d.add(l.as_bytes());
                d.add(b"\n");
            }
        }
        state.view = state.view.next();
    }
}

/// Record `ev` (template `i`) asking a name of `names`.
fn named(mut ev: RawEvent, names: Names, i: u64) -> RawEvent {
    let host = format!("host{}", i % 1000);
    let site = format!("site{}", i % 50);
    let label = format!("{:060x}", i * 0x9e37_79b9);
    let name = match names {
        Names::Cluster => return ev,
        Names::Outside => wire(&[host.as_bytes(), b"www", site.as_bytes(), b"com"]),
        Names::Tunnel => wire(&[label.as_bytes(), b"exfil", b"example"]),
    };
    ev.name.fill(0);
    ev.name[..name.len()].copy_from_slice(&name);
    ev.name_len = name.len() as u16;
    ev
}

fn main() {
    let o = options();
    let mut templates: Vec<Vec<u8>> = (0..TEMPLATES)
        .map(|i| bytes_of(&named(varied(i), o.names, i)))
        .collect();
    for format in o.modes.clone() {
        let name = format!("{format:?}").to_lowercase();
        let mut times: Vec<f64> = (0..o.runs)
            .map(|_| {
                let start = Instant::now();
                black_box(run(&o, format, &mut templates, io::sink(), false));
                start.elapsed().as_nanos() as f64 / o.records as f64
            })
            .collect();
        times.sort_by(f64::total_cmp);
        if let (Some(min), Some(max)) = (times.first(), times.last()) {
            println!(
                "{name:>5}: {:7.1} ns/record median ({min:.1}-{max:.1}) over {} runs of {} records",
                times[times.len() / 2],
                o.runs,
                o.records
            );
        }
        if o.digest {
            let mut lines = Digest::new();
            let pipeline = run(&o, format, &mut templates, &mut lines, false);
            let mut views = Digest::new();
            digest_views(&pipeline, &mut views);
            drop(pipeline);
            println!(
                "{name:>5}: output {} bytes, digest {:016x}; summary and views digest {:016x}",
                lines.bytes, lines.hash, views.hash
            );
            if o.lookups {
                // Every lookup the tracker finished, as the JSON lines of
                // `--lookups` show it (whatever the mode: they say the
                // most of each).
                let mut lookups = Digest::new();
                drop(run(
                    &o,
                    OutputFormat::Json,
                    &mut templates,
                    &mut lookups,
                    true,
                ));
                println!(
                    "{name:>5}: lookups {} bytes, digest {:016x}",
                    lookups.bytes, lookups.hash
                );
            }
        }
    }
}
