//! The metrics endpoint end to end, as root: dnstrace traces a dig workload
//! in network namespaces with `--metrics`, a real Prometheus server (the
//! Debian package) scrapes it on loopback, and its query API must show the
//! series with the values the workload implies. `promtool check metrics`
//! lints a scraped body.

mod util;

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use util::prometheus::{http, Prometheus};
use util::{dig, privileged, Link, Responder, TempDir, Tracer, DNSTRACE};

const METRICS_ADDR: &str = "127.0.0.1:19253";
const PROMETHEUS_ADDR: &str = "127.0.0.1:19090";

fn promtool_check(body: &str, dir: &Path) -> (bool, String) {
    let file = dir.join("scraped.prom");
    std::fs::write(&file, body).unwrap();
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .expect("running promtool (apt-get install prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// One sample's value in an exposition body.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn prometheus_scrapes_what_dnstrace_saw() {
    let Some(_serial) = privileged("prometheus_scrapes_what_dnstrace_saw") else {
        return;
    };
    let link = Link::new("pm", 240);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let server_ip = link.server_v4.to_string();
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&[
        "--server",
        &server_ip,
        "--timeout",
        "1s",
        "--metrics",
        METRICS_ADDR,
    ]);
    assert!(
        TcpStream::connect(METRICS_ADDR).is_ok(),
        "listening once tracing"
    );
    assert_second_tracer_cannot_take_the_port();

    dig_eleven_transactions(&link, server);
    let body = scrape_until_timeout_counted();
    assert_endpoint_routes();
    assert_promtool_passes(&body);

    let prom = Prometheus::start(PROMETHEUS_ADDR, METRICS_ADDR, &[]);
    assert_prometheus_series(&prom, &server_ip);
    drop(prom);

    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.records.len(), 11, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("serving Prometheus metrics at http://127.0.0.1:19253/metrics"),
        "{}",
        out.stderr
    );
    assert!(
        TcpStream::connect(METRICS_ADDR).is_err(),
        "the port is free after exit"
    );
}

/// A second dnstrace cannot have the same port: status 1, said clearly,
/// before it traces anything.
fn assert_second_tracer_cannot_take_the_port() {
    let taken = Command::new(DNSTRACE)
        .args(["--json", "--metrics", METRICS_ADDR])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&taken.stderr);
    assert_eq!(taken.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("--metrics {METRICS_ADDR}: cannot listen there"))
            && err.contains("in use"),
        "{err}"
    );
    assert!(!err.contains("tracing DNS"), "{err}");
}

/// 11 transactions: 4 NXDOMAIN (one of them AAAA), 4 answers after 30 ms,
/// 2 at once, and 1 never answered.
fn dig_eleven_transactions(link: &Link, server: SocketAddr) {
    for i in 0..3 {
        let d = dig(
            &link.client,
            server.ip(),
            &format!("rcode-nxdomain.n{i}.pm.test"),
            &[],
        );
        assert_eq!(d.status, "NXDOMAIN");
    }
    let d = dig(
        &link.client,
        server.ip(),
        "rcode-nxdomain.six.pm.test",
        &["AAAA"],
    );
    assert_eq!(d.status, "NXDOMAIN");
    for i in 0..4 {
        let d = dig(
            &link.client,
            server.ip(),
            &format!("delay-30.d{i}.pm.test"),
            &[],
        );
        assert_eq!(d.status, "NOERROR");
    }
    for i in 0..2 {
        let d = dig(&link.client, server.ip(), &format!("ok{i}.pm.test"), &[]);
        assert_eq!(d.status, "NOERROR");
    }
    let d = dig(&link.client, server.ip(), "drop.pm.test", &["+timeout=1"]);
    assert_eq!(d.status, "NO-ANSWER");
}

/// The endpoint itself, scraped until the timeout has been counted: the
/// body of that scrape.
fn scrape_until_timeout_counted() -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, head, body) = http(METRICS_ADDR, "GET", "/metrics");
        assert_eq!(status, 200);
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4"),
            "{head}"
        );
        if sample(
            &body,
            r#"dnstrace_transactions_total{rcode="TIMEOUT",type="A"}"#,
        ) == Some(1.0)
        {
            return body;
        }
        assert!(Instant::now() < deadline, "no TIMEOUT counted:\n{body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// HEAD answers without a body; /healthz says the programs are attached
/// and the ring buffer is being read; any other path is 404.
fn assert_endpoint_routes() {
    let (status, head, empty) = http(METRICS_ADDR, "HEAD", "/metrics");
    assert_eq!((status, empty.as_str()), (200, ""), "{head}");
    let (status, _, health) = http(METRICS_ADDR, "GET", "/healthz");
    assert_eq!(status, 200, "{health}");
    assert!(
        health.starts_with("ok: 2 programs attached, ring buffer read 0.")
            && health.ends_with(" records read\n"),
        "{health}"
    );
    let records: u64 = health
        .rsplit(", ")
        .next()
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(records >= 11, "{health}");
    for path in ["/favicon.ico", "/", "/healthz/"] {
        assert_eq!(http(METRICS_ADDR, "GET", path).0, 404, "{path}");
    }
}

/// `promtool check metrics` passes the scraped body without remarks.
fn assert_promtool_passes(body: &str) {
    let scratch = TempDir::new("promtool");
    let (ok, lint) = promtool_check(body, &scratch.path);
    println!(
        "promtool check metrics: {}\n{lint}",
        if ok { "passed" } else { "FAILED" }
    );
    assert!(ok, "promtool check metrics failed:\n{lint}\n{body}");
    assert!(lint.trim().is_empty(), "promtool has remarks:\n{lint}");
}

/// What Prometheus scraped: the transactions by rcode and type, the
/// latency histogram of the server, the build info and the kernel counters.
fn assert_prometheus_series(prom: &Prometheus, server_ip: &str) {
    prom.wait_for(r#"up{job="dnstrace"}"#, 1.0);
    let nx = prom.wait_for(r#"sum(dnstrace_transactions_total{rcode="NXDOMAIN"})"#, 4.0);
    println!("sum(dnstrace_transactions_total{{rcode=\"NXDOMAIN\"}}) -> {nx}");
    prom.wait_for(
        r#"dnstrace_transactions_total{rcode="NXDOMAIN",type="AAAA"}"#,
        1.0,
    );
    prom.wait_for(r#"sum(dnstrace_transactions_total{rcode="TIMEOUT"})"#, 1.0);
    prom.wait_for(r#"sum(dnstrace_transactions_total)"#, 11.0);
    assert_latency_histogram(prom, server_ip);
    prom.wait_for(
        &format!(
            r#"dnstrace_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        ),
        1.0,
    );
    // Kernel counters cover every traced query on the host, whatever the
    // filters: at least the one that timed out here.
    assert!(prom.value("dnstrace_timeouts_total").unwrap() >= 1.0);
    for name in [
        "dnstrace_ringbuf_drops_total",
        "dnstrace_pending_evictions_total",
        "dnstrace_pending_insert_failures_total",
    ] {
        assert!(prom.value(name).is_some(), "{name} missing");
    }
    assert_eq!(
        prom.query("dnstrace_malformed_packets_total")["data"]["result"]
            .as_array()
            .unwrap()
            .len(),
        6,
        "one series per reason"
    );
}

/// The 10 answered transactions in the server's latency histogram: the
/// 30 ms answers above the 25 ms bound, the others below.
fn assert_latency_histogram(prom: &Prometheus, server_ip: &str) {
    let count = format!(r#"dnstrace_latency_seconds_count{{server="{server_ip}"}}"#);
    let counted = prom.wait_for(&count, 10.0);
    println!("{count} -> {counted}");
    prom.wait_for(
        &format!(r#"dnstrace_latency_seconds_bucket{{server="{server_ip}",le="0.025"}}"#),
        6.0,
    );
    prom.wait_for(
        &format!(r#"dnstrace_latency_seconds_bucket{{server="{server_ip}",le="+Inf"}}"#),
        10.0,
    );
    let sum = prom
        .value(&format!(
            r#"dnstrace_latency_seconds_sum{{server="{server_ip}"}}"#
        ))
        .unwrap();
    assert!((0.120..1.0).contains(&sum), "latency sum {sum}");
    let p90 = format!(
        r#"histogram_quantile(0.9, dnstrace_latency_seconds_bucket{{server="{server_ip}"}})"#
    );
    let q = prom.value(&p90).unwrap();
    assert!(q > 0.025, "{p90} = {q}");
    println!("{p90} -> {q}");
}
