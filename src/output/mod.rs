//! Rendering transactions as aligned text lines and as JSON lines. Both are
//! pure functions of a transaction and a clock, tested without a kernel.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::record::dns;
use crate::record::{Kind, Transaction};

/// How transactions are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// The live table, on a terminal.
    Table,
    /// One aligned line per transaction.
    Text,
    /// One JSON object per line.
    Json,
}

/// Turns the kernel's CLOCK_MONOTONIC timestamps into wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds.
    mono_to_real_ns: i128,
    /// Seconds east of UTC, for the text output's local time of day.
    utc_offset_s: i64,
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

fn local_utc_offset() -> i64 {
    // SAFETY: time(NULL) has no preconditions; localtime_r writes into the
    // tm we own and reads the time zone, which nothing else here modifies.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

impl Clock {
    pub fn now() -> Clock {
        Clock {
            mono_to_real_ns: clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC),
            utc_offset_s: local_utc_offset(),
        }
    }

    /// A clock whose monotonic 0 is `epoch_ns` after 1970, in UTC: the
    /// same output on every run, for tests and the fuzz targets.
    pub fn fixed(epoch_ns: i128) -> Clock {
        Clock {
            mono_to_real_ns: epoch_ns,
            utc_offset_s: 0,
        }
    }

    pub fn system_time(&self, mono_ns: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.real_ns(mono_ns))
    }

    /// Nanoseconds since 1970 (never before it).
    fn real_ns(&self, mono_ns: u64) -> u64 {
        (i128::from(mono_ns) + self.mono_to_real_ns).max(0) as u64
    }

    /// RFC 3339 in UTC with microseconds: 2026-11-27T18:31:02.123456Z.
    pub fn rfc3339(&self, mono_ns: u64) -> String {
        humantime::format_rfc3339_micros(self.system_time(mono_ns)).to_string()
    }

    /// Local time of day with microseconds: 18:31:02.123456.
    pub fn time_of_day(&self, mono_ns: u64, out: &mut String) {
        let real = i128::from(mono_ns)
            + self.mono_to_real_ns
            + i128::from(self.utc_offset_s) * 1_000_000_000;
        let real = real.max(0);
        let secs = (real / 1_000_000_000) as u64;
        let micros = ((real % 1_000_000_000) / 1000) as u64;
        let day = secs % 86400;
        for (i, n) in [day / 3600, day / 60 % 60, day % 60]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push(':');
            }
            out.push(char::from(b'0' + (n / 10) as u8));
            out.push(char::from(b'0' + (n % 10) as u8));
        }
        out.push('.');
        push_micros(out, micros);
    }
}

/// Appends microseconds (below a million) as six digits.
fn push_micros(out: &mut String, micros: u64) {
    // A seventh leading digit keeps the zeros itoa would drop.
    out.push_str(&itoa::Buffer::new().format(micros + 1_000_000)[1..]);
}

#[cfg(test)]
fn endpoint(ip: IpAddr, port: u16) -> String {
    let mut s = String::new();
    push_endpoint(&mut s, ip, port);
    s
}

/// 10.0.0.1:53, [fd00::1]:53.
fn push_endpoint(out: &mut String, ip: IpAddr, port: u16) {
    match ip {
        IpAddr::V4(v4) => push_ipv4(out, v4),
        IpAddr::V6(v6) => {
            out.push('[');
            push_ipv6(out, v6);
            out.push(']');
        }
    }
    out.push(':');
    out.push_str(itoa::Buffer::new().format(port));
}

/// "dig[1234]", or "-" when the sending process is not known.
pub fn process(t: &Transaction) -> String {
    let mut s = String::new();
    push_process(&mut s, t);
    s
}

fn push_process(out: &mut String, t: &Transaction) {
    let Some(pid) = t.pid else {
        out.push('-');
        return;
    };
    if let Some(comm) = &t.comm {
        out.push_str(comm);
    }
    out.push('[');
    out.push_str(itoa::Buffer::new().format(pid));
    out.push(']');
}

/// Latency as people read it: 850us, 12.3ms, 1.20s.
pub fn human_latency(ns: u64) -> String {
    let mut s = String::new();
    push_human_latency(&mut s, ns);
    s
}

fn push_human_latency(out: &mut String, ns: u64) {
    if ns < 1_000_000 {
        out.push_str(itoa::Buffer::new().format(ns / 1000));
        out.push_str("us");
    } else if ns < 100_000_000 {
        let _ = write!(out, "{:.2}ms", ns as f64 / 1e6);
    } else if ns < 1_000_000_000 {
        let _ = write!(out, "{:.1}ms", ns as f64 / 1e6);
    } else {
        let _ = write!(out, "{:.2}s", ns as f64 / 1e9);
    }
}

/// The column titles over [`text_line`], built from the same widths.
pub fn text_header() -> String {
    format!(
        "{:<15} {:<20} {:>21}    {:<24} {:<5} {:>5} {:<6} {:<40} {:<9} {:>8}",
        "TIME", "PROCESS", "CLIENT", "SERVER", "PROTO", "ID", "TYPE", "NAME", "RCODE", "LATENCY"
    )
}

/// One aligned line (no newline).
///
/// Each field is written straight into `out` and padded there, as
/// `{:<20}` or `{:>21}` would pad it: this runs for every transaction, and
/// core::fmt's padding (a call per space) and the fields' own Strings cost
/// more than the rest of the line.
pub fn text_line(t: &Transaction, clock: &Clock, out: &mut String) {
    use Align::{Left, Right};
    clock.time_of_day(t.mono_ns, out);
    out.push(' ');
    padded(out, Left, 20, |out| push_process(out, t));
    out.push(' ');
    padded(out, Right, 21, |out| {
        push_endpoint(out, t.client, t.client_port)
    });
    out.push_str(" -> ");
    padded(out, Left, 24, |out| {
        push_endpoint(out, t.server, t.server_port)
    });
    out.push(' ');
    padded(out, Left, 5, |out| out.push_str(t.proto.as_str()));
    out.push(' ');
    padded(out, Right, 5, |out| {
        out.push_str(itoa::Buffer::new().format(t.id))
    });
    out.push(' ');
    padded(out, Left, 6, |out| {
        if t.kind == Kind::Encrypted {
            out.push('-');
        } else {
            out.push_str(&dns::qtype_name(t.qtype));
        }
    });
    out.push(' ');
    padded(out, Left, 40, |out| push_name_cell(out, t));
    out.push(' ');
    padded(out, Left, 9, |out| {
        out.push_str(&t.rcode_name());
        if t.truncated() {
            out.push_str(",TC");
        }
    });
    out.push(' ');
    padded(out, Right, 8, |out| match t.latency_ns {
        Some(ns) => push_human_latency(out, ns),
        None => out.push('-'),
    });
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Appends what `write` writes, padded with spaces to `width` characters
/// (at most 40) the way core::fmt pads: after it to align it left, before
/// it to align it right, and not at all when it is wider.
fn padded(out: &mut String, align: Align, width: usize, write: impl FnOnce(&mut String)) {
    const SPACES: &str = "                                        ";
    let start = out.len();
    write(out);
    let len = out[start..].chars().count();
    if len < width {
        let pad = &SPACES[..width - len];
        match align {
            Align::Left => out.push_str(pad),
            Align::Right => out.insert_str(start, pad),
        }
    }
}

/// Every field of the JSON record, in order (a test keeps them in step).
pub const JSON_FIELDS: &[&str] = &[
    "ts",
    "id",
    "qname",
    "qtype",
    "rcode",
    "latency_ms",
    "client_ip",
    "client_port",
    "server_ip",
    "server_port",
    "proto",
    "interface",
    "pid",
    "comm",
    "kind",
    "service",
    "qclass",
    "opcode",
    "flags",
    "truncated",
    "answers",
    "authority",
    "additional",
    "query_size",
    "response_size",
    "duration_ms",
    "bytes_sent",
    "bytes_received",
    "netns",
    "ifindex",
    "direction",
];

/// The JSON object of one transaction. The first fields are fixed names
/// that users' scripts rely on; never rename them.
#[derive(Debug, Serialize)]
pub struct JsonRecord<'a> {
    pub ts: String,
    pub id: Option<u16>,
    pub qname: Option<&'a str>,
    pub qtype: Option<String>,
    pub rcode: String,
    pub latency_ms: Option<f64>,
    pub client_ip: String,
    pub client_port: u16,
    pub server_ip: String,
    pub server_port: u16,
    pub proto: &'static str,
    pub interface: &'a str,
    pub pid: Option<u32>,
    pub comm: Option<&'a str>,
    /// "transaction", "announcement" (mDNS, with --announcements) or
    /// "encrypted" (a DoT or DoQ connection: no name, no id).
    pub kind: &'static str,
    /// "dns", "mdns", "dot" or "doq".
    pub service: &'static str,
    pub qclass: Option<String>,
    pub opcode: Option<String>,
    pub flags: Vec<&'static str>,
    pub truncated: bool,
    pub answers: Option<u16>,
    pub authority: Option<u16>,
    pub additional: Option<u16>,
    pub query_size: Option<u16>,
    pub response_size: Option<u16>,
    pub duration_ms: Option<f64>,
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    pub netns: u32,
    pub ifindex: u32,
    pub direction: &'static str,
}

impl<'a> JsonRecord<'a> {
    pub fn new(t: &'a Transaction, clock: &Clock) -> JsonRecord<'a> {
        let has_response = t.rflags.is_some();
        let dns = t.kind != Kind::Encrypted;
        let ms = |ns: u64| (ns / 1000) as f64 / 1000.0;
        JsonRecord {
            ts: clock.rfc3339(t.mono_ns),
            id: dns.then_some(t.id),
            qname: dns.then_some(t.qname.as_str()),
            qtype: dns.then(|| dns::qtype_name(t.qtype).into_owned()),
            rcode: t.rcode_name().into_owned(),
            latency_ms: t.latency_ns.map(ms),
            client_ip: t.client.to_string(),
            client_port: t.client_port,
            server_ip: t.server.to_string(),
            server_port: t.server_port,
            proto: t.proto.as_str(),
            interface: &t.interface,
            pid: t.pid,
            comm: t.comm.as_deref(),
            kind: t.kind.as_str(),
            service: t.service.as_str(),
            qclass: dns.then(|| dns::qclass_name(t.qclass).into_owned()),
            opcode: dns.then(|| dns::opcode_name(t.opcode()).into_owned()),
            flags: t.flag_names(),
            truncated: t.truncated(),
            answers: has_response.then_some(t.ancount),
            authority: has_response.then_some(t.nscount),
            additional: has_response.then_some(t.arcount),
            query_size: (t.kind != Kind::Encrypted && t.kind != Kind::Announcement)
                .then_some(t.query_size),
            response_size: t.response_size,
            duration_ms: t.duration_ns.map(ms),
            bytes_sent: (!dns).then_some(t.bytes_out),
            bytes_received: (!dns).then_some(t.bytes_in),
            netns: t.netns,
            ifindex: t.ifindex,
            direction: t.direction.as_str(),
        }
    }
}

/// Bytes as people read them: 950 B, 12.3 kB, 4.5 MB.
pub fn human_bytes(n: u64) -> String {
    if n < 1000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{:.1} MB", n as f64 / 1e6)
    }
}

/// What the name column shows: the name, or for an encrypted connection
/// what can be known of it.
pub fn name_cell(t: &Transaction) -> String {
    let mut s = String::new();
    push_name_cell(&mut s, t);
    s
}

fn push_name_cell(out: &mut String, t: &Transaction) {
    match t.kind {
        Kind::Encrypted => {
            let _ = write!(
                out,
                "[{} {} out, {} in, {}]",
                t.service
                    .as_str()
                    .to_uppercase()
                    .replace("DOT", "DoT")
                    .replace("DOQ", "DoQ"),
                human_bytes(t.bytes_out),
                human_bytes(t.bytes_in),
                t.duration_ns.map_or("-".into(), human_latency)
            );
        }
        Kind::Announcement => {
            out.push_str(&t.qname);
            out.push_str(" (announced)");
        }
        _ => out.push_str(&t.qname),
    }
}

/// The date and time of day of the last second a timestamp was written
/// for: at thousands of transactions a second, most timestamps fall in the
/// same second as the one before, so only their microseconds change.
#[derive(Debug, Default)]
pub struct TimeCache {
    /// Seconds since 1970, and "2026-11-27T18:31:02" for them.
    second: Option<(u64, String)>,
}

impl TimeCache {
    /// Appends `real_ns` (nanoseconds since 1970) the way
    /// `humantime::format_rfc3339_micros` writes it:
    /// 2026-11-27T18:31:02.123456Z.
    fn push_rfc3339_micros(&mut self, real_ns: u64, out: &mut String) {
        let secs = real_ns / 1_000_000_000;
        let prefix = match &mut self.second {
            Some((s, prefix)) if *s == secs => prefix,
            second => {
                // humantime fails only from the year 10000 on, and a u64
                // of nanoseconds ends in 2554.
                let mut prefix =
                    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs))
                        .to_string();
                prefix.truncate("2026-11-27T18:31:02".len());
                &mut second.insert((secs, prefix)).1
            }
        };
        out.push_str(prefix);
        out.push('.');
        push_micros(out, real_ns % 1_000_000_000 / 1000);
        out.push('Z');
    }
}

/// One JSON object (no newline).
///
/// Written field by field into `out`, without core::fmt: this runs for
/// every transaction, where building a JsonRecord and serializing it cost
/// a dozen allocations. A test keeps the two identical, byte for byte.
/// The sink calls [`json_line_cached`], which formats the date once a
/// second instead of once a line.
pub fn json_line(t: &Transaction, clock: &Clock, out: &mut String) {
    json_line_cached(t, clock, &mut TimeCache::default(), out);
}

/// `,"name":`, the text before every field but the first, as one constant
/// string.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

/// [`json_line`], reusing the date and time of the previous line's
/// timestamp when it is in the same second; allocates nothing then.
pub fn json_line_cached(t: &Transaction, clock: &Clock, times: &mut TimeCache, out: &mut String) {
    let dns = t.kind != Kind::Encrypted;
    let has_response = t.rflags.is_some();
    let w = &mut JsonWriter { out };
    w.out.push_str("{\"ts\":\"");
    times.push_rfc3339_micros(clock.real_ns(t.mono_ns), w.out);
    w.out.push('"');
    w.num(key!("id"), dns.then_some(u64::from(t.id)));
    w.string(key!("qname"), dns.then_some(t.qname.as_str()));
    w.word(
        key!("qtype"),
        dns.then(|| dns::qtype_name(t.qtype)).as_deref(),
    );
    w.word(key!("rcode"), Some(&t.rcode_name()));
    w.float(key!("latency_ms"), t.latency_ns);
    w.ip(key!("client_ip"), t.client);
    w.num(key!("client_port"), Some(u64::from(t.client_port)));
    w.ip(key!("server_ip"), t.server);
    w.num(key!("server_port"), Some(u64::from(t.server_port)));
    w.word(key!("proto"), Some(t.proto.as_str()));
    w.string(key!("interface"), Some(&t.interface));
    w.num(key!("pid"), t.pid.map(u64::from));
    w.string(key!("comm"), t.comm.as_deref());
    w.word(key!("kind"), Some(t.kind.as_str()));
    w.word(key!("service"), Some(t.service.as_str()));
    w.word(
        key!("qclass"),
        dns.then(|| dns::qclass_name(t.qclass)).as_deref(),
    );
    w.word(
        key!("opcode"),
        dns.then(|| dns::opcode_name(t.opcode())).as_deref(),
    );
    w.out.push_str(key!("flags"));
    w.out.push('[');
    for (i, f) in t.flags().enumerate() {
        if i > 0 {
            w.out.push(',');
        }
        w.out.push('"');
        w.out.push_str(f);
        w.out.push('"');
    }
    w.out.push(']');
    w.out.push_str(key!("truncated"));
    w.out.push_str(if t.truncated() { "true" } else { "false" });
    w.num(
        key!("answers"),
        has_response.then_some(u64::from(t.ancount)),
    );
    w.num(
        key!("authority"),
        has_response.then_some(u64::from(t.nscount)),
    );
    w.num(
        key!("additional"),
        has_response.then_some(u64::from(t.arcount)),
    );
    let query = t.kind != Kind::Encrypted && t.kind != Kind::Announcement;
    w.num(key!("query_size"), query.then_some(u64::from(t.query_size)));
    w.num(key!("response_size"), t.response_size.map(u64::from));
    w.float(key!("duration_ms"), t.duration_ns);
    w.num(key!("bytes_sent"), (!dns).then_some(t.bytes_out));
    w.num(key!("bytes_received"), (!dns).then_some(t.bytes_in));
    w.num(key!("netns"), Some(u64::from(t.netns)));
    w.num(key!("ifindex"), Some(u64::from(t.ifindex)));
    w.word(key!("direction"), Some(t.direction.as_str()));
    w.out.push('}');
}

/// Appends a JSON string: quotes, and escapes for quotes, backslashes and
/// control bytes (names are escaped already; this keeps JSON valid anyway).
/// A string with nothing to escape, as a rule, is checked eight bytes at a
/// time and copied at once; bytes of multi-byte characters are never
/// escaped.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    if needs_json_escape(s.as_bytes()) {
        let mut plain = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                0..0x20 => "\\u00",
                _ => continue,
            };
            out.push_str(&s[plain..i]);
            out.push_str(escape);
            if b < 0x20 {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            plain = i + 1;
        }
        out.push_str(&s[plain..]);
    } else {
        out.push_str(s);
    }
    out.push('"');
}

fn needs_json_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        if any_needs_json_escape(u64::from_le_bytes(word.try_into().expect("eight bytes"))) {
            return true;
        }
    }
    // The last bytes, padded with spaces (which need no escape).
    let rest = words.remainder();
    let mut last = [b' '; 8];
    last[..rest.len()].copy_from_slice(rest);
    any_needs_json_escape(u64::from_le_bytes(last))
}

/// Whether any of the eight bytes in `word` is a quote, a backslash or a
/// control byte. Each test is exact for the word as a whole (bit tricks
/// from "Bit Twiddling Hacks": a byte below n, for n <= 128; a zero byte).
fn any_needs_json_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let below = |n: u64| word.wrapping_sub(ONES * n) & !word & HIGH_BITS;
    let equal = |b: u64| {
        let x = word ^ (ONES * b);
        x.wrapping_sub(ONES) & !x & HIGH_BITS
    };
    below(0x20) | equal(u64::from(b'"')) | equal(u64::from(b'\\')) != 0
}

/// Appends an address as its Display form writes it.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => push_ipv4(out, v4),
        IpAddr::V6(v6) => push_ipv6(out, v6),
    }
}

fn push_ipv4(out: &mut String, ip: Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        // Digit by digit: cheaper than a call to copy one to three.
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
}

/// What std's Display writes (RFC 5952): groups in lowercase hex without
/// leading zeros, the longest run of two or more zero groups (the first
/// of equals) as "::", and an IPv4-mapped address as ::ffff:a.b.c.d.
/// Tested against Display for every placement of zero groups.
fn push_ipv6(out: &mut String, ip: Ipv6Addr) {
    if let Some(v4) = ip.to_ipv4_mapped() {
        out.push_str("::ffff:");
        push_ipv4(out, v4);
        return;
    }
    let groups = ip.segments();
    let (mut zeros, mut zeros_len, mut run_start) = (0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g != 0 {
            run_start = i + 1;
        } else if i + 1 - run_start > zeros_len {
            (zeros, zeros_len) = (run_start, i + 1 - run_start);
        }
    }
    let push_groups = |out: &mut String, groups: &[u16]| {
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let digits = (u16::BITS - g.leading_zeros()).div_ceil(4).max(1);
            for d in (0..digits).rev() {
                out.push(char::from(HEX[usize::from(g >> (4 * d) & 0xf)]));
            }
        }
    };
    if zeros_len > 1 {
        push_groups(out, &groups[..zeros]);
        out.push_str("::");
        push_groups(out, &groups[zeros + zeros_len..]);
    } else {
        push_groups(out, &groups);
    }
}

/// Writes the fields after the first, each after its `key!`. The methods
/// are inlined so that each key is copied as a constant, without a call
/// to memcpy; the values are written by the functions below them.
struct JsonWriter<'a> {
    out: &'a mut String,
}

impl JsonWriter<'_> {
    #[inline(always)]
    fn num(&mut self, key: &str, v: Option<u64>) {
        self.out.push_str(key);
        push_num(self.out, v);
    }

    #[inline(always)]
    fn string(&mut self, key: &str, v: Option<&str>) {
        self.out.push_str(key);
        match v {
            Some(s) => json_str(self.out, s),
            None => self.out.push_str("null"),
        }
    }

    /// A string of dnstrace's own vocabulary (type and rcode names,
    /// "udp", ...), which never needs escaping.
    #[inline(always)]
    fn word(&mut self, key: &str, v: Option<&str>) {
        self.out.push_str(key);
        push_word(self.out, v);
    }

    #[inline(always)]
    fn ip(&mut self, key: &str, ip: IpAddr) {
        self.out.push_str(key);
        self.out.push('"');
        push_ip(self.out, ip);
        self.out.push('"');
    }

    #[inline(always)]
    fn float(&mut self, key: &str, ns: Option<u64>) {
        self.out.push_str(key);
        push_ms(self.out, ns);
    }
}

fn push_num(out: &mut String, v: Option<u64>) {
    match v {
        Some(n) => out.push_str(itoa::Buffer::new().format(n)),
        None => out.push_str("null"),
    }
}

fn push_word(out: &mut String, v: Option<&str>) {
    match v {
        Some(s) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        None => out.push_str("null"),
    }
}

/// Nanoseconds as milliseconds with microsecond resolution, always with
/// a decimal point (so that JSON readers see a float, as before).
fn push_ms(out: &mut String, ns: Option<u64>) {
    let Some(ns) = ns else {
        out.push_str("null");
        return;
    };
    let us = ns / 1000;
    out.push_str(itoa::Buffer::new().format(us / 1000));
    out.push('.');
    let frac = us % 1000;
    // Three digits, trailing zeros dropped (but one kept).
    let d = [
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ];
    let mut n = 3;
    while n > 1 && d[n - 1] == b'0' {
        n -= 1;
    }
    for &b in &d[..n] {
        out.push(char::from(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{bytes_of, raw};
    use serde_json::Value;

    // 2026-11-27T18:00:00Z in nanoseconds since 1970.
    const EPOCH: i128 = 1_795_802_400 * 1_000_000_000;

    fn txn(f: impl FnOnce(&mut crate::kernel::abi::RawEvent)) -> Transaction {
        let mut ev = raw(b"\x03www\x07example\x03com\x00");
        f(&mut ev);
        Transaction::decode(&bytes_of(&ev)).unwrap()
    }

    #[test]
    fn json_fields_and_types() {
        let t = txn(|_| {});
        let mut s = String::new();
        json_line(&t, &Clock::fixed(EPOCH), &mut s);
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["ts"], "2026-11-27T18:00:01.000000Z");
        assert_eq!(v["id"], 0xbeef);
        assert_eq!(v["qname"], "www.example.com");
        assert_eq!(v["qtype"], "AAAA");
        assert_eq!(v["rcode"], "NXDOMAIN");
        assert_eq!(v["latency_ms"], 2.5);
        assert_eq!(v["client_ip"], "10.0.0.2");
        assert_eq!(v["client_port"], 40000);
        assert_eq!(v["server_ip"], "10.0.0.1");
        assert_eq!(v["server_port"], 53);
        assert_eq!(v["proto"], "udp");
        assert_eq!(v["interface"], "veth0");
        assert_eq!(v["pid"], 4242);
        assert_eq!(v["comm"], "dig");
        assert_eq!(v["flags"], serde_json::json!(["rd", "ra"]));
        assert_eq!(v["answers"], 0);
        assert_eq!(v["direction"], "egress");
        assert!(!s.contains('\n'));
    }

    #[test]
    fn json_field_list_is_complete() {
        let t = txn(|_| {});
        let v = serde_json::to_value(JsonRecord::new(&t, &Clock::fixed(EPOCH))).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut listed = JSON_FIELDS.to_vec();
        keys.sort_unstable();
        listed.sort_unstable();
        assert_eq!(keys, listed);
    }

    #[test]
    fn json_of_an_encrypted_connection() {
        let t = txn(|e| {
            e.kind = 3;
            e.service = 2;
            e.proto = 6;
            e.server_port = 853;
            e.latency_ns = 2_500_000_000;
            e.bytes_out = 1500;
            e.bytes_in = 42;
            e.name_len = 0;
        });
        let mut s = String::new();
        json_line(&t, &Clock::fixed(EPOCH), &mut s);
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["kind"], "encrypted");
        assert_eq!(v["service"], "dot");
        assert_eq!(v["rcode"], "ENCRYPTED");
        assert!(v["qname"].is_null() && v["id"].is_null() && v["latency_ms"].is_null());
        assert_eq!(v["duration_ms"], 2500.0);
        assert_eq!(
            (v["bytes_sent"].as_u64(), v["bytes_received"].as_u64()),
            (Some(1500), Some(42))
        );
        let mut line = String::new();
        text_line(&t, &Clock::fixed(EPOCH), &mut line);
        assert!(line.contains("[DoT 1.5 kB out, 42 B in, 2.50s]"), "{line}");
        assert!(line.contains("ENCRYPTED"), "{line}");
    }

    /// The hand-written line and the serde record say the same thing, for
    /// every kind of record.
    #[test]
    fn json_line_matches_the_record() {
        let cases = [
            txn(|_| {}),
            txn(|e| e.kind = 1),
            txn(|e| {
                e.kind = 2;
                e.service = 1;
            }),
            txn(|e| {
                e.kind = 3;
                e.service = 3;
                e.name_len = 0;
                e.bytes_out = 7;
                e.latency_ns = 1_000_000_000;
            }),
            txn(|e| {
                e.latency_ns = 123_456_789;
                e.pid = 0;
                e.family = 6;
            }),
            txn(|e| e.latency_ns = 999),
        ];
        let clock = Clock::fixed(EPOCH);
        for t in cases {
            let mut s = String::new();
            json_line(&t, &clock, &mut s);
            let fast: Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {s}"));
            let slow = serde_json::to_value(JsonRecord::new(&t, &clock)).unwrap();
            assert_eq!(fast, slow, "{s}");
            let keys: Vec<&str> = s
                .split("\":")
                .filter_map(|p| p.rsplit('"').next())
                .collect();
            assert_eq!(&keys[..JSON_FIELDS.len()], JSON_FIELDS, "field order");
        }
    }

    /// Byte for byte what serde writes for the JsonRecord, over records of
    /// every shape: addresses of both families and all their textual
    /// forms, hostile strings, every kind, types and rcodes with and
    /// without names, times across many seconds; with one time cache for
    /// all, as the sink writes them.
    #[test]
    fn json_line_is_serde_byte_for_byte() {
        let clock = Clock::fixed(EPOCH);
        let mut times = TimeCache::default();
        let mut s = String::new();
        for seed in 0..20_000 {
            let mut ev = crate::testing::fixtures::varied(seed);
            // Seconds apart too, not only 20 us.
            ev.ts = ev.ts.wrapping_mul(seed % 7 + 1);
            let t = Transaction::decode(&bytes_of(&ev)).unwrap();
            s.clear();
            json_line_cached(&t, &clock, &mut times, &mut s);
            let slow = serde_json::to_string(&JsonRecord::new(&t, &clock)).unwrap();
            assert_eq!(s, slow, "seed {seed}");
            s.clear();
            json_line(&t, &clock, &mut s);
            assert_eq!(s, slow, "seed {seed}, no cache");
        }
    }

    /// The cached date and time of day change exactly where humantime's
    /// do: at every second, day, month and year, in leap years and in
    /// century years that are not, moving forwards or back.
    #[test]
    fn timestamps_match_humantime() {
        let mut times = TimeCache::default();
        let mut check = |real_ns: u64| {
            let mut s = String::new();
            times.push_rfc3339_micros(real_ns, &mut s);
            let t = UNIX_EPOCH + Duration::from_nanos(real_ns);
            assert_eq!(s, humantime::format_rfc3339_micros(t).to_string());
        };
        const DAY: u64 = 86_400_000_000_000;
        // Around midnight of every day from 1970 to 2110 (2000 is a leap
        // year, 2100 not), and of every New Year's Day until u64 ends.
        let mut midnights: Vec<u64> = (1..51_500).map(|d| d * DAY).collect();
        let mut year_start = 0u64;
        for year in 1970u64..2554 {
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            year_start += if leap { 366 } else { 365 } * DAY;
            midnights.push(year_start);
        }
        for m in midnights {
            for delta in [
                -1_000_000_000i64,
                -1000,
                -1,
                0,
                999,
                1000,
                1001,
                999_999_999,
            ] {
                check(m.wrapping_add_signed(delta));
            }
        }
        // Leap days themselves.
        for leap_day in [951_782_400u64, 1_709_164_800, 4_107_456_000] {
            check(leap_day * 1_000_000_000 + 123_456_789);
            check((leap_day + 86_399) * 1_000_000_000 + 999_999_999);
        }
        check(0);
        check(u64::MAX);
        // A walk back and forth, in steps from nanoseconds to years.
        let mut ns = 1_795_802_400_000_000_000u64;
        for i in 0..20_000u64 {
            let step = (i * 2_654_435_761) % (1 << (i % 56));
            ns = if i % 3 == 0 {
                ns.saturating_sub(step)
            } else {
                ns.saturating_add(step)
            };
            check(ns);
        }
    }

    /// The escaping json_str did character by character before its fast
    /// path.
    fn json_str_by_char(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn json_str_escapes_as_before() {
        let mut out = String::new();
        json_str(&mut out, "a\"b\\c\u{0}\u{1f} \u{7f}é\u{1d11e}\n\t");
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\u0000\\u001f \u{7f}é\u{1d11e}\\u000a\\u0009\""
        );
        // Every character up to 0x3ff alone, in pairs and inside a run.
        let chars: Vec<char> = (0..0x400).filter_map(char::from_u32).collect();
        let mut cases: Vec<String> = vec![String::new(), chars.iter().collect()];
        for &a in &chars {
            cases.push(a.to_string());
            cases.push(format!("ab{a}cd"));
            // At every place in and around the words read at once.
            for at in 0..=17 {
                let mut s: String = "abcdefghijklmnopq".into();
                s.insert(at, a);
                cases.push(s);
            }
            for &b in chars.iter().step_by(7) {
                cases.push(format!("{a}{b}"));
            }
        }
        for s in cases {
            out.clear();
            json_str(&mut out, &s);
            assert_eq!(out, json_str_by_char(&s), "{s:?}");
        }
    }

    /// The word-at-a-time test agrees with the byte-by-byte one for every
    /// byte value at every place, beside every other.
    #[test]
    fn escape_test_reads_every_byte_of_a_word() {
        let needs = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        for b in 0..=255u8 {
            for fill in 0..=255u8 {
                for at in 0..8 {
                    let mut word = [fill; 8];
                    word[at] = b;
                    assert_eq!(
                        any_needs_json_escape(u64::from_le_bytes(word)),
                        needs(b) || needs(fill),
                        "{word:?}"
                    );
                }
            }
        }
    }

    /// Every placement of zero groups (which decides where "::" goes),
    /// with group values of one to four hex digits, IPv4-mapped and
    /// IPv4-compatible addresses, and a spread of others.
    #[test]
    fn ipv6_as_display_writes_it() {
        let mut out = String::new();
        let mut check = |ip: Ipv6Addr| {
            out.clear();
            push_ipv6(&mut out, ip);
            assert_eq!(out, ip.to_string(), "{:?}", ip.segments());
        };
        let values = [
            1u16, 0x9, 0xa, 0xf, 0x10, 0xab, 0xff, 0x100, 0xabc, 0x1000, 0xffff,
        ];
        for zeros in 0..=255u32 {
            for (k, _) in values.iter().enumerate() {
                let mut groups = [0u16; 8];
                for (i, g) in groups.iter_mut().enumerate() {
                    if zeros & (1 << i) == 0 {
                        *g = values[(k + i) % values.len()];
                    }
                }
                check(Ipv6Addr::from(groups));
            }
        }
        for a in [0u16, 1, 0xa, 0xff, 0x100, 0xc0a8, 0xffff] {
            for b in [0u16, 1, 0x101, 0xffff] {
                for prefix in [0u16, 0xffff, 1] {
                    check(Ipv6Addr::new(0, 0, 0, 0, 0, prefix, a, b));
                    check(Ipv6Addr::new(0, 0, 0, 0, 1, prefix, a, b));
                    check(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, prefix, a, b));
                }
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834u128;
        for _ in 0..20_000 {
            x = x.rotate_left(17).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x1234_5678;
            // Zero some groups, so that runs of every length come up.
            let mask = (0..8)
                .filter(|i| x >> (120 + i) & 1 == 0)
                .fold(0u128, |m, i| m | 0xffff << (16 * i));
            check(Ipv6Addr::from(x & !mask));
            check(Ipv6Addr::from(x));
        }
    }

    #[test]
    fn ip_addresses_as_display_writes_them() {
        let mut out = String::new();
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "1.22.133.9",
            "100.10.1.0",
            "::",
            "::1",
            "::ffff:10.1.2.3",
            "fd00::1:0:0:2",
            "2001:db8:0:1::7:0",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            out.clear();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string());
        }
        for n in (0..=u32::MAX).step_by(65_537) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(n));
            out.clear();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string());
        }
    }

    #[test]
    fn json_timeout_has_nulls() {
        let t = txn(|e| {
            e.kind = 1;
            e.pid = 0;
            e.qtype = 65280;
        });
        let mut s = String::new();
        json_line(&t, &Clock::fixed(EPOCH), &mut s);
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["rcode"], "TIMEOUT");
        assert!(v["latency_ms"].is_null());
        assert!(v["pid"].is_null());
        assert!(v["comm"].is_null());
        assert!(v["response_size"].is_null());
        assert_eq!(v["qtype"], "TYPE65280");
    }

    #[test]
    fn json_stays_valid_with_hostile_names() {
        let mut ev = raw(b"\x06a\"b\x1b\\c\x00");
        ev.comm[0] = 0x07;
        let t = Transaction::decode(&bytes_of(&ev)).unwrap();
        let mut s = String::new();
        json_line(&t, &Clock::fixed(EPOCH), &mut s);
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["qname"], "a\"b\\027\\\\c");
        assert!(s.bytes().all(|b| b >= 0x20), "no raw control bytes: {s:?}");
    }

    #[test]
    fn text_line_is_aligned_and_readable() {
        let clock = Clock::fixed(EPOCH);
        let mut a = String::new();
        text_line(&txn(|_| {}), &clock, &mut a);
        assert!(a.starts_with("18:00:01.000000 dig[4242]"), "{a}");
        assert!(a.contains("10.0.0.2:40000 -> 10.0.0.1:53"), "{a}");
        assert!(a.contains(" 48879 AAAA   www.example.com"), "{a}");
        assert!(a.contains("NXDOMAIN"), "{a}");
        assert!(a.trim_end().ends_with("2.50ms"), "{a}");
        let mut b = String::new();
        text_line(
            &txn(|e| {
                e.kind = 1;
                e.pid = 0;
            }),
            &clock,
            &mut b,
        );
        assert!(b.contains(" - "), "{b}");
        assert!(b.contains("TIMEOUT"), "{b}");
        // Same column for the name in both lines.
        assert_eq!(a.find("www.example.com"), b.find("www.example.com"));
        // The header's titles stand over their columns.
        let header = text_header();
        assert_eq!(header.find("NAME"), a.find("www.example.com"));
        assert_eq!(header.find("PROCESS"), a.find("dig[4242]"));
        assert_eq!(header.find("SERVER"), a.find("10.0.0.1:53"));
        assert_eq!(
            header.find("LATENCY").map(|i| i + "LATENCY".len()),
            Some(a.trim_end().len())
        );
    }

    /// text_line as it was written with core::fmt, the oracle for the
    /// one that pads by hand.
    fn text_line_with_fmt(t: &Transaction, clock: &Clock) -> String {
        let endpoint = |ip: IpAddr, port: u16| match ip {
            IpAddr::V4(v4) => format!("{v4}:{port}"),
            IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        };
        let human_latency = |ns: u64| {
            if ns < 1_000_000 {
                format!("{}us", ns / 1000)
            } else if ns < 100_000_000 {
                format!("{:.2}ms", ns as f64 / 1e6)
            } else if ns < 1_000_000_000 {
                format!("{:.1}ms", ns as f64 / 1e6)
            } else {
                format!("{:.2}s", ns as f64 / 1e9)
            }
        };
        let process = match (t.pid, &t.comm) {
            (Some(pid), Some(comm)) => format!("{comm}[{pid}]"),
            (Some(pid), None) => format!("[{pid}]"),
            _ => "-".to_string(),
        };
        let name_cell = match t.kind {
            Kind::Encrypted => format!(
                "[{} {} out, {} in, {}]",
                t.service
                    .as_str()
                    .to_uppercase()
                    .replace("DOT", "DoT")
                    .replace("DOQ", "DoQ"),
                human_bytes(t.bytes_out),
                human_bytes(t.bytes_in),
                t.duration_ns.map_or("-".into(), human_latency)
            ),
            Kind::Announcement => format!("{} (announced)", t.qname),
            _ => t.qname.clone(),
        };
        let real = i128::from(t.mono_ns)
            + clock.mono_to_real_ns
            + i128::from(clock.utc_offset_s) * 1_000_000_000;
        let real = real.max(0);
        let secs = (real / 1_000_000_000) as u64;
        let micros = ((real % 1_000_000_000) / 1000) as u64;
        let day = secs % 86400;
        let mut out = format!(
            "{:02}:{:02}:{:02}.{:06}",
            day / 3600,
            day / 60 % 60,
            day % 60,
            micros
        );
        let latency = match t.latency_ns {
            Some(ns) => human_latency(ns),
            None => "-".into(),
        };
        let mut rcode = t.rcode_name().into_owned();
        if t.truncated() {
            rcode.push_str(",TC");
        }
        let _ = write!(
            out,
            " {:<20} {:>21} -> {:<24} {:<5} {:>5} {:<6} {:<40} {:<9} {:>8}",
            process,
            endpoint(t.client, t.client_port),
            endpoint(t.server, t.server_port),
            t.proto.as_str(),
            t.id,
            if t.kind == Kind::Encrypted {
                "-".into()
            } else {
                dns::qtype_name(t.qtype)
            },
            name_cell,
            rcode,
            latency
        );
        out
    }

    /// Byte for byte the line core::fmt wrote, for records of every shape
    /// and latencies around every change of unit and rounding, at times of
    /// day across midnight and in a zone east of UTC.
    #[test]
    fn text_line_is_what_fmt_wrote() {
        let clocks = [
            Clock::fixed(EPOCH),
            Clock {
                mono_to_real_ns: EPOCH - 1_000_000_000,
                utc_offset_s: 5 * 3600 + 1800,
            },
        ];
        let mut line = String::new();
        let mut check = |t: &Transaction| {
            for clock in &clocks {
                line.clear();
                text_line(t, clock, &mut line);
                assert_eq!(line, text_line_with_fmt(t, clock));
            }
        };
        for seed in 0..20_000 {
            let mut ev = crate::testing::fixtures::varied(seed);
            ev.ts = ev.ts.wrapping_mul(seed % 5 + 1);
            check(&Transaction::decode(&bytes_of(&ev)).unwrap());
        }
        let mut ns = vec![0, 999, 1000, 999_999, 1_000_000, 99_999_999, 100_000_000];
        ns.extend([
            999_999_999,
            1_000_000_000,
            12_345_000,
            12_355_000,
            2_675_000_000,
        ]);
        ns.extend((0..2000u64).map(|i| i * i * 12_345 + i));
        for latency in ns {
            check(&txn(|e| e.latency_ns = latency));
            check(&txn(|e| {
                e.kind = 3;
                e.service = 2;
                e.name_len = 0;
                e.latency_ns = latency;
                e.bytes_out = latency;
                e.bytes_in = latency / 7;
            }));
        }
    }

    #[test]
    fn latency_is_human() {
        assert_eq!(human_latency(850_000), "850us");
        assert_eq!(human_latency(12_345_678), "12.35ms");
        assert_eq!(human_latency(250_000_000), "250.0ms");
        assert_eq!(human_latency(1_200_000_000), "1.20s");
    }

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        assert_eq!(endpoint("fd00::1".parse().unwrap(), 53), "[fd00::1]:53");
    }
}
