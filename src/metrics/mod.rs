//! Prometheus metrics: an aggregator fed with every transaction that passes
//! the user's filters and, once a second, with the kernel's counters, and
//! its rendering in the text exposition format 0.0.4.
//!
//! The aggregator lives on the ring-buffer consumer's thread and needs no
//! lock there: `observe` is a few array increments and one hash lookup, and
//! allocates nothing once the aggregator is built. Label cardinality is
//! bounded: 18 rcodes (16 header codes, TIMEOUT and UNREACHABLE), the
//! common query types and "other", and at most `max_servers` server
//! addresses and "other". Behind DNAT a query's server (a Service's VIP)
//! and backend together are what gets a label (`server` and `backend`),
//! each backend counting as one against `max_servers`; the rest is "other"
//! (with a `backend` label of "other" where DNAT was, so that no series
//! ever gains or loses a label). Late and duplicate answers are no
//! transactions of their own: only the kernel's counters count them.
//!
//! Which servers get their own label: the first `max_servers` seen, and
//! after that the busiest. Servers without a label are ranked by a
//! Space-Saving sketch of fixed size; every [`REBALANCE_EVERY`] kernel
//! updates, a candidate whose guaranteed recent count is well above the
//! quietest labelled server's takes its label. The demoted server's series
//! disappears (Prometheus sees it go stale) and the newcomer's starts from
//! zero, so every series that is rendered only ever grows.
//!
//! The module is in three parts, each using only those before it:
//! `registry` counts (the state behind [`Metrics`], its bounded label
//! sets and histograms), `exposition` renders the counts in the text
//! format, and `server` ([`MetricsServer`]) serves the rendering over
//! HTTP, with `/healthz`, from a thread of its own (hyper on a
//! single-threaded tokio runtime, so that no client can hold up a scrape).

mod exposition;
mod namespaces;
mod registry;
mod server;
#[cfg(test)]
mod tests;

pub use exposition::{push_label_value, CONTENT_TYPE};
pub use registry::{BUCKETS, REBALANCE_EVERY};
pub use server::{
    MetricsServer, CONNECTION_DEADLINE, HEAD_DEADLINE, MAX_CONNECTIONS, MAX_REQUEST_HEAD,
    PUBLISH_EVERY, STALE_AFTER,
};

use crate::kernel::Counters;
use crate::record::Transaction;
use namespaces::Namespaces;
use registry::Registry;

/// The largest accepted `--metrics-max-servers`.
pub const MAX_SERVERS_LIMIT: usize = 1000;

/// The largest accepted `--metrics-namespaces`.
pub const MAX_NAMESPACES_LIMIT: usize = 1000;

/// Everything the metrics endpoint shows.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// By the sending pod's namespace, when asked for.
    namespaces: Option<Namespaces>,
    /// Changes whenever anything shown changes.
    generation: u64,
}

impl Metrics {
    /// `max_servers` servers (or server and backend pairs, behind DNAT)
    /// get their own labels (at most [`MAX_SERVERS_LIMIT`]); the others
    /// share "other".
    pub fn new(max_servers: usize) -> Metrics {
        Metrics {
            registry: Registry::new(max_servers.min(MAX_SERVERS_LIMIT)),
            namespaces: None,
            generation: 0,
        }
    }

    /// Also counts transactions by the namespace of the pod that sent
    /// them, `max` namespaces labelled (at most [`MAX_NAMESPACES_LIMIT`]).
    pub fn with_namespaces(mut self, max: usize) -> Metrics {
        self.namespaces = Some(Namespaces::new(max.min(MAX_NAMESPACES_LIMIT)));
        self
    }

    /// Counts one transaction by the namespace of its sender's pod (None:
    /// no pod known); after [`Metrics::observe`], when by namespace.
    pub fn observe_namespace(&mut self, t: &Transaction, namespace: Option<&str>) {
        if let (Some(n), Some(row)) = (&mut self.namespaces, registry::rcode_row(t)) {
            n.observe(namespace, row);
        }
    }

    /// Whether transactions are counted by namespace.
    pub fn by_namespace(&self) -> bool {
        self.namespaces.is_some()
    }

    /// Counts one transaction that passed the filters. O(1), and no
    /// allocation: this runs for every transaction.
    pub fn observe(&mut self, t: &Transaction) {
        self.registry.observe(t);
        self.generation += 1;
    }

    /// Also counts the security signals' reasons (the counters are
    /// shown from the start, at 0).
    pub fn with_security(mut self) -> Metrics {
        self.registry.suspicious = Some([0; 9]);
        self
    }

    /// Counts the reasons of one suspicious transaction, by kind.
    pub fn observe_suspicion(&mut self, s: &crate::security::Suspicion) {
        if let Some(counts) = &mut self.registry.suspicious {
            for r in &s.reasons {
                counts[r.kind as usize] += 1;
            }
            self.generation += 1;
        }
    }

    /// Counts one lookup (see `crate::lookup`).
    pub fn observe_lookup(&mut self, l: &crate::lookup::LookupRecord) {
        self.registry.observe_lookup(l);
        self.generation += 1;
    }

    /// Takes the kernel's counters and the derived eviction count (see
    /// [`Counters::evicted`]); called about once a second, which also paces
    /// the ranking of servers. Each value shown only grows, as a counter
    /// must, even if a derived one comes out lower than before.
    pub fn update_kernel(&mut self, counters: &Counters, evicted: u64) {
        self.registry.update_kernel(counters, evicted);
        self.generation += 1;
    }

    /// A number that changes whenever the rendered text would.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Appends the text exposition format (version 0.0.4) to `out`.
    pub fn render(&self, out: &mut String) {
        exposition::render(&self.registry, out);
        if let Some(n) = &self.namespaces {
            exposition::render_namespaces(n, out);
        }
    }
}
