//! Which transactions to show. The cheap parts (ports, ids, latency, rcode)
//! also run in the kernel, so that filtered-out transactions never cross to
//! user space; the whole filter is checked again here, which keeps the
//! semantics in one testable place.
//!
//! Repeating a flag ORs its values; different flags AND together.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::cli::{Args, RcodeFilter};
use crate::dns::NameGlob;
use crate::event::{Kind, Transaction};

/// Bit in the rcode mask that stands for an unanswered query.
pub const TIMEOUT_BIT: u32 = 16;
/// Bit that stands for an encrypted (DoT, DoQ) connection.
pub const ENCRYPTED_BIT: u32 = 17;
const ALL_RCODES: u32 = (1 << (ENCRYPTED_BIT + 1)) - 1;

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// DNS ports, 53 first.
    pub ports: Vec<u16>,
    pub ids: Vec<u16>,
    pub min_latency: Option<Duration>,
    /// Bit n: rcode n; bit 16: timeouts.
    pub rcode_mask: u32,
    pub names: Vec<NameGlob>,
    pub qtypes: Vec<u16>,
    pub clients: Vec<IpNet>,
    pub servers: Vec<IpNet>,
    pub interfaces: Vec<String>,
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
}

fn any_or_empty<T>(values: &[T], pred: impl Fn(&T) -> bool) -> bool {
    values.is_empty() || values.iter().any(pred)
}

fn in_nets(nets: &[IpNet], ip: IpAddr) -> bool {
    any_or_empty(nets, |n| n.contains(&ip))
}

impl Filter {
    pub fn from_args(args: &Args) -> Filter {
        let mut ports = vec![53];
        for p in &args.port {
            if !ports.contains(p) {
                ports.push(*p);
            }
        }
        let mut rcode_mask = if args.rcode.is_empty() {
            ALL_RCODES
        } else {
            args.rcode.iter().fold(0, |m, r| {
                m | match r {
                    RcodeFilter::Code(c) => 1 << c,
                    RcodeFilter::Timeout => 1 << TIMEOUT_BIT,
                    RcodeFilter::Encrypted => 1 << ENCRYPTED_BIT,
                }
            })
        };
        if args.errors {
            // Failures only: an encrypted connection is not one.
            rcode_mask &= !(1 | 1 << ENCRYPTED_BIT);
        }
        Filter {
            ports,
            ids: args.id.clone(),
            min_latency: args.min_latency,
            rcode_mask,
            names: args.name.clone(),
            qtypes: args.qtype.clone(),
            clients: args.client.clone(),
            servers: args.server.clone(),
            interfaces: args.interface.clone(),
            pids: args.pid.clone(),
            comms: args.comm.clone(),
        }
    }

    pub fn matches(&self, t: &Transaction) -> bool {
        let rcode_bit = match (t.kind, t.rcode()) {
            (Kind::Encrypted, _) => 1 << ENCRYPTED_BIT,
            (_, Some(r)) if r < 16 => 1u32 << r,
            (_, Some(_)) => 0,
            (_, None) => 1 << TIMEOUT_BIT,
        };
        if self.rcode_mask & rcode_bit == 0 {
            return false;
        }
        if let (Some(min), Some(lat)) = (self.min_latency, t.latency_ns) {
            if (lat as u128) < min.as_nanos() {
                return false;
            }
        }
        any_or_empty(&self.ids, |id| *id == t.id)
            && any_or_empty(&self.qtypes, |q| *q == t.qtype)
            && in_nets(&self.clients, t.client)
            && in_nets(&self.servers, t.server)
            && any_or_empty(&self.interfaces, |i| *i == *t.interface)
            && any_or_empty(&self.pids, |p| Some(*p) == t.pid)
            && any_or_empty(&self.comms, |c| Some(c.as_str()) == t.comm.as_deref())
            && any_or_empty(&self.names, |g| g.matches(&t.qname))
    }

    /// Flags in effect, for the start-up line.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.rcode_mask != ALL_RCODES {
            let mut codes: Vec<String> = (0..16)
                .filter(|b| self.rcode_mask & (1 << b) != 0)
                .map(|b| crate::dns::rcode_name(b).into_owned())
                .collect();
            if self.rcode_mask & (1 << TIMEOUT_BIT) != 0 {
                codes.push("TIMEOUT".into());
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
                .map(|q| crate::dns::qtype_name(*q).into_owned())
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
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::{bytes_of, raw};
    use clap::Parser;

    fn filter(args: &[&str]) -> Filter {
        let a =
            Args::try_parse_from(std::iter::once("dnstrace").chain(args.iter().copied())).unwrap();
        Filter::from_args(&a)
    }

    fn txn(f: impl FnOnce(&mut crate::bpf::RawEvent)) -> Transaction {
        let mut ev = raw(b"\x03foo\x03svc\x07cluster\x05local\x00");
        f(&mut ev);
        Transaction::decode(&bytes_of(&ev)).unwrap()
    }

    #[test]
    fn empty_filter_keeps_everything() {
        let f = filter(&[]);
        assert_eq!(f.ports, vec![53]);
        assert!(f.matches(&txn(|_| {})));
        assert!(f.matches(&txn(|e| e.kind = 1)));
        assert_eq!(f.describe(), "");
    }

    #[test]
    fn ports_add_to_53() {
        assert_eq!(
            filter(&["--port", "5353", "--port", "53", "--port", "5353"]).ports,
            vec![53, 5353]
        );
    }

    #[test]
    fn rcode_values_or_together() {
        let f = filter(&["--rcode", "NXDOMAIN", "--rcode", "SERVFAIL"]);
        assert!(f.matches(&txn(|e| e.rflags = 0x8183)));
        assert!(f.matches(&txn(|e| e.rflags = 0x8182)));
        assert!(!f.matches(&txn(|e| e.rflags = 0x8180)));
        assert!(!f.matches(&txn(|e| e.kind = 1)));
        let t = filter(&["--rcode", "TIMEOUT"]);
        assert!(t.matches(&txn(|e| e.kind = 1)));
        assert!(!t.matches(&txn(|e| e.rflags = 0x8183)));
    }

    #[test]
    fn errors_and_rcode_and_together() {
        let e = filter(&["--errors"]);
        assert!(!e.matches(&txn(|e| e.rflags = 0x8180)));
        assert!(e.matches(&txn(|e| e.rflags = 0x8185)));
        assert!(e.matches(&txn(|e| e.kind = 1)));
        let enc = txn(|e| {
            e.kind = 3;
            e.service = 2;
            e.name_len = 0;
        });
        assert!(!e.matches(&enc));
        assert!(filter(&[]).matches(&enc));
        assert!(filter(&["--rcode", "ENCRYPTED"]).matches(&enc));
        assert!(!filter(&["--rcode", "NXDOMAIN"]).matches(&enc));
        let none = filter(&["--errors", "--rcode", "NOERROR"]);
        assert!(!none.matches(&txn(|e| e.rflags = 0x8180)));
        assert_eq!(none.rcode_mask, 0);
    }

    #[test]
    fn min_latency_keeps_timeouts() {
        let f = filter(&["--min-latency", "50ms"]);
        assert!(!f.matches(&txn(|e| e.latency_ns = 49_999_999)));
        assert!(f.matches(&txn(|e| e.latency_ns = 50_000_000)));
        assert!(f.matches(&txn(|e| e.kind = 1)));
    }

    #[test]
    fn flags_and_together() {
        let f = filter(&["--name", "*.svc.cluster.local", "--qtype", "AAAA"]);
        assert!(f.matches(&txn(|_| {})));
        assert!(!f.matches(&txn(|e| e.qtype = 1)));
        let f = filter(&["--name", "*.example.com", "--qtype", "AAAA"]);
        assert!(!f.matches(&txn(|_| {})));
    }

    #[test]
    fn addresses_processes_interfaces_ids() {
        assert!(filter(&["--client", "10.0.0.0/24"]).matches(&txn(|_| {})));
        assert!(!filter(&["--client", "10.0.1.0/24"]).matches(&txn(|_| {})));
        assert!(filter(&["--server", "10.0.0.1"]).matches(&txn(|_| {})));
        assert!(filter(&["--server", "192.0.2.1", "--server", "10.0.0.1"]).matches(&txn(|_| {})));
        assert!(!filter(&["--server", "fd00::/8"]).matches(&txn(|_| {})));
        assert!(filter(&["-i", "veth0"]).matches(&txn(|_| {})));
        assert!(!filter(&["-i", "eth0"]).matches(&txn(|_| {})));
        assert!(filter(&["-p", "4242"]).matches(&txn(|_| {})));
        assert!(!filter(&["-p", "1"]).matches(&txn(|_| {})));
        assert!(!filter(&["-p", "4242"]).matches(&txn(|e| e.pid = 0)));
        assert!(filter(&["--comm", "dig"]).matches(&txn(|_| {})));
        assert!(!filter(&["--comm", "curl"]).matches(&txn(|_| {})));
        assert!(filter(&["--id", "48879"]).matches(&txn(|_| {})));
        assert!(!filter(&["--id", "1"]).matches(&txn(|_| {})));
    }

    #[test]
    fn describes_active_filters() {
        let d = filter(&[
            "--errors",
            "--min-latency",
            "50ms",
            "--qtype",
            "A",
            "--name",
            "x",
        ])
        .describe();
        assert!(d.contains("TIMEOUT") && !d.contains("NOERROR"), "{d}");
        assert!(d.contains("latency >= 50ms"), "{d}");
        assert!(d.contains("qtype A"), "{d}");
        assert!(d.contains("1 name pattern"), "{d}");
    }
}
