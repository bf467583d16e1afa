//! A real Prometheus (the Debian package) for the tests: its own
//! configuration and storage in a temporary directory, listening on
//! loopback, scraping the targets it is given every second; and the small
//! HTTP client the tests read endpoints with.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::TempDir;

/// One HTTP/1.0 request (so that no server answers in chunks): status,
/// headers, body.
pub fn http(addr: &str, method: &str, target: &str) -> (u16, String, String) {
    let mut conn = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(conn, "{method} {target} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, head.to_string(), body.to_string())
}

pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A Prometheus server on loopback; killed, and its directory removed, on
/// drop.
pub struct Prometheus {
    child: Child,
    pub dir: TempDir,
    listen: String,
}

impl Prometheus {
    /// Scrapes `target` (HOST:PORT) every second, with a 1 s timeout,
    /// listening on `listen`; `rules`: rule files to evaluate every second.
    pub fn start(listen: &str, target: &str, rules: &[&std::path::Path]) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let config = dir.path.join("prometheus.yml");
        let mut text = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n",
        );
        if !rules.is_empty() {
            text.push_str("rule_files:\n");
            for r in rules {
                text.push_str(&format!("  - {}\n", r.display()));
            }
        }
        // Only the one target: no alerting, no remote write, no service
        // discovery, so nothing leaves the host (Prometheus itself has no
        // update check or telemetry).
        text.push_str(&format!(
            "scrape_configs:\n  - job_name: dnstrace\n    static_configs:\n      - targets: ['{target}']\n"
        ));
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(dir.path.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path.join("data").display()
            ))
            // The default is 0.0.0.0:9090: every interface, and a port
            // that a system Prometheus may hold.
            .arg(format!("--web.listen-address={listen}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting prometheus (apt-get install prometheus; see .ci/setup)");
        let p = Prometheus {
            child,
            dir,
            listen: listen.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(listen).is_err() || http(listen, "GET", "/-/ready").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "prometheus did not come up:\n{}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path.join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query through the HTTP API: the whole JSON answer.
    pub fn query(&self, promql: &str) -> Value {
        let (status, _, body) = http(
            &self.listen,
            "GET",
            &format!("/api/v1/query?query={}", percent_encode(promql)),
        );
        assert_eq!(status, 200, "{promql}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{promql}: {e}: {body}"))
    }

    /// The samples of a query: (labels, value).
    pub fn samples(&self, promql: &str) -> Vec<(Value, f64)> {
        let answer = self.query(promql);
        answer["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{promql}: {answer}"))
            .iter()
            .map(|r| {
                (
                    r["metric"].clone(),
                    r["value"][1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }

    /// The value of a query that yields one sample; None while it yields
    /// none.
    pub fn value(&self, promql: &str) -> Option<f64> {
        let s = self.samples(promql);
        assert!(s.len() <= 1, "{promql}: {s:?}");
        s.first().map(|(_, v)| *v)
    }

    /// Waits until `promql` yields `expected` (scrapes come every second).
    pub fn wait_for(&self, promql: &str, expected: f64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.value(promql);
            if got == Some(expected) {
                return self.query(promql);
            }
            assert!(
                Instant::now() < deadline,
                "{promql}: {got:?}, expected {expected}\n{}\n{}",
                self.query("up"),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Then the TempDir field removes the configuration and the data.
    }
}
