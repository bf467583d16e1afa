//! Lookups: what one application call experienced. The transactions one
//! client (a process, or a socket when the process is not known) sends
//! for one name: the search-list expansions, the sibling types (A and
//! AAAA), retransmissions on the same socket, retries on a new one, and a
//! TCP retry after a truncated answer.
//!
//! [`Tracker::feed`] takes each transaction as the kernel reported it;
//! [`Tracker::advance`] finishes the lookups nothing more can join, by
//! time (CLOCK_MONOTONIC nanoseconds, the records' clock), so that the
//! grouping is a pure function of the records and a clock, tested
//! without a kernel. A lookup is finished once any query it may still
//! have sent would have been reported (the kernel reports every query
//! within its timeout), and, when a query of it timed out, once the
//! resolver's resend would have come.
//!
//! Bounded: at most `max_open` lookups are open; a new one beyond that
//! finishes the oldest early (counted, and marked `incomplete`).

pub mod conntrack;
pub mod resolv;
pub mod stats;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::record::{KernelStr, Kind, Proto, Transaction};
use resolv::{ResolvConf, ResolvSource, SearchSource};

const A: u16 = 1;
const AAAA: u16 = 28;

/// Sockets whose process is remembered (cleared when full).
const SOCKETS: usize = 65536;

/// Queries remembered per lookup; more are counted, not kept.
const MAX_QUERIES: usize = 64;

/// Slack for a record to reach user space after the kernel made it (the
/// ring buffer is read every 50 ms, timeouts swept every 200 ms at most),
/// and for an application to send its next query after an answer.
pub const LINGER_NS: u64 = 500_000_000;

/// How the tracker waits.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub max_open: usize,
    /// The kernel's `--timeout`: every query is reported within it.
    pub kernel_timeout_ns: u64,
}

/// Who sent a query: one call's queries all come from one of these.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Client {
    Process(u32),
    Socket(IpAddr, u16),
}

/// What the application got for a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupRcode {
    Rcode(u16),
    Timeout,
    Unreachable,
}

impl LookupRcode {
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        match self {
            LookupRcode::Rcode(r) => crate::record::dns::rcode_name(r),
            LookupRcode::Timeout => "TIMEOUT".into(),
            LookupRcode::Unreachable => "UNREACHABLE".into(),
        }
    }

    pub fn is_error(self) -> bool {
        self != LookupRcode::Rcode(0)
    }
}

/// A finished lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupRecord {
    /// When its first query was seen (CLOCK_MONOTONIC).
    pub mono_ns: u64,
    /// The name as asked, without the search domain.
    pub name: String,
    /// The name whose answer had data; None when none had.
    pub answered_name: Option<String>,
    /// Query types, in the order first asked.
    pub qtypes: Vec<u16>,
    pub queries: u32,
    /// Queries for other names than the one that ended the lookup.
    pub search_misses: u32,
    /// The same question again on another socket.
    pub retries: u32,
    /// The same question again on the same socket.
    pub retransmits: u32,
    pub rcode: LookupRcode,
    /// First query out to the answer that ended it; None when it timed
    /// out.
    pub latency_ns: Option<u64>,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub pid: Option<u32>,
    pub comm: Option<KernelStr>,
    /// One of A and AAAA for a name on one socket lost while the other
    /// was answered.
    pub sibling_lost: bool,
    /// A truncated answer followed by the question over TCP.
    pub tcp_fallback: bool,
    /// A question asked again after its first try went unanswered.
    pub retry_after_timeout: bool,
    /// From the first try of a question to its first resend.
    pub retry_delay_ns: Option<u64>,
    pub search_source: SearchSource,
    /// Finished early to make room (the cap on open lookups).
    pub incomplete: bool,
    /// Whether any of its queries went over UDP, over TCP.
    pub udp: bool,
    pub tcp: bool,
    /// With `sibling_lost`: how much the conntrack counters moved since
    /// the lookup began (filled in by the caller, who reads them).
    pub conntrack: Option<conntrack::ConntrackStats>,
}

/// How a query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// An answer: rcode, whether it had records, whether truncated.
    Answer {
        rcode: u16,
        data: bool,
        tc: bool,
    },
    Timeout,
    Unreachable,
}

#[derive(Debug, Clone)]
struct Query {
    name: usize,
    qtype: u16,
    port: u16,
    proto: Proto,
    id: u16,
    sent_ns: u64,
    /// When it ended: the answer's arrival, or the kernel's timeout.
    end_ns: u64,
    end: End,
}

impl Query {
    fn answered(&self) -> bool {
        matches!(self.end, End::Answer { .. })
    }
    /// An answer a resolver takes as final for the question: NOERROR or
    /// NXDOMAIN, not truncated. After SERVFAIL, REFUSED and the like it
    /// tries again (glibc: the next server, or the next attempt).
    fn settled(&self) -> bool {
        matches!(
            self.end,
            End::Answer {
                rcode: 0 | 3,
                tc: false,
                ..
            }
        )
    }

    fn data(&self) -> bool {
        matches!(
            self.end,
            End::Answer {
                data: true,
                tc: false,
                ..
            }
        )
    }
}

#[derive(Debug, Default)]
struct Resends {
    retries: u32,
    retransmits: u32,
    tcp_fallback: bool,
    after_timeout: bool,
    delay_ns: Option<u64>,
}

#[derive(Debug)]
struct Lookup {
    client: Client,
    /// Its key in the index: the hash of its client and first label.
    index_key: u64,
    pid: Option<u32>,
    comm: Option<KernelStr>,
    client_ip: IpAddr,
    client_port: u16,
    /// The name as asked (for an inferred search list, the labels all
    /// names so far share).
    base: String,
    /// The names the resolver would try, when its settings are known.
    expected: Option<Vec<String>>,
    retry_interval_ns: u64,
    source: SearchSource,
    /// Names queried, in the order first queried.
    names: Vec<String>,
    queries: Vec<Query>,
    query_count: u32,
    qtypes: Vec<u16>,
    udp: bool,
    tcp: bool,
    first_ns: u64,
    last_sent_ns: u64,
    last_event_ns: u64,
}

/// Groups transactions into lookups.
pub struct Tracker {
    settings: Settings,
    resolv: Box<dyn ResolvSource>,
    open: HashMap<u64, Box<Lookup>>,
    /// The hash of (client, first label, lowercase) to the open lookups
    /// there, newest last. Keyed hashing: the names are anyone's choice.
    index: HashMap<u64, Vec<u64>>,
    hasher: foldhash::fast::RandomState,
    /// The process last seen on each socket, so that a query sent without
    /// its process joins the process's lookup. Bounded by [`SOCKETS`].
    sockets: HashMap<(IpAddr, u16), u32>,
    /// Open lookups by age, oldest first (closed ones are skipped).
    order: VecDeque<u64>,
    next_id: u64,
    now_ns: u64,
    evicted: u64,
    /// Late answers whose lookup was finished already.
    late_unmatched: u64,
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock of the records.
pub fn mono_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn first_label(name: &str) -> &str {
    name.split('.').next().unwrap_or("")
}

fn labels(name: &str) -> Vec<&str> {
    name.split('.').collect()
}

/// The client a transaction is from: its process when known, else its
/// socket.
fn client_of(t: &Transaction) -> Client {
    match t.pid {
        Some(pid) => Client::Process(pid),
        None => Client::Socket(t.client, t.client_port),
    }
}

impl Tracker {
    pub fn new(settings: Settings, resolv: Box<dyn ResolvSource>) -> Tracker {
        Tracker {
            settings,
            resolv,
            open: HashMap::new(),
            index: HashMap::new(),
            hasher: foldhash::fast::RandomState::default(),
            sockets: HashMap::new(),
            order: VecDeque::new(),
            next_id: 0,
            now_ns: 0,
            evicted: 0,
            late_unmatched: 0,
        }
    }

    /// Lookups finished early to make room.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn open(&self) -> usize {
        self.open.len()
    }

    pub fn late_unmatched(&self) -> u64 {
        self.late_unmatched
    }

    /// Takes one transaction; lookups it finished (by making room) are
    /// pushed to `out`. Records other than transactions and late answers
    /// are no part of a lookup and are ignored.
    pub fn feed(&mut self, t: &Transaction, out: &mut Vec<LookupRecord>) {
        match t.kind {
            Kind::Answered | Kind::Timeout | Kind::Unreachable => {}
            Kind::Late => return self.late(t),
            _ => return,
        }
        let (sent, end_ns, end) = self.outcome(t);
        self.now_ns = self.now_ns.max(sent);
        let mut client = client_of(t);
        let mut key = self.index_key(&client, &t.qname);
        let mut found = self.find(key, &client, t, sent);
        let socket = Client::Socket(t.client, t.client_port);
        match t.pid {
            // A query of the call may have left without its process (sent
            // from a softirq once ARP resolved): the socket's lookup is
            // the process's.
            Some(pid) if found.is_none() => {
                let socket_key = self.index_key(&socket, &t.qname);
                if let Some(id) = self.find(socket_key, &socket, t, sent) {
                    self.unindex(id, socket_key);
                    let l = self.open.get_mut(&id).expect("an open lookup");
                    l.client = client.clone();
                    l.pid = Some(pid);
                    l.comm = t.comm;
                    l.index_key = key;
                    self.index.entry(key).or_default().push(id);
                    found = Some(id);
                }
            }
            // This one left without its process, while other queries of
            // its socket named it.
            None => {
                if let Some(&pid) = self.sockets.get(&(t.client, t.client_port)) {
                    let process = Client::Process(pid);
                    let process_key = self.index_key(&process, &t.qname);
                    if let Some(id) = self.find(process_key, &process, t, sent) {
                        (client, key, found) = (process, process_key, Some(id));
                    }
                }
            }
            Some(_) => {}
        }
        if let Some(pid) = t.pid {
            if self.sockets.len() >= SOCKETS {
                self.sockets.clear();
            }
            self.sockets.insert((t.client, t.client_port), pid);
        }
        let id = match found {
            Some(id) => id,
            None => {
                if self.open.len() >= self.settings.max_open {
                    self.evict_oldest(out);
                }
                let id = self.next_id;
                self.next_id += 1;
                let lookup = self.start(t, client, key);
                self.open.insert(id, Box::new(lookup));
                self.index.entry(key).or_default().push(id);
                self.order.push_back(id);
                id
            }
        };
        let lookup = self.open.get_mut(&id).expect("an open lookup");
        lookup.add(t, sent, end_ns, end);
    }

    /// The open lookup under `key` that `t` belongs to.
    fn find(&self, key: u64, client: &Client, t: &Transaction, sent: u64) -> Option<u64> {
        self.index.get(&key).and_then(|ids| {
            ids.iter().rev().copied().find(|id| {
                self.open
                    .get(id)
                    .is_some_and(|l| l.client == *client && l.accepts(t, sent))
            })
        })
    }

    fn unindex(&mut self, id: u64, key: u64) {
        if let Some(ids) = self.index.get_mut(&key) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.index.remove(&key);
            }
        }
    }

    /// When the query was sent, when it ended, and how.
    fn outcome(&self, t: &Transaction) -> (u64, u64, End) {
        let sent = t.mono_ns;
        match (t.kind, t.rflags) {
            (Kind::Unreachable, _) => (sent, sent + t.latency_ns.unwrap_or(0), End::Unreachable),
            (Kind::Answered | Kind::Late, Some(_)) => (
                sent,
                sent + t.latency_ns.unwrap_or(0),
                End::Answer {
                    rcode: t.rcode().unwrap_or(0),
                    data: t.ancount > 0,
                    tc: t.truncated(),
                },
            ),
            _ => (sent, sent + self.settings.kernel_timeout_ns, End::Timeout),
        }
    }

    /// A late answer: the query it answers, reported as timed out, was
    /// answered after all.
    fn late(&mut self, t: &Transaction) {
        let (_, end_ns, end) = self.outcome(t);
        let client = client_of(t);
        let key = self.index_key(&client, &t.qname);
        let Some(ids) = self.index.get(&key) else {
            self.late_unmatched += 1;
            return;
        };
        for id in ids.iter().rev() {
            let Some(l) = self.open.get_mut(id).filter(|l| l.client == client) else {
                continue;
            };
            let names = &l.names;
            let hit = l.queries.iter_mut().find(|q| {
                q.end == End::Timeout
                    && names[q.name].eq_ignore_ascii_case(&t.qname)
                    && q.sent_ns == t.mono_ns
                    && q.id == t.id
                    && q.port == t.client_port
                    && q.qtype == t.qtype
            });
            if let Some(q) = hit {
                q.end = end;
                q.end_ns = end_ns;
                l.last_event_ns = l.last_event_ns.max(end_ns);
                return;
            }
        }
        self.late_unmatched += 1;
    }

    /// The index key of a name asked by a client: its first label, in
    /// lowercase, hashed with the client without allocating.
    fn index_key(&self, client: &Client, qname: &str) -> u64 {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = self.hasher.build_hasher();
        client.hash(&mut h);
        for b in first_label(qname).bytes() {
            h.write_u8(b.to_ascii_lowercase());
        }
        h.finish()
    }

    fn start(&mut self, t: &Transaction, client: Client, index_key: u64) -> Lookup {
        let conf = self.resolv.lookup(t.pid, t.netns);
        let (base, expected, source, retry_s) = match &conf {
            Some((c, source)) => {
                let base = c.asked_name(&t.qname);
                let expected = c.expansions(&base.to_ascii_lowercase());
                (base, Some(expected), *source, c.timeout_s)
            }
            None => (
                t.qname.clone(),
                None,
                SearchSource::Inferred,
                ResolvConf::default().timeout_s,
            ),
        };
        Lookup {
            client,
            index_key,
            pid: t.pid,
            comm: t.comm,
            client_ip: t.client,
            client_port: t.client_port,
            base,
            expected,
            retry_interval_ns: u64::from(retry_s) * 1_000_000_000,
            source,
            names: Vec::new(),
            queries: Vec::new(),
            query_count: 0,
            qtypes: Vec::new(),
            udp: false,
            tcp: false,
            first_ns: t.mono_ns,
            last_sent_ns: t.mono_ns,
            last_event_ns: t.mono_ns,
        }
    }

    /// Finishes the lookups that nothing more can join by `now_ns`
    /// (CLOCK_MONOTONIC), oldest first.
    pub fn advance(&mut self, now_ns: u64, out: &mut Vec<LookupRecord>) {
        self.now_ns = self.now_ns.max(now_ns);
        let now = self.now_ns;
        let timeout = self.settings.kernel_timeout_ns;
        let mut done: Vec<(u64, u64)> = self
            .open
            .iter()
            .filter(|(_, l)| l.close_at(timeout) <= now)
            .map(|(id, l)| (l.first_ns, *id))
            .collect();
        done.sort_unstable();
        for (_, id) in done {
            self.finish(id, false, out);
        }
        self.compact();
    }

    /// Finishes every open lookup (at exit).
    pub fn finish_all(&mut self, out: &mut Vec<LookupRecord>) {
        let mut all: Vec<(u64, u64)> = self.open.iter().map(|(id, l)| (l.first_ns, *id)).collect();
        all.sort_unstable();
        for (_, id) in all {
            self.finish(id, false, out);
        }
        self.order.clear();
    }

    fn evict_oldest(&mut self, out: &mut Vec<LookupRecord>) {
        while let Some(id) = self.order.pop_front() {
            if self.open.contains_key(&id) {
                self.evicted += 1;
                self.finish(id, true, out);
                return;
            }
        }
    }

    /// Drops the ids of finished lookups from the age queue once they
    /// outnumber the open ones.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.open.len() + 64 {
            let open = &self.open;
            self.order.retain(|id| open.contains_key(id));
        }
    }

    fn finish(&mut self, id: u64, incomplete: bool, out: &mut Vec<LookupRecord>) {
        let Some(l) = self.open.remove(&id) else {
            return;
        };
        self.unindex(id, l.index_key);
        out.push(l.record(incomplete));
    }
}

impl Lookup {
    /// Whether the same call could have asked `qname`: one of the names
    /// the resolver tries for the name asked, or, with the search list
    /// unknown, a name with the same first label.
    fn could_ask(&self, qname: &str) -> bool {
        match &self.expected {
            Some(names) => names.iter().any(|n| n.eq_ignore_ascii_case(qname)),
            // Inferred: a name that shares the first label of the name
            // asked (another search domain, or none). The index has
            // matched that label already.
            None => first_label(&self.base).eq_ignore_ascii_case(first_label(qname)),
        }
    }

    /// Whether transaction `t`, sent at `sent`, belongs to this lookup.
    fn accepts(&self, t: &Transaction, sent: u64) -> bool {
        if !self.could_ask(&t.qname) {
            return false;
        }
        let lower = t.qname.as_str();
        let mut same = self
            .queries
            .iter()
            .filter(|q| q.qtype == t.qtype && self.names[q.name].eq_ignore_ascii_case(lower))
            .peekable();
        if same.peek().is_some() {
            // Asked again: a resend while unanswered, or after an answer
            // the resolver does not settle for (truncated, SERVFAIL,
            // REFUSED) belongs here; after a settled answer it is the
            // application asking anew.
            let answered_before = same.any(|q| q.settled() && q.end_ns <= sent);
            return !answered_before;
        }
        // A new question: part of the same call when it follows closely
        // on what came before, and no name has had its answer yet (but
        // the other type of the name that had it).
        if sent > self.last_event_ns + LINGER_NS {
            return false;
        }
        if let Some(with_data) = self.queries.iter().find(|q| q.data()) {
            if !self.names[with_data.name].eq_ignore_ascii_case(lower) {
                return false;
            }
        }
        if self.expected.is_none() && !self.names.is_empty() {
            // Inferred search: another name follows only a failure of
            // every name before it (the resolver moves on after one).
            let known = self.names.iter().any(|n| n.eq_ignore_ascii_case(lower));
            if !known
                && !self
                    .queries
                    .iter()
                    .all(|q| q.answered() && !q.data() && q.end_ns <= sent)
            {
                return false;
            }
        }
        true
    }

    fn add(&mut self, t: &Transaction, sent: u64, end_ns: u64, end: End) {
        self.query_count = self.query_count.saturating_add(1);
        // Records come in the order the queries ended, not were sent.
        if sent < self.first_ns {
            self.first_ns = sent;
            self.client_ip = t.client;
            self.client_port = t.client_port;
        }
        self.last_sent_ns = self.last_sent_ns.max(sent);
        self.last_event_ns = self.last_event_ns.max(end_ns).max(sent);
        if !self.qtypes.contains(&t.qtype) {
            self.qtypes.push(t.qtype);
        }
        match t.proto {
            Proto::Udp => self.udp = true,
            Proto::Tcp => self.tcp = true,
        }
        let name = match self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&t.qname))
        {
            Some(i) => i,
            None => {
                if self.expected.is_none() {
                    self.shrink_base(&t.qname);
                }
                self.names.push(t.qname.clone());
                self.names.len() - 1
            }
        };
        if self.queries.len() < MAX_QUERIES {
            self.queries.push(Query {
                name,
                qtype: t.qtype,
                port: t.client_port,
                proto: t.proto,
                id: t.id,
                sent_ns: sent,
                end_ns,
                end,
            });
        }
    }

    /// Each question asked again, in the order sent: a TCP retry after a
    /// truncated answer, a retransmission on the same socket, or a retry
    /// on another; and whether one came after its try went unanswered.
    fn resends(&self) -> Resends {
        let mut r = Resends::default();
        let mut order: Vec<&Query> = self.queries.iter().collect();
        order.sort_by_key(|q| (q.name, q.qtype, q.sent_ns));
        for pair in order.windows(2) {
            let (prev, cur) = (pair[0], pair[1]);
            if (prev.name, prev.qtype) != (cur.name, cur.qtype) {
                continue;
            }
            let truncated = matches!(prev.end, End::Answer { tc: true, .. });
            if truncated && cur.proto == Proto::Tcp && prev.proto == Proto::Udp {
                r.tcp_fallback = true;
                continue;
            }
            if prev.port == cur.port && prev.proto == cur.proto {
                r.retransmits += 1;
            } else {
                r.retries += 1;
            }
            // Unanswered when it was sent again: the resolver timed out.
            if prev.end == End::Timeout || prev.end_ns > cur.sent_ns {
                r.after_timeout = true;
            }
            let first = order
                .iter()
                .filter(|q| (q.name, q.qtype) == (cur.name, cur.qtype))
                .map(|q| q.sent_ns)
                .min()
                .unwrap_or(cur.sent_ns);
            let delay = cur.sent_ns - first;
            if r.delay_ns.is_none_or(|d| delay < d) && prev.sent_ns == first {
                r.delay_ns = Some(delay);
            }
        }
        r
    }

    /// Inferred search list: the name asked is what all names share.
    fn shrink_base(&mut self, qname: &str) {
        if self.names.is_empty() {
            self.base = qname.to_string();
            return;
        }
        let base = self.base.clone();
        let (a, b) = (labels(&base), labels(qname));
        let common = a
            .iter()
            .zip(&b)
            .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
            .count();
        if common > 0 && common < a.len() {
            self.base = a[..common].join(".");
        }
    }

    /// When nothing more can join: every query it may have sent reported,
    /// and after a timeout, the resolver's resend come and reported.
    fn close_at(&self, kernel_timeout_ns: u64) -> u64 {
        let mut at = self
            .last_event_ns
            .max(self.last_sent_ns + kernel_timeout_ns)
            + LINGER_NS;
        // A question whose last try timed out: the resolver asks again
        // after its timeout (glibc waits for both A and AAAA).
        let unresent = self.queries.iter().filter(|lost| {
            lost.end == End::Timeout
                && !self.queries.iter().any(|q| {
                    (q.name, q.qtype) == (lost.name, lost.qtype) && q.sent_ns > lost.sent_ns
                })
        });
        if let Some(sent) = unresent.map(|q| q.sent_ns).max() {
            at = at.max(sent + self.retry_interval_ns + kernel_timeout_ns + LINGER_NS);
        }
        at
    }

    fn record(self, incomplete: bool) -> LookupRecord {
        // The first name with data, in the order asked; else the last
        // name asked.
        let answered = self
            .queries
            .iter()
            .filter(|q| q.data())
            .min_by_key(|q| q.name)
            .map(|q| q.name);
        let ending = answered.or_else(|| self.queries.iter().map(|q| q.name).max());
        let on_ending: Vec<&Query> = match ending {
            Some(n) => self.queries.iter().filter(|q| q.name == n).collect(),
            None => Vec::new(),
        };
        let last_answer = on_ending
            .iter()
            .filter(|q| q.answered() || q.end == End::Unreachable)
            .max_by_key(|q| q.end_ns);
        let rcode = match (answered, last_answer) {
            (Some(_), _) => LookupRcode::Rcode(0),
            (None, Some(q)) => match q.end {
                End::Answer { rcode, .. } => LookupRcode::Rcode(rcode),
                _ => LookupRcode::Unreachable,
            },
            (None, None) => LookupRcode::Timeout,
        };
        let latency_ns = last_answer.map(|q| q.end_ns.saturating_sub(self.first_ns));
        let search_misses = match ending {
            Some(n) => self.queries.iter().filter(|q| q.name != n).count() as u32,
            None => 0,
        };
        let sibling_lost = self.sibling_lost();
        let resends = self.resends();
        let base = if self.names.len() == 1 && self.expected.is_none() {
            self.names[0].clone()
        } else {
            self.base
        };
        // The types in the order first sent (records come in the order
        // the queries ended).
        let mut by_sent: Vec<&Query> = self.queries.iter().collect();
        by_sent.sort_by_key(|q| q.sent_ns);
        let mut qtypes: Vec<u16> = Vec::with_capacity(self.qtypes.len());
        for t in by_sent
            .iter()
            .map(|q| q.qtype)
            .chain(self.qtypes.iter().copied())
        {
            if !qtypes.contains(&t) {
                qtypes.push(t);
            }
        }
        LookupRecord {
            mono_ns: self.first_ns,
            name: base,
            answered_name: answered.map(|n| self.names[n].clone()),
            qtypes,
            queries: self.query_count,
            search_misses,
            retries: resends.retries,
            retransmits: resends.retransmits,
            rcode,
            latency_ns,
            client_ip: self.client_ip,
            client_port: self.client_port,
            pid: self.pid,
            comm: self.comm,
            sibling_lost,
            tcp_fallback: resends.tcp_fallback,
            retry_after_timeout: resends.after_timeout,
            retry_delay_ns: resends.delay_ns,
            search_source: self.source,
            incomplete,
            udp: self.udp,
            tcp: self.tcp,
            conntrack: None,
        }
    }

    /// One of A and AAAA for a name on one socket timed out while the
    /// other, sent beside it, was answered.
    fn sibling_lost(&self) -> bool {
        self.queries.iter().any(|lost| {
            lost.end == End::Timeout
                && (lost.qtype == A || lost.qtype == AAAA)
                && self.queries.iter().any(|other| {
                    other.name == lost.name
                        && other.port == lost.port
                        && other.proto == lost.proto
                        && other.qtype == if lost.qtype == A { AAAA } else { A }
                        && other.answered()
                        && other.sent_ns.abs_diff(lost.sent_ns) < LINGER_NS
                })
        })
    }
}

#[cfg(test)]
mod tests;
