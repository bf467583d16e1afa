//! The binary's behaviour that needs no kernel: help, usage errors, and the
//! preflight's answer to a caller without privileges.

use std::process::{Command, Output};

const DNSTRACE: &str = env!("CARGO_BIN_EXE_dnstrace");

fn dnstrace(args: &[&str]) -> Output {
    Command::new(DNSTRACE)
        .args(args)
        .output()
        .expect("running dnstrace")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_examples_and_exit_statuses() {
    let out = dnstrace(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "sudo dnstrace --min-latency 50ms",
        "--json | jq",
        "--rcode NXDOMAIN --name '*.svc.cluster.local'",
        "Exit status",
        "--max-pending",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn version() {
    let out = dnstrace(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("dnstrace "));
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    for (args, needle) in [
        (&["--rcode", "NOPE"][..], "unknown rcode 'NOPE'"),
        (&["--min-latency", "soon"][..], "not a duration"),
        (
            &["--server", "300.1.1.1"][..],
            "neither an IP address nor a CIDR",
        ),
        (&["--output", "xml"][..], "invalid value 'xml'"),
        (
            &["--btf", "/nonexistent/vmlinux"][..],
            "--btf /nonexistent/vmlinux: no such file",
        ),
        (&["--bogus"][..], "unexpected argument '--bogus'"),
    ] {
        let out = dnstrace(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            err.matches("error:").count(),
            1,
            "the error is printed once: {err}"
        );
    }
}

#[test]
fn without_privileges_it_says_to_use_sudo_and_exits_3() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let out = if root {
        // Drop to nobody with no capabilities, as a plain user would run it.
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
            ])
            .arg(DNSTRACE)
            .args(["--duration", "1s"])
            .output()
            .expect("running setpriv (util-linux)")
    } else {
        dnstrace(&["--duration", "1s"])
    };
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("needs root") && err.contains("sudo"), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

#[test]
fn a_closed_stdout_is_an_error_not_silence() {
    let out = Command::new("sh")
        .args(["-c", &format!("exec {DNSTRACE} -d 1s >&-")])
        .output()
        .expect("running sh");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("standard output is closed"), "{err}");
}

#[test]
fn values_that_can_never_match_are_usage_errors() {
    for (args, needle) in [
        (&["-d", "0"][..], "a duration of 0"),
        (&["--pid", "0"][..], "--pid"),
        (&["--comm", "a-process-name-too-long"][..], "15 bytes"),
        (&["-i", "an-interface-name-too-long"][..], "interface name"),
    ] {
        let out = dnstrace(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}
