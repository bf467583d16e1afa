//! An open lookup: the queries one client has sent for one name so far,
//! how each ended, and what the lookup tells once it is finished.

use std::net::IpAddr;
use std::rc::Rc;

use smallvec::SmallVec;

use super::{
    first_label, labels, Client, LookupRcode, LookupRecord, A, AAAA, LINGER_NS, MAX_QUERIES,
};
use crate::record::{KernelStr, Proto, Transaction};
use crate::resolv::{ResolvConf, SearchSource};
use crate::security::Suspicion;

/// How a query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
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
pub(super) struct Query {
    pub(super) name: usize,
    pub(super) qtype: u16,
    pub(super) port: u16,
    pub(super) proto: Proto,
    pub(super) id: u16,
    pub(super) sent_ns: u64,
    /// When it ended: the answer's arrival, or the kernel's timeout.
    pub(super) end_ns: u64,
    pub(super) end: End,
}

impl Query {
    pub(super) fn answered(&self) -> bool {
        matches!(self.end, End::Answer { .. })
    }
    /// An answer a resolver takes as final for the question: NOERROR or
    /// NXDOMAIN, not truncated. After SERVFAIL, REFUSED and the like it
    /// tries again (glibc: the next server, or the next attempt).
    pub(super) fn settled(&self) -> bool {
        matches!(
            self.end,
            End::Answer {
                rcode: 0 | 3,
                tc: false,
                ..
            }
        )
    }

    pub(super) fn data(&self) -> bool {
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

/// A question (a name and a type) a lookup asked, as the tracker's index
/// of questions knows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Question {
    /// The hash of the client, the name (lowercase) and the type.
    pub(super) key: u64,
    pub(super) name: usize,
    pub(super) qtype: u16,
    /// When its first final answer (see [`Query::settled`]) came;
    /// [`UNSETTLED`] before.
    pub(super) settled_ns: u64,
}

/// [`Question::settled_ns`] of a question without a final answer.
pub(super) const UNSETTLED: u64 = u64::MAX;

/// How [`Lookup::add`] changed a question: its key, and the settled time
/// it was indexed under before (None: a new question) and now.
pub(super) type QuestionChange = (u64, Option<u64>, u64);

#[derive(Debug, Default)]
pub(super) struct Resends {
    pub(super) retries: u32,
    pub(super) retransmits: u32,
    pub(super) tcp_fallback: bool,
    pub(super) after_timeout: bool,
    pub(super) delay_ns: Option<u64>,
}

/// The names a lookup queried, in the order first queried, one after
/// another in one buffer with inline room for what most calls ask (a name
/// or two of a usual length): a lookup visited in a candidate walk is
/// compared with a query's name without a load from elsewhere.
#[derive(Debug, Default)]
pub(super) struct Names {
    /// The names' bytes, each a whole `str`.
    bytes: SmallVec<[u8; 56]>,
    /// Where each name ends in `bytes`.
    ends: SmallVec<[u32; 2]>,
}

impl Names {
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub(super) fn push(&mut self, name: &str) {
        self.bytes.extend_from_slice(name.as_bytes());
        let end = u32::try_from(self.bytes.len()).expect("names of a lookup under 4 GiB");
        self.ends.push(end);
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(move |i| &self[i])
    }
}

impl std::ops::Index<usize> for Names {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        let bytes = &self.bytes[start..self.ends[i] as usize];
        // SAFETY: `bytes` only ever grows by a whole `str` (`push`), and
        // each name's ends are where one ended: the range is one of them.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

#[derive(Debug)]
pub(super) struct Lookup {
    /// Its id in the tracker (which names its slot).
    pub(super) id: u64,
    pub(super) client: Client,
    /// Its key in the index: the hash of its client and first label.
    pub(super) index_key: u64,
    pub(super) pid: Option<u32>,
    pub(super) comm: Option<KernelStr>,
    pub(super) cgroup_id: Option<u64>,
    pub(super) netns: u32,
    pub(super) client_ip: IpAddr,
    pub(super) client_port: u16,
    /// The length of the name as asked (for an inferred search list, the
    /// labels all names so far share): always the start of the first name
    /// (see [`Lookup::base`]), kept there rather than in a string of its
    /// own, one more load for every candidate walk's visit.
    pub(super) base_len: usize,
    /// The resolver's settings, when known: the names it tries for
    /// `base` ([`ResolvConf::tries`]).
    pub(super) settings: Option<Rc<ResolvConf>>,
    pub(super) retry_interval_ns: u64,
    pub(super) source: SearchSource,
    /// Names queried, in the order first queried.
    pub(super) names: Names,
    /// Inline room for what most calls send (A and AAAA of one name):
    /// thousands of lookups are open on a busy node, and each allocation
    /// is a cache miss to visit.
    pub(super) queries: SmallVec<[Query; 2]>,
    /// The questions among `queries`, each once.
    pub(super) questions: SmallVec<[Question; 2]>,
    pub(super) query_count: u32,
    pub(super) qtypes: SmallVec<[u16; 4]>,
    pub(super) udp: bool,
    pub(super) tcp: bool,
    pub(super) first_ns: u64,
    pub(super) last_sent_ns: u64,
    pub(super) last_event_ns: u64,
    /// The earliest time it is queued for in the tracker's `closing`
    /// queue; u64::MAX: not queued.
    pub(super) queued_at: u64,
    /// Its queries' suspicions, merged.
    pub(super) suspicion: Option<Box<Suspicion>>,
}

impl Lookup {
    /// The name as asked: the start of the first name queried (the name
    /// the resolver's settings say was asked of it, or the labels an
    /// inferred search list's names share).
    pub(super) fn base(&self) -> &str {
        if self.names.is_empty() {
            return "";
        }
        &self.names[0][..self.base_len]
    }

    /// Whether the same call could have asked `qname`: one of the names
    /// the resolver tries for the name asked, or, with the search list
    /// unknown, a name with the same first label.
    pub(super) fn could_ask(&self, qname: &str) -> bool {
        match &self.settings {
            Some(conf) => conf.tries(self.base(), qname),
            // Inferred: a name that shares the first label of the name
            // asked (another search domain, or none). The index has
            // matched that label already.
            None => first_label(self.base()).eq_ignore_ascii_case(first_label(qname)),
        }
    }

    /// Whether transaction `t`, sent at `sent`, belongs to this lookup.
    pub(super) fn accepts(&self, t: &Transaction, sent: u64) -> bool {
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
            // And only what began before it: a query sent before a
            // lookup's first is not its resend (its record came late,
            // after the lookup's own), unless the lookup's query has its
            // id: resent by the resolver on the same socket, or by dig on
            // a new one.
            let answered_before = same.clone().any(|q| q.settled() && q.end_ns <= sent);
            return !answered_before && (self.first_ns <= sent || same.any(|q| q.id == t.id));
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
        if self.settings.is_none() && !self.names.is_empty() {
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

    /// Whether it asked `qname` for `qtype`.
    pub(super) fn asked(&self, qname: &str, qtype: u16) -> bool {
        self.questions
            .iter()
            .any(|q| q.qtype == qtype && self.names[q.name].eq_ignore_ascii_case(qname))
    }

    /// The key of its question while it has asked one only, else 0.
    pub(super) fn only_question(&self) -> u64 {
        match self.questions.as_slice() {
            [q] => q.key,
            _ => 0,
        }
    }

    /// Whether it sent `t`'s question from `t`'s socket with `t`'s id: `t`
    /// is that query sent again.
    pub(super) fn sent_as(&self, t: &Transaction) -> bool {
        self.queries.iter().any(|q| {
            q.qtype == t.qtype
                && q.port == t.client_port
                && q.id == t.id
                && self.names[q.name].eq_ignore_ascii_case(&t.qname)
        })
    }

    /// Adds a query; `key` is the hash of its question (see
    /// [`Question::key`]). Returns how its question changed, for the
    /// tracker's index.
    pub(super) fn add(
        &mut self,
        t: &Transaction,
        sent: u64,
        end_ns: u64,
        end: End,
        key: u64,
    ) -> Option<QuestionChange> {
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
        let known = self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&t.qname));
        let name = match known {
            Some(i) => i,
            None => {
                if self.settings.is_none() {
                    self.shrink_base(&t.qname);
                }
                self.names.push(&t.qname);
                self.names.len() - 1
            }
        };
        if self.queries.len() >= MAX_QUERIES {
            return None;
        }
        let query = Query {
            name,
            qtype: t.qtype,
            port: t.client_port,
            proto: t.proto,
            id: t.id,
            sent_ns: sent,
            end_ns,
            end,
        };
        let settled_ns = if query.settled() { end_ns } else { UNSETTLED };
        self.queries.push(query);
        match self
            .questions
            .iter_mut()
            .find(|q| q.name == name && q.qtype == t.qtype)
        {
            Some(q) if settled_ns < q.settled_ns => {
                let before = std::mem::replace(&mut q.settled_ns, settled_ns);
                Some((q.key, Some(before), settled_ns))
            }
            Some(_) => None,
            None => {
                self.questions.push(Question {
                    key,
                    name,
                    qtype: t.qtype,
                    settled_ns,
                });
                Some((key, None, settled_ns))
            }
        }
    }

    /// Each question asked again, in the order sent: a TCP retry after a
    /// truncated answer, a retransmission on the same socket, or a retry
    /// on another; and whether one came after its try went unanswered.
    pub(super) fn resends(&self) -> Resends {
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
    pub(super) fn shrink_base(&mut self, qname: &str) {
        if self.names.is_empty() {
            self.base_len = qname.len();
            return;
        }
        let (a, b) = (labels(self.base()), labels(qname));
        let common = a
            .iter()
            .zip(&b)
            .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
            .count();
        if common > 0 && common < a.len() {
            // Its first `common` labels: a start of it, so of the first
            // name.
            self.base_len = a[..common].iter().map(|l| l.len()).sum::<usize>() + common - 1;
        }
    }

    /// When nothing more can join: every query it may have sent reported,
    /// and after a timeout, the resolver's resend come and reported.
    pub(super) fn close_at(&self, kernel_timeout_ns: u64) -> u64 {
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

    pub(super) fn record(self, incomplete: bool) -> LookupRecord {
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
        let base = if self.names.len() == 1 && self.settings.is_none() {
            self.names[0].to_string()
        } else {
            self.base().to_string()
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
            answered_name: answered.map(|n| self.names[n].to_string()),
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
            cgroup_id: self.cgroup_id,
            netns: self.netns,
            who: None,
            sibling_lost,
            tcp_fallback: resends.tcp_fallback,
            retry_after_timeout: resends.after_timeout,
            retry_delay_ns: resends.delay_ns,
            search_source: self.source,
            incomplete,
            udp: self.udp,
            tcp: self.tcp,
            conntrack: None,
            suspicion: self.suspicion,
        }
    }

    /// One of A and AAAA for a name on one socket timed out while the
    /// other, sent beside it, was answered.
    pub(super) fn sibling_lost(&self) -> bool {
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
