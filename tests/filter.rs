//! The filter as the command line builds it: each flag's semantics, on
//! records built the way the kernel builds them.

use clap::Parser;

use dnstrace::cli::Args;
use dnstrace::filter::Filter;
use dnstrace::kernel::abi::RawEvent;
use dnstrace::record::Transaction;
use dnstrace::testing::fixtures::{bytes_of, record as raw};

fn filter(args: &[&str]) -> Filter {
    let a = Args::try_parse_from(std::iter::once("dnstrace").chain(args.iter().copied())).unwrap();
    a.filter()
}

fn txn(f: impl FnOnce(&mut RawEvent)) -> Transaction {
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
