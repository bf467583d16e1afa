//! Who sent a query, by name: the container, the Kubernetes pod and its
//! namespace, or the systemd unit of a host service.
//!
//! From a record's cgroup id (cgroup v2: the id is the inode of the
//! cgroup's directory under a cgroup2 mount), or, on hosts where only
//! cgroup v1 is mounted and the v2 id names nothing, from the sender's
//! `/proc/PID/cgroup`, or from what was learned of its network namespace.
//! The cgroup's path names the runtime, the container id and the pod uid
//! ([`path`]); the node's files name the pod and the container ([`names`]).
//!
//! Everything is cached: a record costs a hash lookup. The caches are
//! bounded and keep a container that exited until room is needed, so a
//! late record still gets its name. What is not known is None, never a
//! guess.

pub mod names;
pub mod path;

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use names::{Names, NodeFiles};
pub use path::{PathInfo, Runtime};

/// Who sent a query. Fields are None when not known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    pub container_id: Option<String>,
    pub container: Option<String>,
    pub pod: Option<String>,
    pub namespace: Option<String>,
    pub unit: Option<String>,
    pub runtime: Option<Runtime>,
    pub pod_uid: Option<String>,
    /// [`Attribution::label`], made once.
    pub(crate) shown: Option<String>,
}

impl Attribution {
    /// As text and the table show it: `namespace/pod`, else the
    /// container's name (or its short id), else the unit.
    pub fn label(&self) -> Option<&str> {
        self.shown.as_deref()
    }

    /// Sets the label from the fields.
    pub fn labelled(mut self) -> Attribution {
        self.shown = self.make_label();
        self
    }

    fn make_label(&self) -> Option<String> {
        if let (Some(ns), Some(pod)) = (&self.namespace, &self.pod) {
            return Some(format!("{ns}/{pod}"));
        }
        if let Some(c) = &self.container {
            return Some(c.clone());
        }
        if let Some(id) = &self.container_id {
            return Some(id[..12.min(id.len())].to_string());
        }
        self.unit.clone()
    }

    /// What a record seen in this one's network namespace, from a process
    /// no longer there, can be said to come from: a pod's namespace holds
    /// several containers (its sandbox's at least), so only the pod; a
    /// container outside a pod, the container.
    fn in_its_netns(self: &Arc<Self>) -> Arc<Attribution> {
        if self.pod_uid.is_none() {
            return self.clone();
        }
        Arc::new(self.pod_only())
    }

    /// Its pod alone, without the container.
    fn pod_only(&self) -> Attribution {
        Attribution {
            pod: self.pod.clone(),
            namespace: self.namespace.clone(),
            pod_uid: self.pod_uid.clone(),
            ..Attribution::default()
        }
        .labelled()
    }

    /// What two attributions have in common: the pod when both are of
    /// one pod; the whole when equal; else nothing.
    fn common(&self, other: &Attribution) -> Option<Attribution> {
        if self == other {
            return Some(self.clone());
        }
        if self.pod_uid.is_some() && self.pod_uid == other.pod_uid {
            return Some(self.pod_only());
        }
        None
    }
}

/// A map of at most `cap` entries; beyond, the least recently used half
/// goes. Lookups mark entries used.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, (V, u64), foldhash::fast::RandomState>,
    tick: u64,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::default(),
            tick: 0,
            cap: cap.max(2),
        }
    }

    fn get(&mut self, k: &K) -> Option<&V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(k).map(|e| {
            e.1 = tick;
            &e.0
        })
    }

    fn insert(&mut self, k: K, v: V) {
        if self.map.len() >= self.cap && !self.map.contains_key(&k) {
            let mut ticks: Vec<u64> = self.map.values().map(|e| e.1).collect();
            let mid = ticks.len() / 2;
            let (_, median, _) = ticks.select_nth_unstable(mid);
            let median = *median;
            self.map.retain(|_, e| e.1 > median);
        }
        self.tick += 1;
        self.map.insert(k, (v, self.tick));
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// A cached answer, and when it may be asked again: an answer missing a
/// name the node's files may soon have (a container just started) is
/// asked again after [`Settings::retry`].
#[derive(Debug, Clone)]
struct Answer {
    who: Option<Arc<Attribution>>,
    /// CLOCK_MONOTONIC nanoseconds.
    retry_at: Option<u64>,
}

/// Where to look and how often.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the node's /var/log and runtime state are (`/` on the host,
    /// `/host` in a container that mounts them there).
    pub root: PathBuf,
    /// The host's /proc.
    pub proc: PathBuf,
    /// cgroup2 mounts to index; None: those in /proc/self/mountinfo.
    pub cgroup2: Option<Vec<PathBuf>>,
    /// Entries per cache.
    pub capacity: usize,
    /// Least time between two listings of the same thing (the cgroup
    /// tree, kubelet's logs), however many misses ask for one.
    pub rescan: Duration,
    /// When to ask again about an incomplete answer, and how long a pid's
    /// answer stands (pids are reused).
    pub retry: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            root: PathBuf::from("/"),
            proc: PathBuf::from("/proc"),
            cgroup2: None,
            capacity: 4096,
            rescan: Duration::from_secs(1),
            retry: Duration::from_secs(2),
        }
    }
}

/// Rate limit for a listing.
#[derive(Debug, Default)]
struct Scan {
    last: Option<u64>,
}

impl Scan {
    fn due(&mut self, now: u64, every: Duration) -> bool {
        if self.last.is_some_and(|l| now < l.saturating_add(ns(every))) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What is known of a network namespace from the processes seen in it.
#[derive(Debug, Clone)]
enum NetnsSeen {
    /// All of them had this in common.
    Same(Arc<Attribution>),
    /// Processes of different pods or none: says nothing.
    Mixed,
    /// No process in it at the last listing: not listed again for it
    /// until then (CLOCK_MONOTONIC ns). A namespace that only forwards,
    /// or a fabricated one, would otherwise have /proc listed every
    /// `rescan`.
    Empty(u64),
}

/// How many `rescan`s an empty namespace is not listed again for.
const EMPTY_FOR_RESCANS: u64 = 30;

/// Resolves records to attributions; see the module's doc.
#[derive(Debug)]
pub struct Resolver {
    settings: Settings,
    files: NodeFiles,
    by_cgroup: Bounded<u64, Answer>,
    /// With when it was asked (a pid's answer stands [`Settings::retry`]),
    /// and whether the process was there to read.
    by_pid: Bounded<u32, (Answer, u64, bool)>,
    by_path: Bounded<String, Answer>,
    by_netns: Bounded<u32, NetnsSeen>,
    /// Listings of /proc, to learn what runs in each namespace.
    proc_scan: Scan,
    /// cgroup id → path, from the last listing of the cgroup2 mounts.
    cgroup_paths: HashMap<u64, String>,
    cgroup_scan: Scan,
    /// Ids of cgroup2 roots: every socket's on a v1 host; names nothing.
    cgroup_roots: Vec<u64>,
    pods: HashMap<String, (String, String)>,
    pods_scan: Scan,
    container_logs: HashMap<String, (String, String, String)>,
    storage_names: HashMap<String, String>,
    logs_scan: Scan,
    /// The init network namespace: every host process's, so no process
    /// in it speaks for another.
    host_netns: Option<u32>,
    /// CLOCK_MONOTONIC nanoseconds of the resolution under way.
    now: u64,
    /// [`Settings::retry`] in nanoseconds.
    retry_ns: u64,
}

fn inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// cgroup2 mount points, from a mountinfo text.
fn cgroup2_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            let mount = left.split(' ').nth(4)?;
            (fstype == "cgroup2").then(|| PathBuf::from(unescape_mountinfo(mount)))
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path in /proc/PID/cgroup that says the most: a v2 path (`0::`)
/// when it is not the root, then name=systemd's, then any other v1
/// hierarchy's; a container or pod before a unit.
pub fn best_cgroup_path(proc_cgroup: &str) -> Option<String> {
    let mut lines: Vec<(u8, &str)> = proc_cgroup
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (hier, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
            let rank = match (hier, ctrl) {
                ("0", "") => 0,
                (_, "name=systemd") => 1,
                _ => 2,
            };
            (path != "/").then_some((rank, path))
        })
        .collect();
    lines.sort_by_key(|(rank, _)| *rank);
    let infos: Vec<(&str, PathInfo)> = lines.iter().map(|(_, p)| (*p, path::parse(p))).collect();
    infos
        .iter()
        .find(|(_, i)| i.container_id.is_some() || i.pod_uid.is_some())
        .or_else(|| infos.iter().find(|(_, i)| i.unit.is_some()))
        .map(|(p, _)| p.to_string())
}

impl Resolver {
    pub fn new(settings: Settings) -> Resolver {
        let cap = settings.capacity;
        let host_netns = inode(&settings.proc.join("1/ns/net"));
        Resolver {
            files: NodeFiles::new(&settings.root),
            by_cgroup: Bounded::new(cap),
            by_pid: Bounded::new(cap),
            by_path: Bounded::new(cap),
            by_netns: Bounded::new(cap),
            proc_scan: Scan::default(),
            cgroup_paths: HashMap::new(),
            cgroup_scan: Scan::default(),
            cgroup_roots: Vec::new(),
            pods: HashMap::new(),
            pods_scan: Scan::default(),
            container_logs: HashMap::new(),
            storage_names: HashMap::new(),
            logs_scan: Scan::default(),
            host_netns: host_netns.and_then(|i| u32::try_from(i).ok()),
            now: 0,
            retry_ns: ns(settings.retry),
            settings,
        }
    }

    /// Who sent a record's query: from its cgroup id, else its pid, else
    /// its network namespace. `netns` is the namespace where the query
    /// was seen: the sender's when `pid` is known.
    pub fn resolve(
        &mut self,
        cgroup_id: Option<u64>,
        pid: Option<u32>,
        netns: u32,
    ) -> Option<Arc<Attribution>> {
        self.resolve_at(cgroup_id, pid, netns, crate::resolv::mono_now_ns())
    }

    /// [`Resolver::resolve`] at `now` (CLOCK_MONOTONIC nanoseconds): a
    /// record's own time, which spares reading the clock per record. Only
    /// the ages of answers and of listings depend on it.
    pub fn resolve_at(
        &mut self,
        cgroup_id: Option<u64>,
        pid: Option<u32>,
        netns: u32,
        now: u64,
    ) -> Option<Arc<Attribution>> {
        self.now = now;
        if let Some(id) = cgroup_id {
            if let Some(who) = self.by_cgroup_id(id) {
                return Some(who);
            }
        }
        if let Some(pid) = pid {
            // The sender itself was read: what it says stands, even
            // nothing (a host process in a container's namespace).
            if let Some(who) = self.by_pid(pid, netns) {
                return who;
            }
        }
        let now = self.now;
        match self.by_netns.get(&netns) {
            Some(NetnsSeen::Same(who)) => return Some(who.clone()),
            Some(NetnsSeen::Empty(until)) if now < *until => return None,
            _ => {}
        }
        // The sender is gone (or unknown): what do the processes still
        // in its namespace have in common? One listing of /proc learns
        // every namespace, at most once per `rescan`, however many
        // namespaces are asked about.
        if Some(netns) != self.host_netns && self.proc_scan.due(now, self.settings.rescan) {
            self.scan_processes();
            match self.by_netns.get(&netns) {
                Some(NetnsSeen::Same(who)) => return Some(who.clone()),
                Some(NetnsSeen::Mixed) => {}
                None | Some(NetnsSeen::Empty(_)) => {
                    let quiet = ns(self.settings.rescan).saturating_mul(EMPTY_FOR_RESCANS);
                    self.by_netns
                        .insert(netns, NetnsSeen::Empty(now.saturating_add(quiet)));
                }
            }
        }
        None
    }

    /// Learns from every process (a listing of /proc) what runs in its
    /// network namespace.
    fn scan_processes(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.settings.proc) else {
            return;
        };
        let pids: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|e| e.path())
            .collect();
        for dir in pids {
            let Some(netns) = inode(&dir.join("ns/net")).and_then(|i| u32::try_from(i).ok()) else {
                continue;
            };
            if Some(netns) == self.host_netns {
                continue;
            }
            let path = std::fs::read_to_string(dir.join("cgroup"))
                .ok()
                .and_then(|text| best_cgroup_path(&text));
            let answer = match path {
                Some(p) => self.by_path(&p),
                None => Answer {
                    who: None,
                    retry_at: None,
                },
            };
            self.learn_netns(netns, answer.who.as_ref());
        }
    }

    fn by_cgroup_id(&mut self, id: u64) -> Option<Arc<Attribution>> {
        let now = self.now;
        if let Some(a) = self.by_cgroup.get(&id) {
            if a.retry_at.is_none_or(|at| now < at) {
                return a.who.clone();
            }
        }
        if self.cgroup_roots.contains(&id) {
            return None;
        }
        if !self.cgroup_paths.contains_key(&id) && self.cgroup_scan.due(now, self.settings.rescan) {
            self.index_cgroups();
            if self.cgroup_roots.contains(&id) {
                return None;
            }
        }
        let answer = match self.cgroup_paths.get(&id).cloned() {
            Some(path) => self.by_path(&path),
            // Not (yet) in the tree: ask again at the next listing.
            None => Answer {
                who: None,
                retry_at: Some(now.saturating_add(ns(self.settings.rescan))),
            },
        };
        let who = answer.who.clone();
        self.by_cgroup.insert(id, answer);
        who
    }

    /// Lists every cgroup under the cgroup2 mounts: id (the directory's
    /// inode) → path from the mount's root. Paths of cgroups that went
    /// away are kept: a late record may still name one.
    fn index_cgroups(&mut self) {
        let mounts = match &self.settings.cgroup2 {
            Some(m) => m.clone(),
            None => std::fs::read_to_string(self.settings.proc.join("self/mountinfo"))
                .map(|t| cgroup2_mounts(&t))
                .unwrap_or_default(),
        };
        if self.cgroup_paths.len() > 4 * self.settings.capacity {
            self.cgroup_paths.clear();
        }
        for mount in mounts {
            let Some(root) = inode(&mount) else { continue };
            if !self.cgroup_roots.contains(&root) {
                self.cgroup_roots.push(root);
            }
            let mut stack = vec![(mount.clone(), String::new())];
            while let Some((dir, rel)) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    let Ok(ft) = e.file_type() else { continue };
                    if !ft.is_dir() {
                        continue;
                    }
                    let Some(name) = e.file_name().to_str().map(String::from) else {
                        continue;
                    };
                    let child = format!("{rel}/{name}");
                    use std::os::unix::fs::DirEntryExt;
                    // One cgroup under two mounts (the host's tree, and a
                    // container's own, rooted at its cgroup): the path
                    // from the higher root says more.
                    let known = self.cgroup_paths.entry(e.ino()).or_default();
                    if child.len() > known.len() {
                        known.clone_from(&child);
                    }
                    stack.push((e.path(), child));
                }
            }
        }
    }

    /// What the process `pid` says of itself; None when it is gone (or
    /// is another process now).
    fn by_pid(&mut self, pid: u32, netns: u32) -> Option<Option<Arc<Attribution>>> {
        if let Some((a, at, read)) = self.by_pid.get(&pid) {
            let (now, ttl) = (self.now, self.retry_ns);
            if now < at.saturating_add(ttl) && a.retry_at.is_none_or(|r| now < r) {
                return read.then(|| a.who.clone());
            }
        }
        let dir = self.settings.proc.join(pid.to_string());
        // A pid that now belongs to another namespace is another process.
        let same_process = inode(&dir.join("ns/net")) == Some(u64::from(netns));
        let path = if same_process {
            std::fs::read_to_string(dir.join("cgroup"))
                .ok()
                .and_then(|text| best_cgroup_path(&text))
        } else {
            None
        };
        let answer = match path {
            Some(p) => self.by_path(&p),
            None => Answer {
                who: None,
                retry_at: None,
            },
        };
        if same_process {
            self.learn_netns(netns, answer.who.as_ref());
        }
        let who = answer.who.clone();
        self.by_pid.insert(pid, (answer, self.now, same_process));
        same_process.then_some(who)
    }

    /// What a process seen in `netns` says of it; nothing for the host's.
    fn learn_netns(&mut self, netns: u32, who: Option<&Arc<Attribution>>) {
        if Some(netns) == self.host_netns {
            return;
        }
        let who = who.map(Attribution::in_its_netns);
        let who = who.as_ref();
        let seen = match (self.by_netns.get(&netns), who) {
            (_, None) => NetnsSeen::Mixed,
            (None | Some(NetnsSeen::Empty(_)), Some(w)) => NetnsSeen::Same(w.clone()),
            (Some(NetnsSeen::Mixed), _) => NetnsSeen::Mixed,
            (Some(NetnsSeen::Same(old)), Some(w)) => {
                if Arc::ptr_eq(old, w) || **old == **w {
                    return;
                }
                match old.common(w) {
                    Some(c) => NetnsSeen::Same(Arc::new(c)),
                    None => NetnsSeen::Mixed,
                }
            }
        };
        self.by_netns.insert(netns, seen);
    }

    fn by_path(&mut self, path: &str) -> Answer {
        let now = self.now;
        if let Some(a) = self.by_path.get(&path.to_string()) {
            if a.retry_at.is_none_or(|at| now < at) {
                return a.clone();
            }
        }
        let info = path::parse(path);
        let answer = if info.is_empty() {
            Answer {
                who: None,
                retry_at: None,
            }
        } else {
            let (who, complete) = self.name(info);
            Answer {
                who: Some(Arc::new(who)),
                retry_at: (!complete).then(|| self.now.saturating_add(ns(self.settings.retry))),
            }
        };
        self.by_path.insert(path.to_string(), answer.clone());
        answer
    }

    /// Names what a path says, from the node's files; complete when each
    /// name that should exist was found.
    fn name(&mut self, info: PathInfo) -> (Attribution, bool) {
        let mut names = Names::default();
        if let Some(id) = &info.container_id {
            names = self.files.container(id);
            if names.container.is_none() && !self.container_logs.contains_key(id) {
                self.refresh_logs();
            }
            if let Some((ns, pod, c)) = self.container_logs.get(id) {
                names = names.or(Names {
                    container: Some(c.clone()),
                    pod: Some(pod.clone()),
                    namespace: Some(ns.clone()),
                    pod_uid: None,
                });
            }
            if let Some(n) = self.storage_names.get(id) {
                names = names.or(Names {
                    container: Some(n.clone()),
                    ..Names::default()
                });
            }
        }
        let pod_uid = info.pod_uid.clone().or(names.pod_uid.clone());
        if let Some(uid) = &pod_uid {
            if !self.pods.contains_key(uid) && self.pods_scan.due(self.now, self.settings.rescan) {
                self.pods = self.files.pods();
            }
            // The uid in the path is kubelet's: its log directory is the
            // pod's, whatever a runtime's labels say.
            if let Some((ns, pod)) = self.pods.get(uid) {
                names.namespace = Some(ns.clone());
                names.pod = Some(pod.clone());
            }
        }
        let complete = (info.container_id.is_none() || names.container.is_some())
            && (pod_uid.is_none() || names.pod.is_some());
        let who = Attribution {
            container_id: info.container_id,
            container: names.container,
            pod: names.pod,
            namespace: names.namespace,
            unit: info.unit,
            runtime: info.runtime,
            pod_uid,
            shown: None,
        }
        .labelled();
        (who, complete)
    }

    fn refresh_logs(&mut self) {
        if self.logs_scan.due(self.now, self.settings.rescan) {
            self.container_logs = self.files.container_logs();
            self.storage_names = self.files.storage_names();
        }
    }

    /// Entries in the caches, for tests and -v.
    pub fn cached(&self) -> usize {
        self.by_cgroup.len() + self.by_pid.len() + self.by_path.len()
    }
}

#[cfg(test)]
mod tests;
