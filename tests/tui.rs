//! The live table, end to end, as root: dnstrace runs in tmux while dig
//! queries a server in a test namespace; the screen is read back with
//! capture-pane and driven with send-keys.

mod util;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use util::tmux::Tmux;
use util::{dig, privileged, Link, Responder};

#[test]
fn live_table_shows_rows_switches_views_and_quits_cleanly() {
    let Some(_serial) = privileged("live_table_shows_rows_switches_views_and_quits_cleanly") else {
        return;
    };
    let link = Link::new("tui", 21);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tmux = Tmux::start(&format!(
        "{} --server {} --timeout 500ms; echo dnstrace-exit=$?",
        util::DNSTRACE,
        link.server_v4
    ));
    tmux.wait_for("the table", |s| {
        s.contains("dnstrace 00:") && s.contains("LATENCY")
    });
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "1",
        "the table uses the alternate screen"
    );

    let ok = dig(&link.client, server.ip(), "fine.tui.test", &[]);
    let nx = dig(
        &link.client,
        server.ip(),
        "rcode-nxdomain.tui.test",
        &["AAAA"],
    );
    let _lost = dig(&link.client, server.ip(), "drop.tui.test", &["+timeout=1"]);
    let screen = tmux.wait_for("three rows", |s| {
        s.contains("drop.tui.test") && s.contains("TIMEOUT")
    });
    assert_three_rows_newest_first(&screen, ok.id.unwrap(), nx.id.unwrap());
    assert_views(&tmux, &link);
    assert_help_and_pause(&tmux);
    quit_and_assert_summary(&tmux);
}

/// The answered, the NXDOMAIN (AAAA) and the timed-out transaction, each
/// on its row with its rcode, process and id, newest first, and counted
/// on the status line.
fn assert_three_rows_newest_first(screen: &str, ok_id: u16, nx_id: u16) {
    let row = |name: &str| {
        screen
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
            .to_string()
    };
    let fine = row("fine.tui.test");
    assert!(
        fine.contains("NOERROR") && fine.contains("dig[") && fine.contains(&ok_id.to_string()),
        "{fine}"
    );
    let nxrow = row("rcode-nxdomain.tui.test");
    assert!(
        nxrow.contains("NXDOMAIN") && nxrow.contains("AAAA") && nxrow.contains(&nx_id.to_string()),
        "{nxrow}"
    );
    // Newest first.
    let pos = |name: &str| screen.find(name).unwrap();
    assert!(pos("drop.tui.test") < pos("rcode-nxdomain.tui.test"));
    assert!(pos("rcode-nxdomain.tui.test") < pos("fine.tui.test"));
    assert!(
        screen.contains("3 shown") && screen.contains("1 timeouts"),
        "{screen}"
    );
}

/// `t` cycles the views (latency by server, by name, response codes by
/// server), `s` changes the sort.
fn assert_views(tmux: &Tmux, link: &Link) {
    tmux.keys("t");
    let s = tmux.wait_for("latency by server", |s| s.contains("latency by server"));
    let srv = s
        .lines()
        .find(|l| l.starts_with(&link.server_v4.to_string()))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(
        srv.split_whitespace().nth(1) == Some("3"),
        "three transactions: {srv}"
    );
    tmux.keys("s");
    tmux.wait_for("sort by avg", |s| s.contains("sort: avg"));
    tmux.keys("t");
    tmux.wait_for("latency by name", |s| {
        s.contains("latency by name") && s.contains("fine.tui.test")
    });
    tmux.keys("tt");
    let s = tmux.wait_for("response codes by server", |s| {
        s.contains("response codes by server")
    });
    assert!(
        s.contains("bars:") && s.contains('T') && s.contains('N'),
        "{s}"
    );
}

/// `?` opens the help and another key closes it; space pauses and resumes.
fn assert_help_and_pause(tmux: &Tmux) {
    tmux.keys("?");
    tmux.wait_for("help", |s| s.contains("pause or resume"));
    tmux.keys("x");
    tmux.wait_for("help closed", |s| !s.contains("pause or resume"));
    tmux.keys(" ");
    tmux.wait_for("paused", |s| s.contains("PAUSED"));
    tmux.keys(" ");
    tmux.wait_for("resumed", |s| !s.contains("PAUSED"));
}

/// `q` quits with status 0, leaves no alternate screen behind and prints
/// the summary of the three transactions.
fn quit_and_assert_summary(tmux: &Tmux) {
    tmux.keys("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.format("#{pane_dead}") != "1" {
        assert!(
            Instant::now() < deadline,
            "q did not quit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "no alternate screen left behind"
    );
    let after = tmux.screen();
    assert!(after.contains("dnstrace-exit=0"), "exit status 0:\n{after}");
    assert!(
        after.contains("transactions in") && after.contains("; 3 shown"),
        "summary after quitting:\n{after}"
    );
    assert!(
        after.contains("usecs") && after.contains("NXDOMAIN"),
        "{after}"
    );
}

#[test]
fn sigterm_restores_the_terminal() {
    let Some(_serial) = privileged("sigterm_restores_the_terminal") else {
        return;
    };
    let tmux = Tmux::start(&format!(
        "{} --server 192.0.2.53; echo dnstrace-exit=$?",
        util::DNSTRACE
    ));
    tmux.wait_for("the table", |s| s.contains("dnstrace 00:"));
    let shell = tmux.format("#{pane_pid}");
    let out = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
    let pid: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("dnstrace's pid");
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let after = tmux.wait_for("exit", |s| s.contains("dnstrace-exit="));
    assert!(after.contains("dnstrace-exit=0"), "{after}");
    assert_eq!(tmux.format("#{alternate_on}"), "0");
}

/// The pid of the command the pane's shell runs.
fn child_of_pane(tmux: &Tmux) -> i32 {
    let shell = tmux.format("#{pane_pid}");
    let out = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("dnstrace's pid")
}

#[test]
fn sighup_restores_the_terminal_and_exits_0() {
    let Some(_serial) = privileged("sighup_restores_the_terminal_and_exits_0") else {
        return;
    };
    // The shell lingers after dnstrace, so that the cursor is read from a
    // live pane.
    let tmux = Tmux::start(&format!(
        "{} --server 192.0.2.53; echo dnstrace-exit=$?; sleep 10",
        util::DNSTRACE
    ));
    tmux.wait_for("the table", |s| s.contains("dnstrace 00:"));
    assert_eq!(
        tmux.format("#{cursor_flag}"),
        "0",
        "the table hides the cursor"
    );
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(child_of_pane(&tmux), libc::SIGHUP) };
    let after = tmux.wait_for("exit", |s| s.contains("dnstrace-exit="));
    assert!(after.contains("dnstrace-exit=0"), "{after}");
    assert_eq!(tmux.format("#{alternate_on}"), "0", "{after}");
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "the cursor is back");
}

#[test]
fn a_dumb_terminal_gets_lines_not_a_table() {
    let Some(_serial) = privileged("a_dumb_terminal_gets_lines_not_a_table") else {
        return;
    };
    let link = Link::new("dumb", 235);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tmux = Tmux::start(&format!(
        "TERM=dumb {} -o table --server {}; echo dnstrace-exit=$?",
        util::DNSTRACE,
        link.server_v4
    ));
    tmux.wait_for("the start-up line", |s| s.contains("tracing DNS"));
    dig(&link.client, server.ip(), "plain.dumb.test", &[]);
    let s = tmux.wait_for("a text line", |s| s.contains("plain.dumb.test"));
    assert_eq!(tmux.format("#{alternate_on}"), "0", "no full screen:\n{s}");
    assert!(
        s.contains("NOERROR") && !s.contains("dnstrace 00:"),
        "a text line, no status line:\n{s}"
    );
    tmux.keys("C-c");
    let after = tmux.wait_for("exit", |s| s.contains("dnstrace-exit="));
    assert!(after.contains("dnstrace-exit=0"), "{after}");
}

/// A terminal that goes away (a tmux server of its own killed: the pty
/// hangs up) ends the table: it used to spin at full CPU on the dead tty,
/// deaf to SIGTERM, its programs still attached.
#[test]
fn table_exits_when_its_terminal_hangs_up() {
    let Some(_serial) = privileged("table_exits_when_its_terminal_hangs_up") else {
        return;
    };
    let socket = format!("dnstrace-hangup-{}", std::process::id());
    let pattern = "--server 192.0.2.77 --timeout 777ms";
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &socket])
            .args(args)
            .output()
            .expect("tmux")
    };
    let command = format!("{} {pattern}", util::DNSTRACE);
    let started = tmux(&["new-session", "-d", "-x", "120", "-y", "40", &command]);
    assert!(started.status.success(), "{started:?}");
    let drawn = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p"]).stdout).contains("LATENCY")
    });
    // A few rounds of the table's loop first, as a user's terminal would.
    std::thread::sleep(std::time::Duration::from_secs(2));
    // `--`: the pattern starts with a dash. pgrep exits 1 when nothing
    // matches, 2 on a usage error (which must not read as "gone"). The
    // tmux server's command line holds the pattern too: only a process
    // named dnstrace counts.
    let running = || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", "--", pattern])
            .output()
            .expect("pgrep");
        assert!(matches!(out.status.code(), Some(0 | 1)), "pgrep: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .any(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "dnstrace")
            })
    };
    let ran = running();
    tmux(&["kill-server"]);
    assert!(drawn, "the table was not drawn");
    assert!(ran, "dnstrace was not found running before the hang-up");
    let gone = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        !running()
    });
    if !gone {
        let _ = std::process::Command::new("pkill")
            .args(["-9", "-f", "--", pattern])
            .status();
    }
    assert!(gone, "dnstrace still runs 5 s after its terminal hung up");
}

/// A terminal that stops reading (a stalled SSH session, a suspended
/// terminal) must not stop the tracing: frames are drawn by a thread of
/// their own, so the ring buffer is still read and everything else still
/// counts. Here the tmux server is stopped (SIGSTOP) until the pty is full,
/// queries are sent, and the metrics, served by the same process, must
/// count every one of them while the terminal is still stopped.
#[test]
fn table_keeps_tracing_while_its_terminal_is_stalled() {
    let Some(_serial) = privileged("table_keeps_tracing_while_its_terminal_is_stalled") else {
        return;
    };
    const METRICS: &str = "127.0.0.1:19263";
    const N: u16 = 300;
    let link = Link::new("stall", 33);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let socket = format!("dnstrace-stall-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &socket])
            .args(args)
            .output()
            .expect("tmux")
    };
    let command = format!(
        "{} --server {} --metrics {METRICS}",
        util::DNSTRACE,
        link.server_v4
    );
    let started = tmux(&["new-session", "-d", "-x", "160", "-y", "40", &command]);
    assert!(started.status.success(), "{started:?}");
    // The server is resumed and killed however the test ends.
    struct Server(String, i32);
    impl Drop for Server {
        fn drop(&mut self) {
            // SAFETY: signals to a process of ours.
            unsafe { libc::kill(self.1, libc::SIGCONT) };
            let _ = Command::new("tmux")
                .args(["-L", &self.0, "kill-server"])
                .output();
        }
    }
    let pid = String::from_utf8_lossy(&tmux(&["display-message", "-p", "#{pid}"]).stdout)
        .trim()
        .parse::<i32>()
        .expect("the tmux server's pid");
    let _server = Server(socket.clone(), pid);
    let drawn = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p"]).stdout).contains("LATENCY")
    });
    assert!(drawn, "the table was not drawn");
    let answered = || {
        let (status, _, body) = util::prometheus::http(METRICS, "GET", "/metrics");
        assert_eq!(status, 200);
        body.lines()
            .filter(|l| l.starts_with("dnstrace_transactions_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let ask = |ids: std::ops::Range<u16>| {
        for id in ids {
            let reply = util::query(&link.client, server, id, &format!("s{id}.stall.test"), 1);
            assert!(reply.is_some(), "query {id} answered");
        }
    };
    let wait_for = |n: u16| {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = answered();
        while seen < f64::from(n) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            seen = answered();
        }
        seen
    };
    // Rows first, so that every frame fills the screen.
    ask(0..N);
    assert_eq!(wait_for(N), f64::from(N), "counted before the stop");
    // SAFETY: a signal to the tmux server started above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    // Ten frames a second of 40 full lines fill the pty in about one.
    std::thread::sleep(Duration::from_secs(3));
    ask(N..2 * N);
    assert_eq!(
        wait_for(2 * N),
        f64::from(2 * N),
        "transactions counted while the terminal was stopped"
    );
}
