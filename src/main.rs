//! dnstrace: every DNS transaction on a Linux host, traced with eBPF.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};
use libbpf_rs::{PrintLevel, RingBufferBuilder};

use dnstrace::bpf::{self, Config, Counters, ObjectStorage, Tracer};
use dnstrace::cli::{Args, OutputFormat};
use dnstrace::filter::Filter;
use dnstrace::output::Clock;
use dnstrace::preflight::{self, PreflightError, EXIT_KERNEL, EXIT_PRIVILEGES, EXIT_RUNTIME};
use dnstrace::sink::Sink;

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
    let format = args.output_format(std::io::stdout().is_terminal());
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

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }

    let cfg = Config {
        filter: &filter,
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
        "dnstrace: tracing DNS over UDP on port {} in every network namespace ({}ms to attach, {}){}{}; Ctrl-C to stop",
        ports.join(","),
        attached.duration_since(started).as_millis(),
        match tracer.reader {
            bpf::Reader::Dynptr => "dynptr reader",
            bpf::Reader::Linear => "linear reader",
        },
        if filters.is_empty() { "" } else { "; filters: " },
        filters
    );
    if args.verbose > 0 {
        eprintln!("dnstrace: packet reader: {}", tracer.reader.describe());
    }

    let sink = std::cell::RefCell::new(Sink::new(format, filter.clone(), Clock::now(), args.count));
    if format == OutputFormat::Table {
        // The live table is still to come; until then a header over the text lines.
        sink.borrow_mut().header();
    }
    let mut rb = RingBufferBuilder::new();
    rb.add(tracer.events_map(), |data| {
        sink.borrow_mut().on_record(data)
    })
    .context("setting up the ring buffer")?;
    let rb = rb.build().context("setting up the ring buffer")?;

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

        let now = Instant::now();
        if now >= next_sweep {
            let pending = tracer.sweep()?;
            next_sweep = now + sweep_every;
            if !occupancy_warned && pending * 10 >= u64::from(tracer.max_pending) * 9 {
                occupancy_warned = true;
                eprintln!(
                    "dnstrace: warning: {pending} queries pending, near the limit of {}: the oldest are being evicted; raise --max-pending or lower --timeout",
                    tracer.max_pending
                );
            }
        }
        if now >= next_check {
            next_check = now + Duration::from_secs(1);
            let drops = tracer.counters()?.get("ringbuf_drops");
            if drops > reported_drops {
                eprintln!(
                    "dnstrace: warning: {} transactions lost so far: ring buffer full (the reader is too slow)",
                    drops
                );
                reported_drops = drops;
            }
        }
    }

    // Stop watching packets, expire what has timed out, and deliver what is
    // already in the ring buffer, unless the reader is gone.
    tracer.detach();
    let in_flight = tracer.sweep()?;
    if !sink.borrow().done() {
        rb.consume().ok();
    }
    drop(rb);
    let mut sink = sink.into_inner();
    sink.flush();
    let counters = tracer.counters()?;
    if let Some(e) = sink.take_write_error() {
        return Err(e).context("writing the output");
    }
    if !args.no_summary && !sink.pipe_closed() {
        summary(
            &counters,
            &sink,
            in_flight,
            attached.elapsed(),
            args.verbose,
        );
    }
    Ok(())
}

fn summary(c: &Counters, sink: &Sink, in_flight: u64, elapsed: Duration, verbose: u8) {
    let answered = c.get("answered");
    let timeouts = c.get("timeouts");
    let queries = c.get("queries");
    let evicted = queries.saturating_sub(answered + timeouts + in_flight);
    eprintln!(
        "dnstrace: {} transactions in {:.1}s: {} answered, {} timed out; {} shown",
        answered + timeouts,
        elapsed.as_secs_f64(),
        answered,
        timeouts,
        sink.shown()
    );
    eprintln!(
        "dnstrace: lost: {} (ring buffer full), {} (evicted from the pending map), {} (not tracked: map update failed); {} queries still pending at exit",
        c.get("ringbuf_drops"),
        evicted,
        c.get("insert_failed"),
        in_flight
    );
    let malformed = c.malformed();
    if !malformed.is_empty() {
        let total: u64 = malformed.iter().map(|(_, n)| n).sum();
        let parts: Vec<String> = malformed
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        eprintln!(
            "dnstrace: skipped {total} malformed DNS packets: {}",
            parts.join(", ")
        );
    }
    if sink.decode_errors() > 0 {
        eprintln!(
            "dnstrace: {} records from the kernel could not be decoded",
            sink.decode_errors()
        );
    }
    if verbose > 0 {
        for (i, (_, key, what)) in bpf::STATS.iter().enumerate() {
            eprintln!("dnstrace:   {key:<24} {:>12}  {what}", c.0[i]);
        }
        eprintln!(
            "dnstrace:   {:<24} {:>12}  queries evicted (derived)",
            "evicted", evicted
        );
    }
}
