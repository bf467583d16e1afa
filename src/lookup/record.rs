//! What a finished lookup reports.

use std::net::IpAddr;
use std::sync::Arc;

use super::conntrack;
use crate::attribution::Attribution;
use crate::record::KernelStr;
use crate::resolv::SearchSource;
use crate::security::Suspicion;

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
    /// The first query's socket cgroup and network namespace, which name
    /// who asked (see `crate::attribution`).
    pub cgroup_id: Option<u64>,
    pub netns: u32,
    /// Who asked, as attribution named them (filled in by the pipeline).
    pub who: Option<Arc<Attribution>>,
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
    /// Its queries' security signals, merged: the highest score, each
    /// kind once; None when none was suspicious.
    pub suspicion: Option<Box<Suspicion>>,
}
