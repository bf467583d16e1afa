//! Test bed for the end-to-end tests: network namespaces joined by veth
//! pairs, DNS servers and clients inside them, and the real dnstrace binary
//! watching it all. Everything a test creates is removed when its handle is
//! dropped, also when the test fails.

#![allow(dead_code)]

pub mod dns;
pub mod hostile;
pub mod inject;
pub mod nat;
pub mod prometheus;
pub mod tap;
pub mod tmux;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const DNSTRACE: &str = env!("CARGO_BIN_EXE_dnstrace");

/// The privileged tests share the kernel's global tracepoints, so they run
/// one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Some(guard) when the test can run: root. Otherwise prints a SKIPPED
/// line, or fails when DNSTRACE_REQUIRE_PRIVILEGED=1 (as in CI).
pub fn privileged(test: &str) -> Option<MutexGuard<'static, ()>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        if std::env::var("DNSTRACE_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
            panic!("{test} needs root, and DNSTRACE_REQUIRE_PRIVILEGED=1 forbids skipping it");
        }
        println!("SKIPPED: {test} (needs root to load BPF programs and create network namespaces)");
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

pub fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "dt{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = unique(tag);
        run("ip", &["netns", "add", &name]);
        run("ip", &["-n", &name, "link", "set", "lo", "up"]);
        Netns { name }
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Runs `f` on a thread that has entered this namespace; sockets it
    /// creates belong to the namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            enter_netns(&path);
            f()
        })
    }

    pub fn within<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(f)
            .join()
            .expect("thread inside the namespace panicked")
    }
}

pub fn enter_netns(path: &str) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
    // SAFETY: setns on a valid namespace fd affects only the calling thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Kill whatever still runs inside, then remove the namespace.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: sending a signal has no memory-safety preconditions.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A client namespace and a server namespace joined by a veth pair, with
/// IPv4 and IPv6 addresses and permanent neighbour entries (so that no
/// query waits for ARP or neighbour discovery and leaves from a softirq).
pub struct Link {
    pub client: Netns,
    pub server: Netns,
    pub client_if: String,
    pub server_if: String,
    pub client_v4: Ipv4Addr,
    pub server_v4: Ipv4Addr,
    pub client_v6: Ipv6Addr,
    pub server_v6: Ipv6Addr,
    pub client_mac: [u8; 6],
    pub server_mac: [u8; 6],
}

impl Link {
    /// A second IPv4 address on the client's side (`on_server` false) or
    /// the server's, and its permanent neighbour entry on the other side.
    pub fn add_v4(&self, on_server: bool, addr: Ipv4Addr) {
        let (ns, peer, dev, peer_dev, mac) = if on_server {
            (
                &self.server,
                &self.client,
                &self.server_if,
                &self.client_if,
                self.server_mac,
            )
        } else {
            (
                &self.client,
                &self.server,
                &self.client_if,
                &self.server_if,
                self.client_mac,
            )
        };
        ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", dev]);
        let mac = mac.map(|b| format!("{b:02x}")).join(":");
        peer.ip(&[
            "neigh",
            "replace",
            &addr.to_string(),
            "lladdr",
            &mac,
            "dev",
            peer_dev,
            "nud",
            "permanent",
        ]);
    }

    /// `subnet` keeps the addresses of different tests apart (1-250).
    pub fn new(tag: &str, subnet: u8) -> Link {
        let client = Netns::new(&format!("{tag}c"));
        let server = Netns::new(&format!("{tag}s"));
        let client_if = format!("dtc{subnet}");
        let server_if = format!("dts{subnet}");
        let client_mac = [0x02, 0xdc, 0, 0, subnet, 0x02];
        let server_mac = [0x02, 0xdc, 0, 0, subnet, 0x01];
        let mac = |m: [u8; 6]| m.map(|b| format!("{b:02x}")).join(":");
        let (cmac, smac) = (mac(client_mac), mac(server_mac));
        run(
            "ip",
            &[
                "link",
                "add",
                &client_if,
                "netns",
                &client.name,
                "address",
                &cmac,
                "type",
                "veth",
                "peer",
                "name",
                &server_if,
                "netns",
                &server.name,
                "address",
                &smac,
            ],
        );
        let client_v4 = Ipv4Addr::new(10, 77, subnet, 2);
        let server_v4 = Ipv4Addr::new(10, 77, subnet, 1);
        let client_v6: Ipv6Addr = format!("fd77:{subnet:x}::2").parse().unwrap();
        let server_v6: Ipv6Addr = format!("fd77:{subnet:x}::1").parse().unwrap();
        for (ns, ifname, v4, v6, peer_v4, peer_v6, peer_mac) in [
            (
                &client, &client_if, client_v4, client_v6, server_v4, server_v6, &smac,
            ),
            (
                &server, &server_if, server_v4, server_v6, client_v4, client_v6, &cmac,
            ),
        ] {
            ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", ifname]);
            ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", ifname, "nodad"]);
            ns.ip(&["link", "set", ifname, "up"]);
            for peer in [peer_v4.to_string(), peer_v6.to_string()] {
                ns.ip(&[
                    "neigh",
                    "replace",
                    &peer,
                    "lladdr",
                    peer_mac,
                    "dev",
                    ifname,
                    "nud",
                    "permanent",
                ]);
            }
        }
        Link {
            client,
            server,
            client_if,
            server_if,
            client_v4,
            server_v4,
            client_v6,
            server_v6,
            client_mac,
            server_mac,
        }
    }
}

/// How the responder answers a name, from its labels: `delay-N` waits N ms,
/// `rcode-X` answers with rcode X (a name or number), `drop` never answers,
/// `tc` answers UDP with the truncation flag (TCP normally), `big` answers
/// with 200 A records, `split` sends a TCP reply's length prefix and its
/// message in two segments, `split-N` sends a TCP reply in two segments cut
/// after its first N bytes (the prefix's counted), `twice` follows the answer at once with a
/// second, conflicting one (NXDOMAIN, or NOERROR after an NXDOMAIN).
/// Anything else: NOERROR.
#[derive(Debug, Default, Clone, Copy)]
pub struct Behaviour {
    pub delay_ms: u64,
    pub rcode: u16,
    pub drop: bool,
    pub tc: bool,
    pub big: bool,
    /// Where a TCP reply is cut in two segments: after this many bytes of
    /// it, its 2-byte length prefix counted (0: not cut).
    pub split_at: usize,
    pub twice: bool,
}

impl Behaviour {
    pub fn of(name: &str) -> Behaviour {
        let mut b = Behaviour::default();
        for label in name.split('.') {
            if let Some(ms) = label.strip_prefix("delay-") {
                b.delay_ms = ms.parse().unwrap_or(0);
            } else if let Some(r) = label.strip_prefix("rcode-") {
                b.rcode = dns::rcode_value(r);
            } else if let Some(n) = label.strip_prefix("split-") {
                b.split_at = n.parse().unwrap_or(0);
            } else {
                match label {
                    "drop" => b.drop = true,
                    "tc" => b.tc = true,
                    "big" => b.big = true,
                    "split" => b.split_at = 2,
                    "twice" => b.twice = true,
                    _ => {}
                }
            }
        }
        b
    }

    fn reply(&self, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let answers = if self.big { 200 } else { 1 };
        dns::build_response_with(query, self.rcode, answers, self.tc && !tcp)
    }

    /// The second answer of `twice`: another rcode than the first.
    fn second_reply(&self, query: &[u8]) -> Option<Vec<u8>> {
        let rcode = if self.rcode == 3 { 0 } else { 3 };
        dns::build_response(query, rcode)
    }
}

/// A DNS responder on UDP and TCP that answers by the labels of the name
/// asked (see [`Behaviour`]).
pub struct Responder {
    stop: Arc<AtomicBool>,
    pub answered: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

fn serve_tcp_conn(
    mut conn: std::net::TcpStream,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    extra_delay_ms: u64,
) {
    use std::io::Write;
    let _ = conn.set_nodelay(true);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    loop {
        let mut len = [0u8; 2];
        match std::io::Read::read_exact(&mut conn, &mut len) {
            Ok(()) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if std::io::Read::read_exact(&mut conn, &mut query).is_err() {
            return;
        }
        let Some((name, _, _)) = dns::parse_question(&query) else {
            continue;
        };
        let mut b = Behaviour::of(&name);
        b.delay_ms += extra_delay_ms;
        if b.drop {
            continue;
        }
        let Some(reply) = b.reply(&query, true) else {
            continue;
        };
        std::thread::sleep(Duration::from_millis(b.delay_ms));
        let framed = dns::tcp_framed(&reply);
        let sent = if b.split_at > 0 && b.split_at < framed.len() {
            let (first, rest) = framed.split_at(b.split_at);
            conn.write_all(first).is_ok() && {
                std::thread::sleep(Duration::from_millis(20));
                conn.write_all(rest).is_ok()
            }
        } else {
            conn.write_all(&framed).is_ok()
        };
        if sent {
            answered.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(second) = b.twice.then(|| b.second_reply(&query)).flatten() {
            let framed = dns::tcp_framed(&second);
            let _ = conn.write_all(&framed);
        }
    }
}

impl Responder {
    pub fn start(ns: &Netns, addr: SocketAddr) -> Responder {
        Responder::start_slow(ns, addr, Duration::ZERO)
    }

    /// A responder that waits `delay` more before every answer, whatever
    /// the name: one slow replica among fast ones.
    pub fn start_slow(ns: &Netns, addr: SocketAddr, delay: Duration) -> Responder {
        let extra_delay_ms = delay.as_millis() as u64;
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let (stop2, answered2) = (stop.clone(), answered.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = ns.spawn(move || {
            let sock =
                Arc::new(UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}")));
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            // TCP on the same address; threads made here stay in the namespace.
            let listener =
                std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("listen {addr}: {e}"));
            listener.set_nonblocking(true).unwrap();
            let (stop3, answered3) = (stop2.clone(), answered2.clone());
            let tcp = std::thread::spawn(move || {
                let mut conns = Vec::new();
                while !stop3.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let _ = conn.set_nonblocking(false);
                            let (a, s) = (answered3.clone(), stop3.clone());
                            conns.push(std::thread::spawn(move || {
                                serve_tcp_conn(conn, a, s, extra_delay_ms)
                            }));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                for c in conns {
                    let _ = c.join();
                }
            });
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 1500];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let query = buf[..n].to_vec();
                let Some((name, _, _)) = dns::parse_question(&query) else {
                    continue;
                };
                let mut b = Behaviour::of(&name);
                b.delay_ms += extra_delay_ms;
                if b.drop {
                    continue;
                }
                let Some(reply) = b.reply(&query, false) else {
                    continue;
                };
                let second = b.twice.then(|| b.second_reply(&query)).flatten();
                let (sock, answered) = (sock.clone(), answered2.clone());
                let send = move || {
                    if sock.send_to(&reply, peer).is_ok() {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(second) = second {
                        let _ = sock.send_to(&second, peer);
                    }
                };
                if b.delay_ms == 0 {
                    send();
                } else {
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(b.delay_ms));
                        send();
                    });
                }
            }
            let _ = tcp.join();
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("responder did not start");
        Responder {
            stop,
            answered,
            thread: Some(thread),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// dnsmasq answering locally: `*.ok.test` A 10.1.2.3, `*.nx.test` NXDOMAIN,
/// anything else REFUSED (no upstream).
pub struct Dnsmasq {
    child: Child,
}

impl Dnsmasq {
    pub fn start(ns: &Netns, listen: &[IpAddr]) -> Dnsmasq {
        let addrs: Vec<String> = listen.iter().map(IpAddr::to_string).collect();
        let child = ns
            .command("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--bind-interfaces",
                "--user=root",
                "--pid-file=",
                "--port=53",
                "--address=/nx.test/",
                "--address=/ok.test/10.1.2.3",
                "--log-facility=-",
            ])
            .arg(format!("--listen-address={}", addrs.join(",")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting dnsmasq (apt-get install dnsmasq-base)");
        // Ready when it answers.
        let deadline = Instant::now() + Duration::from_secs(10);
        let server = listen[0];
        loop {
            let probe = dig(ns, server, "ready.ok.test", &["+tries=1", "+timeout=1"]);
            if probe.status == "NOERROR" {
                break;
            }
            assert!(Instant::now() < deadline, "dnsmasq did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        Dnsmasq { child }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What dig printed of one query.
#[derive(Debug)]
pub struct Dig {
    pub id: Option<u16>,
    /// ";; MSG SIZE  rcvd: N"
    pub size: Option<u64>,
    pub status: String,
    pub stdout: String,
}

/// Runs dig inside `ns` (one try, no retries, so one query on the wire).
pub fn dig(ns: &Netns, server: IpAddr, name: &str, extra: &[&str]) -> Dig {
    let out = ns
        .command("dig")
        .arg(format!("@{server}"))
        .arg(name)
        .args(["+tries=1", "+timeout=2", "+noedns"])
        .args(extra)
        .output()
        .expect("running dig (apt-get install dnsutils)");
    parse_dig(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What dig printed, read.
pub fn parse_dig(stdout: String) -> Dig {
    let header = stdout.lines().find(|l| l.contains("->>HEADER<<-"));
    let field = |key: &str| {
        header.and_then(|h| {
            h.split(',')
                .find_map(|part| part.trim().strip_prefix(key).map(|v| v.trim().to_string()))
        })
    };
    let size = stdout
        .lines()
        .find_map(|l| l.strip_prefix(";; MSG SIZE  rcvd:"))
        .and_then(|v| v.trim().parse().ok());
    Dig {
        id: field("id:").and_then(|v| v.parse().ok()),
        size,
        status: field("status:").unwrap_or_else(|| "NO-ANSWER".into()),
        stdout,
    }
}

/// Sends one query with a chosen id from inside `ns` and waits for the
/// answer (None on timeout).
pub fn query(ns: &Netns, server: SocketAddr, id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let msg = dns::build_query(id, name, qtype);
    ns.within(move || {
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .unwrap();
        let sock = UdpSocket::bind(bind).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        sock.send_to(&msg, server).unwrap();
        let mut buf = [0u8; 1500];
        sock.recv_from(&mut buf)
            .ok()
            .map(|(n, _)| buf[..n].to_vec())
    })
}

/// Sends several queries on one TCP connection in a single write (one
/// segment holding them all), then reads as many replies.
pub fn tcp_pipeline(ns: &Netns, server: SocketAddr, queries: &[(u16, &str, u16)]) -> usize {
    tcp_batches(ns, server, &[queries])
}

/// Batches of queries on one TCP connection: each batch in a single write,
/// its replies read before the next. Returns the replies read.
pub fn tcp_batches(ns: &Netns, server: SocketAddr, batches: &[&[(u16, &str, u16)]]) -> usize {
    let writes: Vec<(Vec<u8>, usize)> = batches
        .iter()
        .map(|queries| {
            let mut framed = Vec::new();
            for (id, name, qtype) in *queries {
                framed.extend(dns::tcp_framed(&dns::build_query(*id, name, *qtype)));
            }
            (framed, queries.len())
        })
        .collect();
    ns.within(move || {
        use std::io::{Read, Write};
        let mut conn =
            std::net::TcpStream::connect_timeout(&server, Duration::from_secs(2)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut got = 0;
        for (framed, n) in writes {
            conn.write_all(&framed).unwrap();
            for _ in 0..n {
                let mut len = [0u8; 2];
                if conn.read_exact(&mut len).is_err() {
                    return got;
                }
                let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if conn.read_exact(&mut msg).is_err() {
                    return got;
                }
                got += 1;
            }
        }
        got
    })
}

/// One query on its own TCP connection, written in two segments cut after
/// its first `at` bytes (its 2-byte length prefix counted); returns the
/// reply's rcode, None when none came.
pub fn tcp_split_query(
    ns: &Netns,
    server: SocketAddr,
    (id, name, qtype): (u16, &str, u16),
    at: usize,
) -> Option<u16> {
    let framed = dns::tcp_framed(&dns::build_query(id, name, qtype));
    assert!(at > 0 && at < framed.len(), "cut {at} of {}", framed.len());
    ns.within(move || {
        use std::io::{Read, Write};
        let mut conn =
            std::net::TcpStream::connect_timeout(&server, Duration::from_secs(2)).unwrap();
        conn.set_nodelay(true).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        conn.write_all(&framed[..at]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        conn.write_all(&framed[at..]).unwrap();
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).ok()?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut msg).ok()?;
        Some(u16::from_be_bytes([msg[2], msg[3]]) & 0xf)
    })
}

/// A record's latency_ms; fails when it has none.
pub fn latency(r: &Value) -> f64 {
    r["latency_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("no latency in {r}"))
}

/// A running dnstrace with JSON output.
pub struct Tracer {
    child: Child,
    stderr: Arc<Mutex<String>>,
    stdout_thread: Option<JoinHandle<String>>,
    stderr_thread: Option<JoinHandle<()>>,
}

pub struct TraceOutput {
    pub records: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
    pub status: ExitStatus,
}

impl TraceOutput {
    /// Records whose field `key` equals `value`.
    pub fn with(&self, key: &str, value: &Value) -> Vec<&Value> {
        self.records.iter().filter(|r| &r[key] == value).collect()
    }

    /// The one record with this DNS id; fails unless there is exactly one.
    pub fn by_id(&self, id: u16) -> &Value {
        let found = self.with("id", &Value::from(id));
        assert_eq!(
            found.len(),
            1,
            "expected exactly one record with id {id}, got {found:#?}\nall: {}",
            self.stdout
        );
        found[0]
    }

    /// How many records each qname has.
    pub fn counts_by_name(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in &self.records {
            *m.entry(r["qname"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
        m
    }
}

impl Tracer {
    /// Starts dnstrace (--json plus `args`) and waits until it is attached.
    pub fn start(args: &[&str]) -> Tracer {
        let mut child = Command::new(DNSTRACE)
            .arg("--json")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting dnstrace");
        let mut stdout = child.stdout.take().unwrap();
        let stderr_pipe = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stderr2 = stderr.clone();
        let stderr_thread = std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                if line.contains("tracing DNS") {
                    let _ = ready_tx.send(());
                }
                let mut s = stderr2.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stdout_thread = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let mut t = Tracer {
            child,
            stderr,
            stdout_thread: Some(stdout_thread),
            stderr_thread: Some(stderr_thread),
        };
        if ready_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = t.child.kill();
            let out = t.finish();
            panic!("dnstrace did not start: {}\n{}", out.status, out.stderr);
        }
        t
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Ctrl-C, then everything it printed.
    pub fn stop(self) -> TraceOutput {
        self.signal(libc::SIGINT)
    }

    pub fn signal(self, sig: i32) -> TraceOutput {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.pid(), sig) };
        self.finish()
    }

    /// Waits for it to exit by itself (--duration, --count), 30 s at most.
    pub fn finish(mut self) -> TraceOutput {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("dnstrace did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self.stdout_thread.take().unwrap().join().unwrap();
        self.stderr_thread.take().unwrap().join().unwrap();
        let stderr = self.stderr.lock().unwrap().clone();
        let records = stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}"))
            })
            .collect();
        TraceOutput {
            records,
            stdout,
            stderr,
            status,
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory under the system's temporary directory, removed on
/// drop.
pub struct TempDir {
    pub path: std::path::PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(tag));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A counter's value from the `-v` summary's lines (`dnstrace:   key   N
/// what`).
pub fn counter(stderr: &str, key: &str) -> u64 {
    stderr
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(key))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter {key} in:\n{stderr}"))
}
