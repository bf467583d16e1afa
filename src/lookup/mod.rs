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

mod asked;
pub mod conntrack;
mod open;
mod record;
pub mod stats;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;

use std::rc::Rc;

use smallvec::SmallVec;

use crate::record::{Kind, Transaction};
use crate::resolv::{ResolvConf, ResolvSource, SearchSource};
use crate::security::Suspicion;
use asked::AskedBy;
use open::{End, Lookup, Names};
pub use record::{LookupRcode, LookupRecord};

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

/// The newest lookups of a client and first label a new question is
/// offered to (a question asked before is found by the index of
/// questions, however old its lookup). A call's next question follows its
/// last within [`LINGER_NS`]; a client that starts more lookups for one
/// label within that time is grouped by the newest of them.
const NEW_QUESTION_CANDIDATES: usize = 8;

/// The newest lookups still without a final answer to a question that a
/// query asking it again is offered to.
const REPEAT_CANDIDATES: usize = 64;

/// An open lookup in the index by client and first label.
#[derive(Debug, Clone, Copy)]
struct Indexed {
    id: u64,
    /// The key of its question while it has asked one only (0 when not
    /// one): a client asking one name over and over has many such, which
    /// a new question of that client and label passes over unvisited.
    only_question: u64,
}

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

/// The tracker's maps' hasher. Their keys are ids, hashes already keyed
/// by [`Tracker::hasher`], or sockets (a map of at most [`SOCKETS`],
/// cleared when full): SipHash's strength buys little there (the
/// pipeline benchmark: 13,990 -> 12,467 instructions per JSON record
/// with this one, bench/callgrind.sh).
type Fast = foldhash::fast::RandomState;

/// A name's hashes (keyed, lowercase), made once per transaction: the
/// keys of each client it may belong to are made from them.
#[derive(Clone, Copy)]
struct NameHashes {
    name: u64,
    label: u64,
}

/// Groups transactions into lookups.
pub struct Tracker {
    settings: Settings,
    resolv: Box<dyn ResolvSource>,
    /// The open lookups, each in a slot: an id's low [`Tracker::slot_bits`]
    /// bits are its slot, so that a lookup is found without a map's probe
    /// and a box's indirection (a candidate walk visits dozens).
    open: Vec<Option<Lookup>>,
    /// Slots free for new lookups.
    free: Vec<usize>,
    open_count: usize,
    /// Enough bits for a slot of each of at most `max_open` lookups; an
    /// id's higher bits count lookups started, so that ids still order by
    /// age.
    slot_bits: u32,
    /// The hash of (client, first label, lowercase) to the open lookups
    /// there, newest last. Keyed hashing: the names are anyone's choice.
    index: HashMap<u64, VecDeque<Indexed>, Fast>,
    /// The hash of (client, name, type) to the open lookups that asked
    /// that question, ordered by when it had its final answer
    /// ([`open::UNSETTLED`] before), then by age: the lookups a question asked
    /// again may join, without visiting the many that a client asking
    /// one name over and over has open.
    questions: HashMap<u64, AskedBy, Fast>,
    hasher: foldhash::fast::RandomState,
    /// The process last seen on each socket, so that a query sent without
    /// its process joins the process's lookup. Bounded by [`SOCKETS`].
    sockets: HashMap<(IpAddr, u16), u32, Fast>,
    /// Open lookups by age, oldest first (closed ones are skipped).
    order: VecDeque<u64>,
    /// Open lookups by when nothing more can join them, soonest first:
    /// (time, id), at least one entry per open lookup at or before its
    /// [`Lookup::close_at`] (see [`Lookup::queued_at`]); entries of
    /// finished lookups and superseded ones are skipped when they come up.
    closing: BinaryHeap<Reverse<(u64, u64)>>,
    next_id: u64,
    now_ns: u64,
    evicted: u64,
    /// Late answers whose lookup was finished already.
    late_unmatched: u64,
}

pub use crate::resolv::mono_now_ns;

/// Hashes `s` in lowercase, in chunks: a hasher's round per byte cost
/// more than the rest of a lookup's indexing.
fn write_lowercase(h: &mut impl std::hash::Hasher, s: &str) {
    let mut buf = [0u8; 64];
    for chunk in s.as_bytes().chunks(buf.len()) {
        let out = &mut buf[..chunk.len()];
        out.copy_from_slice(chunk);
        out.make_ascii_lowercase();
        h.write(out);
    }
    // The length ends the name, so that "ab"+"c" and "a"+"bc" differ.
    h.write_usize(s.len());
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
        // A new lookup past the cap finishes the oldest first: at most
        // `max_open` (one, when that is zero) are open.
        // (Forty bits at most: far more than memory holds.)
        let slots = settings.max_open.clamp(1, 1 << 40);
        Tracker {
            settings,
            resolv,
            open: Vec::new(),
            free: Vec::new(),
            open_count: 0,
            slot_bits: usize::BITS - (slots - 1).leading_zeros(),
            index: HashMap::default(),
            questions: HashMap::default(),
            hasher: foldhash::fast::RandomState::default(),
            sockets: HashMap::default(),
            order: VecDeque::new(),
            closing: BinaryHeap::new(),
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
        self.open_count
    }

    fn slot(&self, id: u64) -> usize {
        (id & ((1u64 << self.slot_bits) - 1)) as usize
    }

    /// Open lookup `id`.
    fn get(&self, id: u64) -> Option<&Lookup> {
        self.open
            .get(self.slot(id))
            .and_then(Option::as_ref)
            .filter(|l| l.id == id)
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Lookup> {
        let slot = self.slot(id);
        self.open
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|l| l.id == id)
    }

    fn is_open(&self, id: u64) -> bool {
        self.get(id).is_some()
    }

    /// Takes lookup `id` out, freeing its slot.
    fn remove(&mut self, id: u64) -> Option<Lookup> {
        self.get(id)?;
        let slot = self.slot(id);
        self.free.push(slot);
        self.open_count -= 1;
        self.open[slot].take()
    }

    /// A new lookup's id, and its slot.
    fn new_slot(&mut self) -> (u64, usize) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.open.push(None);
            self.open.len() - 1
        });
        debug_assert!(slot < 1 << self.slot_bits, "more open than max_open");
        let id = (self.next_id << self.slot_bits) | slot as u64;
        self.next_id += 1;
        (id, slot)
    }

    pub fn late_unmatched(&self) -> u64 {
        self.late_unmatched
    }

    /// Takes one transaction; lookups it finished (by making room) are
    /// pushed to `out`. Records other than transactions and late answers
    /// are no part of a lookup and are ignored.
    pub fn feed(&mut self, t: &Transaction, out: &mut Vec<LookupRecord>) {
        self.feed_flagged(t, None, out);
    }

    /// As [`Tracker::feed`], with `t`'s security signals, which its
    /// lookup then carries.
    pub fn feed_flagged(
        &mut self,
        t: &Transaction,
        suspicion: Option<&Suspicion>,
        out: &mut Vec<LookupRecord>,
    ) {
        match t.kind {
            Kind::Answered | Kind::Timeout | Kind::Unreachable => {}
            Kind::Late => return self.late(t),
            _ => return,
        }
        let (sent, end_ns, end) = self.outcome(t);
        self.now_ns = self.now_ns.max(sent);
        let mut client = client_of(t);
        // The name's hashes, once: each client's keys are made from them.
        let names = self.name_hashes(&t.qname);
        let mut key = self.index_key(&client, names);
        let mut found = self.find(key, &client, t, sent, names);
        let socket = Client::Socket(t.client, t.client_port);
        match t.pid {
            // A query of the call may have left without its process (sent
            // from a softirq once ARP resolved): the socket's lookup is
            // the process's.
            Some(pid) if found.is_none() => {
                let socket_key = self.index_key(&socket, names);
                if let Some(id) = self.find(socket_key, &socket, t, sent, names) {
                    self.unindex(id, socket_key);
                    let slot = self.slot(id);
                    let mut l = self.open[slot].take().expect("an open lookup");
                    l.client = client.clone();
                    l.pid = Some(pid);
                    l.comm = t.comm;
                    l.index_key = key;
                    // Its questions are now the process's.
                    for q in &mut l.questions {
                        Self::unindex_question(&mut self.questions, q.key, q.settled_ns, id);
                        let name = self.name_hashes(&l.names[q.name]);
                        q.key = self.question_key(&client, name, q.qtype);
                        Self::index_question(&mut self.questions, q.key, q.settled_ns, id);
                    }
                    let only_question = l.only_question();
                    self.open[slot] = Some(l);
                    self.index_lookup(key, Indexed { id, only_question });
                    found = Some(id);
                }
            }
            // This one left without its process, while other queries of
            // its socket named it.
            None => {
                if let Some(&pid) = self.sockets.get(&(t.client, t.client_port)) {
                    let process = Client::Process(pid);
                    let process_key = self.index_key(&process, names);
                    if let Some(id) = self.find(process_key, &process, t, sent, names) {
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
        let question = self.question_key(&client, names, t.qtype);
        let id = match found {
            Some(id) => id,
            None => {
                if self.open_count >= self.settings.max_open {
                    self.evict_oldest(out);
                }
                let (id, slot) = self.new_slot();
                let lookup = self.start(t, client, key, id);
                self.open[slot] = Some(lookup);
                self.open_count += 1;
                self.index_lookup(
                    key,
                    Indexed {
                        id,
                        only_question: 0,
                    },
                );
                self.order.push_back(id);
                id
            }
        };
        let slot = self.slot(id);
        let lookup = self.open[slot].as_mut().expect("an open lookup");
        if let Some(s) = suspicion {
            match &mut lookup.suspicion {
                Some(mine) => mine.merge(s),
                None => lookup.suspicion = Some(Box::new(s.clone())),
            }
        }
        if let Some((qkey, before, now)) = lookup.add(t, sent, end_ns, end, question) {
            match before {
                Some(before) => Self::unindex_question(&mut self.questions, qkey, before, id),
                // A new question: the lookup is mostly among the newest.
                None => {
                    let only_question = lookup.only_question();
                    if let Some(e) = self
                        .index
                        .get_mut(&lookup.index_key)
                        .and_then(|ids| ids.iter_mut().rev().find(|e| e.id == id))
                    {
                        e.only_question = only_question;
                    }
                }
            }
            Self::index_question(&mut self.questions, qkey, now, id);
        }
        self.queue_close(id);
    }

    /// Queues lookup `id` to be looked at when it may close, unless it is
    /// queued for then or earlier already.
    fn queue_close(&mut self, id: u64) {
        let slot = self.slot(id);
        let Some(l) = self.open[slot].as_mut().filter(|l| l.id == id) else {
            return;
        };
        let at = l.close_at(self.settings.kernel_timeout_ns);
        if at < l.queued_at {
            l.queued_at = at;
            self.closing.push(Reverse((at, id)));
        }
    }

    /// The open lookup of `client` (index key `key`) that `t` belongs
    /// to. A question asked before goes to a lookup that asked it and
    /// had no final answer by `sent`: the one that sent it from the same
    /// socket with the same id (a retransmission), else the newest. A new
    /// question goes to the newest few of the client and first label that
    /// accept it.
    fn find(
        &self,
        key: u64,
        client: &Client,
        t: &Transaction,
        sent: u64,
        names: NameHashes,
    ) -> Option<u64> {
        let fits = |id: u64| {
            self.get(id)
                .filter(|l| l.client == *client && l.accepts(t, sent))
        };
        let question = self.question_key(client, names, t.qtype);
        // Without a final answer: many when nothing answers a name asked
        // over and over, so only the newest are looked at. With one after
        // `sent`: few, the answers then on their way.
        let again = self.questions.get(&question).and_then(|asked| {
            asked
                .candidates(sent, REPEAT_CANDIDATES)
                .filter_map(|id| fits(id).map(|l| (l.sent_as(t), id)))
                .max()
        });
        // Looked for only when no lookup sent this very query before.
        let new = || {
            self.index.get(&key).and_then(|ids| {
                ids.iter()
                    .rev()
                    .take(NEW_QUESTION_CANDIDATES)
                    .filter(|e| e.only_question != question)
                    .map(|e| e.id)
                    .find(|id| {
                        self.get(*id).is_some_and(|l| {
                            l.client == *client && !l.asked(&t.qname, t.qtype) && l.accepts(t, sent)
                        })
                    })
            })
        };
        match again {
            Some((true, id)) => Some(id),
            again => again.map(|(_, id)| id).max(new()),
        }
    }

    /// Adds an open lookup to the index, newest last. Most keys have one
    /// lookup: room for one, not the four a first push makes.
    fn index_lookup(&mut self, key: u64, e: Indexed) {
        self.index
            .entry(key)
            .or_insert_with(|| VecDeque::with_capacity(1))
            .push_back(e);
    }

    fn unindex(&mut self, id: u64, key: u64) {
        if let Some(ids) = self.index.get_mut(&key) {
            // Lookups mostly finish oldest first.
            if ids.front().is_some_and(|e| e.id == id) {
                ids.pop_front();
            } else if ids.back().is_some_and(|e| e.id == id) {
                ids.pop_back();
            } else {
                ids.retain(|e| e.id != id);
            }
            if ids.is_empty() {
                self.index.remove(&key);
            }
        }
    }

    fn unindex_question(
        questions: &mut HashMap<u64, AskedBy, Fast>,
        key: u64,
        settled_ns: u64,
        id: u64,
    ) {
        if let Some(asked) = questions.get_mut(&key) {
            if asked.remove(&(settled_ns, id)) {
                questions.remove(&key);
            }
        }
    }

    /// Indexes lookup `id` as asking question `key`, settled at
    /// `settled_ns`.
    fn index_question(
        questions: &mut HashMap<u64, AskedBy, Fast>,
        key: u64,
        settled_ns: u64,
        id: u64,
    ) {
        questions
            .entry(key)
            .and_modify(|asked| asked.insert((settled_ns, id)))
            .or_insert_with(|| AskedBy::new((settled_ns, id)));
    }

    /// The hashes of a name and of its first label, in lowercase, hashed
    /// without allocating.
    fn name_hashes(&self, qname: &str) -> NameHashes {
        use std::hash::{BuildHasher, Hasher};
        let mut name = self.hasher.build_hasher();
        write_lowercase(&mut name, qname);
        let mut label = self.hasher.build_hasher();
        write_lowercase(&mut label, first_label(qname));
        NameHashes {
            name: name.finish(),
            label: label.finish(),
        }
    }

    /// The key of a question in the index of questions: the client, the
    /// name (its hash) and the type.
    fn question_key(&self, client: &Client, names: NameHashes, qtype: u16) -> u64 {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = self.hasher.build_hasher();
        client.hash(&mut h);
        h.write_u64(names.name);
        h.write_u16(qtype);
        h.finish()
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
        let key = self.question_key(&client, self.name_hashes(&t.qname), t.qtype);
        let ids = self
            .questions
            .get(&key)
            .map(AskedBy::ids)
            .unwrap_or_default();
        for id in ids {
            let slot = self.slot(id);
            let Some(l) = self.open[slot]
                .as_mut()
                .filter(|l| l.id == id && l.client == client)
            else {
                continue;
            };
            let names = &l.names;
            let Some(q) = l.queries.iter_mut().find(|q| {
                q.end == End::Timeout
                    && names[q.name].eq_ignore_ascii_case(&t.qname)
                    && q.sent_ns == t.mono_ns
                    && q.id == t.id
                    && q.port == t.client_port
                    && q.qtype == t.qtype
            }) else {
                continue;
            };
            q.end = end;
            q.end_ns = end_ns;
            let (name, settled) = (q.name, q.settled());
            l.last_event_ns = l.last_event_ns.max(end_ns);
            // Answered after all: a final answer settles its question.
            if let Some(question) = l
                .questions
                .iter_mut()
                .find(|x| x.name == name && x.qtype == t.qtype)
                .filter(|x| settled && end_ns < x.settled_ns)
            {
                let before = std::mem::replace(&mut question.settled_ns, end_ns);
                Self::unindex_question(&mut self.questions, question.key, before, id);
                Self::index_question(&mut self.questions, question.key, end_ns, id);
            }
            // Its close may come sooner: its timeout needs no resend.
            self.queue_close(id);
            return;
        }
        self.late_unmatched += 1;
    }

    /// The index key of a name asked by a client: its first label, in
    /// lowercase, hashed with the client without allocating.
    fn index_key(&self, client: &Client, names: NameHashes) -> u64 {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = self.hasher.build_hasher();
        client.hash(&mut h);
        h.write_u64(names.label);
        h.finish()
    }

    fn start(&mut self, t: &Transaction, client: Client, index_key: u64, id: u64) -> Lookup {
        let conf = self.resolv.lookup_at(t.pid, t.netns, t.mono_ns);
        // The first query's name is the lookup's first (see [`Lookup::add`]):
        // the name asked is a start of it.
        let (base_len, settings, source, retry_s) = match &conf {
            Some((c, source)) => {
                let base = c.asked_name(&t.qname);
                debug_assert!(t.qname.starts_with(base.as_str()));
                (base.len(), Some(Rc::clone(c)), *source, c.timeout_s)
            }
            // Set by the first query's name (see [`Lookup::shrink_base`]).
            None => (
                0,
                None,
                SearchSource::Inferred,
                ResolvConf::default().timeout_s,
            ),
        };
        Lookup {
            id,
            client,
            index_key,
            pid: t.pid,
            comm: t.comm,
            cgroup_id: t.cgroup_id,
            netns: t.netns,
            client_ip: t.client,
            client_port: t.client_port,
            base_len,
            settings,
            retry_interval_ns: u64::from(retry_s) * 1_000_000_000,
            source,
            names: Names::default(),
            queries: SmallVec::new(),
            questions: SmallVec::new(),
            query_count: 0,
            qtypes: SmallVec::new(),
            udp: false,
            tcp: false,
            first_ns: t.mono_ns,
            last_sent_ns: t.mono_ns,
            last_event_ns: t.mono_ns,
            queued_at: u64::MAX,
            suspicion: None,
        }
    }

    /// Finishes the lookups that nothing more can join by `now_ns`
    /// (CLOCK_MONOTONIC), oldest first.
    pub fn advance(&mut self, now_ns: u64, out: &mut Vec<LookupRecord>) {
        self.now_ns = self.now_ns.max(now_ns);
        let now = self.now_ns;
        let timeout = self.settings.kernel_timeout_ns;
        let mut done: Vec<(u64, u64)> = Vec::new();
        while let Some(&Reverse((at, id))) = self.closing.peek() {
            if at > now {
                break;
            }
            self.closing.pop();
            let Some(l) = self.get_mut(id).filter(|l| l.queued_at == at) else {
                continue;
            };
            // It may have had more since: when does it close now?
            let at = l.close_at(timeout);
            if at <= now {
                l.queued_at = u64::MAX;
                done.push((l.first_ns, id));
            } else {
                l.queued_at = at;
                self.closing.push(Reverse((at, id)));
            }
        }
        done.sort_unstable();
        for (_, id) in done {
            self.finish(id, false, out);
        }
        self.compact();
    }

    /// Finishes every open lookup (at exit).
    pub fn finish_all(&mut self, out: &mut Vec<LookupRecord>) {
        let mut all: Vec<(u64, u64)> = self
            .open
            .iter()
            .flatten()
            .map(|l| (l.first_ns, l.id))
            .collect();
        all.sort_unstable();
        for (_, id) in all {
            self.finish(id, false, out);
        }
        self.order.clear();
        self.closing.clear();
    }

    fn evict_oldest(&mut self, out: &mut Vec<LookupRecord>) {
        while let Some(id) = self.order.pop_front() {
            if self.is_open(id) {
                self.evicted += 1;
                self.finish(id, true, out);
                return;
            }
        }
    }

    /// Drops the entries of finished lookups from the age queue and the
    /// closing queue once they outnumber the open ones. Lookups finished
    /// early (the cap on open ones) leave their closing entry behind until
    /// its time: during a flood of one-time names that is many seconds of
    /// them, so the closing queue would grow with the rate, not the cap.
    fn compact(&mut self) {
        let open = self.open_count;
        if self.order.len() > 2 * open + 64 {
            let mut order = std::mem::take(&mut self.order);
            order.retain(|id| self.is_open(*id));
            self.order = order;
        }
        if self.closing.len() > 2 * open + 64 {
            let mut closing = std::mem::take(&mut self.closing);
            closing.retain(|Reverse((at, id))| self.get(*id).is_some_and(|l| l.queued_at == *at));
            self.closing = closing;
        }
    }

    fn finish(&mut self, id: u64, incomplete: bool, out: &mut Vec<LookupRecord>) {
        let Some(l) = self.remove(id) else {
            return;
        };
        self.unindex(id, l.index_key);
        for q in &l.questions {
            Self::unindex_question(&mut self.questions, q.key, q.settled_ns, id);
        }
        out.push(l.record(incomplete));
    }
}

#[cfg(test)]
mod tests;
