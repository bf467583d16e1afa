//! dnstrace: every DNS transaction on a Linux host, traced with eBPF.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::{CommandFactory, Parser};

use dnstrace::cli::Args;
use dnstrace::kernel::preflight::{check_btf_file, PreflightError, EXIT_RUNTIME};

/// Whether fd 1 was closed when the process started (`dnstrace >&-`).
/// Rust's runtime puts /dev/null on a closed standard descriptor before
/// main runs, so this is read earlier, by a constructor.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

extern "C" fn note_closed_stdout() {
    // SAFETY: F_GETFD on fd 1 changes nothing.
    if unsafe { libc::fcntl(1, libc::F_GETFD) } == -1 {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_STDOUT: extern "C" fn() = note_closed_stdout;

fn main() -> ExitCode {
    let started = Instant::now();
    let args = Args::parse();
    // A --btf file that is not BTF is a usage error, found before anything
    // else runs.
    let checked = args.validate().and_then(|()| match &args.btf {
        Some(path) => check_btf_file(path),
        None => Ok(()),
    });
    if let Err(msg) = checked {
        Args::command()
            .error(clap::error::ErrorKind::ValueValidation, msg)
            .exit();
    }
    match dnstrace::app::run(&args, started, STDOUT_CLOSED.load(Ordering::Relaxed)) {
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
