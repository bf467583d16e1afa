//! Security signals: cheap checks of each transaction, each with a reason
//! a person can read.
//!
//! - An unauthorized resolver: a local process asked a server its
//!   resolv.conf (or its namespace's) does not name, nor `--resolvers`.
//!   A resolver's own upstream queries pass when the resolver is one
//!   clients are configured to use ([`resolvers`]).
//! - Tunneling and exfiltration, per registered domain ([`domain`]): more
//!   unique names under one domain in a window than RITA's threshold,
//!   long names and labels, NULL and private-use types, TXT and NULL
//!   volume, answers larger than a UDP answer is meant to be.
//! - Names that look generated ([`generated`]).
//! - NXDOMAIN bursts per client.
//!
//! Where each threshold comes from is in [`Settings`]. Memory is bounded:
//! the windows are kept for at most `max_keys` domains and clients each,
//! the oldest dropped first, and the drops counted.

pub mod domain;
#[cfg(test)]
mod eval;
pub mod findings;
pub mod generated;
pub mod resolvers;

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::rc::Rc;

use ipnet::IpNet;

use crate::record::{dns, Direction, Kind as RecordKind, Service, Transaction};
use crate::resolv::{ResolvConf, ResolvSource};
use resolvers::{Configured, ListenerSource, Listeners};

/// What the signals are named in JSON, text and metrics; the order of
/// [`Stats::by_kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    UnauthorizedResolver,
    UniqueSubdomains,
    TypeVolume,
    LongName,
    LongLabel,
    UnusualType,
    LargeAnswer,
    GeneratedName,
    NxdomainBurst,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::UnauthorizedResolver,
        Kind::UniqueSubdomains,
        Kind::TypeVolume,
        Kind::LongName,
        Kind::LongLabel,
        Kind::UnusualType,
        Kind::LargeAnswer,
        Kind::GeneratedName,
        Kind::NxdomainBurst,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UnauthorizedResolver => "unauthorized_resolver",
            Kind::UniqueSubdomains => "unique_subdomains",
            Kind::TypeVolume => "type_volume",
            Kind::LongName => "long_name",
            Kind::LongLabel => "long_label",
            Kind::UnusualType => "unusual_type",
            Kind::LargeAnswer => "large_answer",
            Kind::GeneratedName => "generated_name",
            Kind::NxdomainBurst => "nxdomain_burst",
        }
    }

    /// What one reason of this kind adds to the score (capped at 100):
    /// the tunnel's and the unauthorized server's signals weigh most; a
    /// long name or a large answer alone is often legitimate.
    fn weight(self) -> u32 {
        match self {
            Kind::UnauthorizedResolver => 50,
            Kind::UniqueSubdomains => 60,
            Kind::TypeVolume => 40,
            Kind::LongName => 20,
            Kind::LongLabel => 30,
            Kind::UnusualType => 30,
            Kind::LargeAnswer => 15,
            Kind::GeneratedName => 50,
            Kind::NxdomainBurst => 40,
        }
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// The kinds in a bit set, in [`Kind::ALL`] order.
pub fn kinds_of(bits: u16) -> impl Iterator<Item = Kind> {
    Kind::ALL.into_iter().filter(move |k| bits & k.bit() != 0)
}

/// One reason a transaction is suspicious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub kind: Kind,
    /// For a person; names in it are escaped as the transaction's name.
    /// Shared: a flood repeats the same words on every record.
    pub text: Rc<str>,
}

/// Why a transaction is suspicious, and how much: the sum of its
/// reasons' weights, at most 100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspicion {
    pub score: u8,
    pub reasons: Vec<Reason>,
}

impl Suspicion {
    /// Its kinds, as a bit set.
    pub fn kinds(&self) -> u16 {
        self.reasons.iter().fold(0, |b, r| b | r.kind.bit())
    }

    /// Its kinds' names, comma-separated.
    pub fn kind_names(&self) -> String {
        let mut s = String::new();
        for k in kinds_of(self.kinds()) {
            if !s.is_empty() {
                s.push(',');
            }
            s.push_str(k.as_str());
        }
        s
    }

    /// Both: the higher score, every kind once (a lookup's, from its
    /// queries').
    pub fn merge(&mut self, other: &Suspicion) {
        self.score = self.score.max(other.score);
        for r in &other.reasons {
            if !self.reasons.iter().any(|mine| mine.kind == r.kind) {
                self.reasons.push(r.clone());
            }
        }
    }
}

/// Thresholds, with where each default comes from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Servers every client may ask, beside its resolv.conf's.
    pub resolvers: Vec<IpNet>,
    /// Domains (and their subdomains) whose names are not checked:
    /// reverse lookups (`arpa`) and the cluster's own names by default,
    /// and what `--security-allow` adds.
    pub allow: Vec<String>,
    /// Unique names under one registered domain per window: RITA's
    /// DNS-tunneling threshold, 100 (its default `subdomain_threshold`).
    /// The Zeek anomalous-dns scripts use 8 per hour from a host that is
    /// not a resolver: a stricter setting.
    pub subdomains: u32,
    /// TXT and NULL queries per registered domain per window (50): the
    /// record types DNS tunnels carry data in (iodine uses NULL, dnscat2
    /// TXT); ordinary TXT lookups (SPF, DKIM, verification) come a few
    /// an hour per domain.
    pub type_volume: u32,
    /// Names longer than this (90 characters): the Zeek anomalous-dns
    /// scripts' `dns_query_length` threshold.
    pub name_length: usize,
    /// Labels longer than this (52 characters): tunnels fill labels to
    /// their 63-byte limit; host names rarely pass 40.
    pub label_length: usize,
    /// Answers larger than this (1232 bytes): the EDNS buffer size DNS
    /// Flag Day 2020 set so that an answer over UDP is not fragmented.
    pub answer_size: u16,
    /// NXDOMAIN answers per client per `nxdomain_window_ns` (200 in 15
    /// minutes): SIEM rules for DGA activity (Splunk's and Elastic's
    /// "high volume of NXDOMAIN" detections use counts of this order).
    pub nxdomain: u32,
    /// The per-domain window (one hour: RITA and Zeek count per hour).
    pub window_ns: u64,
    pub nxdomain_window_ns: u64,
    /// Domains and clients kept, each.
    pub max_keys: usize,
}

/// The domains never checked: reverse lookups, the default cluster
/// domain, and mDNS's.
pub const DEFAULT_ALLOW: [&str; 3] = ["arpa", "cluster.local", "local"];

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            resolvers: Vec::new(),
            allow: DEFAULT_ALLOW.iter().map(|s| s.to_string()).collect(),
            subdomains: 100,
            type_volume: 50,
            name_length: 90,
            label_length: 52,
            answer_size: 1232,
            nxdomain: 200,
            window_ns: 3600 * 1_000_000_000,
            nxdomain_window_ns: 900 * 1_000_000_000,
            max_keys: 4096,
        }
    }
}

/// What the detector saw, for the summary and metrics.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub assessed: u64,
    pub flagged: u64,
    /// Reasons given, by kind ([`Kind::ALL`] order).
    pub by_kind: [u64; Kind::ALL.len()],
    /// Windows dropped to keep within `max_keys`.
    pub domains_evicted: u64,
    pub clients_evicted: u64,
}

type Hasher = foldhash::fast::RandomState;

/// A map of at most `cap` entries. When full, the oldest goes first,
/// unless it was used since it was last passed over (the clock
/// algorithm, an approximation of least recently used): a flood of new
/// keys then evicts the one-time keys, not a busy window such as a
/// tunnel's.
struct Bounded<K, V> {
    /// Each value, and whether it was used since it was last looked at
    /// for eviction.
    map: HashMap<K, (V, bool), Hasher>,
    order: VecDeque<K>,
    cap: usize,
    evicted: u64,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::with_hasher(Hasher::default()),
            order: VecDeque::new(),
            cap: cap.max(1),
            evicted: 0,
        }
    }

    fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_mut(key).map(|(v, used)| {
            *used = true;
            v
        })
    }

    fn insert(&mut self, key: K, value: V) -> &mut V {
        // Each used key gets one second chance: at most `cap` passes.
        let mut passes = self.order.len();
        while self.map.len() >= self.cap {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            match self.map.get_mut(&old) {
                Some((_, used)) if *used && passes > 0 => {
                    *used = false;
                    passes -= 1;
                    self.order.push_back(old);
                }
                _ => {
                    self.map.remove(&old);
                    self.evicted += 1;
                }
            }
        }
        self.order.push_back(key.clone());
        &mut self.map.entry(key).or_insert((value, false)).0
    }
}

/// One registered domain's window.
struct DomainWindow {
    start_ns: u64,
    /// Hashes of the unique names seen, up to the threshold and one.
    names: HashSet<u64, Hasher>,
    typed: u32,
    /// The generated-name verdict on the domain's label, made once.
    generated: Option<generated::Verdict>,
}

/// One client's window.
struct ClientWindow {
    start_ns: u64,
    nxdomain: u32,
}

/// Assesses transactions.
pub struct Detector {
    settings: Settings,
    resolv: Box<dyn ResolvSource>,
    listeners: Box<dyn ListenerSource>,
    configured: Configured,
    domains: Bounded<Box<str>, DomainWindow>,
    clients: Bounded<(u32, IpAddr), ClientWindow>,
    /// The resolv.conf whose nameservers were remembered last.
    last_conf: Option<Rc<ResolvConf>>,
    /// The last unauthorized-resolver reason, with its server and the
    /// settings it names: a client that keeps asking one server gets the
    /// same words, which formatting addresses made a large part of the
    /// cost of a record.
    last_unauthorized: Option<(IpAddr, Rc<ResolvConf>, Rc<str>)>,
    /// What was worked out of names seen lately.
    shapes: Shapes,
    /// The name in lowercase, reused.
    lower: String,
    hasher: Hasher,
    stats: Stats,
}

impl Detector {
    pub fn new(
        settings: Settings,
        resolv: Box<dyn ResolvSource>,
        listeners: Box<dyn ListenerSource>,
    ) -> Detector {
        Detector {
            configured: Configured::new(settings.resolvers.clone()),
            domains: Bounded::new(settings.max_keys),
            clients: Bounded::new(settings.max_keys),
            settings,
            resolv,
            listeners,
            last_conf: None,
            last_unauthorized: None,
            shapes: Shapes::new(),
            lower: String::with_capacity(256),
            hasher: Hasher::default(),
            stats: Stats::default(),
        }
    }

    /// The files of the running system: resolv.conf and /proc; the
    /// nameservers every process is configured with now are read first.
    pub fn system(settings: Settings) -> Detector {
        let mut d = Detector::new(
            settings,
            Box::new(crate::resolv::SystemResolv::default()),
            Box::new(resolvers::ProcListeners::default()),
        );
        d.configured.seed_from_proc();
        d
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.domains_evicted = self.domains.evicted;
        s.clients_evicted = self.clients.evicted;
        s
    }

    /// Why `t` is suspicious; None when nothing is. Late and duplicate
    /// answers, about a transaction assessed already, and mDNS
    /// announcements, which no one asked for, are not assessed.
    pub fn assess(&mut self, t: &Transaction) -> Option<Suspicion> {
        if matches!(
            t.kind,
            RecordKind::Late | RecordKind::Duplicate | RecordKind::Announcement
        ) {
            return None;
        }
        self.stats.assessed += 1;
        let mut reasons = Vec::new();
        // The client's settings: only for a query a local process sent.
        let conf = if t.direction == Direction::Egress && t.pid.is_some() {
            self.resolv
                .lookup_at(t.pid, t.netns, t.mono_ns)
                .map(|(c, _)| c)
        } else {
            None
        };
        if let Some(c) = &conf {
            // Most transactions come from the settings seen last.
            if !self.last_conf.as_ref().is_some_and(|l| Rc::ptr_eq(l, c)) {
                self.configured.remember(&c.nameservers);
                self.last_conf = Some(Rc::clone(c));
            }
            if matches!(t.service, Service::Dns | Service::Dot) {
                self.check_resolver(t, c, &mut reasons);
            }
        }
        if t.service == Service::Dns && !t.qname.is_empty() {
            self.check_name(t, conf.as_deref(), &mut reasons);
        }
        if reasons.is_empty() {
            return None;
        }
        self.stats.flagged += 1;
        let mut score = 0u32;
        for r in &reasons {
            self.stats.by_kind[r.kind as usize] += 1;
            score += r.kind.weight();
        }
        Some(Suspicion {
            score: score.min(100) as u8,
            reasons,
        })
    }

    fn check_resolver(&mut self, t: &Transaction, conf: &Rc<ResolvConf>, out: &mut Vec<Reason>) {
        let server = t.server.to_canonical();
        if conf.nameservers.contains(&server) || self.configured.allowed(server) {
            return;
        }
        // A resolver forwarding upstream: passes when it serves an
        // address clients are told to use. A sender that has exited was
        // no running resolver; one that cannot be told is not flagged.
        let Some(pid) = t.pid else {
            return;
        };
        match self.listeners.dns_listeners(pid) {
            Listeners::Known(listening) => {
                if listening.iter().any(|a| self.configured.serves(*a)) {
                    return;
                }
            }
            Listeners::Exited => {}
            Listeners::Unknown => return,
        }
        let text = match &self.last_unauthorized {
            Some((at, c, text)) if *at == server && Rc::ptr_eq(c, conf) => Rc::clone(text),
            _ => {
                let mut text = format!("server {server} is not a configured resolver (");
                for (i, ns) in conf.nameservers.iter().enumerate() {
                    if i > 0 {
                        text.push_str(", ");
                    }
                    text.push_str(&ns.to_string());
                }
                text.push(')');
                let text: Rc<str> = text.into();
                self.last_unauthorized = Some((server, Rc::clone(conf), Rc::clone(&text)));
                text
            }
        };
        out.push(Reason {
            kind: Kind::UnauthorizedResolver,
            text,
        });
    }

    fn check_name(&mut self, t: &Transaction, conf: Option<&ResolvConf>, out: &mut Vec<Reason>) {
        let mut lower = std::mem::take(&mut self.lower);
        lower.clear();
        lower.push_str(&t.qname);
        lower.make_ascii_lowercase();
        if !self.allowed(&lower, conf) {
            self.check_name_of(t, &lower, out);
        }
        self.lower = lower;
    }

    /// Names under an allowed domain, or under one of the client's search
    /// domains (the cluster's own names, and search-list misses), are
    /// not checked.
    fn allowed(&self, name: &str, conf: Option<&ResolvConf>) -> bool {
        let under = |d: &str| {
            name == d
                || (name.len() > d.len()
                    && name.ends_with(d)
                    && name.as_bytes()[name.len() - d.len() - 1] == b'.')
        };
        self.settings.allow.iter().any(|d| under(d))
            || conf.is_some_and(|c| c.search.iter().any(|d| under(d)))
    }

    fn check_name_of(&mut self, t: &Transaction, name: &str, out: &mut Vec<Reason>) {
        let hash = self.hasher.hash_one(name);
        let shape = self.shapes.shape(hash, name);
        let s = &self.settings;
        let (length, longest) = (usize::from(shape.length), usize::from(shape.longest));
        if length > s.name_length {
            out.push(Reason {
                kind: Kind::LongName,
                text: format!("name of {length} characters (over {})", s.name_length).into(),
            });
        }
        if longest > s.label_length {
            out.push(Reason {
                kind: Kind::LongLabel,
                text: format!("label of {longest} characters (over {})", s.label_length).into(),
            });
        }
        if t.qtype == dns::NULL || (65280..=65534).contains(&t.qtype) {
            out.push(Reason {
                kind: Kind::UnusualType,
                text: format!("{} query", dns::qtype_name(t.qtype)).into(),
            });
        }
        if let Some(size) = t.response_size.filter(|&n| n > s.answer_size) {
            out.push(Reason {
                kind: Kind::LargeAnswer,
                text: format!("answer of {size} bytes (over {})", s.answer_size).into(),
            });
        }
        // A resolver's forwarded queries and their answers are its
        // clients', counted where the clients asked (asked only of the
        // transactions that count).
        let counts =
            t.rcode() == Some(dns::NXDOMAIN) || t.qtype == dns::TXT || t.qtype == dns::NULL;
        let forwarded = counts && t.pid.is_some_and(|pid| self.is_resolver(pid));
        if t.rcode() == Some(dns::NXDOMAIN) && !forwarded {
            self.count_nxdomain(t, out);
        }
        if let Some(start) = shape.site {
            let site = &name[usize::from(start)..];
            self.count_domain(t, name, hash, site, forwarded, out);
        }
    }

    /// Whether process `pid` serves DNS (holds a port-53 socket).
    fn is_resolver(&mut self, pid: u32) -> bool {
        matches!(self.listeners.dns_listeners(pid), Listeners::Known(l) if !l.is_empty())
    }

    fn count_nxdomain(&mut self, t: &Transaction, out: &mut Vec<Reason>) {
        let key = (t.netns, t.client);
        let window = self.settings.nxdomain_window_ns;
        let w = match self.clients.get_mut(&key) {
            Some(w) => w,
            None => self.clients.insert(
                key,
                ClientWindow {
                    start_ns: t.mono_ns,
                    nxdomain: 0,
                },
            ),
        };
        if t.mono_ns.saturating_sub(w.start_ns) >= window {
            w.start_ns = t.mono_ns;
            w.nxdomain = 0;
        }
        w.nxdomain = w.nxdomain.saturating_add(1);
        let limit = self.settings.nxdomain;
        if w.nxdomain > limit {
            out.push(Reason {
                kind: Kind::NxdomainBurst,
                text: format!(
                    "{} NXDOMAIN answers to {} in {} (over {limit})",
                    w.nxdomain,
                    t.client,
                    humantime::format_duration(std::time::Duration::from_nanos(window)),
                )
                .into(),
            });
        }
    }

    /// The per-site window: unique names, TXT and NULL volume (not for a
    /// resolver's `forwarded` queries), and the generated-name verdict on
    /// the registered domain's label.
    fn count_domain(
        &mut self,
        t: &Transaction,
        name: &str,
        hash: u64,
        site: &str,
        forwarded: bool,
        out: &mut Vec<Reason>,
    ) {
        let registered = site;
        let s = &self.settings;
        let (limit, type_limit, window) = (s.subdomains, s.type_volume, s.window_ns);
        let w = match self.domains.get_mut(registered) {
            Some(w) => w,
            None => self.domains.insert(
                registered.into(),
                DomainWindow {
                    start_ns: t.mono_ns,
                    names: HashSet::with_hasher(Hasher::default()),
                    typed: 0,
                    generated: domain::registered(name)
                        .and_then(|r| generated::assess(domain::label(r))),
                },
            ),
        };
        if t.mono_ns.saturating_sub(w.start_ns) >= window {
            w.start_ns = t.mono_ns;
            w.names.clear();
            w.typed = 0;
        }
        if w.names.len() <= limit as usize {
            w.names.insert(hash);
        }
        let per = humantime::format_duration(std::time::Duration::from_nanos(window));
        if w.names.len() > limit as usize {
            out.push(Reason {
                kind: Kind::UniqueSubdomains,
                text: format!("over {limit} unique names under {registered} in {per}").into(),
            });
        }
        if (t.qtype == dns::TXT || t.qtype == dns::NULL) && !forwarded {
            w.typed = w.typed.saturating_add(1);
            if w.typed > type_limit {
                out.push(Reason {
                    kind: Kind::TypeVolume,
                    text: format!(
                        "{} TXT and NULL queries under {registered} in {per} (over {type_limit})",
                        w.typed
                    )
                    .into(),
                });
            }
        }
        if let Some(v) = &w.generated {
            out.push(Reason {
                kind: Kind::GeneratedName,
                text: format!("{} {}", domain::registered(name).unwrap_or(site), v.reason).into(),
            });
        }
    }
}

/// What a name's checks need of the name alone: its lengths in wire
/// bytes and where its site begins.
#[derive(Clone, Copy)]
struct Shape {
    length: u16,
    longest: u16,
    site: Option<u8>,
}

impl Shape {
    fn of(name: &str) -> Shape {
        let (length, longest) = wire_lengths(name);
        Shape {
            length: length.min(usize::from(u16::MAX)) as u16,
            longest: longest.min(usize::from(u16::MAX)) as u16,
            site: domain::site(name).and_then(|s| u8::try_from(name.len() - s.len()).ok()),
        }
    }
}

/// The shapes of names seen lately: most queries ask names asked
/// before, and the public suffix lookup was a third of the signals'
/// cost. A direct-mapped table of names up to [`SHAPE_NAME`] bytes, each
/// entry checked against the whole name (no guess on a hash collision).
struct Shapes {
    slots: Vec<Option<Slot>>,
}

/// A cached name: its hash, bytes and length, and its shape.
type Slot = (u64, [u8; SHAPE_NAME], u8, Shape);

/// Names cached, and their longest.
const SHAPES: usize = 4096;
const SHAPE_NAME: usize = 64;

impl Shapes {
    fn new() -> Shapes {
        Shapes {
            slots: vec![None; SHAPES],
        }
    }

    /// `name`'s shape, `hash` being its hash.
    fn shape(&mut self, hash: u64, name: &str) -> Shape {
        let b = name.as_bytes();
        if b.len() > SHAPE_NAME {
            return Shape::of(name);
        }
        let slot = &mut self.slots[(hash as usize) % SHAPES];
        if let Some((h, bytes, len, shape)) = slot {
            if *h == hash && usize::from(*len) == b.len() && &bytes[..b.len()] == b {
                return *shape;
            }
        }
        let shape = Shape::of(name);
        let mut bytes = [0u8; SHAPE_NAME];
        bytes[..b.len()].copy_from_slice(b);
        *slot = Some((hash, bytes, b.len() as u8, shape));
        shape
    }
}

/// A presentation-form name's length and its longest label's, in wire
/// bytes: `\\DDD` and `\\X` are one byte, and `\\.` no label boundary.
fn wire_lengths(name: &str) -> (usize, usize) {
    let b = name.as_bytes();
    let (mut total, mut label, mut longest, mut i) = (0usize, 0usize, 0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'.' => {
                longest = longest.max(label);
                label = 0;
                total += 1;
                i += 1;
                continue;
            }
            b'\\' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => i += 4,
            b'\\' => i += 2,
            _ => i += 1,
        }
        label += 1;
        total += 1;
    }
    (total, longest.max(label))
}

#[cfg(test)]
mod tests;
