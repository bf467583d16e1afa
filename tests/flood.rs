//! A flood of a million queries that are never answered, as root: the
//! pending map stays bounded, each query is reported as TIMEOUT or counted
//! as evicted, and dnstrace stays live and small.

mod util;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use util::{counter, privileged, Link, Responder};

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// dnstrace with `--json -v`, its output to a file and its stderr read
/// all along (a full pipe would block it).
struct FloodTracer {
    child: Child,
    out_path: PathBuf,
    err_reader: JoinHandle<String>,
}

impl FloodTracer {
    fn start(args: &[&str]) -> FloodTracer {
        let out_path =
            std::env::temp_dir().join(format!("dnstrace-flood-{}.json", std::process::id()));
        let out_file = std::fs::File::create(&out_path).unwrap();
        let bin = std::env::var("DNSTRACE_BIN").unwrap_or_else(|_| util::DNSTRACE.to_string());
        let mut child = Command::new(bin)
            .args(["--json", "-v"])
            .args(args)
            .stdout(out_file)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read stderr all along: a full pipe would block dnstrace.
        let mut err_pipe = child.stderr.take().unwrap();
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err_pipe.read_to_string(&mut s);
            s
        });
        FloodTracer {
            child,
            out_path,
            err_reader,
        }
    }

    /// SIGINT; waits for a successful exit: its JSON output and stderr.
    fn stop(mut self) -> (String, String) {
        let pid = self.child.id();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(
                Instant::now() < deadline,
                "dnstrace did not exit after the flood"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = self.err_reader.join().unwrap();
        assert!(status.success(), "{stderr}");
        let text = std::fs::read_to_string(&self.out_path).unwrap();
        let _ = std::fs::remove_file(&self.out_path);
        (text, stderr)
    }
}

/// An address on the link that nobody has (.99): queries to it leave and
/// are dropped on the other side.
fn dead_address(link: &Link) -> Ipv4Addr {
    let dead: Ipv4Addr = "10.77.28.99".parse().unwrap();
    link.client.ip(&[
        "neigh",
        "replace",
        &dead.to_string(),
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        &link.client_if,
        "nud",
        "permanent",
    ]);
    dead
}

/// 16 sockets x 65536 ids: 1,048,576 distinct queries to `dead`; how many
/// were sent.
fn send_a_million(link: &Link, dead: Ipv4Addr) -> u64 {
    link.client.within(move || {
        let target = SocketAddr::new(IpAddr::V4(dead), 53);
        let mut sent = 0u64;
        for s in 0..16u32 {
            let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
            for id in 0..=u16::MAX {
                let q = util::dns::build_query(id, &format!("q{s}-{id}.flood.test"), 1);
                if sock.send_to(&q, target).is_ok() {
                    sent += 1;
                }
            }
        }
        sent
    })
}

/// The `-v` exit summary's counters.
struct Summary {
    queries: u64,
    timeouts: u64,
    evicted: u64,
    drops: u64,
    insert_failed: u64,
    pending: u64,
}

impl Summary {
    fn parse(stderr: &str) -> Summary {
        let pending: u64 = stderr
            .lines()
            .find_map(|l| {
                l.split("; ")
                    .nth(1)
                    .and_then(|p| p.strip_suffix(" queries still pending at exit"))
            })
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{stderr}"));
        Summary {
            queries: counter(stderr, "queries"),
            timeouts: counter(stderr, "timeouts"),
            evicted: counter(stderr, "evicted"),
            drops: counter(stderr, "ringbuf_drops"),
            insert_failed: counter(stderr, "insert_failed"),
            pending,
        }
    }
}

#[test]
fn a_million_unanswered_queries() {
    let Some(_serial) = privileged("a_million_unanswered_queries") else {
        return;
    };
    let link = Link::new("flood", 28);
    let dead = dead_address(&link);
    let live = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, live);

    let tracer = FloodTracer::start(&[
        "--timeout",
        "1s",
        "--server",
        &dead.to_string(),
        "--server",
        &link.server_v4.to_string(),
    ]);
    std::thread::sleep(Duration::from_millis(1500));

    let started = Instant::now();
    let sent = send_a_million(&link, dead);
    let flood_secs = started.elapsed().as_secs_f64();
    // Still live: a real query in the middle of the backlog is reported.
    let answer = util::query(&link.client, live, 4242, "alive.flood.test", 1);
    assert!(answer.is_some());
    std::thread::sleep(Duration::from_millis(2500));
    let hwm = vm_hwm_kib(tracer.child.id());
    let (text, stderr) = tracer.stop();

    let timeout_lines = text
        .lines()
        .filter(|l| l.contains("\"rcode\":\"TIMEOUT\""))
        .count() as u64;
    let alive = text
        .lines()
        .filter(|l| l.contains("alive.flood.test"))
        .count();
    let Summary {
        queries,
        timeouts,
        evicted,
        drops,
        insert_failed,
        pending,
    } = Summary::parse(&stderr);
    println!(
        "flood: sent {sent} in {flood_secs:.1}s; tracked {queries}, timed out {timeouts} ({timeout_lines} reported, {drops} dropped), evicted {evicted}, pending {pending}, insert failed {insert_failed}; dnstrace peak RSS {} MiB",
        hwm / 1024
    );
    assert_eq!(sent, 1 << 20, "every query left");
    // Every query is accounted for, once.
    assert_eq!(queries + insert_failed, sent + 1, "{stderr}");
    assert_eq!(timeouts + evicted + pending, sent, "{stderr}");
    assert!(evicted > 0, "the 65536-entry map cannot hold a million");
    // Every timeout the kernel counted was reported, or dropped and counted.
    assert_eq!(timeout_lines + drops, timeouts, "{stderr}");
    assert_eq!(alive, 1, "the live query among the flood");
    assert!(hwm > 0 && hwm < 64 * 1024, "peak RSS {hwm} KiB");
}
