//! The metrics endpoint under hostile clients, as root, all from loopback:
//! 2,000 idle connections (reopened as fast as the server closes them),
//! slowloris clients, 10 MiB request lines and random bytes, while a real
//! Prometheus scrapes every second (1 s timeout), this test scrapes
//! `/metrics` and `/healthz` four times a second, and dnstrace traces a
//! steady DNS workload in network namespaces. Every scrape must be
//! answered within 1 s, dnstrace's file descriptors and memory must stay
//! bounded, and it must report every transaction.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dnstrace::metrics::MAX_CONNECTIONS;
use util::prometheus::Prometheus;
use util::{counter, privileged, Link, Responder, Tracer};

const METRICS_ADDR: &str = "127.0.0.1:19267";
const PROMETHEUS_ADDR: &str = "127.0.0.1:19092";
const IDLE: usize = 2000;
const ATTACK: Duration = Duration::from_secs(20);

/// One GET on a fresh connection: its status and how long the answer
/// took, to the last byte.
fn timed_get(path: &str) -> (u16, Duration) {
    let t = Instant::now();
    let Ok(mut conn) = TcpStream::connect(METRICS_ADDR) else {
        return (0, t.elapsed());
    };
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = write!(conn, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw);
    let status = String::from_utf8_lossy(&raw)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, t.elapsed())
}

/// A small xorshift: random bytes without a dependency.
fn noise(seed: &mut u64, out: &mut [u8]) {
    for b in out {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *b = *seed as u8;
    }
}

/// Holds `IDLE` connections that send nothing, reopening each one the
/// server closes: how many were opened in all.
fn idle_crowd(stop: &AtomicBool) -> u64 {
    let mut conns: Vec<Option<TcpStream>> = (0..IDLE).map(|_| None).collect();
    let mut opened = 0;
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        for slot in conns.iter_mut() {
            // Closed: end of file, an error, or an answer (the server is
            // done with it); nothing to read yet: still held.
            let closed = match slot {
                Some(c) => {
                    !matches!(c.read(&mut buf), Err(ref e) if e.kind() == ErrorKind::WouldBlock)
                }
                None => true,
            };
            if closed {
                *slot = TcpStream::connect(METRICS_ADDR).ok().inspect(|c| {
                    c.set_nonblocking(true).unwrap();
                    opened += 1;
                });
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    opened
}

/// Slowloris: a request head that never ends, one byte every 100 ms, on
/// 50 connections, each reopened when the server gives up on it.
fn slowloris(stop: &AtomicBool) -> u64 {
    let mut conns: Vec<Option<TcpStream>> = (0..50).map(|_| None).collect();
    let mut opened = 0;
    while !stop.load(Ordering::Relaxed) {
        for slot in conns.iter_mut() {
            let alive = slot.as_mut().is_some_and(|c| c.write_all(b"a").is_ok());
            if !alive {
                *slot = TcpStream::connect(METRICS_ADDR).ok().and_then(|mut c| {
                    opened += 1;
                    c.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
                        .ok()
                        .map(|_| c)
                });
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    opened
}

/// A request line of 10 MiB, again and again: how many were sent (as far
/// as the server read) and what came back.
fn huge_lines(stop: &AtomicBool) -> (u64, u64) {
    let mut line = b"GET /".to_vec();
    line.resize(10 << 20, b'a');
    line.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    let (mut sent, mut refused) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut c) = TcpStream::connect(METRICS_ADDR) else {
            continue;
        };
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.write_all(&line);
        sent += 1;
        let mut head = [0u8; 12];
        if c.read_exact(&mut head).is_ok() && &head[..] == b"HTTP/1.1 431" {
            refused += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (sent, refused)
}

/// 64 KiB of random bytes per connection, again and again: how many.
fn random_bytes(stop: &AtomicBool) -> u64 {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut junk = vec![0u8; 64 << 10];
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut c) = TcpStream::connect(METRICS_ADDR) else {
            continue;
        };
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        noise(&mut seed, &mut junk);
        let _ = c.write_all(&junk);
        let _ = c.read(&mut [0u8; 64]);
        sent += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    sent
}

/// dnstrace's open file descriptors and resident memory (KiB) now.
fn fds_and_rss(pid: i32) -> (usize, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (fds, rss)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn endpoint_survives_hostile_clients_while_tracing() {
    let Some(_serial) = privileged("endpoint_survives_hostile_clients_while_tracing") else {
        return;
    };
    let link = Link::new("mh", 238);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&[
        "-v",
        "--server",
        &link.server_v4.to_string(),
        "--timeout",
        "1s",
        "--metrics",
        METRICS_ADDR,
    ]);
    let pid = tracer.pid();
    let prom = Prometheus::start(PROMETHEUS_ADDR, METRICS_ADDR, &[]);
    prom.wait_for(r#"up{job="dnstrace"}"#, 1.0);
    let (base_fds, base_rss) = fds_and_rss(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicU64::new(0));
    // The workload: 500 queries a second, each waited for, distinct ids.
    let dns = {
        let (stop, asked) = (Arc::clone(&stop), Arc::clone(&asked));
        link.client.spawn(move || {
            let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let mut answered = 0u64;
            let mut buf = [0u8; 512];
            let mut id = 0u16;
            while !stop.load(Ordering::Relaxed) {
                let q = util::dns::build_query(id, &format!("h{id}.mh.test"), 1);
                sock.send_to(&q, server).unwrap();
                asked.fetch_add(1, Ordering::Relaxed);
                if sock.recv(&mut buf).is_ok() {
                    answered += 1;
                }
                id = id.wrapping_add(1);
                std::thread::sleep(Duration::from_millis(2));
            }
            answered
        })
    };
    let attack_stop = Arc::new(AtomicBool::new(false));
    let spawn = |f: fn(&AtomicBool) -> u64| {
        let s = Arc::clone(&attack_stop);
        std::thread::spawn(move || f(&s))
    };
    let attack_start = Instant::now();
    let idle = spawn(idle_crowd);
    let slow = spawn(slowloris);
    let random = spawn(random_bytes);
    let huge = {
        let s = Arc::clone(&attack_stop);
        std::thread::spawn(move || huge_lines(&s))
    };

    let mut scrapes = Vec::new();
    let mut health = Vec::new();
    let (mut max_fds, mut max_rss) = (base_fds, base_rss);
    while attack_start.elapsed() < ATTACK {
        let (status, took) = timed_get("/metrics");
        assert_eq!(status, 200, "a scrape failed after {took:?}");
        scrapes.push(took);
        let (status, took) = timed_get("/healthz");
        assert_eq!(status, 200, "/healthz failed after {took:?}");
        health.push(took);
        let (fds, rss) = fds_and_rss(pid);
        max_fds = max_fds.max(fds);
        max_rss = max_rss.max(rss);
        std::thread::sleep(Duration::from_millis(250));
    }
    attack_stop.store(true, Ordering::Relaxed);
    let (idle, slow, random, (huge_sent, huge_refused)) = (
        idle.join().unwrap(),
        slow.join().unwrap(),
        random.join().unwrap(),
        huge.join().unwrap(),
    );
    let window = format!("[{}s]", ATTACK.as_secs());
    let prom_slowest = prom
        .value(&format!(
            r#"max_over_time(scrape_duration_seconds{{job="dnstrace"}}{window})"#
        ))
        .unwrap();
    let prom_down = prom
        .value(&format!(r#"min_over_time(up{{job="dnstrace"}}{window})"#))
        .unwrap();
    let prom_scrapes = prom
        .value(&format!(r#"count_over_time(up{{job="dnstrace"}}{window})"#))
        .unwrap();
    drop(prom);
    stop.store(true, Ordering::Relaxed);
    let answered = dns.join().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let out = tracer.stop();

    let (scrape_max, scrape_median) =
        (*scrapes.iter().max().unwrap(), median(&mut scrapes.clone()));
    let health_max = *health.iter().max().unwrap();
    println!(
        "hostile clients for {}s: {idle} idle connections opened (holding {IDLE}), {slow} slowloris, \
         {huge_sent} 10 MiB request lines ({huge_refused} answered 431), {random} of random bytes",
        ATTACK.as_secs()
    );
    println!(
        "scrapes: {} by the test, max {scrape_max:?}, median {scrape_median:?}; /healthz max {health_max:?}; \
         Prometheus: {prom_scrapes} scrapes, slowest {prom_slowest:.4} s, up min {prom_down}",
        scrapes.len()
    );
    println!(
        "dnstrace: fds {base_fds} -> max {max_fds} (limit {}), RSS {} -> max {} MiB; \
         {} queries asked, {answered} answered, {} records",
        base_fds + MAX_CONNECTIONS + 16,
        base_rss / 1024,
        max_rss / 1024,
        asked.load(Ordering::Relaxed),
        out.records.len()
    );

    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        scrape_max < Duration::from_secs(1),
        "slowest scrape {scrape_max:?}"
    );
    assert!(
        health_max < Duration::from_secs(1),
        "slowest /healthz {health_max:?}"
    );
    assert!(
        prom_slowest < 1.0,
        "Prometheus' slowest scrape {prom_slowest} s"
    );
    assert_eq!(prom_down, 1.0, "Prometheus saw the target down");
    assert!(
        prom_scrapes >= ATTACK.as_secs() as f64 - 2.0,
        "{prom_scrapes}"
    );
    assert!(
        idle > IDLE as u64,
        "the idle crowd was held and renewed: {idle}"
    );
    assert!(slow > 50, "{slow}");
    assert!(huge_sent > 0 && random > 0);
    assert!(
        max_fds <= base_fds + MAX_CONNECTIONS + 16,
        "{max_fds} descriptors, from {base_fds}"
    );
    assert!(
        max_rss <= base_rss + 32 * 1024,
        "RSS {max_rss} KiB, from {base_rss}"
    );
    // Every query the workload sent is one record, answered.
    let asked = asked.load(Ordering::Relaxed);
    assert_eq!(answered, asked, "the responder answers everything");
    assert_eq!(out.records.len() as u64, asked, "{}", out.stderr);
    assert!(out.records.iter().all(|r| r["rcode"] == "NOERROR"));
    assert_eq!(counter(&out.stderr, "ringbuf_drops"), 0);
    assert_eq!(counter(&out.stderr, "evicted"), 0);
}
