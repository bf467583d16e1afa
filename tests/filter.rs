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

/// A query to a Service's VIP that NAT delivered to a backend.
fn through_nat(e: &mut RawEvent) {
    e.server_addr[..4].copy_from_slice(&[10, 96, 0, 10]);
    e.nat = 1;
    e.backend_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
    e.backend_port = 53;
}

#[test]
fn server_matches_the_backend_too() {
    let t = txn(through_nat);
    assert!(filter(&["--server", "10.96.0.10"]).matches(&t), "the VIP");
    assert!(
        filter(&["--server", "10.244.2.2"]).matches(&t),
        "its backend"
    );
    assert!(filter(&["--server", "10.244.0.0/16"]).matches(&t));
    assert!(!filter(&["--server", "10.244.3.3"]).matches(&t));
    // Without DNAT, the backend's bytes are not an address.
    let untranslated = txn(|e| {
        through_nat(e);
        e.nat = 2;
    });
    assert!(!filter(&["--server", "10.244.2.2"]).matches(&untranslated));
    assert!(filter(&["--server", "10.96.0.10"]).matches(&untranslated));
    // --client is not matched by the translated source.
    let snat = txn(|e| {
        e.nat = 2;
        e.nat_addr[..4].copy_from_slice(&[192, 168, 1, 10]);
    });
    assert!(!filter(&["--client", "192.168.1.10"]).matches(&snat));
}

fn unreachable(e: &mut RawEvent) {
    e.kind = 5;
    e.latency_ns = 200_000;
    e.icmp_type = 3;
    e.icmp_code = 3;
    e.icmp_addr[..4].copy_from_slice(&[10, 0, 0, 1]);
}

#[test]
fn unreachable_is_an_rcode_and_an_error() {
    let t = txn(unreachable);
    assert!(filter(&[]).matches(&t));
    assert!(filter(&["--rcode", "UNREACHABLE"]).matches(&t));
    assert!(filter(&["--rcode", "unreachable"]).matches(&t));
    assert!(!filter(&["--rcode", "UNREACHABLE"]).matches(&txn(|e| e.kind = 1)));
    assert!(!filter(&["--rcode", "TIMEOUT"]).matches(&t));
    // The rflags the kernel left are not an rcode of its.
    assert!(!filter(&["--rcode", "NXDOMAIN"]).matches(&t));
    assert!(filter(&["--errors"]).matches(&t));
    assert!(!filter(&["--errors", "--rcode", "NOERROR"]).matches(&t));
    // Fast as it is, it qualifies as a timeout would.
    assert!(filter(&["--min-latency", "50ms"]).matches(&t));
    let d = filter(&["--errors"]).describe();
    assert!(d.contains("UNREACHABLE") && d.contains("TIMEOUT"), "{d}");
    assert!(!filter(&["--rcode", "NXDOMAIN"])
        .describe()
        .contains("UNREACHABLE"));
    let kernel = filter(&["--rcode", "UNREACHABLE"]).kernel_part();
    assert_eq!(kernel.rcode_mask, 1 << 18, "the kernel's bit");
    assert_eq!(filter(&[]).kernel_part().rcode_mask & 1 << 18, 1 << 18);
}

#[test]
fn late_and_duplicate_pass_by_their_own_rcode() {
    let late = txn(|e| {
        e.kind = 4;
        e.rflags = 0x8180;
        e.latency_ns = 6_000_000_000;
    });
    let dup = txn(|e| {
        e.kind = 6;
        e.rflags = 0x8182;
        e.first_rcode = 0;
        e.latency_ns = 3_000_000;
    });
    assert!(filter(&["--rcode", "NOERROR"]).matches(&late));
    assert!(!filter(&["--rcode", "TIMEOUT"]).matches(&late));
    assert!(!filter(&["--errors"]).matches(&late));
    assert!(filter(&["--errors"]).matches(&dup), "SERVFAIL");
    assert!(filter(&["--rcode", "SERVFAIL"]).matches(&dup));
    assert!(
        !filter(&["--rcode", "NOERROR"]).matches(&dup),
        "not the first's"
    );
    assert!(filter(&["--min-latency", "1s"]).matches(&late));
    assert!(!filter(&["--min-latency", "5ms"]).matches(&dup));
}
