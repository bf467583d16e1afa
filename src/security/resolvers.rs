//! Which servers a client may ask: the nameservers of its resolv.conf
//! (or its network namespace's), and those `--resolvers` allows; and
//! which senders are resolvers themselves, whose upstream queries go
//! where their own configuration says.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

/// What is known of a sender's port-53 sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listeners {
    /// The local addresses of the UDP sockets bound to port 53, and of
    /// the TCP sockets listening on it, that the process holds (none: it
    /// serves no DNS).
    Known(Vec<IpAddr>),
    /// The process has exited: it was no running resolver.
    Exited,
    /// It cannot be told (another PID namespace's process, say).
    Unknown,
}

/// Finds the addresses a process serves DNS on (port 53).
pub trait ListenerSource {
    fn dns_listeners(&mut self, pid: u32) -> Listeners;
}

/// Reads /proc: the socket tables of the process's network namespace,
/// and the process's file descriptors.
pub struct ProcListeners {
    cache: HashMap<u32, (Instant, Listeners), foldhash::fast::RandomState>,
    /// dnstrace sees every process (the initial PID namespace): a pid
    /// missing from /proc has exited. In a container without the host's
    /// PID namespace, nothing can be told.
    sees_all: bool,
}

/// The initial PID namespace's inode (PROC_PID_INIT_INO).
const INIT_PID_NS: &str = "pid:[4026531836]";

impl Default for ProcListeners {
    fn default() -> ProcListeners {
        let own = std::fs::read_link("/proc/self/ns/pid").ok();
        ProcListeners {
            cache: HashMap::default(),
            sees_all: own.is_some_and(|p| p.as_os_str() == INIT_PID_NS),
        }
    }
}

/// Readings kept, and how long one is trusted (a pid is reused, a
/// resolver restarts).
const CACHE: usize = 1024;
const FRESH: Duration = Duration::from_secs(10);

impl ListenerSource for ProcListeners {
    fn dns_listeners(&mut self, pid: u32) -> Listeners {
        let now = Instant::now();
        if let Some((at, found)) = self.cache.get(&pid) {
            if now.duration_since(*at) < FRESH {
                return found.clone();
            }
        }
        if self.cache.len() >= CACHE {
            self.cache.clear();
        }
        let found = match read_listeners(pid) {
            Some(addrs) => Listeners::Known(addrs),
            None if self.sees_all && !std::path::Path::new(&format!("/proc/{pid}")).exists() => {
                Listeners::Exited
            }
            None => Listeners::Unknown,
        };
        self.cache.insert(pid, (now, found.clone()));
        found
    }
}

fn read_listeners(pid: u32) -> Option<Vec<IpAddr>> {
    let mut by_inode: HashMap<u64, IpAddr> = HashMap::new();
    for (table, tcp) in [
        ("udp", false),
        ("udp6", false),
        ("tcp", true),
        ("tcp6", true),
    ] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for (addr, inode) in text.lines().skip(1).filter_map(|l| port_53_socket(l, tcp)) {
            by_inode.insert(inode, addr);
        }
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let mut found = Vec::new();
    if by_inode.is_empty() {
        return Some(found);
    }
    for fd in fds.flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        let inode = target
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(addr) = inode.and_then(|i| by_inode.get(&i)) {
            if !found.contains(addr) {
                found.push(*addr);
            }
        }
    }
    Some(found)
}

/// A line of /proc/net/{udp,tcp}{,6}: the local address and the inode of
/// a socket on local port 53 (for TCP, only a listening one).
fn port_53_socket(line: &str, tcp: bool) -> Option<(IpAddr, u64)> {
    let mut fields = line.split_ascii_whitespace();
    let local = fields.nth(1)?;
    let state = fields.nth(1)?;
    let inode = fields.nth(5)?.parse::<u64>().ok()?;
    let (addr, port) = local.split_once(':')?;
    if port != "0035" || (tcp && state != "0A") {
        return None;
    }
    Some((parse_hex_addr(addr)?, inode))
}

/// The kernel prints an address as its 32-bit words in host order, hex.
fn parse_hex_addr(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(IpAddr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

/// The resolvers known to be configured: `--resolvers`, and every
/// nameserver of a resolv.conf read so far (bounded).
pub struct Configured {
    nets: Vec<IpNet>,
    seen: HashSet<IpAddr>,
}

/// Nameservers remembered from resolv.conf files.
const SEEN: usize = 4096;

impl Configured {
    pub fn new(nets: Vec<IpNet>) -> Configured {
        Configured {
            nets,
            seen: HashSet::new(),
        }
    }

    /// Nameservers remembered so far.
    pub fn known(&self) -> usize {
        self.seen.len()
    }

    /// `--resolvers` allows `ip` for every client.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The nameservers of every process's resolv.conf now (the first
    /// 4096 processes; each file read once): a forwarder's upstream
    /// queries are then known for what they are before its clients' own
    /// queries are seen.
    pub fn seed_from_proc(&mut self) {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        let mut files = HashSet::new();
        for entry in dir.flatten().take(4096) {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let path = entry.path().join("root/etc/resolv.conf");
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            use std::os::unix::fs::MetadataExt;
            if !files.insert((meta.dev(), meta.ino())) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&path) {
                self.remember(&crate::resolv::ResolvConf::parse(&text).nameservers);
            }
        }
    }

    /// A client's resolv.conf names `servers`.
    pub fn remember(&mut self, servers: &[IpAddr]) {
        for s in servers {
            if self.seen.len() < SEEN {
                self.seen.insert(*s);
            }
        }
    }

    /// A resolver listening on `addr` is one clients are told to use. A
    /// wildcard listener serves every address of its host: it counts as
    /// configured when any client's configured server is one.
    pub fn serves(&self, addr: IpAddr) -> bool {
        if addr.is_unspecified() {
            return !self.seen.is_empty() || !self.nets.is_empty();
        }
        self.allowed(addr) || self.seen.contains(&addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_socket_table_lines() {
        // Local 127.0.0.53:53, UDP (state 07).
        let udp = "  1: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   991        0 23456 2 0000000000000000 0";
        assert_eq!(
            port_53_socket(udp, false),
            Some(("127.0.0.53".parse().unwrap(), 23456))
        );
        // The same as TCP: only a listening socket (0A) counts.
        assert_eq!(port_53_socket(udp, true), None);
        let listen = udp.replace(" 07 ", " 0A ");
        assert!(port_53_socket(&listen, true).is_some());
        let other_port = udp.replace(":0035", ":0036");
        assert_eq!(port_53_socket(&other_port, false), None);
        let v6 = "  0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 0";
        assert_eq!(
            port_53_socket(v6, false),
            Some(("::1".parse().unwrap(), 777))
        );
        assert_eq!(port_53_socket("garbage", false), None);
        assert_eq!(port_53_socket("", true), None);
    }

    #[test]
    fn finds_this_process_serving_dns_only_when_it_does() {
        // A test process binds no port 53: an empty list.
        let mut l = ProcListeners::default();
        assert_eq!(
            l.dns_listeners(std::process::id()),
            Listeners::Known(Vec::new())
        );
        let gone = l.dns_listeners(u32::MAX);
        if l.sees_all {
            assert_eq!(gone, Listeners::Exited);
        } else {
            assert_eq!(gone, Listeners::Unknown);
        }
    }

    #[test]
    fn seeds_from_every_process() {
        let mut c = Configured::new(Vec::new());
        c.seed_from_proc();
        // This process's own file, when it names a server, is among them.
        if let Ok(text) = std::fs::read_to_string("/etc/resolv.conf") {
            for ns in crate::resolv::ResolvConf::parse(&text).nameservers {
                assert!(c.serves(ns), "{ns}");
            }
        }
    }

    #[test]
    fn configured_servers() {
        let mut c = Configured::new(vec!["10.0.0.0/24".parse().unwrap()]);
        assert!(c.allowed("10.0.0.9".parse().unwrap()));
        assert!(!c.serves("192.0.2.1".parse().unwrap()));
        c.remember(&["192.0.2.1".parse().unwrap()]);
        assert!(c.serves("192.0.2.1".parse().unwrap()));
        assert!(c.serves("0.0.0.0".parse().unwrap()));
        let empty = Configured::new(Vec::new());
        assert!(!empty.serves("::".parse().unwrap()));
    }
}
