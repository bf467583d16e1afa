//! dnstrace: every DNS transaction on a Linux host, traced with eBPF.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};
use libbpf_rs::{PrintLevel, RingBufferBuilder};

use dnstrace::bpf::{self, Config, ObjectStorage, Tracer};
use dnstrace::cli::{Args, OutputFormat, ReaderChoice};
use dnstrace::filter::Filter;
use dnstrace::metrics::{Metrics, MetricsServer};
use dnstrace::output::Clock;
use dnstrace::preflight::{self, PreflightError, EXIT_KERNEL, EXIT_PRIVILEGES, EXIT_RUNTIME};
use dnstrace::sink::Sink;
use dnstrace::summary::{self, RunFacts};
use dnstrace::tui::{self, Action, Column, Screen, Snapshot, Status, ViewState};

/// Longest wait for ring-buffer records between two reads.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

fn main() -> ExitCode {
    let started = Instant::now();
    let args = Args::parse();
    if let Err(msg) = args.validate() {
        Args::command()
            .error(clap::error::ErrorKind::ValueValidation, msg)
            .exit();
    }
    match run(&args, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = err
                .downcast_ref::<PreflightError>()
                .map_or(EXIT_RUNTIME, |p| p.exit_code);
            eprintln!("dnstrace: error: {err:#}");
            ExitCode::from(code as u8)
        }
    }
}

fn libbpf_print(level: PrintLevel, msg: String) {
    let tag = match level {
        PrintLevel::Warn => "warning",
        PrintLevel::Info => "info",
        PrintLevel::Debug => "debug",
    };
    for line in msg.lines() {
        eprintln!("dnstrace: libbpf {tag}: {line}");
    }
}

/// A load failure is either a missing privilege (EPERM from the kernel) or
/// something this kernel cannot do; both get their own exit status.
fn classify_load_error(err: anyhow::Error) -> anyhow::Error {
    // EPERM, not EACCES: the verifier rejects a program with EACCES.
    let denied = err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(libc::EPERM))
            || e.to_string()
                .contains(&format!("(os error {})", libc::EPERM))
    });
    let (code, hint) = if denied {
        (
            EXIT_PRIVILEGES,
            "the kernel refused to load BPF programs: run dnstrace as root \
             (a security module or kernel.unprivileged_bpf_disabled may also forbid it)",
        )
    } else {
        (
            EXIT_KERNEL,
            "this kernel could not load dnstrace's programs; it needs BPF ring buffers, \
             tp_btf tracepoints and bpf_for_each_map_elem (Linux 5.14 or later). \
             Run with -v to see the verifier's log",
        )
    };
    anyhow::Error::new(PreflightError {
        message: format!("{err:#}\n{hint}"),
        exit_code: code,
    })
}

fn run(args: &Args, started: Instant) -> Result<()> {
    if let Some(dir) = &args.generate_assets {
        return dnstrace::assets::write_all(dir).context("writing completions and the man page");
    }
    let stdout_tty = std::io::stdout().is_terminal();
    let mut format = args.output_format(stdout_tty);
    if format == OutputFormat::Table && !stdout_tty {
        // A table needs a terminal to draw on; lines serve a pipe better.
        format = OutputFormat::Text;
    }
    let filter = Filter::from_args(args);

    preflight::run_all(args.btf.as_deref())?;
    if !preflight::raise_memlock() && args.verbose > 0 {
        eprintln!(
            "dnstrace: could not raise RLIMIT_MEMLOCK; fine on Linux 5.11+, where BPF memory is charged to the cgroup"
        );
    }
    match args.verbose {
        0 => libbpf_rs::set_print(None),
        1 => libbpf_rs::set_print(Some((PrintLevel::Warn, libbpf_print))),
        _ => libbpf_rs::set_print(Some((PrintLevel::Debug, libbpf_print))),
    };

    // Listening before the programs load: a taken port stops dnstrace
    // before it traces anything.
    let mut metrics_server = args.metrics.map(MetricsServer::start).transpose()?;
    if let Some(server) = &metrics_server {
        eprintln!(
            "dnstrace: serving Prometheus metrics at http://{}/metrics",
            server.local_addr()
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }

    // Classic tracepoints, chosen or forced by a kernel without BTF, are
    // looked up in tracefs.
    if args.reader == ReaderChoice::Tracepoint
        || (args.reader == ReaderChoice::Auto && !bpf::kernel_has_btf())
    {
        preflight::ensure_tracefs()?;
    }
    let cfg = Config {
        filter: &filter,
        announcements: args.announcements,
        timeout: args.timeout,
        max_pending: args.max_pending,
        btf: args.btf.clone(),
        reader: args.reader,
        verbose: args.verbose,
    };
    let mut storage = ObjectStorage::default();
    let mut tracer = Tracer::start(&mut storage, &cfg).map_err(classify_load_error)?;
    let attached = Instant::now();

    let ports: Vec<String> = filter.ports.iter().map(u16::to_string).collect();
    let filters = filter.describe();
    eprintln!(
        "dnstrace: tracing DNS over {} on port {} ({}DoT/DoQ on 853) in every network namespace ({}ms to attach, {}){}{}; Ctrl-C to stop",
        match tracer.reader {
            bpf::Reader::Dynptr => "UDP and TCP",
            bpf::Reader::Linear | bpf::Reader::Classic => "UDP",
        },
        ports.join(","),
        match tracer.reader {
            bpf::Reader::Dynptr => "mDNS on 5353, ",
            bpf::Reader::Linear | bpf::Reader::Classic => "",
        },
        attached.duration_since(started).as_millis(),
        match tracer.reader {
            bpf::Reader::Dynptr => "dynptr reader",
            bpf::Reader::Linear => "linear reader",
            bpf::Reader::Classic => "classic tracepoints",
        },
        if filters.is_empty() { "" } else { "; filters: " },
        filters
    );
    if args.verbose > 0 {
        eprintln!("dnstrace: packet reader: {}", tracer.reader.describe());
    }

    let clock = Clock::now();
    let mut sink = Sink::new(
        format,
        filter.clone(),
        clock,
        args.count,
        format == OutputFormat::Text && stdout_tty,
    );
    if metrics_server.is_some() {
        sink.set_metrics(Metrics::new(args.metrics_max_servers as usize));
    }
    let sink = std::cell::RefCell::new(sink);
    let mut rb = RingBufferBuilder::new();
    rb.add(tracer.events_map(), |data| {
        sink.borrow_mut().on_record(data)
    })
    .context("setting up the ring buffer")?;
    let rb = rb.build().context("setting up the ring buffer")?;

    let mut live = match format {
        OutputFormat::Table => Some(Live::new(args, filters)?),
        _ => None,
    };
    let sweep_every =
        (args.timeout / 10).clamp(Duration::from_millis(10), Duration::from_millis(200));
    let deadline = args.duration.map(|d| attached + d);
    let mut next_sweep = Instant::now() + sweep_every;
    let mut next_check = Instant::now() + Duration::from_secs(1);
    let mut reported_drops = 0u64;
    let mut occupancy_warned = false;

    loop {
        if stop.load(Ordering::Relaxed) || sink.borrow().done() {
            break;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        // The kernel wakes us only when much is waiting (wakeups are
        // costly there), so a short timer bounds how late a line shows.
        let mut wait = next_sweep.saturating_duration_since(now).min(POLL_INTERVAL);
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(now));
        }
        // poll() reads only after a wakeup; consume() takes what arrived
        // without one.
        for res in [rb.poll(wait), rb.consume()] {
            if let Err(e) = res {
                // EINTR from a signal, or our callback asking to stop: the
                // loop condition decides; anything else is a real error.
                let interrupted = e.kind() == libbpf_rs::ErrorKind::Interrupted;
                if !interrupted && !sink.borrow().done() && !stop.load(Ordering::Relaxed) {
                    return Err(e).context("reading the ring buffer");
                }
            }
        }
        sink.borrow_mut().flush();
        if let (Some(server), Some(m)) = (&mut metrics_server, sink.borrow().metrics()) {
            server.publish(m);
        }

        let now = Instant::now();
        if now >= next_sweep {
            let (pending, more) = tracer.sweep_once()?;
            // A sweep that stopped at its budget has left expired queries:
            // read what it reported and come back at once.
            next_sweep = if more { now } else { now + sweep_every };
            if !occupancy_warned && pending * 10 >= u64::from(tracer.max_pending) * 9 {
                occupancy_warned = true;
                let msg = format!(
                    "warning: {pending} queries pending, near the limit of {}: the oldest are being evicted; raise --max-pending or lower --timeout",
                    tracer.max_pending
                );
                match &mut live {
                    Some(l) => l.status.warning = Some(msg),
                    None => eprintln!("dnstrace: {msg}"),
                }
            }
        }
        if now >= next_check {
            next_check = now + Duration::from_secs(1);
            // For the metrics, a sweep right before reading the counters,
            // so that the evictions derived from both are nearly exact.
            let pending = if metrics_server.is_some() {
                tracer.sweep()?
            } else {
                0
            };
            let counters = tracer.counters()?;
            if let Some(m) = sink.borrow_mut().metrics_mut() {
                m.update_kernel(&counters, counters.evicted(pending));
            }
            let drops = counters.get("ringbuf_drops");
            if drops > reported_drops {
                reported_drops = drops;
                let msg = format!(
                    "warning: {drops} transactions lost so far: ring buffer full (the reader is too slow)"
                );
                match &mut live {
                    Some(l) => l.status.warning = Some(msg),
                    None => eprintln!("dnstrace: {msg}"),
                }
            }
            if let Some(l) = &mut live {
                l.status.drops = drops;
                l.tick_rate(sink.borrow().shown());
            }
        }
        if let Some(l) = &mut live {
            if l.handle_keys(&mut sink.borrow_mut())? {
                break;
            }
            l.draw(&sink.borrow(), &clock, attached.elapsed())?;
        }
    }

    // Leave the alternate screen before anything else is printed.
    drop(live);
    drop(metrics_server);
    // Stop watching packets, expire what has timed out, and deliver what is
    // already in the ring buffer, unless the reader is gone.
    tracer.detach();
    // Each round reports at most the sweep's budget. A flood's backlog may
    // take a few, but Ctrl-C must not wait long: what is left counts as
    // pending at exit.
    let exit_by = Instant::now() + Duration::from_secs(1);
    let in_flight = loop {
        let (pending, more) = tracer.final_sweep()?;
        if !sink.borrow().done() {
            rb.consume().ok();
        }
        if !more || Instant::now() >= exit_by {
            break pending;
        }
    };
    drop(rb);
    let mut sink = sink.into_inner();
    sink.flush();
    let counters = tracer.counters()?;
    if let Some(e) = sink.take_write_error() {
        return Err(e).context("writing the output");
    }
    if !sink.pipe_closed() {
        let facts = RunFacts {
            counters: &counters,
            in_flight,
            shown: sink.shown(),
            decode_errors: sink.decode_errors(),
            elapsed: attached.elapsed(),
            verbose: args.verbose,
        };
        let text = summary::render(&sink.agg, &facts, !args.no_summary);
        if args.no_summary {
            // The counts of what was lost are never silent.
            if counters.get("ringbuf_drops") > 0 || facts.evicted() > 0 {
                eprint!("{text}");
            }
        } else {
            sink.write_summary(&text);
        }
    }
    Ok(())
}

/// The live table: the terminal, the view's state, and a frozen copy of
/// the data while paused.
struct Live {
    screen: Screen,
    state: ViewState,
    status: Status,
    frozen: Option<Snapshot>,
    last_draw: Option<Instant>,
    dirty: bool,
    rate_mark: (Instant, u64),
}

/// At most this many redraws a second: drawing must never hold up the
/// ring-buffer reader.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

impl Live {
    fn new(args: &Args, filters: String) -> Result<Live> {
        let columns = match &args.columns {
            Some(c) => c.clone(),
            None => Column::defaults(),
        };
        Ok(Live {
            screen: Screen::enter().context("setting up the terminal")?,
            state: ViewState::new(columns, tui::color_wanted()),
            status: Status {
                filters,
                ..Status::default()
            },
            frozen: None,
            last_draw: None,
            dirty: true,
            rate_mark: (Instant::now(), 0),
        })
    }

    fn tick_rate(&mut self, shown: u64) {
        let (then, before) = self.rate_mark;
        let secs = then.elapsed().as_secs_f64();
        if secs > 0.0 {
            self.status.rate = (shown - before) as f64 / secs;
        }
        self.rate_mark = (Instant::now(), shown);
    }

    /// Applies the pending keys; true to quit.
    fn handle_keys(&mut self, sink: &mut Sink) -> Result<bool> {
        for action in tui::pending_actions(self.state.help)? {
            self.dirty = true;
            match action {
                Action::Quit => return Ok(true),
                Action::Pause => {
                    self.state.paused = !self.state.paused;
                    self.frozen = self.state.paused.then(|| Snapshot {
                        recent: sink.recent.clone(),
                        agg: sink.agg.clone(),
                    });
                }
                Action::NextView => {
                    self.state.view = self.state.view.next();
                    self.state.sort = 0;
                }
                Action::NextSort => self.state.sort += 1,
                Action::Reset => sink.agg.reset(),
                Action::Help => self.state.help = !self.state.help,
                Action::Redraw => {}
            }
        }
        Ok(false)
    }

    fn draw(&mut self, sink: &Sink, clock: &Clock, elapsed: Duration) -> Result<()> {
        // A key redraws at once; new data at most REDRAW_EVERY, and not
        // while paused.
        let due = self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY);
        let live_update = due && !self.state.paused;
        if !(self.dirty || live_update) {
            return Ok(());
        }
        self.status.elapsed = elapsed;
        let (w, h) = self.screen.size();
        let (recent, agg) = match &self.frozen {
            Some(f) => (&f.recent, &f.agg),
            None => (&sink.recent, &sink.agg),
        };
        let lines = tui::render(&self.state, recent, agg, &self.status, clock, w, h);
        self.screen.draw(&lines).context("drawing the table")?;
        self.last_draw = Some(Instant::now());
        self.dirty = false;
        Ok(())
    }
}
