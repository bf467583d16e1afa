//! The HTTP endpoint: [`MetricsServer`] serves the latest rendering from
//! a thread of its own, on a plain `TcpListener`. A scrape is one short
//! request every few seconds, which needs no async runtime and no
//! dependency.

use std::io::{Read, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{Metrics, CONTENT_TYPE};

/// How long a client has to send its request head.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long a client has to take the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Request heads longer than this are refused (Prometheus sends ~300 bytes).
const MAX_REQUEST_HEAD: usize = 8192;
/// The shortest time between two renderings for the endpoint.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(100);

const INDEX_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>dnstrace</title></head>\n\
<body><h1>dnstrace</h1><p>Prometheus metrics are at <a href=\"/metrics\">/metrics</a>.</p></body></html>\n";

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Metrics,
    Index,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Reads the request line of a request head: the route, and whether a
/// body is wanted (not for HEAD).
fn route(head: &[u8]) -> (Route, bool) {
    let Some(line) = head
        .split(|b| *b == b'\n')
        .next()
        .filter(|_| head.contains(&b'\n'))
        .and_then(|l| std::str::from_utf8(l).ok())
    else {
        return (Route::BadRequest, true);
    };
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (Route::BadRequest, true);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return (Route::BadRequest, true);
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    match method {
        "GET" | "HEAD" => {
            let found = match path {
                "/metrics" => Route::Metrics,
                "/" => Route::Index,
                _ => Route::NotFound,
            };
            (found, method == "GET")
        }
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => {
            (Route::MethodNotAllowed, true)
        }
        _ => (Route::BadRequest, true),
    }
}

/// The whole response to a route, into `out`.
fn respond(route: Route, with_body: bool, metrics: &str, out: &mut Vec<u8>) {
    let (status, content_type, body) = match route {
        Route::Metrics => ("200 OK", CONTENT_TYPE, metrics),
        Route::Index => ("200 OK", "text/html; charset=utf-8", INDEX_PAGE),
        Route::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: metrics are at /metrics\n",
        ),
        Route::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD\n",
        ),
        Route::BadRequest => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n",
        ),
    };
    out.clear();
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if route == Route::MethodNotAllowed {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
}

/// State shared by the tracer's thread and the serving thread.
struct Shared {
    /// The latest rendering; the tracer swaps a fresh one in.
    page: Mutex<String>,
    stop: AtomicBool,
    /// The connection being served, so that stopping can cut it short.
    active: Mutex<Option<TcpStream>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The HTTP endpoint: a thread that answers one connection at a time, and
/// the tracer's side that publishes renderings to it. The tracer never
/// waits for the server: it renders into its own buffer and swaps it in
/// only when the lock is free at once; the server holds the lock just
/// long enough to copy the text out.
pub struct MetricsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The serving thread's socket too: shutting it down wakes accept().
    listener: TcpListener,
    thread: Option<JoinHandle<()>>,
    scratch: String,
    published: Option<u64>,
    last_publish: Option<Instant>,
}

impl MetricsServer {
    /// Listens on `addr` and starts serving (an empty set of metrics until
    /// the first [`MetricsServer::publish`]).
    pub fn start(addr: SocketAddr) -> Result<MetricsServer> {
        let listener = TcpListener::bind(addr)
            .with_context(|| format!("--metrics {addr}: cannot listen there"))?;
        let local = listener
            .local_addr()
            .context("--metrics: reading the bound address")?;
        let mut page = String::new();
        Metrics::new(0).render(&mut page);
        let shared = Arc::new(Shared {
            page: Mutex::new(page),
            stop: AtomicBool::new(false),
            active: Mutex::new(None),
        });
        let theirs = listener
            .try_clone()
            .context("--metrics: sharing the listening socket")?;
        let shared2 = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(theirs, &shared2))
            .context("--metrics: starting the server thread")?;
        Ok(MetricsServer {
            addr: local,
            shared,
            listener,
            thread: Some(thread),
            scratch: String::new(),
            published: None,
            last_publish: None,
        })
    }

    /// The address actually bound (a port 0 is chosen by the kernel).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Renders `m` for the endpoint if it changed, at most every
    /// [`PUBLISH_EVERY`]. Never blocks: if the server is copying the
    /// previous rendering just now, this one waits for the next call.
    pub fn publish(&mut self, m: &Metrics) {
        if self.published == Some(m.generation())
            || self
                .last_publish
                .is_some_and(|t| t.elapsed() < PUBLISH_EVERY)
        {
            return;
        }
        self.scratch.clear();
        m.render(&mut self.scratch);
        let mut page = match self.shared.page.try_lock() {
            Ok(page) => page,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        std::mem::swap(&mut *page, &mut self.scratch);
        drop(page);
        self.published = Some(m.generation());
        self.last_publish = Some(Instant::now());
    }

    /// Stops serving: no new connection is taken, the one being served is
    /// cut, and the thread is joined. Also done on drop.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // SAFETY: shutdown(2) on the listening socket we own (its fd is
        // valid while `self.listener` lives); on Linux it makes the
        // serving thread's blocked accept() return at once.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        if let Some(conn) = lock(&self.shared.active).as_ref() {
            let _ = conn.shutdown(Shutdown::Both);
        }
        let _ = thread.join();
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(listener: TcpListener, shared: &Shared) {
    let mut head = Vec::with_capacity(MAX_REQUEST_HEAD);
    let mut page = String::new();
    let mut response = Vec::new();
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        match conn {
            Ok(stream) => {
                // A client that misbehaves costs its own connection only.
                let _ = handle(&stream, shared, &mut head, &mut page, &mut response);
                *lock(&shared.active) = None;
            }
            // Out of file descriptors, or a connection reset before it was
            // taken: wait a little rather than spin, and go on.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn handle(
    stream: &TcpStream,
    shared: &Shared,
    head: &mut Vec<u8>,
    page: &mut String,
    response: &mut Vec<u8>,
) -> std::io::Result<()> {
    *lock(&shared.active) = Some(stream.try_clone()?);
    // Checked after registering, so that stop() either sees this
    // connection or this thread sees stop().
    if shared.stop.load(Ordering::SeqCst) {
        return Ok(());
    }
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let (route, with_body) = if read_head(stream, head)? {
        route(head)
    } else {
        (Route::BadRequest, true)
    };
    page.clear();
    if route == Route::Metrics {
        page.push_str(&lock(&shared.page));
    }
    respond(route, with_body, page, response);
    let mut w = stream;
    w.write_all(response)?;
    w.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// Reads up to the blank line that ends a request head, within the
/// deadline: true if it came, false if the client closed or sent too much.
fn read_head(mut stream: &TcpStream, head: &mut Vec<u8>) -> std::io::Result<bool> {
    head.clear();
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut buf = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(true);
        }
        if head.len() >= MAX_REQUEST_HEAD {
            return Ok(false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(false);
        }
        let room = MAX_REQUEST_HEAD - head.len();
        head.extend_from_slice(&buf[..n.min(room)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::txn;

    /// One request on a fresh connection: (status line, headers, body).
    fn http(addr: SocketAddr, request: &[u8]) -> (String, String, String) {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(request).unwrap();
        let mut raw = String::new();
        conn.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        (status.to_string(), headers.to_string(), body.to_string())
    }

    #[test]
    fn routes() {
        let r = |s: &str| route(s.as_bytes());
        assert_eq!(r("GET /metrics HTTP/1.1\r\n\r\n"), (Route::Metrics, true));
        assert_eq!(r("HEAD /metrics HTTP/1.0\r\n\r\n"), (Route::Metrics, false));
        assert_eq!(r("GET /metrics?x=1 HTTP/1.1\n\n"), (Route::Metrics, true));
        assert_eq!(r("GET / HTTP/1.1\r\n\r\n"), (Route::Index, true));
        assert_eq!(r("GET /metricsx HTTP/1.1\r\n\r\n"), (Route::NotFound, true));
        assert_eq!(
            r("POST /metrics HTTP/1.1\r\n\r\n"),
            (Route::MethodNotAllowed, true)
        );
        for garbage in [
            "",
            "GET",
            "GET /metrics\r\n\r\n",
            "GET /metrics HTTP/2\r\n\r\n",
            "GET metrics HTTP/1.1\r\n\r\n",
            "GET  /metrics HTTP/1.1\r\n\r\n",
            "get /metrics HTTP/1.1\r\n\r\n",
            "\u{0}\u{1}\r\n\r\n",
        ] {
            assert_eq!(r(garbage).0, Route::BadRequest, "{garbage:?}");
        }
        assert_eq!(route(b"GET /\xff HTTP/1.1\r\n\r\n").0, Route::BadRequest);

        let mut out = Vec::new();
        respond(Route::Metrics, false, "x 1\n", &mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
             Content-Length: 4\r\nConnection: close\r\n\r\n"
        );
        respond(Route::MethodNotAllowed, true, "", &mut out);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Allow: GET, HEAD\r\n"));
    }

    #[test]
    fn serves_survives_garbage_and_stops() {
        let addr: SocketAddr = "127.0.0.1:19254".parse().unwrap();
        let mut server = MetricsServer::start(addr).unwrap();
        assert_eq!(server.local_addr(), addr);
        let (status, _, body) = http(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            body.contains("dnstrace_build_info"),
            "served before any publish"
        );

        let mut m = Metrics::new(5);
        m.observe(&txn("10.0.0.1", 1, Some(3), 2_000_000));
        server.publish(&m);
        let mut expected = String::new();
        m.render(&mut expected);
        let (status, headers, body) = http(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            headers.contains("Content-Type: text/plain; version=0.0.4\r\n"),
            "{headers}"
        );
        assert!(headers.contains(&format!("Content-Length: {}\r\n", expected.len())));
        assert_eq!(body, expected);

        let (status, headers, body) = http(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(headers.contains(&format!("Content-Length: {}", expected.len())));
        assert_eq!(body, "", "no body for HEAD");
        assert_eq!(
            http(addr, b"GET /nope HTTP/1.1\r\n\r\n").0,
            "HTTP/1.1 404 Not Found"
        );
        let (status, headers, body) = http(addr, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(headers.contains("text/html"));
        assert!(body.contains("href=\"/metrics\""));
        assert_eq!(
            http(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").0,
            "HTTP/1.1 405 Method Not Allowed"
        );
        // Garbage, an oversized head, a client that leaves at once.
        assert_eq!(
            http(addr, b"\x16\x03\x01\x00\xff\r\n\r\n").0,
            "HTTP/1.1 400 Bad Request"
        );
        let huge = vec![b'A'; 3 * MAX_REQUEST_HEAD];
        let mut conn = TcpStream::connect(addr).unwrap();
        let _ = conn.write_all(&huge);
        drop(conn);
        drop(TcpStream::connect(addr).unwrap());
        assert_eq!(
            http(addr, b"GET /metrics HTTP/1.1\r\n\r\n").0,
            "HTTP/1.1 200 OK"
        );

        // A second listener on the same address is refused, clearly.
        let err = format!("{:#}", MetricsServer::start(addr).err().unwrap());
        assert!(
            err.contains("--metrics 127.0.0.1:19254: cannot listen there"),
            "{err}"
        );
        assert!(err.contains("in use"), "{err}");

        // Stopping does not wait for a client that sends nothing.
        let idle = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        server.stop();
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        drop(idle);
        assert!(
            TcpStream::connect(addr).is_err(),
            "nothing listens after stop"
        );
    }
}
