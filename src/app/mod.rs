//! One run of dnstrace: `App::start` checks, loads and attaches; each
//! `App::tick` reads the ring buffer, expires timeouts, reads counters and
//! drives the table; `App::finish` detaches, drains and reports.

mod banner;
mod signals;
mod stdout;

use std::cell::RefCell;
use std::io::IsTerminal;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libbpf_rs::{PrintLevel, RingBuffer, RingBufferBuilder};

use crate::attribution::Resolver;
use crate::cli::Args;
use crate::filter::Filter;
use crate::kernel::loader::{kernel_has_btf, ObjectStorage, ReaderChoice, Sweep, Tracer};
use crate::kernel::preflight::{self, PreflightError, EXIT_KERNEL, EXIT_PRIVILEGES};
use crate::kernel::Stat;
use crate::lookup;
use crate::metrics::{Metrics, MetricsServer};
use crate::output::{Clock, OutputFormat};
use crate::pipeline::Pipeline;
use crate::resolv::SystemResolv;
use crate::security::Detector;
use crate::summary::{self, RunFacts};
use crate::tui::Live;
use signals::StopFlag;
use stdout::Stdout;

/// Lookups open at once: a lookup lasts a second or two, so this holds
/// the lookups of about 10,000 application calls a second.
const MAX_OPEN_LOOKUPS: usize = 16384;

/// Longest wait for ring-buffer records between two reads.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How often finished lookups are looked for: a lookup ends at least half
/// a second after its last query, so a few tens of milliseconds later
/// changes nothing a person sees.
const LOOKUPS_EVERY: Duration = Duration::from_millis(50);

/// Runs dnstrace as the arguments say, until a stop. `stdout_closed`: fd 1
/// was closed at start.
pub fn run(args: &Args, started: Instant, stdout_closed: bool) -> Result<()> {
    if let Some(dir) = &args.generate_assets {
        return crate::assets::write_all(dir).context("writing completions and the man page");
    }
    if stdout_closed {
        anyhow::bail!("standard output is closed: there is nowhere to write the transactions");
    }
    let mut storage = ObjectStorage::default();
    let mut app = App::start(args, &mut storage, started)?;
    while app.tick()? {}
    app.finish()
}

/// When the periodic work is next due.
struct Timers {
    sweep_every: Duration,
    next_sweep: Instant,
    /// When open lookups are next looked at for those nothing more can
    /// join: a walk over all of them, so not on every round.
    next_lookups: Instant,
    next_check: Instant,
    deadline: Option<Instant>,
}

/// What has been said already, so that it is said once.
#[derive(Default)]
struct Reported {
    drops: u64,
    occupancy: bool,
}

pub struct App<'a> {
    args: &'a Args,
    tracer: Tracer<'a>,
    ring: RingBuffer<'a>,
    pipeline: Rc<RefCell<Pipeline<Stdout>>>,
    live: Option<Live>,
    metrics: Option<MetricsServer>,
    stop: StopFlag,
    clock: Clock,
    attached: Instant,
    timers: Timers,
    reported: Reported,
    /// fd 1 is a pipe or socket whose reader can go away.
    stdout_pipe: bool,
}

impl<'a> App<'a> {
    /// Everything before the first read: checks, the metrics listener,
    /// signals, loading and attaching, the start-up line.
    pub fn start(
        args: &'a Args,
        storage: &'a mut ObjectStorage,
        started: Instant,
    ) -> Result<App<'a>> {
        let format = output_format(args);
        // With --lookups the kernel must send every transaction of a
        // lookup; what the application got is filtered on the lookup.
        let (filter, lookup_filter) = if args.lookups {
            args.filter().split_for_lookups()
        } else {
            let filter = args.filter();
            let all = Filter::new(filter.ports.clone());
            (filter, all)
        };
        preflight(args)?;

        // Listening before the programs load: a taken port stops dnstrace
        // before it traces anything.
        let metrics = args.metrics.map(MetricsServer::start).transpose()?;
        if let Some(server) = &metrics {
            eprintln!(
                "dnstrace: serving Prometheus metrics at http://{}/metrics",
                server.local_addr()
            );
        }
        let stop = StopFlag::install()?;

        let tracer = load(args, storage, &filter)?;
        let attached = Instant::now();
        if let Some(server) = &metrics {
            server.attached(tracer.attached_programs());
        }
        eprintln!(
            "{}",
            banner::start_line(&tracer, &filter, attached.duration_since(started))
        );
        if args.verbose > 0 {
            eprintln!("dnstrace: packet reader: {}", tracer.reader.describe());
        }

        let clock = Clock::now();
        let stdout_tty = std::io::stdout().is_terminal();
        let filters = filter.describe();
        let mut pipeline = Pipeline::new(
            Stdout::new(stop.shared()),
            format,
            filter,
            clock,
            args.count,
            format == OutputFormat::Text && stdout_tty && !args.lookups,
        );
        // The summary always says what the lookups were; --lookups shows
        // them.
        if args.lookups || !args.no_summary {
            let settings = lookup::Settings {
                max_open: MAX_OPEN_LOOKUPS,
                kernel_timeout_ns: args.timeout().as_nanos() as u64,
            };
            let tracker = lookup::Tracker::new(settings, Box::new(SystemResolv::default()));
            pipeline.enable_lookups(
                tracker,
                lookup_filter,
                args.lookups,
                format == OutputFormat::Text && stdout_tty,
            );
            pipeline.sample_conntrack(lookup::mono_now_ns());
        }
        if metrics.is_some() {
            let mut m = Metrics::new(args.metrics_max_servers as usize);
            if let Some(n) = args.metrics_namespaces {
                m = m.with_namespaces(n as usize);
            }
            if !args.no_security {
                m = m.with_security();
            }
            pipeline.set_metrics(m);
        }
        if !args.no_security {
            pipeline.set_security(Detector::system(args.security()), args.suspicious);
        }
        pipeline.set_attribution(Resolver::new(args.attribution()));
        let pipeline = Rc::new(RefCell::new(pipeline));
        let ring = ring_buffer(&tracer, Rc::clone(&pipeline))?;
        let live = match format {
            OutputFormat::Table => {
                let mut live = Live::new(args.columns(), filters)?;
                if args.lookups {
                    live.show_lookups();
                }
                Some(live)
            }
            _ => None,
        };
        let sweep_every =
            (args.timeout() / 10).clamp(Duration::from_millis(10), Duration::from_millis(200));
        let now = Instant::now();
        Ok(App {
            args,
            tracer,
            ring,
            pipeline,
            live,
            metrics,
            stop,
            clock,
            attached,
            timers: Timers {
                sweep_every,
                next_sweep: now + sweep_every,
                next_lookups: now,
                next_check: now + Duration::from_secs(1),
                deadline: args.duration.map(|d| attached + d),
            },
            reported: Reported::default(),
            stdout_pipe: stdout_is_pipe(),
        })
    }

    /// One round of the loop; false when it is time to stop.
    pub fn tick(&mut self) -> Result<bool> {
        if self.stop.raised() || self.pipeline.borrow().done() {
            return Ok(false);
        }
        let now = Instant::now();
        if self.timers.deadline.is_some_and(|d| now >= d) {
            return Ok(false);
        }
        if self.stdout_pipe && stdout::reader_gone() {
            self.pipeline.borrow_mut().close_pipe();
            return Ok(false);
        }
        self.read_ring(now)?;
        let now = Instant::now();
        if now >= self.timers.next_lookups {
            self.timers.next_lookups = now + LOOKUPS_EVERY;
            self.pipeline
                .borrow_mut()
                .advance_lookups(lookup::mono_now_ns());
        }
        if now >= self.timers.next_sweep {
            self.expire(now)?;
        }
        if now >= self.timers.next_check {
            self.timers.next_check = now + Duration::from_secs(1);
            self.check_counters()?;
        }
        if let Some(live) = &mut self.live {
            if live.handle_keys(&mut self.pipeline.borrow_mut())? {
                return Ok(false);
            }
            live.draw(
                &self.pipeline.borrow(),
                &self.clock,
                self.attached.elapsed(),
            )?;
        }
        Ok(true)
    }

    /// Reads what the kernel has sent, waiting at most until the next
    /// timer.
    fn read_ring(&mut self, now: Instant) -> Result<()> {
        // The kernel wakes us only when much is waiting (wakeups are
        // costly there), so a short timer bounds how late a line shows.
        let mut wait = self
            .timers
            .next_sweep
            .saturating_duration_since(now)
            .min(POLL_INTERVAL);
        if let Some(d) = self.timers.deadline {
            wait = wait.min(d.saturating_duration_since(now));
        }
        // poll() reads only after a wakeup; consume() takes what arrived
        // without one.
        let polled = self.ring.poll(wait);
        self.ring_read(polled)?;
        self.consume_ring()?;
        let mut pipeline = self.pipeline.borrow_mut();
        pipeline.flush();
        if let (Some(server), Some(m)) = (&mut self.metrics, pipeline.metrics()) {
            server.publish(m);
            server.heartbeat(pipeline.received());
        }
        Ok(())
    }

    /// Takes what the kernel has sent, without waiting.
    fn consume_ring(&mut self) -> Result<()> {
        let consumed = self.ring.consume();
        self.ring_read(consumed)
    }

    fn ring_read(&self, res: libbpf_rs::Result<()>) -> Result<()> {
        if let Err(e) = res {
            // EINTR from a signal, or our callback asking to stop: the
            // loop condition decides; anything else is a real error.
            let interrupted = e.kind() == libbpf_rs::ErrorKind::Interrupted;
            if !interrupted && !self.pipeline.borrow().done() && !self.stop.raised() {
                return Err(e).context("reading the ring buffer");
            }
        }
        Ok(())
    }

    /// Expires timed-out queries; warns once when the pending map nears
    /// its limit.
    fn expire(&mut self, now: Instant) -> Result<Sweep> {
        let sweep = self.tracer.expire()?;
        // A sweep that stopped at its budget has left expired queries:
        // read what it reported and come back at once.
        self.timers.next_sweep = if sweep.more {
            now
        } else {
            now + self.timers.sweep_every
        };
        let limit = u64::from(self.tracer.max_pending);
        if !self.reported.occupancy && sweep.pending * 10 >= limit * 9 {
            self.reported.occupancy = true;
            self.warn(format!(
                "warning: {} queries pending, near the limit of {limit}: the oldest are being evicted; raise --max-pending or lower --timeout",
                sweep.pending
            ));
        }
        Ok(sweep)
    }

    /// Once a second: the kernel's counters into the metrics, and new
    /// ring-buffer drops said.
    fn check_counters(&mut self) -> Result<()> {
        // For the metrics, the evictions: inserts read before a sweep,
        // deletes after it, and what the sweep left in between (see
        // Counters::evicted: never more than the true count).
        let evicted = if self.metrics.is_some() {
            // What a sweep just now reported is taken first: two sweeps'
            // budgets together would not fit in the ring.
            self.consume_ring()?;
            let before = self.tracer.counters()?;
            let sweep = self.expire(Instant::now())?;
            Some((before, sweep))
        } else {
            None
        };
        self.pipeline
            .borrow_mut()
            .sample_conntrack(lookup::mono_now_ns());
        let counters = self.tracer.counters()?;
        if let (Some(m), Some((before, sweep))) =
            (self.pipeline.borrow_mut().metrics_mut(), evicted)
        {
            m.update_kernel(&counters, counters.evicted(&before, sweep.queries_left));
        }
        let drops = counters.get(Stat::RingbufDrops);
        if drops > self.reported.drops {
            self.reported.drops = drops;
            self.warn(format!(
                "warning: {drops} transactions lost so far: ring buffer full (the reader is too slow)"
            ));
        }
        let shown = self.pipeline.borrow().shown();
        if let Some(live) = &mut self.live {
            live.tick(drops, shown);
        }
        Ok(())
    }

    /// A warning goes to the table's status line, or to stderr.
    fn warn(&mut self, msg: String) {
        match &mut self.live {
            Some(live) => live.warn(msg),
            None => eprintln!("dnstrace: {msg}"),
        }
    }

    /// Detaches, delivers what the kernel still holds, and prints the
    /// summary.
    pub fn finish(self) -> Result<()> {
        let App {
            args,
            mut tracer,
            ring,
            pipeline,
            live,
            metrics,
            stop,
            attached,
            ..
        } = self;
        // Leave the alternate screen before anything else is printed.
        drop(live);
        drop(metrics);
        // Stop watching packets, expire what has timed out, and deliver
        // what is already in the ring buffer, unless the reader is gone.
        tracer.detach();
        // Each round reports at most the sweep's budget. A flood's backlog
        // may take a few, but Ctrl-C must not wait long: what is left
        // counts as pending at exit.
        let exit_by = Instant::now() + Duration::from_secs(1);
        // The ring is read before each sweep too: a sweep that used its
        // whole budget just before the stop has left that much unread, and
        // another on top of it would not fit.
        let in_flight = loop {
            if !pipeline.borrow().done() {
                ring.consume().ok();
            }
            let sweep = tracer.expire_at_exit()?;
            if !sweep.more || Instant::now() >= exit_by {
                if !pipeline.borrow().done() {
                    ring.consume().ok();
                }
                break sweep;
            }
        };
        drop(ring);
        let mut pipeline = Rc::try_unwrap(pipeline)
            .map_err(|_| anyhow::anyhow!("the ring buffer still holds the pipeline"))?
            .into_inner();
        pipeline.finish_lookups();
        pipeline.flush();
        let counters = tracer.counters()?;
        // Nobody is left to read a summary on a closed pipe or a terminal
        // that hung up (where writing fails, as it may have already).
        if pipeline.pipe_closed() || stop.hung_up() {
            return Ok(());
        }
        if let Some(e) = pipeline.take_write_error() {
            return Err(e).context("writing the output");
        }
        let facts = RunFacts {
            counters: &counters,
            in_flight: in_flight.queries_left,
            twins_left: in_flight.twins_left,
            // With --lookups the summary's lookups section counts the
            // lookups shown; its first line, the transactions.
            shown: pipeline.passed(),
            decode_errors: pipeline.decode_errors(),
            elapsed: attached.elapsed(),
            verbose: args.verbose,
        };
        let mut text = summary::render(pipeline.aggregates(), &facts, !args.no_summary);
        if let (Some((stats, evicted)), false) = (pipeline.lookup_stats(), args.no_summary) {
            if text.contains("\n\n") && !text.ends_with("\n\n") {
                // After the sections, a section of its own.
                text.push('\n');
            }
            text.push_str(&summary::lookups(stats, evicted));
        }
        if let (Some((stats, findings)), false) = (pipeline.security(), args.no_summary) {
            if text.contains("\n\n") && !text.ends_with("\n\n") {
                text.push('\n');
            }
            text.push_str(&summary::security(&stats, findings));
        }
        if !args.no_summary {
            pipeline.write_summary(&text);
        } else if counters.get(Stat::RingbufDrops) > 0 || facts.evicted() > 0 {
            // The counts of what was lost are never silent.
            eprint!("{text}");
        }
        Ok(())
    }
}

/// The privileges and the kernel, checked before anything else happens.
fn preflight(args: &Args) -> Result<()> {
    preflight::run_all(args.btf.as_deref())?;
    if !preflight::raise_memlock() && args.verbose > 0 {
        eprintln!(
            "dnstrace: could not raise RLIMIT_MEMLOCK; fine on Linux 5.11+, where BPF memory is charged to the cgroup"
        );
    }
    set_libbpf_log(args.verbose);
    Ok(())
}

/// Loads and attaches the programs.
fn load<'a>(args: &Args, storage: &'a mut ObjectStorage, filter: &Filter) -> Result<Tracer<'a>> {
    let cfg = args.loader_config(filter);
    // Classic tracepoints, chosen or forced by a kernel without BTF, are
    // looked up in tracefs.
    if cfg.reader == ReaderChoice::Tracepoint
        || (cfg.reader == ReaderChoice::Auto && !kernel_has_btf())
    {
        preflight::ensure_tracefs()?;
    }
    Tracer::start(storage, &cfg).map_err(classify_load_error)
}

/// The output format: a table needs a terminal that can draw one; lines
/// serve a pipe, or a dumb terminal, better.
fn output_format(args: &Args) -> OutputFormat {
    let stdout_tty = std::io::stdout().is_terminal();
    let format = args.output_format(stdout_tty);
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    if format == OutputFormat::Table && (!stdout_tty || dumb) {
        return OutputFormat::Text;
    }
    format
}

fn stdout_is_pipe() -> bool {
    matches!(stdout::file_type(), Some(libc::S_IFIFO | libc::S_IFSOCK))
}

/// Every record the kernel sends goes through the pipeline.
fn ring_buffer<'a>(
    tracer: &Tracer<'a>,
    pipeline: Rc<RefCell<Pipeline<Stdout>>>,
) -> Result<RingBuffer<'a>> {
    let mut rb = RingBufferBuilder::new();
    rb.add(tracer.events_map(), move |data| {
        pipeline.borrow_mut().on_record(data)
    })
    .context("setting up the ring buffer")?;
    rb.build().context("setting up the ring buffer")
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

/// libbpf's own log: with -v its warnings, with -vv everything.
fn set_libbpf_log(verbose: u8) {
    match verbose {
        0 => libbpf_rs::set_print(None),
        1 => libbpf_rs::set_print(Some((PrintLevel::Warn, libbpf_print))),
        _ => libbpf_rs::set_print(Some((PrintLevel::Debug, libbpf_print))),
    };
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
