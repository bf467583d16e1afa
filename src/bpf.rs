//! Loading the kernel program, its settings, its counters, and the periodic
//! sweep that turns unanswered queries into TIMEOUT records.

use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject, ProgramInput};

use crate::cli::ReaderChoice;
use crate::filter::Filter;

mod skel {
    #![allow(
        clippy::all,
        clippy::pedantic,
        unused_imports,
        dead_code,
        non_camel_case_types
    )]
    include!(concat!(env!("OUT_DIR"), "/dnstrace.skel.rs"));
}

pub use skel::DnstraceSkel;
use skel::{DnstraceSkelBuilder, OpenDnstraceSkel};

/// One finished transaction as the kernel writes it into the ring buffer.
pub type RawEvent = skel::types::dt_event;

// SAFETY: dt_event is a C struct of integers and byte arrays: every bit
// pattern is a valid value.
unsafe impl plain::Plain for RawEvent {}

/// Sizes fixed by src/bpf/dnstrace.h.
pub const MAX_PORTS: usize = 16;
pub const MAX_IDS: usize = 16;

/// The kernel's per-CPU counters, in the order of `enum dt_stat` in
/// src/bpf/dnstrace.h (a test keeps the two in step): C name, short key
/// for machine-readable output, and what it counts.
pub const STATS: &[(&str, &str, &str)] = &[
    (
        "DT_STAT_DNS_PACKETS",
        "dns_packets",
        "packets on a DNS port (every sighting)",
    ),
    ("DT_STAT_QUERIES", "queries", "queries tracked"),
    (
        "DT_STAT_QUERY_SEEN_AGAIN",
        "query_seen_again",
        "retransmits and later sightings of a tracked query",
    ),
    ("DT_STAT_ANSWERED", "answered", "transactions answered"),
    ("DT_STAT_TIMEOUTS", "timeouts", "transactions timed out"),
    (
        "DT_STAT_RINGBUF_DROPS",
        "ringbuf_drops",
        "transactions lost: ring buffer full",
    ),
    (
        "DT_STAT_INSERT_FAILED",
        "insert_failed",
        "queries not tracked: map update failed",
    ),
    (
        "DT_STAT_RESP_NO_QUERY",
        "response_without_query",
        "responses to no tracked query",
    ),
    (
        "DT_STAT_RESP_REPEAT",
        "response_repeat",
        "responses seen again after their transaction completed",
    ),
    (
        "DT_STAT_RESP_MISMATCH",
        "response_mismatch",
        "responses whose question differs from the query's",
    ),
    (
        "DT_STAT_MAL_SHORT",
        "malformed_short",
        "malformed: shorter than a DNS header",
    ),
    (
        "DT_STAT_MAL_NO_QUESTION",
        "malformed_no_question",
        "malformed: query without a question",
    ),
    (
        "DT_STAT_MAL_TRUNCATED",
        "malformed_truncated",
        "malformed: question runs past the end of the packet",
    ),
    (
        "DT_STAT_MAL_LABEL",
        "malformed_label",
        "malformed: reserved label type in the question",
    ),
    (
        "DT_STAT_MAL_POINTER",
        "malformed_pointer",
        "malformed: compression pointer in the question",
    ),
    (
        "DT_STAT_MAL_NAME_LONG",
        "malformed_name_long",
        "malformed: question name over 255 bytes",
    ),
    (
        "DT_STAT_NONLINEAR",
        "nonlinear",
        "payload in page fragments, unreadable by the linear reader",
    ),
    (
        "DT_STAT_IP_FRAGMENT",
        "ip_fragment",
        "later IP fragments (no UDP header) skipped",
    ),
    (
        "DT_STAT_TCP_RESYNC",
        "tcp_resync",
        "TCP stream position lost (a segment missed): restarted at the next",
    ),
    (
        "DT_STAT_TCP_SKIPPED",
        "tcp_skipped",
        "TCP messages beyond 64 in one segment, skipped",
    ),
    (
        "DT_STAT_MDNS_QUERIES",
        "mdns_queries",
        "mDNS queries tracked",
    ),
    (
        "DT_STAT_MDNS_ANNOUNCEMENTS",
        "mdns_announcements",
        "mDNS answers to no query seen (announcements)",
    ),
    (
        "DT_STAT_ENCRYPTED_CONNS",
        "encrypted_connections",
        "DoT and DoQ connections seen",
    ),
];

/// Index of a counter by its short key.
pub fn stat_index(key: &str) -> usize {
    STATS
        .iter()
        .position(|(_, k, _)| *k == key)
        .unwrap_or_else(|| panic!("no counter named {key}"))
}

/// Summed per-CPU counters, indexed like [`STATS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters(pub Vec<u64>);

impl Counters {
    pub fn get(&self, key: &str) -> u64 {
        self.0.get(stat_index(key)).copied().unwrap_or(0)
    }

    /// Packets skipped as malformed, by reason (only the non-zero ones).
    pub fn malformed(&self) -> Vec<(&'static str, u64)> {
        STATS
            .iter()
            .enumerate()
            .filter(|(_, (_, k, _))| k.starts_with("malformed_"))
            .map(|(i, (_, _, desc))| (desc.trim_start_matches("malformed: "), self.0[i]))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Queries evicted from the full pending map before an answer or a
    /// timeout. The kernel cannot count these (the LRU map evicts silently),
    /// so they are what is left of the tracked queries once the answered,
    /// the timed out and the `pending` ones are taken away. Exact once
    /// tracing has stopped; while it runs, queries that arrive between the
    /// sweep that returned `pending` and the reading of the counters make
    /// it slightly off.
    pub fn evicted(&self, pending: u64) -> u64 {
        self.get("queries")
            .saturating_sub(self.get("answered") + self.get("timeouts") + pending)
    }
}

/// How the kernel program reads packet bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Dynptr,
    Linear,
    /// Classic (untyped) tracepoints, for kernels without BTF of their own.
    Classic,
}

/// Whether the running kernel exposes its own BTF, which typed (tp_btf)
/// tracepoints need.
pub fn kernel_has_btf() -> bool {
    std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
}

impl Reader {
    pub fn describe(self) -> &'static str {
        match self {
            Reader::Dynptr => "dynptr reader (linear data and page fragments)",
            Reader::Linear => "linear reader (kernel lacks bpf_dynptr_from_skb for tracing; payloads in page fragments are skipped)",
            Reader::Classic => "classic tracepoints with the linear reader (no kernel BTF: fields read through probes relocated against --btf; plain UDP DNS only)",
        }
    }
}

pub struct Config<'a> {
    pub filter: &'a Filter,
    pub announcements: bool,
    pub timeout: Duration,
    pub max_pending: u32,
    pub btf: Option<PathBuf>,
    pub reader: ReaderChoice,
    pub verbose: u8,
}

/// Storage the loaded objects borrow from: one per load attempt.
pub struct ObjectStorage {
    first: MaybeUninit<OpenObject>,
    second: MaybeUninit<OpenObject>,
}

impl Default for ObjectStorage {
    fn default() -> Self {
        ObjectStorage {
            first: MaybeUninit::uninit(),
            second: MaybeUninit::uninit(),
        }
    }
}

pub struct Tracer<'obj> {
    pub skel: DnstraceSkel<'obj>,
    links: Vec<Link>,
    pub reader: Reader,
    pub max_pending: u32,
}

fn configure(open: &mut OpenDnstraceSkel<'_>, cfg: &Config<'_>, reader: Reader) -> Result<()> {
    let ro = open
        .maps
        .rodata_data
        .as_deref_mut()
        .context("the BPF object has no read-only data section")?;
    let f = cfg.filter;
    for (slot, port) in ro.dt_ports.iter_mut().zip(&f.ports) {
        *slot = *port;
    }
    ro.dt_nports = f.ports.len().min(MAX_PORTS) as u32;
    for (slot, id) in ro.dt_ids.iter_mut().zip(&f.ids) {
        *slot = *id;
    }
    ro.dt_nids = f.ids.len().min(MAX_IDS) as u32;
    ro.dt_min_latency_ns = f.min_latency.map_or(0, |d| d.as_nanos() as u64);
    ro.dt_timeout_ns = cfg.timeout.as_nanos() as u64;
    ro.dt_rcode_mask = f.rcode_mask;
    ro.dt_show_announcements = cfg.announcements;

    open.maps
        .dt_pending
        .set_max_entries(cfg.max_pending)
        .context("sizing the pending-query map")?;
    // Load only the programs of the chosen reader: a kernel that cannot
    // verify the others must not be asked to.
    let typed = reader != Reader::Classic;
    let progs = &mut open.progs;
    progs.dt_egress.set_autoload(reader == Reader::Dynptr);
    progs.dt_ingress.set_autoload(reader == Reader::Dynptr);
    progs
        .dt_egress_linear
        .set_autoload(reader == Reader::Linear);
    progs
        .dt_ingress_linear
        .set_autoload(reader == Reader::Linear);
    progs.dt_egress_classic.set_autoload(!typed);
    progs.dt_ingress_classic.set_autoload(!typed);
    Ok(())
}

fn open_and_load<'obj>(
    storage: &'obj mut MaybeUninit<OpenObject>,
    cfg: &Config<'_>,
    reader: Reader,
) -> Result<DnstraceSkel<'obj>> {
    let mut builder = DnstraceSkelBuilder::default();
    if let Some(btf) = &cfg.btf {
        builder
            .obj_builder
            .btf_custom_path(btf)
            .with_context(|| format!("using --btf {}", btf.display()))?;
    }
    let mut open = builder.open(storage).context("opening the BPF object")?;
    configure(&mut open, cfg, reader)?;
    // With --btf, a load failure is as likely the file's fault (types of
    // another kernel) as the kernel's: say which file was used.
    open.load().with_context(|| match &cfg.btf {
        Some(btf) => format!(
            "loading the BPF programs into the kernel, relocated with the types in --btf {}",
            btf.display()
        ),
        None => "loading the BPF programs into the kernel".to_string(),
    })
}

impl<'obj> Tracer<'obj> {
    /// Loads the programs (dynptr reader first, unless told otherwise) and
    /// attaches them to both tracepoints.
    pub fn start(storage: &'obj mut ObjectStorage, cfg: &Config<'_>) -> Result<Tracer<'obj>> {
        let (skel, reader) = match cfg.reader {
            ReaderChoice::Dynptr => (
                open_and_load(&mut storage.first, cfg, Reader::Dynptr)?,
                Reader::Dynptr,
            ),
            ReaderChoice::Linear => (
                open_and_load(&mut storage.first, cfg, Reader::Linear)?,
                Reader::Linear,
            ),
            ReaderChoice::Tracepoint => (
                open_and_load(&mut storage.first, cfg, Reader::Classic)?,
                Reader::Classic,
            ),
            // Typed tracepoints need the kernel's own BTF; without it only
            // the classic ones, relocated against --btf, can work.
            ReaderChoice::Auto if !kernel_has_btf() => (
                open_and_load(&mut storage.first, cfg, Reader::Classic)?,
                Reader::Classic,
            ),
            ReaderChoice::Auto => match open_and_load(&mut storage.first, cfg, Reader::Dynptr) {
                Ok(skel) => (skel, Reader::Dynptr),
                Err(dynptr_err) => {
                    if cfg.verbose > 0 {
                        eprintln!(
                            "dnstrace: the dynptr reader did not load ({dynptr_err:#}); trying the linear reader"
                        );
                    }
                    let skel =
                        open_and_load(&mut storage.second, cfg, Reader::Linear).map_err(|e| {
                            e.context(format!("(the dynptr reader failed too: {dynptr_err:#})"))
                        })?;
                    (skel, Reader::Linear)
                }
            },
        };
        let mut tracer = Tracer {
            skel,
            links: Vec::new(),
            reader,
            max_pending: cfg.max_pending,
        };
        tracer.attach()?;
        Ok(tracer)
    }

    fn attach(&mut self) -> Result<()> {
        let progs = &self.skel.progs;
        let pair = match self.reader {
            Reader::Dynptr => [
                ("net_dev_queue", &progs.dt_egress),
                ("netif_receive_skb", &progs.dt_ingress),
            ],
            Reader::Linear => [
                ("net_dev_queue", &progs.dt_egress_linear),
                ("netif_receive_skb", &progs.dt_ingress_linear),
            ],
            Reader::Classic => [
                ("net_dev_queue", &progs.dt_egress_classic),
                ("netif_receive_skb", &progs.dt_ingress_classic),
            ],
        };
        for (tp, prog) in pair {
            let link = prog
                .attach()
                .with_context(|| format!("attaching to the tracepoint net/{tp}"))?;
            self.links.push(link);
        }
        Ok(())
    }

    /// Stops watching packets; the maps stay readable.
    pub fn detach(&mut self) {
        self.links.clear();
    }

    /// The last sweep, at exit: open encrypted connections are reported
    /// too, as they stand.
    pub fn final_sweep(&mut self) -> Result<(u64, bool)> {
        if let Some(bss) = self.skel.maps.bss_data.as_deref_mut() {
            bss.dt_sweep_flush = 1;
        }
        self.sweep_once()
    }

    /// Expires queries older than the timeout (they become TIMEOUT records
    /// in the ring buffer) and returns how many queries are still pending
    /// and whether the sweep stopped at its budget (more is due: read the
    /// ring buffer, then sweep again).
    pub fn sweep_once(&self) -> Result<(u64, bool)> {
        self.skel
            .progs
            .dt_sweep
            .test_run(ProgramInput::default())
            .context("running the timeout sweep")?;
        let bss = self
            .skel
            .maps
            .bss_data
            .as_deref()
            .context("the BPF object has no .bss section")?;
        // SAFETY: the sweep program wrote these fields and has returned; a
        // volatile read keeps the compiler from caching older values.
        let (pending, more) = unsafe {
            (
                std::ptr::read_volatile(&bss.dt_last_occupancy),
                std::ptr::read_volatile(&bss.dt_sweep_more) != 0,
            )
        };
        Ok((pending, more))
    }

    /// A sweep, for callers that do not read the ring buffer in between.
    pub fn sweep(&self) -> Result<u64> {
        Ok(self.sweep_once()?.0)
    }

    pub fn counters(&self) -> Result<Counters> {
        let map = &self.skel.maps.dt_stats;
        let mut out = Vec::with_capacity(STATS.len());
        for i in 0..STATS.len() as u32 {
            let per_cpu = map
                .lookup_percpu(&i.to_ne_bytes(), MapFlags::ANY)
                .context("reading the kernel counters")?
                .unwrap_or_default();
            let sum = per_cpu
                .iter()
                .map(|v| {
                    v.get(..8)
                        .map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap()))
                })
                .fold(0u64, u64::wrapping_add);
            out.push(sum);
        }
        Ok(Counters(out))
    }

    pub fn events_map(&self) -> &dyn MapCore {
        &self.skel.maps.dt_events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_layout_matches_the_kernel() {
        assert_eq!(std::mem::size_of::<RawEvent>(), 408);
        assert_eq!(std::mem::size_of::<skel::types::dt_key>(), 44);
        assert_eq!(std::mem::size_of::<skel::types::dt_pending>(), 328);
        // SAFETY: rodata is plain integers; all-zero is a valid value.
        let ro: skel::types::rodata = unsafe { std::mem::zeroed() };
        assert_eq!(ro.dt_ports.len(), MAX_PORTS);
        assert_eq!(ro.dt_ids.len(), MAX_IDS);
    }

    #[test]
    fn counters_follow_the_header() {
        let header = include_str!("bpf/dnstrace.h");
        let body = header
            .split("enum dt_stat {")
            .nth(1)
            .and_then(|s| s.split("};").next())
            .expect("enum dt_stat in dnstrace.h");
        let names: Vec<&str> = body
            .lines()
            .filter_map(|l| l.trim().split([',', ' ']).next())
            .filter(|n| n.starts_with("DT_STAT_") && *n != "DT_STAT_MAX")
            .collect();
        let ours: Vec<&str> = STATS.iter().map(|(c, _, _)| *c).collect();
        assert_eq!(names, ours);
    }

    #[test]
    fn malformed_reasons() {
        let mut c = Counters(vec![0; STATS.len()]);
        c.0[stat_index("malformed_pointer")] = 3;
        c.0[stat_index("queries")] = 9;
        assert_eq!(
            c.malformed(),
            vec![("compression pointer in the question", 3)]
        );
        assert_eq!(c.get("queries"), 9);
    }

    #[test]
    fn evictions_are_the_unaccounted_queries() {
        let mut c = Counters(vec![0; STATS.len()]);
        c.0[stat_index("queries")] = 100;
        c.0[stat_index("answered")] = 70;
        c.0[stat_index("timeouts")] = 10;
        assert_eq!(c.evicted(15), 5);
        assert_eq!(c.evicted(30), 0, "never below zero");
    }
}
