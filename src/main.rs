//! dnstrace: every DNS transaction on a Linux host, traced with eBPF.

use std::process::ExitCode;
use std::time::Instant;

use clap::{CommandFactory, Parser};

use dnstrace::cli::Args;
use dnstrace::kernel::preflight::{check_btf_file, PreflightError, EXIT_RUNTIME};

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
    match dnstrace::app::run(&args, started) {
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
