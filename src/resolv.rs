//! The resolver settings a process or network namespace has: its
//! resolv.conf's `nameserver`, `search`, `ndots`, `timeout` and `attempts`,
//! parsed as glibc reads it, and where to find the file.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;

/// What of a resolv.conf decides which queries one call sends, and to
/// which servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// The `nameserver` lines glibc uses: the first three; the loopback
    /// address when there is none.
    pub nameservers: Vec<IpAddr>,
    /// The search list, in order, without trailing dots, lowercase.
    pub search: Vec<String>,
    pub ndots: u32,
    /// Seconds before the resolver resends a query.
    pub timeout_s: u32,
    pub attempts: u32,
}

impl Default for ResolvConf {
    /// glibc's defaults: the loopback server, no search list, ndots 1,
    /// 5 s, 2 attempts.
    fn default() -> Self {
        ResolvConf {
            nameservers: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            search: Vec::new(),
            ndots: 1,
            timeout_s: 5,
            attempts: 2,
        }
    }
}

impl ResolvConf {
    /// Parses a resolv.conf as glibc does: the first three `nameserver`
    /// lines (an IPv6 address may carry a `%scope`); the last `search` or
    /// `domain` line wins; `options` accumulate, with glibc's caps (ndots
    /// 15, timeout 30, attempts 5).
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        let mut nameservers = Vec::new();
        for line in text.lines() {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword {
                "nameserver" if nameservers.len() < 3 => {
                    let addr = words.next().unwrap_or("");
                    let addr = addr.split('%').next().unwrap_or(addr);
                    // A mapped IPv4 address goes out as IPv4.
                    if let Ok(ip) = addr.parse::<IpAddr>() {
                        nameservers.push(ip.to_canonical());
                    }
                }
                "search" | "domain" => {
                    conf.search = words
                        .take(32)
                        .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                        .filter(|d| !d.is_empty())
                        .collect();
                }
                "options" => {
                    for opt in words {
                        let num = |prefix: &str| {
                            opt.strip_prefix(prefix).and_then(|v| v.parse::<u32>().ok())
                        };
                        if let Some(n) = num("ndots:") {
                            conf.ndots = n.min(15);
                        } else if let Some(n) = num("timeout:") {
                            conf.timeout_s = n.clamp(1, 30);
                        } else if let Some(n) = num("attempts:") {
                            conf.attempts = n.clamp(1, 5);
                        }
                    }
                }
                _ => {}
            }
        }
        if !nameservers.is_empty() {
            conf.nameservers = nameservers;
        }
        conf
    }

    /// Whether `name` is one of the names a resolver tries for `asked`,
    /// in any case: `asked` itself, or `asked` under one of the search
    /// domains (ndots decides only the order, which no caller needs).
    /// Tested in place, without building the names: this is asked of
    /// every open lookup a query may join.
    pub fn tries(&self, asked: &str, name: &str) -> bool {
        let (asked, name) = (asked.as_bytes(), name.as_bytes());
        if name.eq_ignore_ascii_case(asked) {
            return true;
        }
        let n = asked.len();
        if name.len() <= n || name[n] != b'.' || !name[..n].eq_ignore_ascii_case(asked) {
            return false;
        }
        let rest = &name[n + 1..];
        self.search
            .iter()
            .any(|d| rest.eq_ignore_ascii_case(d.as_bytes()))
    }

    /// The name the application asked, given the first query of a call:
    /// without the search domain it ends with, when the rest is short
    /// enough (fewer dots than ndots) for the search list to come first.
    pub fn asked_name(&self, qname: &str) -> String {
        let lower = qname.to_ascii_lowercase();
        for d in &self.search {
            if let Some(rest) = lower.strip_suffix(d.as_str()) {
                if let Some(rest) = rest.strip_suffix('.') {
                    if !rest.is_empty() && dots(rest) < self.ndots {
                        return qname[..rest.len()].to_string();
                    }
                }
            }
        }
        qname.to_string()
    }
}

/// Dots in a presentation-form name (escaped dots inside labels are
/// written `\.` and not counted).
pub fn dots(name: &str) -> u32 {
    let mut n = 0;
    let mut escaped = false;
    for b in name.bytes() {
        match b {
            b'\\' if !escaped => escaped = true,
            b'.' if !escaped => n += 1,
            _ => escaped = false,
        }
    }
    n
}

/// Where the resolver settings of a query come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchSource {
    /// The querying process's /etc/resolv.conf.
    Process,
    /// The network namespace's: /etc/netns/NAME/resolv.conf for a named
    /// one, /etc/resolv.conf for dnstrace's own.
    Netns,
    /// Neither was readable: the search list is inferred from the names.
    Inferred,
}

impl SearchSource {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchSource::Process => "process",
            SearchSource::Netns => "netns",
            SearchSource::Inferred => "inferred",
        }
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock of the records.
pub fn mono_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Finds resolver settings by process or namespace.
pub trait ResolvSource {
    /// The settings for a query from `pid` (when known) seen in network
    /// namespace `netns` (its inode number), and where they came from.
    fn lookup(&mut self, pid: Option<u32>, netns: u32) -> Option<(Rc<ResolvConf>, SearchSource)>;

    /// [`ResolvSource::lookup`] at `now_ns` (CLOCK_MONOTONIC, a record's
    /// time): how fresh a reading is, judged without reading the clock
    /// for every transaction.
    fn lookup_at(
        &mut self,
        pid: Option<u32>,
        netns: u32,
        now_ns: u64,
    ) -> Option<(Rc<ResolvConf>, SearchSource)> {
        let _ = now_ns;
        self.lookup(pid, netns)
    }
}

/// Readings by pid or namespace, with when each was read
/// (CLOCK_MONOTONIC ns). Keyed with foldhash: it is looked up for most
/// transactions (lookups, security signals), where SipHash cost more than
/// the rest of the lookup.
type Cache = HashMap<u32, (u64, Option<Rc<ResolvConf>>), foldhash::fast::RandomState>;

/// Readings kept in each of the caches below.
const CACHE: usize = 1024;

/// Reads the files of the running system, and remembers what it read
/// for a while ([`FRESH`]): a short-lived process (getent) is often gone
/// by the time its first answer is read, but the next query of the same
/// call is not; and a file edited, or a pid reused, is read again soon.
#[derive(Default)]
pub struct SystemResolv {
    by_pid: Cache,
    by_netns: Cache,
}

/// How long a reading is trusted, in nanoseconds.
const FRESH_NS: u64 = 10_000_000_000;

fn read(path: &str) -> Option<Rc<ResolvConf>> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| Rc::new(ResolvConf::parse(&t)))
}

/// The resolv.conf of the network namespace with inode `netns`: a named
/// namespace's (`ip netns`), or dnstrace's own namespace's.
fn netns_conf(netns: u32) -> Option<Rc<ResolvConf>> {
    let ino = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| m.ino());
    if netns == 0 {
        return None;
    }
    // The host's namespace: the host's file, as its init process sees it
    // (dnstrace's own /etc may be a container's).
    if ino(std::path::Path::new("/proc/1/ns/net")) == Some(u64::from(netns)) {
        return read("/proc/1/root/etc/resolv.conf");
    }
    if ino(std::path::Path::new("/proc/self/ns/net")) == Some(u64::from(netns)) {
        return read("/etc/resolv.conf");
    }
    let dir = std::fs::read_dir("/run/netns").ok()?;
    for entry in dir.flatten() {
        if ino(&entry.path()) == Some(u64::from(netns)) {
            let name = entry.file_name();
            let path = format!("/etc/netns/{}/resolv.conf", name.to_string_lossy());
            return read(&path);
        }
    }
    None
}

/// The cached reading for `key`, read anew when missing or stale; the
/// cache is bounded (emptied when full).
fn cached(
    cache: &mut Cache,
    key: u32,
    now_ns: u64,
    read: impl FnOnce() -> Option<Rc<ResolvConf>>,
) -> Option<Rc<ResolvConf>> {
    if let Some((at, conf)) = cache.get(&key) {
        // A reading from the future (a record older than it) is fresh.
        if now_ns.saturating_sub(*at) < FRESH_NS {
            return conf.clone();
        }
    }
    if cache.len() >= CACHE {
        cache.clear();
    }
    let conf = read();
    cache.insert(key, (now_ns, conf.clone()));
    conf
}

impl ResolvSource for SystemResolv {
    fn lookup(&mut self, pid: Option<u32>, netns: u32) -> Option<(Rc<ResolvConf>, SearchSource)> {
        self.lookup_at(pid, netns, mono_now_ns())
    }

    fn lookup_at(
        &mut self,
        pid: Option<u32>,
        netns: u32,
        now_ns: u64,
    ) -> Option<(Rc<ResolvConf>, SearchSource)> {
        if let Some(pid) = pid {
            let conf = cached(&mut self.by_pid, pid, now_ns, || {
                read(&format!("/proc/{pid}/root/etc/resolv.conf"))
            });
            if let Some(c) = conf {
                return Some((c, SearchSource::Process));
            }
        }
        cached(&mut self.by_netns, netns, now_ns, || netns_conf(netns))
            .map(|c| (c, SearchSource::Netns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_glibc_does() {
        let c = ResolvConf::parse(
            "nameserver 10.96.0.10\n\
             nameserver ::ffff:10.0.0.9%eth0\n\
             nameserver not-an-address\n\
             nameserver 10.0.0.2\n\
             nameserver 10.0.0.3\n\
             domain old.example\n\
             search default.svc.cluster.local svc.cluster.local. cluster.local\n\
             options ndots:5 timeout:2 attempts:9 rotate\n",
        );
        assert_eq!(
            c.search,
            [
                "default.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local"
            ]
        );
        assert_eq!((c.ndots, c.timeout_s, c.attempts), (5, 2, 5));
        let ns: Vec<String> = c.nameservers.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            ns,
            ["10.96.0.10", "10.0.0.9", "10.0.0.2"],
            "the first three"
        );
        let c = ResolvConf::parse("search a.test\ndomain b.test\noptions ndots:99\n");
        assert_eq!(c.search, ["b.test"], "the last line wins");
        assert_eq!(c.ndots, 15);
        assert_eq!(
            c.nameservers,
            [IpAddr::V4(Ipv4Addr::LOCALHOST)],
            "none: loopback"
        );
        assert_eq!(ResolvConf::parse(""), ResolvConf::default());
    }

    #[test]
    fn tries_the_name_and_its_search_domains_in_any_case() {
        let c = ResolvConf::parse("search a.test b.test\noptions ndots:2\n");
        for (asked, names) in [
            ("api", ["api.a.test", "api.b.test", "api"]),
            ("x.y.z", ["x.y.z", "x.y.z.a.test", "x.y.z.b.test"]),
        ] {
            for name in names {
                assert!(c.tries(asked, name), "{name}");
                assert!(c.tries(&asked.to_uppercase(), &name.to_uppercase()));
            }
        }
        for name in [
            "api.c.test",
            "api.a.test.",
            "apia.test",
            "api.a",
            "ap",
            "",
            "api.",
            "x.api",
        ] {
            assert!(!c.tries("api", name), "{name}");
        }
        assert!(!ResolvConf::parse("").tries("api", "api.a.test"));
    }

    #[test]
    fn strips_by_ndots() {
        let c = ResolvConf::parse("search a.test b.test\noptions ndots:2\n");
        assert_eq!(c.asked_name("api.a.test"), "api");
        assert_eq!(c.asked_name("API.B.TEST"), "API");
        // Two dots before the suffix: asked as is first, so a name
        // ending in a search domain was asked that way.
        assert_eq!(c.asked_name("x.y.z.a.test"), "x.y.z.a.test");
        assert_eq!(c.asked_name("a.test"), "a.test");
        assert_eq!(dots("a\\.b.c"), 1);
    }
}

#[cfg(test)]
mod system_tests {
    use super::*;

    #[test]
    fn reads_this_process_and_its_namespace() {
        let mut r = SystemResolv::default();
        let pid = std::process::id();
        let own = std::fs::read_to_string("/etc/resolv.conf").ok();
        let got = r.lookup(Some(pid), 0);
        assert_eq!(got.is_some(), own.is_some());
        if let (Some((conf, source)), Some(text)) = (got, own) {
            assert_eq!(source, SearchSource::Process);
            assert_eq!(*conf, ResolvConf::parse(&text));
        }
        // No process, no namespace: nothing to read, nothing guessed.
        assert!(r.lookup(None, 0).is_none());
        assert!(r.lookup(Some(u32::MAX), 0).is_none());
    }
}
