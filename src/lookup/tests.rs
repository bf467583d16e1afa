use super::*;
use crate::record::tests::{bytes_of, raw};
use crate::testing::fixtures::wire;
use std::rc::Rc;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const NX: u16 = 0x8183;
const OK: u16 = 0x8180;
const TC: u16 = 0x8380;

/// Resolver settings from a fixed text, or none (inferred).
struct Fixed(Option<Rc<ResolvConf>>);

impl ResolvSource for Fixed {
    fn lookup(&mut self, _: Option<u32>, _: u32) -> Option<(Rc<ResolvConf>, SearchSource)> {
        self.0.clone().map(|c| (c, SearchSource::Process))
    }
}

const K8S: &str =
    "search default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n";

fn tracker(conf: Option<&str>) -> Tracker {
    let settings = Settings {
        max_open: 64,
        kernel_timeout_ns: S,
    };
    let conf = conf.map(|c| Rc::new(ResolvConf::parse(c)));
    Tracker::new(settings, Box::new(Fixed(conf)))
}

/// A tracker of at most `max_open` open lookups, resolver settings
/// unknown.
fn capped(max_open: usize) -> Tracker {
    let settings = Settings {
        max_open,
        kernel_timeout_ns: S,
    };
    Tracker::new(settings, Box::new(Fixed(None)))
}

/// A query for `name`, sent at `sent` ms from `pid` (0: unknown) on
/// `port`, id `id`, ending `ms` later with `rflags` (None: a timeout).
#[derive(Clone, Copy)]
struct Q<'a> {
    name: &'a str,
    qtype: u16,
    sent: u64,
    pid: u32,
    port: u16,
    id: u16,
    ms: u64,
    rflags: Option<u16>,
    ancount: u16,
    tcp: bool,
}

fn q(name: &str, qtype: u16, sent: u64) -> Q<'_> {
    Q {
        name,
        qtype,
        sent,
        pid: 100,
        port: 40000,
        id: 7,
        ms: 1,
        rflags: Some(NX),
        ancount: 0,
        tcp: false,
    }
}

impl Q<'_> {
    fn ok(mut self) -> Self {
        self.rflags = Some(OK);
        self.ancount = 1;
        self
    }
    fn lost(mut self) -> Self {
        self.rflags = None;
        self
    }
    fn transaction(&self) -> Transaction {
        let labels: Vec<&[u8]> = self.name.split('.').map(str::as_bytes).collect();
        let mut ev = raw(&wire(&labels));
        ev.ts = self.sent * MS;
        ev.qtype = self.qtype;
        ev.pid = self.pid;
        ev.client_port = self.port;
        ev.id = self.id;
        ev.ancount = self.ancount;
        ev.proto = if self.tcp { 6 } else { 17 };
        match self.rflags {
            Some(f) => {
                ev.rflags = f;
                ev.latency_ns = self.ms * MS;
            }
            None => {
                ev.kind = 1;
                ev.rflags = 0;
                ev.latency_ns = 0;
            }
        }
        Transaction::decode(&bytes_of(&ev)).unwrap()
    }
}

/// Feeds the queries in the order their records would come (by when
/// they ended), then runs the clock far ahead.
fn run(tr: &mut Tracker, queries: &[Q<'_>]) -> Vec<LookupRecord> {
    let mut ts: Vec<Transaction> = queries.iter().map(Q::transaction).collect();
    let end = |t: &Transaction| t.mono_ns + t.latency_ns.unwrap_or(S);
    ts.sort_by_key(end);
    let mut out = Vec::new();
    for t in &ts {
        tr.advance(end(t), &mut out);
        tr.feed(t, &mut out);
    }
    tr.advance(3600 * S, &mut out);
    out
}

fn k8s_queries(name: &'static str) -> Vec<Q<'static>> {
    let mut v = Vec::new();
    let mut sent = 0;
    for domain in [
        "default.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
    ] {
        let full: &'static str = Box::leak(format!("{name}.{domain}").into_boxed_str());
        v.push(q(full, A, sent));
        v.push(q(full, AAAA, sent));
        sent += 2;
    }
    v.push(q(name, A, sent).ok());
    v.push(q(name, AAAA, sent).ok());
    v
}

#[test]
fn ndots_search_list_is_one_lookup() {
    let out = run(&mut tracker(Some(K8S)), &k8s_queries("api.example.test"));
    assert_eq!(out.len(), 1, "{out:#?}");
    let l = &out[0];
    assert_eq!(l.name, "api.example.test");
    assert_eq!(l.answered_name.as_deref(), Some("api.example.test"));
    assert_eq!(l.queries, 8);
    assert_eq!(l.search_misses, 6);
    assert_eq!((l.retries, l.retransmits), (0, 0));
    assert_eq!(l.rcode, LookupRcode::Rcode(0));
    assert_eq!(l.qtypes, [A, AAAA]);
    assert_eq!(
        l.latency_ns,
        Some(7 * MS),
        "first out at 0, last answer at 6+1 ms"
    );
    assert_eq!(l.pid, Some(100));
    assert_eq!(l.search_source, SearchSource::Process);
    assert!(!l.sibling_lost && !l.tcp_fallback && !l.retry_after_timeout);
}

#[test]
fn the_inferred_search_list_groups_the_same_queries() {
    let out = run(&mut tracker(None), &k8s_queries("api.example.test"));
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].name, "api.example.test");
    assert_eq!(out[0].search_misses, 6);
    assert_eq!(out[0].search_source, SearchSource::Inferred);
}

#[test]
fn a_service_name_found_at_the_first_search_domain() {
    let out = run(
        &mut tracker(Some(K8S)),
        &[
            q("kube-dns.default.svc.cluster.local", A, 0).ok(),
            q("kube-dns.default.svc.cluster.local", AAAA, 0),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].name, "kube-dns");
    assert_eq!(
        out[0].answered_name.as_deref(),
        Some("kube-dns.default.svc.cluster.local")
    );
    assert_eq!((out[0].queries, out[0].search_misses), (2, 0));
}

#[test]
fn fully_qualified_and_ndots_exceeded_names_are_asked_as_they_are() {
    // "api.example.test." sends no search name at all.
    let out = run(
        &mut tracker(Some(K8S)),
        &[
            q("api.example.test", A, 0).ok(),
            q("api.example.test", AAAA, 0).ok(),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].name, "api.example.test");
    assert_eq!((out[0].queries, out[0].search_misses), (2, 0));
    // Five dots with ndots:5: as is first, then the search list.
    let name = "a.b.c.d.e.f";
    let out = run(
        &mut tracker(Some(K8S)),
        &[
            q(name, A, 0),
            q("a.b.c.d.e.f.default.svc.cluster.local", A, 2).ok(),
        ],
    );
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].name, name);
    assert_eq!(
        out[0].answered_name.as_deref(),
        Some("a.b.c.d.e.f.default.svc.cluster.local")
    );
    assert_eq!(out[0].search_misses, 1);
}

#[test]
fn a_failed_lookup_gets_the_last_failure() {
    let mut qs = k8s_queries("nope.example.test");
    let n = qs.len();
    qs[n - 1] = q("nope.example.test", AAAA, 6);
    qs[n - 2] = q("nope.example.test", A, 6);
    let out = run(&mut tracker(Some(K8S)), &qs);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rcode, LookupRcode::Rcode(3));
    assert_eq!(out[0].answered_name, None);
    assert_eq!(out[0].search_misses, 6);
    assert_eq!(out[0].latency_ns, Some(7 * MS));
}

#[test]
fn a_lost_sibling_resent_on_the_same_socket_is_a_retransmit() {
    // glibc: A and AAAA together; the AAAA lost; resent after 5 s.
    let out = run(
        &mut tracker(Some("options ndots:1\n")),
        &[
            q("api.test", A, 0).ok(),
            Q {
                id: 8,
                ..q("api.test", AAAA, 0).lost()
            },
            Q {
                id: 8,
                ..q("api.test", AAAA, 5000).ok()
            },
        ],
    );
    assert_eq!(out.len(), 1, "{out:#?}");
    let l = &out[0];
    assert_eq!((l.queries, l.retransmits, l.retries), (3, 1, 0));
    assert!(l.sibling_lost);
    assert!(l.retry_after_timeout);
    assert_eq!(l.retry_delay_ns, Some(5 * S));
    assert_eq!(l.latency_ns, Some(5001 * MS));
    assert_eq!(l.rcode, LookupRcode::Rcode(0));
}

#[test]
fn a_retry_on_a_new_port_is_a_retry() {
    // dig: same id, new source port.
    let out = run(
        &mut tracker(None),
        &[
            Q {
                pid: 200,
                port: 1111,
                ..q("x.test", A, 0).lost()
            },
            Q {
                pid: 200,
                port: 2222,
                ..q("x.test", A, 5000).ok()
            },
        ],
    );
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].retries, out[0].retransmits), (1, 0));
    assert!(out[0].retry_after_timeout);
    assert!(!out[0].sibling_lost);
    assert_eq!(out[0].client_port, 1111, "the first try's");
}

#[test]
fn a_truncated_answer_then_tcp_is_a_fallback() {
    let out = run(
        &mut tracker(None),
        &[
            Q {
                rflags: Some(TC),
                ..q("big.test", A, 0)
            },
            Q {
                tcp: true,
                port: 3333,
                ..q("big.test", A, 2).ok()
            },
        ],
    );
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0].tcp_fallback);
    assert_eq!((out[0].retries, out[0].retransmits), (0, 0));
    assert!(!out[0].retry_after_timeout);
    assert_eq!(out[0].rcode, LookupRcode::Rcode(0));
}

#[test]
fn two_processes_asking_at_once_are_two_lookups() {
    let out = run(
        &mut tracker(Some(K8S)),
        &[
            Q {
                pid: 1,
                ..q("api.test", A, 0).ok()
            },
            Q {
                pid: 2,
                ..q("api.test", A, 0).ok()
            },
        ],
    );
    assert_eq!(out.len(), 2);
    let mut pids: Vec<_> = out.iter().map(|l| l.pid).collect();
    pids.sort();
    assert_eq!(pids, [Some(1), Some(2)]);
    assert!(out.iter().all(|l| l.queries == 1));
}

#[test]
fn without_a_process_each_socket_is_a_client() {
    let out = run(
        &mut tracker(None),
        &[
            Q {
                pid: 0,
                port: 1,
                ..q("api.test", A, 0).ok()
            },
            Q {
                pid: 0,
                port: 2,
                ..q("api.test", A, 0).ok()
            },
        ],
    );
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|l| l.pid.is_none() && l.comm.is_none()));
}

#[test]
fn asking_again_after_the_answer_is_a_new_lookup() {
    let out = run(
        &mut tracker(None),
        &[
            q("api.test", A, 0).ok(),
            Q {
                port: 40001,
                ..q("api.test", A, 10).ok()
            },
        ],
    );
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(out.iter().all(|l| l.retries == 0 && l.queries == 1));
}

#[test]
fn all_timed_out_waits_for_the_resend_then_says_timeout() {
    let mut tr = tracker(Some("options timeout:2\n"));
    let mut out = Vec::new();
    tr.feed(&q("dead.test", A, 0).lost().transaction(), &mut out);
    // Reported at the kernel's timeout (1 s); the resend may come at 2 s
    // and be reported by 3 s.
    tr.advance(3 * S, &mut out);
    assert!(out.is_empty());
    tr.advance(3 * S + LINGER_NS, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rcode, LookupRcode::Timeout);
    assert_eq!(out[0].latency_ns, None);
    assert_eq!(tr.open(), 0);
}

#[test]
fn an_answered_lookup_waits_only_for_queries_still_unreported() {
    let mut tr = tracker(None);
    let mut out = Vec::new();
    tr.feed(&q("fast.test", A, 0).ok().transaction(), &mut out);
    tr.advance(S + LINGER_NS - 1, &mut out);
    assert!(out.is_empty(), "its AAAA could still time out");
    tr.advance(S + LINGER_NS, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn a_late_answer_completes_its_query() {
    let mut tr = tracker(None);
    let mut out = Vec::new();
    let lost = q("slow.test", A, 0).lost();
    tr.feed(&lost.transaction(), &mut out);
    let mut late = Q {
        ms: 1500,
        ..lost.ok()
    }
    .transaction();
    late.kind = Kind::Late;
    tr.feed(&late, &mut out);
    tr.finish_all(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rcode, LookupRcode::Rcode(0));
    assert_eq!(out[0].latency_ns, Some(1500 * MS));
    assert_eq!(tr.late_unmatched(), 0);
}

#[test]
fn the_open_lookups_are_capped() {
    let mut tr = capped(2);
    let mut out = Vec::new();
    let names: Vec<String> = (0..5).map(|i| format!("n{i}.flood.test")).collect();
    for (i, n) in names.iter().enumerate() {
        tr.feed(&q(n, A, i as u64).ok().transaction(), &mut out);
        assert!(tr.open() <= 2);
    }
    assert_eq!(tr.evicted(), 3);
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|l| l.incomplete));
    assert_eq!(out[0].name, "n0.flood.test", "the oldest first");
    tr.finish_all(&mut out);
    assert_eq!(out.len(), 5);
    assert!(!out[4].incomplete);
}

/// A flood of one-time names finishes most lookups early (the cap), long
/// before their closing time: the queues keep to the open lookups, not to
/// everything seen within the closing delay.
#[test]
fn a_flood_of_names_keeps_the_queues_bounded() {
    let mut tr = capped(16);
    let mut out = Vec::new();
    for i in 0..20_000u64 {
        let name = format!("q{i}.flood.test");
        // 20 per ms, all lost: each waits for a resend far beyond the run.
        tr.feed(&q(&name, A, i / 20).lost().transaction(), &mut out);
        if i % 100 == 99 {
            tr.advance(i / 20 * MS, &mut out);
            assert!(tr.open() <= 16);
            assert!(
                tr.closing.len() <= 2 * 16 + 64,
                "{} queued",
                tr.closing.len()
            );
            assert!(
                tr.order.len() <= 2 * 16 + 64,
                "{} in age order",
                tr.order.len()
            );
        }
    }
    assert_eq!(tr.evicted(), 20_000 - 16);
    tr.finish_all(&mut out);
    assert_eq!(out.len(), 20_000);
}

#[test]
fn glibc_resends_both_types_after_a_refused_sibling() {
    // Seen with getent: the A lost, the AAAA REFUSED; after 5 s both
    // again on the same socket.
    const REFUSED: u16 = 0x8185;
    let out = run(
        &mut tracker(Some("options ndots:1\n")),
        &[
            q("api.test", A, 0).lost(),
            Q {
                id: 8,
                rflags: Some(REFUSED),
                ..q("api.test", AAAA, 1)
            },
            q("api.test", A, 5000).ok(),
            Q {
                id: 8,
                rflags: Some(REFUSED),
                ..q("api.test", AAAA, 5001)
            },
        ],
    );
    assert_eq!(out.len(), 1, "{out:#?}");
    let l = &out[0];
    assert_eq!((l.queries, l.retransmits, l.retries), (4, 2, 0));
    assert!(l.sibling_lost && l.retry_after_timeout);
    assert_eq!(l.qtypes, [A, AAAA], "in the order sent, not answered");
    assert_eq!(l.answered_name.as_deref(), Some("api.test"));
}

#[test]
fn a_query_sent_without_its_process_joins_its_sockets_lookup() {
    // The first query after ARP leaves from a softirq: no pid. Its
    // record may come before or after its sibling's.
    for pidless_first in [true, false] {
        let (a, aaaa) = (
            Q {
                pid: 0,
                ..q("api.test", A, 0).ok()
            },
            Q {
                ms: if pidless_first { 2 } else { 0 },
                ..q("api.test", AAAA, 0).ok()
            },
        );
        let out = run(&mut tracker(None), &[a, aaaa]);
        assert_eq!(out.len(), 1, "pid-less first: {pidless_first}: {out:#?}");
        assert_eq!(out[0].pid, Some(100));
        assert_eq!(out[0].comm.as_deref(), Some("dig"));
        assert_eq!(out[0].queries, 2);
    }
    // Another socket's pid-less query stays apart.
    let out = run(
        &mut tracker(None),
        &[
            Q {
                pid: 0,
                port: 5,
                ..q("api.test", A, 0).ok()
            },
            q("api.test", AAAA, 0).ok(),
        ],
    );
    assert_eq!(out.len(), 2);
}

#[test]
fn one_name_asked_over_and_over_finds_a_resend_among_many_lookups() {
    // A load generator: one process, eight sockets, the same name every
    // millisecond for 1.4 s, each answered at once; one query lost
    // (reported a second later) and resent from its socket 1.1 s later,
    // when a thousand newer lookups of that name are open. The resend
    // finds its own lookup.
    let mut tr = Tracker::new(
        Settings {
            max_open: 4096,
            kernel_timeout_ns: S,
        },
        Box::new(Fixed(None)),
    );
    let mut queries: Vec<Q<'_>> = (0..1400u64)
        .map(|i| Q {
            port: 40000 + (i % 8) as u16,
            id: i as u16,
            ..q("h0.bench.test", A, i).ok()
        })
        .collect();
    queries[500] = queries[500].lost();
    queries.push(Q {
        sent: 1600,
        ..queries[500].ok()
    });
    let out = run(&mut tr, &queries);
    assert_eq!(out.len(), 1400, "one lookup per ask");
    let resent: Vec<&LookupRecord> = out.iter().filter(|l| l.queries > 1).collect();
    assert_eq!(resent.len(), 1, "{resent:#?}");
    assert_eq!(
        (resent[0].queries, resent[0].retransmits, resent[0].mono_ns),
        (2, 1, 500 * MS)
    );
    assert!(resent[0].retry_after_timeout);
    assert!(out.iter().all(|l| l.rcode == LookupRcode::Rcode(0)));
    assert!(
        tr.index.is_empty() && tr.questions.is_empty(),
        "finished lookups leave nothing indexed"
    );
}
