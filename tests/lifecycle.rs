//! How a trace ends, as root, with real traffic: a stop signal while the
//! reader of stdout has stalled, a reader that goes away between matching
//! transactions, and a privilege error for the classic tracepoints.

mod util;

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::{privileged, query, Link, Responder, DNSTRACE};

/// Waits for the start-up line on stderr and returns the rest of stderr,
/// read in the background.
fn wait_attached(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "dnstrace ended before attaching"
        );
        if line.contains("tracing DNS") {
            break;
        }
        assert!(Instant::now() < deadline, "dnstrace did not attach");
    }
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    })
}

/// Waits for the child to exit; fails after `limit`.
fn exit_within(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: dnstrace still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_ends_a_trace_whose_reader_stalled() {
    let Some(_serial) = privileged("sigterm_ends_a_trace_whose_reader_stalled") else {
        return;
    };
    let link = Link::new("stall", 233);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    // stdout: a pipe that nobody reads, as a consumer that stalled.
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into the array we own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are fresh from pipe() and owned here.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut child = Command::new(DNSTRACE)
        .args(["--json", "--server", &link.server_v4.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = wait_attached(&mut child);
    // Far more JSON than a pipe holds (64 KiB): dnstrace blocks writing.
    for i in 0..1500u16 {
        query(&link.client, server, i, &format!("n{i}.stall.test"), 1);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still tracing, blocked"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = exit_within(&mut child, Duration::from_secs(3), "SIGTERM");
    assert!(status.success(), "{status}");
    let err = stderr.join().unwrap();
    assert!(
        err.contains("transactions in"),
        "the summary goes to stderr: {err}"
    );
    drop(read_end);
}

#[test]
fn a_reader_that_goes_away_ends_the_trace_at_once() {
    let Some(_serial) = privileged("a_reader_that_goes_away_ends_the_trace_at_once") else {
        return;
    };
    let link = Link::new("head", 234);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let mut child = Command::new(DNSTRACE)
        .args(["-o", "text", "--server", &link.server_v4.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stderr = wait_attached(&mut child);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    query(&link.client, server, 7, "first.head.test", 1);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("first.head.test"), "{line}");
    // As `| head -1` does: the reader exits, and no traffic follows.
    drop(out);
    let status = exit_within(&mut child, Duration::from_secs(2), "reader gone");
    assert!(status.success(), "{status}");
}

#[test]
fn classic_tracepoints_without_tracefs_access_is_a_privilege_error() {
    let Some(_serial) =
        privileged("classic_tracepoints_without_tracefs_access_is_a_privilege_error")
    else {
        return;
    };
    // A user with the capabilities to load BPF programs, but not root:
    // tracefs is closed to it.
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=+bpf,+perfmon",
            "--ambient-caps=+bpf,+perfmon",
        ])
        .arg(DNSTRACE)
        .args(["--reader", "tracepoint", "-d", "1s"])
        .output()
        .expect("running setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("tracefs") && err.contains("root"), "{err}");
}

#[test]
fn an_ignored_sighup_stays_ignored_as_nohup_leaves_it() {
    let Some(_serial) = privileged("an_ignored_sighup_stays_ignored_as_nohup_leaves_it") else {
        return;
    };
    let mut child = Command::new("sh")
        .args([
            "-c",
            &format!("trap '' HUP; exec {DNSTRACE} --json --server 192.0.2.53"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = wait_attached(&mut child);
    // SAFETY: signalling our own child (sh exec'd dnstrace: same pid).
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "a SIGHUP ignored by the parent must not stop dnstrace"
    );
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = exit_within(&mut child, Duration::from_secs(3), "SIGINT");
    assert!(status.success(), "{status}: {}", stderr.join().unwrap());
}

#[test]
fn dev_null_opened_read_write_is_a_fine_stdout() {
    let Some(_serial) = privileged("dev_null_opened_read_write_is_a_fine_stdout") else {
        return;
    };
    // As Python's subprocess.DEVNULL and daemon(3) leave fd 1; only a
    // descriptor that was closed is refused.
    let out = Command::new("sh")
        .args(["-c", &format!("exec {DNSTRACE} -d 500ms 1<>/dev/null")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {err}", out.status);
    assert!(err.contains("tracing DNS"), "{err}");
}
