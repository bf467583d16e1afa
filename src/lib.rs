//! dnstrace as a library, from the top floor down (each module uses only
//! those below it):
//!
//! - `app` runs a trace: start, a tick of the loop, finish (with the
//!   `tracer` feature, as every module that needs libbpf);
//! - `cli` turns the command line into each module's own options;
//!   `assets` renders completions and the man page from it;
//! - `tui` draws the live table from the `pipeline`'s view;
//! - `pipeline` takes each ring-buffer record through decoding, `filter`,
//!   `aggregate`, `lookup` (transactions grouped into what one
//!   application call asked), `metrics` and `output`; `summary` reports
//!   at exit; `topk` keeps the aggregates' rankings over a whole run;
//! - `security` gives each transaction its suspicious signs (unauthorized
//!   resolvers, tunnels, generated names, NXDOMAIN bursts), with reasons;
//! - `attribution` names who sent a query (container, pod, unit) from
//!   its cgroup;
//! - `resolv` reads the resolver settings a process or network namespace
//!   has (resolv.conf);
//! - `record` decodes a kernel record into a transaction, and names DNS
//!   codes;
//! - `kernel` is the interface to the kernel program: its ABI and
//!   counters, the preflight checks and the loader.
//!
//! `testing` holds fixtures for tests, benchmarks and fuzzers.

pub mod aggregate;
#[cfg(feature = "tracer")]
pub mod app;
pub mod assets;
pub mod attribution;
pub mod cli;
pub mod filter;
pub mod kernel;
pub mod lookup;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod record;
pub mod resolv;
pub mod security;
pub mod summary;
#[doc(hidden)]
pub mod testing;
pub mod topk;
pub mod tui;
