//! Loading the kernel program with its settings, attaching it, reading its
//! counters, and the periodic sweep that turns unanswered queries into
//! TIMEOUT records.

use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject, ProgramInput};

use super::abi::{MAX_IDS, MAX_PORTS, STAT_COUNT};
use super::{Counters, KernelFilter};

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

use skel::{DnstraceSkel, DnstraceSkelBuilder, OpenDnstraceSkel};

/// Which packet reader to load (`--reader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderChoice {
    /// The dynptr reader where the kernel allows it, else the linear one;
    /// classic tracepoints on a kernel without its own BTF.
    Auto,
    Dynptr,
    Linear,
    Tracepoint,
}

/// How the kernel program reads packet bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Dynptr,
    Linear,
    /// Classic (untyped) tracepoints, for kernels without BTF of their own.
    Tracepoint,
}

/// Whether the running kernel exposes its own BTF, which typed (tp_btf)
/// tracepoints need.
pub fn kernel_has_btf() -> bool {
    std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
}

impl Reader {
    /// As the start-up line names it.
    pub fn name(self) -> &'static str {
        match self {
            Reader::Dynptr => "dynptr reader",
            Reader::Linear => "linear reader",
            Reader::Tracepoint => "classic tracepoints",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Reader::Dynptr => "dynptr reader (linear data and page fragments)",
            Reader::Linear => "linear reader (kernel lacks bpf_dynptr_from_skb for tracing; payloads in page fragments are skipped)",
            Reader::Tracepoint => "classic tracepoints with the linear reader (no kernel BTF: fields read through probes relocated against --btf; plain UDP DNS only)",
        }
    }
}

/// What the loader needs to know (built from the command line).
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub filter: KernelFilter,
    pub announcements: bool,
    pub timeout: Duration,
    pub max_pending: u32,
    pub btf: Option<PathBuf>,
    pub reader: ReaderChoice,
    pub verbose: u8,
}

/// What a sweep saw and left: the queries pending when it walked the map,
/// those it left there (not expired) and the NAT twins it left, and
/// whether it stopped at its budget with more to expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    pub pending: u64,
    pub queries_left: u64,
    pub twins_left: u64,
    pub more: bool,
}

/// Storage the loaded objects borrow from: the maps' object, and each
/// reader's two halves (a second reader when the first did not load).
pub struct ObjectStorage {
    maps: MaybeUninit<OpenObject>,
    egress: MaybeUninit<OpenObject>,
    ingress: MaybeUninit<OpenObject>,
    egress_again: MaybeUninit<OpenObject>,
    ingress_again: MaybeUninit<OpenObject>,
}

impl Default for ObjectStorage {
    fn default() -> Self {
        ObjectStorage {
            maps: MaybeUninit::uninit(),
            egress: MaybeUninit::uninit(),
            ingress: MaybeUninit::uninit(),
            egress_again: MaybeUninit::uninit(),
            ingress_again: MaybeUninit::uninit(),
        }
    }
}

/// The loaded and attached programs.
///
/// Three instances of the one object: the first makes every map and loads
/// no program; the other two use its maps and load one tracepoint's
/// program each, at the same time on two threads. Start-up is the
/// verifier's time, and the two programs take about as long each.
pub struct Tracer<'obj> {
    /// First, so that the programs are detached before the objects close.
    links: Vec<Link>,
    /// The maps. Its global sections are the ones user space reads and
    /// writes (the halves' own copies of them are not the maps).
    maps: DnstraceSkel<'obj>,
    /// The egress program and the timeout sweep.
    egress: DnstraceSkel<'obj>,
    /// The ingress program.
    ingress: DnstraceSkel<'obj>,
    pub reader: Reader,
    pub max_pending: u32,
}

/// Which programs one instance of the object loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// None: it makes the maps.
    Maps,
    /// The egress program and the sweep.
    Egress,
    Ingress,
}

/// The settings, into the maps' instance before it makes them.
fn configure(open: &mut OpenDnstraceSkel<'_>, cfg: &LoaderConfig) -> Result<()> {
    let ro = open
        .maps
        .rodata_data
        .as_deref_mut()
        .context("the BPF object has no read-only data section")?;
    let f = &cfg.filter;
    for (slot, port) in ro.dt_ports.iter_mut().zip(&f.ports) {
        *slot = *port;
    }
    ro.dt_nports = f.ports.len().min(MAX_PORTS) as u32;
    for (slot, id) in ro.dt_ids.iter_mut().zip(&f.ids) {
        *slot = *id;
    }
    ro.dt_nids = f.ids.len().min(MAX_IDS) as u32;
    ro.dt_min_latency_ns = f.min_latency_ns;
    ro.dt_timeout_ns = cfg.timeout.as_nanos() as u64;
    ro.dt_rcode_mask = f.rcode_mask;
    ro.dt_show_announcements = cfg.announcements;

    open.maps
        .dt_pending
        .set_max_entries(cfg.max_pending)
        .context("sizing the pending-query map")?;
    Ok(())
}

/// Loads only the part's programs of the chosen reader: a kernel that
/// cannot verify the others must not be asked to.
fn choose_programs(open: &mut OpenDnstraceSkel<'_>, reader: Reader, part: Part) {
    let progs = &mut open.progs;
    let each = [
        (&mut progs.dt_egress, Part::Egress, Reader::Dynptr),
        (&mut progs.dt_ingress, Part::Ingress, Reader::Dynptr),
        (&mut progs.dt_egress_linear, Part::Egress, Reader::Linear),
        (&mut progs.dt_ingress_linear, Part::Ingress, Reader::Linear),
        (
            &mut progs.dt_egress_classic,
            Part::Egress,
            Reader::Tracepoint,
        ),
        (
            &mut progs.dt_ingress_classic,
            Part::Ingress,
            Reader::Tracepoint,
        ),
    ];
    for (prog, its_part, its_reader) in each {
        prog.set_autoload(part == its_part && reader == its_reader);
    }
    progs.dt_sweep.set_autoload(part == Part::Egress);
}

fn open<'obj>(
    storage: &'obj mut MaybeUninit<OpenObject>,
    cfg: &LoaderConfig,
) -> Result<OpenDnstraceSkel<'obj>> {
    let mut builder = DnstraceSkelBuilder::default();
    if let Some(btf) = &cfg.btf {
        builder
            .obj_builder
            .btf_custom_path(btf)
            .with_context(|| format!("using --btf {}", btf.display()))?;
    }
    builder.open(storage).context("opening the BPF object")
}

fn load<'obj>(open: OpenDnstraceSkel<'obj>, cfg: &LoaderConfig) -> Result<DnstraceSkel<'obj>> {
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

/// Makes every map, loading no program.
fn make_maps<'obj>(
    storage: &'obj mut MaybeUninit<OpenObject>,
    cfg: &LoaderConfig,
) -> Result<DnstraceSkel<'obj>> {
    let mut open = open(storage, cfg)?;
    configure(&mut open, cfg)?;
    choose_programs(&mut open, Reader::Dynptr, Part::Maps);
    load(open, cfg)
}

/// An instance for one part of `reader`'s programs, on `maps`'s maps.
fn open_part<'obj>(
    storage: &'obj mut MaybeUninit<OpenObject>,
    cfg: &LoaderConfig,
    maps: &DnstraceSkel<'_>,
    reader: Reader,
    part: Part,
) -> Result<OpenDnstraceSkel<'obj>> {
    let mut open = open(storage, cfg)?;
    choose_programs(&mut open, reader, part);
    for mut map in open.open_object_mut().maps_mut() {
        let name = map.name().to_owned();
        let made = maps
            .object()
            .maps()
            .find(|m| m.name() == name)
            .with_context(|| format!("the map {name:?} was not made"))?;
        map.reuse_fd(made.as_fd())
            .with_context(|| format!("sharing the map {name:?}"))?;
    }
    Ok(open)
}

/// A half moved to the thread that loads it, and its result back.
struct Moved<T>(T);

// SAFETY: libbpf's objects are not tied to a thread. A half is opened
// here, moved to the one thread that loads it, and moved back once that
// thread has ended: no two threads ever use one object. (Its maps are
// duplicated descriptors of the maps' instance, which no thread touches
// meanwhile.)
unsafe impl Send for Moved<OpenDnstraceSkel<'_>> {}
unsafe impl Send for Moved<Result<DnstraceSkel<'_>>> {}

/// Loads `reader`'s two halves on `maps`'s maps, the ingress one on a
/// thread of its own.
fn load_halves<'obj>(
    egress: &'obj mut MaybeUninit<OpenObject>,
    ingress: &'obj mut MaybeUninit<OpenObject>,
    cfg: &LoaderConfig,
    maps: &DnstraceSkel<'_>,
    reader: Reader,
) -> Result<(DnstraceSkel<'obj>, DnstraceSkel<'obj>)> {
    let egress = open_part(egress, cfg, maps, reader, Part::Egress)?;
    let ingress = Moved(open_part(ingress, cfg, maps, reader, Part::Ingress)?);
    std::thread::scope(|s| {
        let other = s.spawn(move || {
            let ingress = ingress;
            Moved(load(ingress.0, cfg))
        });
        let egress = load(egress, cfg);
        let ingress = match other.join() {
            Ok(loaded) => loaded.0,
            Err(_) => Err(anyhow::anyhow!(
                "loading the BPF programs into the kernel: the loading thread panicked"
            )),
        };
        match (egress, ingress) {
            (Ok(egress), Ok(ingress)) => Ok((egress, ingress)),
            (Err(e), Ok(_)) => Err(e.context("the egress program")),
            (Ok(_), Err(e)) => Err(e.context("the ingress program")),
            (Err(e), Err(other)) => Err(e.context(format!(
                "the egress program (the ingress one too: {other:#})"
            ))),
        }
    })
}

impl<'obj> Tracer<'obj> {
    /// Loads the programs (dynptr reader first, unless told otherwise) and
    /// attaches them to both tracepoints.
    pub fn start(storage: &'obj mut ObjectStorage, cfg: &LoaderConfig) -> Result<Tracer<'obj>> {
        let maps = make_maps(&mut storage.maps, cfg)?;
        let first = match cfg.reader {
            ReaderChoice::Dynptr => Reader::Dynptr,
            ReaderChoice::Linear => Reader::Linear,
            ReaderChoice::Tracepoint => Reader::Tracepoint,
            ReaderChoice::Auto if kernel_has_btf() => Reader::Dynptr,
            // Typed tracepoints need the kernel's own BTF; without it only
            // the classic ones, relocated against --btf, can work.
            ReaderChoice::Auto => Reader::Tracepoint,
        };
        let halves = load_halves(&mut storage.egress, &mut storage.ingress, cfg, &maps, first);
        let ((egress, ingress), reader) = match halves {
            Ok(halves) => (halves, first),
            Err(dynptr_err) if cfg.reader == ReaderChoice::Auto && first == Reader::Dynptr => {
                if cfg.verbose > 0 {
                    eprintln!(
                        "dnstrace: the dynptr reader did not load ({dynptr_err:#}); trying the linear reader"
                    );
                }
                let halves = load_halves(
                    &mut storage.egress_again,
                    &mut storage.ingress_again,
                    cfg,
                    &maps,
                    Reader::Linear,
                )
                .map_err(|e| {
                    e.context(format!("(the dynptr reader failed too: {dynptr_err:#})"))
                })?;
                (halves, Reader::Linear)
            }
            Err(e) => return Err(e),
        };
        let mut tracer = Tracer {
            maps,
            egress,
            ingress,
            links: Vec::new(),
            reader,
            max_pending: cfg.max_pending,
        };
        tracer.attach()?;
        Ok(tracer)
    }

    fn attach(&mut self) -> Result<()> {
        let (egress, ingress) = (&self.egress.progs, &self.ingress.progs);
        let pair = match self.reader {
            Reader::Dynptr => [
                ("net_dev_queue", &egress.dt_egress),
                ("netif_receive_skb", &ingress.dt_ingress),
            ],
            Reader::Linear => [
                ("net_dev_queue", &egress.dt_egress_linear),
                ("netif_receive_skb", &ingress.dt_ingress_linear),
            ],
            Reader::Tracepoint => [
                ("net_dev_queue", &egress.dt_egress_classic),
                ("netif_receive_skb", &ingress.dt_ingress_classic),
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

    /// The programs attached now (0 once detached).
    pub fn attached_programs(&self) -> u32 {
        self.links.len() as u32
    }

    /// Stops watching packets; the maps stay readable.
    pub fn detach(&mut self) {
        self.links.clear();
    }

    /// Expires queries older than the timeout: they become TIMEOUT records
    /// in the ring buffer. A sweep stops at a budget; when `more` is set,
    /// read the ring buffer and sweep again.
    pub fn expire(&self) -> Result<Sweep> {
        self.egress
            .progs
            .dt_sweep
            .test_run(ProgramInput::default())
            .context("running the timeout sweep")?;
        let bss = self
            .maps
            .maps
            .bss_data
            .as_deref()
            .context("the BPF object has no .bss section")?;
        // SAFETY: the sweep program wrote these fields and has returned; a
        // volatile read keeps the compiler from caching older values.
        let sweep = unsafe {
            Sweep {
                pending: std::ptr::read_volatile(&bss.dt_last_occupancy),
                queries_left: std::ptr::read_volatile(&bss.dt_last_queries_left),
                twins_left: std::ptr::read_volatile(&bss.dt_last_twins_left),
                more: std::ptr::read_volatile(&bss.dt_sweep_more) != 0,
            }
        };
        Ok(sweep)
    }

    /// The sweep at exit: open encrypted connections are reported too, as
    /// they stand.
    pub fn expire_at_exit(&mut self) -> Result<Sweep> {
        if let Some(bss) = self.maps.maps.bss_data.as_deref_mut() {
            bss.dt_sweep_flush = 1;
        }
        self.expire()
    }

    pub fn counters(&self) -> Result<Counters> {
        let map = &self.maps.maps.dt_stats;
        let mut out = Vec::with_capacity(STAT_COUNT);
        for i in 0..STAT_COUNT as u32 {
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
            out.push((i as usize, sum));
        }
        Ok(out.into_iter().collect())
    }

    pub fn events_map(&self) -> &dyn MapCore {
        &self.maps.maps.dt_events
    }
}
