//! The HTTP endpoint: [`MetricsServer`] serves `/metrics` (the latest
//! rendering) and `/healthz` (whether the tracer is attached and reading)
//! from a thread of its own, and nothing else.
//!
//! Anything that reaches the port may be hostile or merely broken, and a
//! scrape (or the liveness probe) must still be answered at once. So the
//! connections are served concurrently by hyper on a single-threaded tokio
//! runtime, where an idle connection costs a socket and a few hundred
//! bytes, not a thread, and each is bounded:
//! - the request head must come within [`HEAD_DEADLINE`] and fit in
//!   [`MAX_REQUEST_HEAD`] bytes (hyper: 408-less close, or 431);
//! - the whole connection, response included, within
//!   [`CONNECTION_DEADLINE`]; one request per connection;
//! - at most [`MAX_CONNECTIONS`] at once: a new connection beyond that
//!   closes the oldest one still waiting for its request head, so that a
//!   crowd of idle connections cannot keep a scrape waiting in the listen
//!   queue (a scrape sends its request at once, and once its head is in it
//!   is never the one closed).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Notify;

use super::{Metrics, CONTENT_TYPE};

/// How long a client has to send its request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(2);
/// How long a connection may last, the response included.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);
/// Request heads longer than this are refused with 431 (Prometheus sends
/// ~300 bytes). hyper's smallest read buffer.
pub const MAX_REQUEST_HEAD: usize = 8192;
/// Connections served at once; a new one beyond closes the oldest. Well
/// under the usual 1024 open files, with the tracer's own.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections the kernel may hold for accepting.
const LISTEN_BACKLOG: i32 = 4096;
/// The shortest time between two renderings for the endpoint.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// `/healthz` fails when the reader loop has not run for this long (it
/// runs every 50 ms, records or not).
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// What `/healthz` reports: written by the tracer's thread, read by the
/// server's.
struct Health {
    /// Programs attached; 0 until attached, and after detaching.
    programs: AtomicU32,
    /// When the reader loop last ran, in ms since `epoch`; u64::MAX: never.
    last_read_ms: AtomicU64,
    /// Records read from the ring buffer so far.
    records: AtomicU64,
    epoch: Instant,
}

impl Health {
    /// The status and the text of `/healthz` now.
    fn report(&self) -> (StatusCode, String) {
        let programs = self.programs.load(Ordering::Relaxed);
        let last = self.last_read_ms.load(Ordering::Relaxed);
        let records = self.records.load(Ordering::Relaxed);
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        if programs == 0 {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: no program attached\n".into(),
            );
        }
        if last == u64::MAX {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {programs} programs attached, ring buffer not read yet\n"),
            );
        }
        let ago = Duration::from_millis(now_ms.saturating_sub(last));
        let status = if ago >= STALE_AFTER {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        let verdict = if status == StatusCode::OK {
            "ok"
        } else {
            "stalled"
        };
        (
            status,
            format!(
                "{verdict}: {programs} programs attached, ring buffer read {:.3} s ago, {records} records read\n",
                ago.as_secs_f64()
            ),
        )
    }
}

/// State shared by the tracer's thread and the serving thread.
struct Shared {
    /// The latest rendering; the tracer swaps a fresh one in.
    page: Mutex<Bytes>,
    health: Health,
    stop: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The HTTP endpoint: a thread that serves the connections, and the
/// tracer's side that publishes renderings and health to it. The tracer
/// never waits for the server: it renders into its own buffer and swaps it
/// in only when the lock is free at once; the server holds the lock just
/// long enough to take a reference to the text.
pub struct MetricsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    scratch: String,
    published: Option<u64>,
    last_publish: Option<Instant>,
}

impl MetricsServer {
    /// Listens on `addr` and starts serving (an empty set of metrics until
    /// the first [`MetricsServer::publish`], and a failing `/healthz` until
    /// [`MetricsServer::attached`]).
    pub fn start(addr: SocketAddr) -> Result<MetricsServer> {
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("--metrics {addr}: cannot listen there"))?;
        let local = listener
            .local_addr()
            .context("--metrics: reading the bound address")?;
        listener
            .set_nonblocking(true)
            .context("--metrics: a non-blocking listener")?;
        // std listens with a backlog of 128: a burst of connections would
        // fill it, and a scrape's SYN dropped then waits a second to be
        // sent again. Listening again sets a longer one (the kernel caps it
        // at net.core.somaxconn).
        // SAFETY: listen(2) on the socket we own, open while `listener` lives.
        if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
            return Err(std::io::Error::last_os_error())
                .context("--metrics: setting the listen backlog");
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("--metrics: starting the server's runtime")?;
        let mut page = String::new();
        Metrics::new(0).render(&mut page);
        let shared = Arc::new(Shared {
            page: Mutex::new(Bytes::from(page)),
            health: Health {
                programs: AtomicU32::new(0),
                last_read_ms: AtomicU64::new(u64::MAX),
                records: AtomicU64::new(0),
                epoch: Instant::now(),
            },
            stop: Notify::new(),
        });
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, theirs).await,
                        Err(e) => eprintln!("dnstrace: --metrics: cannot serve: {e}"),
                    }
                });
                // Dropping the runtime cancels every connection's task,
                // which closes its socket.
                runtime.shutdown_background();
            })
            .context("--metrics: starting the server thread")?;
        Ok(MetricsServer {
            addr: local,
            shared,
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

    /// The tracer's programs are attached (`programs` of them; 0: detached).
    pub fn attached(&self, programs: u32) {
        self.shared
            .health
            .programs
            .store(programs, Ordering::Relaxed);
    }

    /// The reader loop ran just now, having read `records` so far.
    pub fn heartbeat(&self, records: u64) {
        let h = &self.shared.health;
        h.records.store(records, Ordering::Relaxed);
        h.last_read_ms
            .store(h.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Renders `m` for the endpoint if it changed, at most every
    /// [`PUBLISH_EVERY`]. Never blocks: if the server is taking the
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
        // The next rendering starts at this one's size.
        let next = String::with_capacity(self.scratch.len());
        *page = Bytes::from(std::mem::replace(&mut self.scratch, next));
        drop(page);
        self.published = Some(m.generation());
        self.last_publish = Some(Instant::now());
    }

    /// Stops serving: no new connection is taken, those open are closed,
    /// and the thread is joined. Also done on drop.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        // A permit is stored if the server is not waiting just now.
        self.shared.stop.notify_one();
        let _ = thread.join();
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The connections: all of them counted, and those still waiting for
/// their request head by age (their ids), each with the signal that
/// closes it.
#[derive(Default)]
struct Connections {
    open: AtomicUsize,
    waiting: Mutex<BTreeMap<u64, Arc<Notify>>>,
}

impl Connections {
    /// Room for one more: closes the oldest connection still waiting for
    /// its head when all are taken. False when there is none such (every
    /// one is being answered, which takes milliseconds).
    fn make_room(&self) -> bool {
        if self.open.load(Ordering::Relaxed) < MAX_CONNECTIONS {
            return true;
        }
        match lock(&self.waiting).pop_first() {
            Some((_, cut)) => {
                cut.notify_one();
                true
            }
            None => false,
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let conns = Arc::new(Connections::default());
    let mut next_id = 0u64;
    loop {
        let stream = tokio::select! {
            biased;
            _ = shared.stop.notified() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of file descriptors, or a connection reset
                    // before it was taken: make room, wait a little
                    // rather than spin, and go on.
                    conns.make_room();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if !conns.make_room() {
            continue;
        }
        let id = next_id;
        next_id += 1;
        let cut = Arc::new(Notify::new());
        lock(&conns.waiting).insert(id, Arc::clone(&cut));
        conns.open.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        let conns2 = Arc::clone(&conns);
        tokio::spawn(async move {
            let conns = conns2;
            let served = Arc::clone(&conns);
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                // The head is in: no longer among those to close first.
                lock(&served.waiting).remove(&id);
                let response = respond(&req, &shared);
                async move { Ok::<_, Infallible>(response) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_DEADLINE)
                .max_buf_size(MAX_REQUEST_HEAD)
                .keep_alive(false)
                .title_case_headers(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                // A client that misbehaves costs its own connection only.
                _ = conn => {}
                _ = cut.notified() => {}
                _ = tokio::time::sleep(CONNECTION_DEADLINE) => {}
            }
            lock(&conns.waiting).remove(&id);
            conns.open.fetch_sub(1, Ordering::Relaxed);
        });
        // Let the new connection read its head, and the one closed to
        // make room go, before the next is taken: a burst of connections
        // then cannot close a scrape whose request is already in, nor hold
        // more sockets than the limit.
        tokio::task::yield_now().await;
    }
}

/// The whole response to a request: `/metrics` and `/healthz`, by GET or
/// HEAD (hyper leaves out a HEAD response's body), and nothing else.
fn respond(req: &Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut().insert(
            CONTENT_TYPE_HEADER,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => {
            let page = lock(&shared.page).clone();
            let mut r = Response::new(Full::new(page));
            r.headers_mut()
                .insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(CONTENT_TYPE));
            r
        }
        "/healthz" => {
            let (status, body) = shared.health.report();
            text(status, body)
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics, health at /healthz\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::txn;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    /// One request on a fresh connection: (status line, headers, body).
    fn http(addr: SocketAddr, request: &[u8]) -> (String, String, String) {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(request).unwrap();
        let mut raw = Vec::new();
        let _ = conn.read_to_end(&mut raw);
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        (
            status.to_string(),
            headers.to_ascii_lowercase(),
            body.to_string(),
        )
    }

    fn local() -> MetricsServer {
        MetricsServer::start("127.0.0.1:0".parse().unwrap()).unwrap()
    }

    #[test]
    fn serves_metrics_and_health_only() {
        let mut server = local();
        let addr = server.local_addr();
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
        let (status, headers, body) = http(addr, b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            headers.contains("content-type: text/plain; version=0.0.4\r\n"),
            "{headers}"
        );
        assert!(headers.contains(&format!("content-length: {}", expected.len())));
        assert_eq!(body, expected);

        let (status, headers, body) = http(addr, b"HEAD /metrics HTTP/1.0\r\n\r\n");
        assert_eq!(status, "HTTP/1.0 200 OK");
        assert!(headers.contains(&format!("content-length: {}", expected.len())));
        assert_eq!(body, "", "no body for HEAD");
        for path in ["/", "/nope", "/metricsx", "/healthz/x"] {
            let req = format!("GET {path} HTTP/1.1\r\n\r\n");
            assert_eq!(
                http(addr, req.as_bytes()).0,
                "HTTP/1.1 404 Not Found",
                "{path}"
            );
        }
        let (status, headers, _) = http(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
        assert!(headers.contains("allow: get, head"), "{headers}");
        server.stop();
    }

    #[test]
    fn health_follows_the_tracer() {
        let server = local();
        let addr = server.local_addr();
        let get = || http(addr, b"GET /healthz HTTP/1.1\r\n\r\n");
        let (status, _, body) = get();
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(body, "not ready: no program attached\n");
        server.attached(4);
        let (status, _, body) = get();
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        assert!(body.contains("not read yet"), "{body}");
        server.heartbeat(17);
        let (status, _, body) = get();
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(body.starts_with("ok: 4 programs attached, ring buffer read 0.0"));
        assert!(body.ends_with(" s ago, 17 records read\n"), "{body}");
        // A reader that last ran longer ago than STALE_AFTER: stalled.
        let epoch = Instant::now()
            .checked_sub(STALE_AFTER + Duration::from_secs(1))
            .unwrap();
        let (status, body) = Health {
            programs: AtomicU32::new(4),
            last_read_ms: AtomicU64::new(0),
            records: AtomicU64::new(17),
            epoch,
        }
        .report();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.starts_with("stalled: 4 programs attached"), "{body}");
        server.attached(0);
        assert_eq!(get().0, "HTTP/1.1 503 Service Unavailable");
    }

    #[test]
    fn survives_garbage_and_idle_clients() {
        let mut server = local();
        let addr = server.local_addr();
        let ok = || {
            let t = Instant::now();
            let status = http(addr, b"GET /metrics HTTP/1.1\r\n\r\n").0;
            (status, t.elapsed())
        };
        // Garbage: 400; an oversized head: 431 or a close, never a hang.
        assert_eq!(
            http(addr, b"\x16\x03\x01\x00\xff\r\n\r\n").0,
            "HTTP/1.1 400 Bad Request"
        );
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut huge = b"GET /".to_vec();
        huge.extend(std::iter::repeat_n(b'a', 4 * MAX_REQUEST_HEAD));
        let _ = conn.write_all(&huge);
        let mut raw = Vec::new();
        let _ = conn.read_to_end(&mut raw);
        let raw = String::from_utf8_lossy(&raw);
        assert!(
            raw.is_empty() || raw.starts_with("HTTP/1.1 431"),
            "{raw:.200}"
        );
        drop(TcpStream::connect(addr).unwrap());

        // More idle connections than the limit: a scrape is still
        // answered at once (the oldest idle ones are closed to make room).
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS + 50)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let (status, took) = ok();
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(took < Duration::from_millis(500), "{took:?}");
        // The oldest were closed: reading gives end of file at once.
        let mut first = &idle[0];
        first
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(first.read(&mut buf).unwrap_or(0), 0);

        // Stopping does not wait for the idle clients.
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

    #[test]
    fn a_taken_port_is_said_clearly() {
        let server = local();
        let addr = server.local_addr();
        let err = format!("{:#}", MetricsServer::start(addr).err().unwrap());
        assert!(
            err.contains(&format!("--metrics {addr}: cannot listen there")),
            "{err}"
        );
        assert!(err.contains("in use"), "{err}");
    }

    #[test]
    fn a_client_that_sends_nothing_is_closed_after_the_head_deadline() {
        let server = local();
        let mut conn = TcpStream::connect(server.local_addr()).unwrap();
        conn.set_read_timeout(Some(HEAD_DEADLINE * 3)).unwrap();
        let t = Instant::now();
        let mut raw = Vec::new();
        let _ = conn.read_to_end(&mut raw);
        let took = t.elapsed();
        assert!(
            took >= HEAD_DEADLINE - Duration::from_millis(100) && took < HEAD_DEADLINE * 2,
            "{took:?}"
        );
    }
}
