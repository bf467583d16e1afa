//! Which transactions to show. The cheap parts (ports, ids, latency, rcode)
//! also run in the kernel, so that filtered-out transactions never cross to
//! user space; the whole filter is checked again here, which keeps the
//! semantics in one testable place.
//!
//! Repeating a flag ORs its values; different flags AND together.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::attribution::Attribution;
use crate::kernel::{KernelFilter, RcodeBit};
use crate::lookup::{LookupRcode, LookupRecord};
use crate::record::dns::{self, NameGlob};
use crate::record::{Kind, Transaction};

const TIMEOUT_BIT: u32 = RcodeBit::TIMEOUT;
const ENCRYPTED_BIT: u32 = RcodeBit::ENCRYPTED;
const UNREACHABLE_BIT: u32 = RcodeBit::UNREACHABLE;
const ALL_RCODES: u32 = 0xffff | 1 << TIMEOUT_BIT | 1 << ENCRYPTED_BIT | 1 << UNREACHABLE_BIT;

/// A response code to keep: a header rcode (0-15), an unanswered query, or
/// one an ICMP error failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcodeFilter {
    Code(u16),
    Timeout,
    /// DoT and DoQ connections, which have no rcode to show.
    Encrypted,
    /// Queries failed by an ICMP destination unreachable.
    Unreachable,
}

impl RcodeFilter {
    fn bit(self) -> u32 {
        match self {
            RcodeFilter::Code(c) => 1 << c,
            RcodeFilter::Timeout => 1 << TIMEOUT_BIT,
            RcodeFilter::Encrypted => 1 << ENCRYPTED_BIT,
            RcodeFilter::Unreachable => 1 << UNREACHABLE_BIT,
        }
    }
}

/// Everything that decides whether a transaction is shown.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// DNS ports, 53 first.
    pub ports: Vec<u16>,
    pub ids: Vec<u16>,
    pub min_latency: Option<Duration>,
    /// Bit n: rcode n; then the bits of [`RcodeBit`] (timeouts, encrypted
    /// connections, ICMP errors).
    pub rcode_mask: u32,
    pub names: Vec<NameGlob>,
    pub qtypes: Vec<u16>,
    pub clients: Vec<IpNet>,
    /// Matched by the server asked, or by the backend NAT delivered the
    /// query to.
    pub servers: Vec<IpNet>,
    pub interfaces: Vec<String>,
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    /// Who sent the query, as attribution names it: a pod's name, its
    /// namespace, a container's name or id. A query of no one known
    /// matches none of them.
    pub pods: Vec<NameGlob>,
    pub namespaces: Vec<String>,
    pub containers: Vec<NameGlob>,
}

fn any_or_empty<T>(values: &[T], pred: impl Fn(&T) -> bool) -> bool {
    values.is_empty() || values.iter().any(pred)
}

fn in_nets(nets: &[IpNet], ip: IpAddr) -> bool {
    any_or_empty(nets, |n| n.contains(&ip))
}

impl Filter {
    /// A filter that keeps everything on the ports given (53 first).
    pub fn new(ports: Vec<u16>) -> Filter {
        Filter {
            ports,
            rcode_mask: ALL_RCODES,
            ..Filter::default()
        }
    }

    /// Keeps only these response codes (all when empty); `errors_only`
    /// drops NOERROR and encrypted connections, which are not failures.
    pub fn set_rcodes(&mut self, rcodes: &[RcodeFilter], errors_only: bool) {
        let mut mask = if rcodes.is_empty() {
            ALL_RCODES
        } else {
            rcodes.iter().fold(0, |m, r| m | r.bit())
        };
        if errors_only {
            mask &= !(1 | 1 << ENCRYPTED_BIT);
        }
        self.rcode_mask = mask;
    }

    /// The part the kernel program applies before a record crosses over.
    pub fn kernel_part(&self) -> KernelFilter {
        KernelFilter {
            ports: self.ports.clone(),
            ids: self.ids.clone(),
            min_latency_ns: self.min_latency.map_or(0, |d| d.as_nanos() as u64),
            rcode_mask: self.rcode_mask,
        }
    }

    /// Late and duplicate answers pass by their own rcode and latency.
    pub fn matches(&self, t: &Transaction) -> bool {
        let rcode_bit = match (t.kind, t.rcode()) {
            (Kind::Encrypted, _) => 1 << ENCRYPTED_BIT,
            (Kind::Unreachable, _) => 1 << UNREACHABLE_BIT,
            (_, Some(r)) if r < 16 => 1u32 << r,
            (_, Some(_)) => 0,
            (_, None) => 1 << TIMEOUT_BIT,
        };
        if self.rcode_mask & rcode_bit == 0 {
            return false;
        }
        // A query an ICMP error failed qualifies as a timeout does: it is
        // what would have been one, had the error not come back.
        if let (Some(min), Some(lat), false) =
            (self.min_latency, t.latency_ns, t.kind == Kind::Unreachable)
        {
            if (lat as u128) < min.as_nanos() {
                return false;
            }
        }
        any_or_empty(&self.ids, |id| *id == t.id)
            && any_or_empty(&self.qtypes, |q| *q == t.qtype)
            && in_nets(&self.clients, t.client)
            && any_or_empty(&self.servers, |n| {
                n.contains(&t.server) || t.backend_ip.is_some_and(|b| n.contains(&b))
            })
            && any_or_empty(&self.interfaces, |i| *i == *t.interface)
            && any_or_empty(&self.pids, |p| Some(*p) == t.pid)
            && any_or_empty(&self.comms, |c| Some(c.as_str()) == t.comm.as_deref())
            && any_or_empty(&self.names, |g| g.matches(&t.qname))
    }

    /// The part of the filter about who sent the query ([`Filter::matches`]
    /// is the rest).
    pub fn matches_who(&self, who: Option<&Attribution>) -> bool {
        if !self.about_who() {
            return true;
        }
        let pod = who.and_then(|w| w.pod.as_deref());
        let namespace = who.and_then(|w| w.namespace.as_deref());
        let names = [
            who.and_then(|w| w.container.as_deref()),
            who.and_then(|w| w.container_id.as_deref()),
        ];
        any_or_empty(&self.pods, |g| pod.is_some_and(|p| g.matches(p)))
            && any_or_empty(&self.namespaces, |n| Some(n.as_str()) == namespace)
            && any_or_empty(&self.containers, |g| {
                names.iter().flatten().any(|c| g.matches(c))
            })
    }

    /// Whether any flag is about who sent the query.
    pub fn about_who(&self) -> bool {
        !(self.pods.is_empty() && self.namespaces.is_empty() && self.containers.is_empty())
    }

    /// With `--lookups`: the part that picks transactions (who asked,
    /// whom, where, DNS ids), and the part that picks lookups by what
    /// the application got (rcode, latency, name, type). A lookup's
    /// transactions must all reach the tracker, whatever their rcode
    /// or latency, so the kernel gets only the first part.
    pub fn split_for_lookups(&self) -> (Filter, Filter) {
        let transactions = Filter {
            min_latency: None,
            rcode_mask: ALL_RCODES,
            names: Vec::new(),
            qtypes: Vec::new(),
            ..self.clone()
        };
        let lookups = Filter {
            ports: Vec::new(),
            ids: Vec::new(),
            clients: Vec::new(),
            servers: Vec::new(),
            interfaces: Vec::new(),
            pids: Vec::new(),
            comms: Vec::new(),
            ..self.clone()
        };
        (transactions, lookups)
    }

    /// Whether a lookup passes the lookup part of the filter: its rcode,
    /// its latency (timeouts always qualify), a name it asked or got an
    /// answer for, a type it asked.
    pub fn matches_lookup(&self, l: &LookupRecord) -> bool {
        let bit = match l.rcode {
            LookupRcode::Rcode(r) if r < 16 => 1u32 << r,
            LookupRcode::Rcode(_) => 0,
            LookupRcode::Timeout => 1 << TIMEOUT_BIT,
            LookupRcode::Unreachable => 1 << UNREACHABLE_BIT,
        };
        if self.rcode_mask & bit == 0 {
            return false;
        }
        if let (Some(min), Some(lat)) = (self.min_latency, l.latency_ns) {
            if (lat as u128) < min.as_nanos() {
                return false;
            }
        }
        any_or_empty(&self.qtypes, |q| l.qtypes.contains(q))
            && any_or_empty(&self.names, |g| {
                g.matches(&l.name) || l.answered_name.as_deref().is_some_and(|a| g.matches(a))
            })
    }

    /// Flags in effect, for the start-up line.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.rcode_mask != ALL_RCODES {
            let mut codes: Vec<String> = (0..16)
                .filter(|b| self.rcode_mask & (1 << b) != 0)
                .map(|b| dns::rcode_name(b).into_owned())
                .collect();
            if self.rcode_mask & (1 << TIMEOUT_BIT) != 0 {
                codes.push("TIMEOUT".into());
            }
            if self.rcode_mask & (1 << UNREACHABLE_BIT) != 0 {
                codes.push("UNREACHABLE".into());
            }
            if self.rcode_mask & (1 << ENCRYPTED_BIT) != 0 {
                codes.push("ENCRYPTED".into());
            }
            parts.push(format!("rcode {}", codes.join("|")));
        }
        if let Some(m) = self.min_latency {
            parts.push(format!("latency >= {}", humantime::format_duration(m)));
        }
        let list = |name: &str, v: Vec<String>, parts: &mut Vec<String>| {
            if !v.is_empty() {
                parts.push(format!("{name} {}", v.join("|")));
            }
        };
        list(
            "id",
            self.ids.iter().map(u16::to_string).collect(),
            &mut parts,
        );
        list(
            "qtype",
            self.qtypes
                .iter()
                .map(|q| dns::qtype_name(*q).into_owned())
                .collect(),
            &mut parts,
        );
        list(
            "client",
            self.clients.iter().map(IpNet::to_string).collect(),
            &mut parts,
        );
        list(
            "server",
            self.servers.iter().map(IpNet::to_string).collect(),
            &mut parts,
        );
        list("interface", self.interfaces.clone(), &mut parts);
        list(
            "pid",
            self.pids.iter().map(u32::to_string).collect(),
            &mut parts,
        );
        list("comm", self.comms.clone(), &mut parts);
        if !self.names.is_empty() {
            parts.push(format!("{} name pattern(s)", self.names.len()));
        }
        list("namespace", self.namespaces.clone(), &mut parts);
        if !self.pods.is_empty() {
            parts.push(format!("{} pod pattern(s)", self.pods.len()));
        }
        if !self.containers.is_empty() {
            parts.push(format!("{} container pattern(s)", self.containers.len()));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(
        pod: Option<&str>,
        ns: Option<&str>,
        container: Option<&str>,
        id: Option<&str>,
    ) -> Attribution {
        Attribution {
            pod: pod.map(String::from),
            namespace: ns.map(String::from),
            container: container.map(String::from),
            container_id: id.map(String::from),
            ..Attribution::default()
        }
    }

    #[test]
    fn who_sent_it() {
        let glob = |g: &str| NameGlob::new(g).unwrap();
        let web = who(
            Some("web-7d9f"),
            Some("shop"),
            Some("nginx"),
            Some(&"ab".repeat(32)),
        );
        let host = who(None, None, None, None);
        let mut f = Filter::new(vec![53]);
        assert!(!f.about_who());
        assert!(f.matches_who(Some(&web)) && f.matches_who(None) && f.matches_who(Some(&host)));

        f.pods = vec![glob("web-*"), glob("api-*")];
        assert!(f.about_who());
        assert!(f.matches_who(Some(&web)));
        assert!(!f.matches_who(None), "no one known matches no pod");
        assert!(!f.matches_who(Some(&host)));
        f.namespaces = vec!["prod".into()];
        assert!(!f.matches_who(Some(&web)), "flags AND");
        f.namespaces.push("shop".into());
        assert!(f.matches_who(Some(&web)), "values OR");
        f.namespaces = vec!["SHOP".into()];
        assert!(!f.matches_who(Some(&web)), "namespaces are exact");

        let mut f = Filter::new(vec![53]);
        f.containers = vec![glob("NGINX")];
        assert!(f.matches_who(Some(&web)), "a glob is case-insensitive");
        f.containers = vec![glob("abab*")];
        assert!(f.matches_who(Some(&web)), "or the container's id");
        f.containers = vec![glob("redis")];
        assert!(!f.matches_who(Some(&web)));
        assert!(!f.matches_who(None));
        f.pods = vec![glob("web-*")];
        f.namespaces = vec!["shop".into()];
        assert!(f.describe().contains("namespace shop"), "{}", f.describe());
        assert!(
            f.describe().contains("1 pod pattern(s)"),
            "{}",
            f.describe()
        );
    }
}
