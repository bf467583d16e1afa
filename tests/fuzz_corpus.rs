//! The fuzz targets' checks on stable Rust: every committed file of
//! fuzz/corpus/<target>/ goes through the same functions the fuzzers call
//! (fuzz/checks.rs), so an input that once crashed stays fixed.
//!
//! The seeds are built here, from records laid out exactly as the kernel
//! writes them (the generated `RawEvent`) and from hostile wire names.
//! After changing them, rewrite the seed files with
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpus`.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use dnstrace::kernel::abi::RawEvent;
use dnstrace::testing::fixtures::{bytes_of, record, set_str, whole_bytes_of, wire};

const TARGETS: [&str; 2] = ["decode_record", "name"];

/// Seed files start with this, so the fuzzers' own findings (named by
/// hash) and the crash regressions (`crash-*`) stay apart from them.
const SEED_PREFIX: &str = "seed-";

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn check(target: &str, data: &[u8]) {
    match target {
        "decode_record" => checks::decode_record(data),
        "name" => checks::name(data),
        _ => unreachable!("no fuzz target {target}"),
    }
}

/// Hostile and boundary wire names, shared by both targets.
fn names() -> Vec<(&'static str, Vec<u8>)> {
    let label63 = [b'a'; 63];
    let mut all_bytes = Vec::new();
    for chunk in (0u8..=255).collect::<Vec<_>>().chunks(63) {
        all_bytes.push(chunk.to_vec());
    }
    let all_refs: Vec<&[u8]> = all_bytes.iter().map(Vec::as_slice).collect();
    // 3 x 63 + 61 + 4 length bytes + root = 255 bytes.
    let max_name = wire(&[&label63, &label63, &label63, &[b'z'; 61]]);
    assert_eq!(max_name.len(), 255);
    let one_over = wire(&[&label63, &label63, &label63, &[b'z'; 62]]);
    assert_eq!(one_over.len(), 256);
    let five63 = wire(&[&label63[..]; 5]);
    let mut with_qtype = wire(&[b"www", b"example", b"com"]);
    with_qtype.extend_from_slice(&[0, 28, 0, 1]);
    let mut label64 = vec![64];
    label64.extend_from_slice(&[b'b'; 64]);
    label64.push(0);
    let mut ones = Vec::new();
    for _ in 0..127 {
        ones.extend_from_slice(&[1, b'x']);
    }
    ones.push(0);
    assert_eq!(ones.len(), 255);
    vec![
        ("plain", wire(&[b"www", b"example", b"com"])),
        ("root", vec![0]),
        ("with-qtype-qclass", with_qtype),
        ("escape-esc", wire(&[b"\x1b[31mred", b"example"])),
        ("escape-dot-backslash", wire(&[b"a.b", b"c\\d"])),
        ("escape-quote-space", wire(&[b"say \"hi\"", b"x"])),
        ("escape-nul-del-high", wire(&[b"\x00\x7f\x80\xff", b"x"])),
        ("escape-newline", wire(&[b"line\nbreak\r", b"x"])),
        ("every-byte", wire(&all_refs)),
        ("label-63", wire(&[&label63, b"com"])),
        ("label-64", label64),
        ("name-255", max_name),
        ("name-256", one_over),
        ("five-labels-63", five63),
        ("one-byte-labels-255", ones),
        ("pointer", vec![0xc0, 12]),
        ("pointer-after-label", vec![3, b'w', b'w', b'w', 0xc0, 12]),
        ("pointer-to-itself", vec![0xc0, 0]),
        ("label-type-0x40", vec![0x40, 1, 0]),
        ("label-type-0x80", vec![0x80, 1, 0]),
        ("empty", vec![]),
        ("truncated-label", vec![3, b'a', b'b']),
        ("no-root", vec![3, b'a', b'b', b'c']),
    ]
}

/// Every seed, by target, then by file name (without the prefix).
fn seeds() -> BTreeMap<&'static str, BTreeMap<String, Vec<u8>>> {
    let mut out: BTreeMap<&str, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let name_seeds = out.entry("name").or_default();
    for (what, bytes) in names() {
        name_seeds.insert(what.to_string(), bytes);
    }

    let recs = out.entry("decode_record").or_default();
    let mut add = |what: &str, ev: RawEvent| {
        recs.insert(what.to_string(), bytes_of(&ev));
    };
    for (what, name) in names() {
        add(&format!("name-{what}"), record(&name));
    }
    let example = wire(&[b"www", b"example", b"com"]);
    add("answered-ipv4", record(&example));
    let mut ev = record(&example);
    ev.kind = 1;
    ev.family = 6;
    ev.pid = 0;
    ev.client_addr = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
    ev.server_addr = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
    add("timeout-ipv6", ev);
    for rcode in 0..16u16 {
        let mut ev = record(&example);
        ev.rflags = 0x8180 | rcode;
        add(&format!("rcode-{rcode}"), ev);
    }
    let mut ev = record(&example);
    ev.rflags = 0x87b0; // AA, TC, RD, RA, AD
    ev.qflags = 0x7910; // opcode 15, RD, CD
    ev.qtype = 65280;
    ev.qclass = 254;
    add("flags-opcode-types", ev);
    let mut ev = record(&example);
    ev.proto = 6;
    ev.dir = 1;
    ev.client_port = 0;
    ev.server_port = 65535;
    add("tcp-ingress-ports", ev);
    let mut ev = record(&example);
    ev.ts = u64::MAX;
    ev.latency_ns = u64::MAX;
    ev.netns = u32::MAX;
    ev.ifindex = u32::MAX;
    ev.pid = u32::MAX;
    ev.id = u16::MAX;
    ev.ancount = u16::MAX;
    ev.query_size = u16::MAX;
    ev.resp_size = u16::MAX;
    add("maximum-values", ev);
    let mut ev = record(&example);
    set_str(&mut ev.comm, b"\x1b]0;pwned\x07\\");
    set_str(&mut ev.ifname, b"eth\x1b[2J\xff");
    add("hostile-comm-ifname", ev);
    let mut ev = record(&example);
    ev.comm = [0x41; 16];
    ev.ifname = [-1; 16];
    add("strings-without-nul", ev);
    let mut ev = record(&example);
    ev.pid = 0;
    add("comm-without-pid", ev);
    let mut ev = record(&example);
    ev.kind = 9;
    add("invalid-kind", ev);
    let mut ev = record(&example);
    ev.kind = 2;
    ev.service = 1;
    add("mdns-announcement", ev);
    let mut ev = record(&[]);
    ev.kind = 3;
    ev.service = 2;
    ev.proto = 6;
    ev.server_port = 853;
    ev.bytes_out = 517;
    ev.bytes_in = 1400;
    add("dot-connection", ev);
    let mut ev = record(&example);
    ev.service = 7;
    add("invalid-service", ev);
    let mut ev = record(&example);
    ev.proto = 1;
    add("invalid-proto", ev);
    let mut ev = record(&example);
    ev.dir = 2;
    add("invalid-dir", ev);
    let mut ev = record(&example);
    ev.family = 5;
    add("invalid-family", ev);
    let mut ev = record(&example);
    ev.name_len = 0;
    add("name-len-0", ev);
    let mut ev = record(&example);
    ev.name_len = 265;
    add("name-len-over-buffer", ev);
    let mut ev = record(&example);
    ev.name_len = 5;
    add("name-len-cuts-a-label", ev);
    let mut ev = record(&example);
    ev.nat = 3;
    ev.server_addr[..4].copy_from_slice(&[10, 96, 0, 10]);
    ev.backend_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
    ev.backend_port = 5353;
    ev.nat_addr[..4].copy_from_slice(&[192, 168, 1, 10]);
    ev.nat_port = 61000;
    ev.backend_ns = 1_200_000;
    add("dnat-snat", ev);
    let mut ev = record(&example);
    ev.kind = 4;
    ev.latency_ns = 5_300_000_000;
    add("late", ev);
    let mut ev = record(&example);
    ev.kind = 6;
    ev.first_rcode = 0;
    add("duplicate-other-rcode", ev);
    let mut ev = record(&example);
    ev.kind = 6;
    ev.first_rcode = 18;
    add("duplicate-after-icmp", ev);
    let mut ev = record(&example);
    ev.kind = 5;
    ev.rflags = 0;
    ev.icmp_type = 3;
    ev.icmp_code = 3;
    ev.icmp_addr[..4].copy_from_slice(&[10, 0, 0, 1]);
    add("unreachable-port", ev);
    let mut ev = record(&example);
    ev.kind = 5;
    ev.family = 6;
    ev.client_addr = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
    ev.server_addr = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
    ev.icmp_addr = "fe80::1".parse::<Ipv6Addr>().unwrap().octets();
    ev.icmp_type = 255;
    ev.icmp_code = 255;
    add("unreachable-unnamed-ipv6", ev);
    let mut ev = record(&example);
    ev.nat = 0xfc;
    add("invalid-nat-bits", ev);
    let mut ev = record(&example);
    ev.kind = 6;
    ev.first_rcode = 16;
    add("invalid-first-rcode", ev);
    let full = bytes_of(&record(&example));
    recs.insert("short".to_string(), full[..10].to_vec());
    recs.insert(
        "one-byte-short".to_string(),
        full[..full.len() - 1].to_vec(),
    );
    let mut long = full.clone();
    long.extend_from_slice(b"trailing bytes after the record");
    recs.insert("trailing-bytes".to_string(), long);
    // The kernel sends a record cut after its name; the whole struct
    // decodes too.
    recs.insert(
        "whole-struct".to_string(),
        whole_bytes_of(&record(&example)),
    );
    out
}

fn committed(target: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = corpus_dir(target);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

#[test]
fn committed_corpus_passes_the_fuzz_checks() {
    for target in TARGETS {
        let files = committed(target);
        assert!(files.len() >= 20, "{target}: only {} files", files.len());
        let mut failed = Vec::new();
        for (name, data) in &files {
            if std::panic::catch_unwind(|| check(target, data)).is_err() {
                failed.push(name.clone());
            }
        }
        assert!(
            failed.is_empty(),
            "fuzz/corpus/{target}: these inputs fail the fuzz checks: {failed:?}"
        );
    }
}

#[test]
fn generated_seeds_are_committed() {
    for (target, seeds) in seeds() {
        let files = committed(target);
        for (what, bytes) in seeds {
            let file = format!("{SEED_PREFIX}{what}");
            assert_eq!(
                files.get(&file),
                Some(&bytes),
                "fuzz/corpus/{target}/{file} is missing or stale: run \
                 `cargo test --test fuzz_corpus -- --ignored write_seed_corpus`"
            );
        }
    }
}

#[test]
fn seeds_hit_both_outcomes() {
    // A corpus that never decodes (or never fails to) would steer the
    // fuzzer away from half of the code.
    let seeds = seeds();
    let decoded = seeds["decode_record"]
        .values()
        .filter(|d| dnstrace::record::Transaction::decode(d).is_ok())
        .count();
    assert!(decoded >= 20 && decoded + 10 <= seeds["decode_record"].len());
    let named = seeds["name"]
        .values()
        .filter(|d| dnstrace::record::dns::name_to_string(d).is_ok())
        .count();
    assert!(named >= 10 && named + 5 <= seeds["name"].len());
}

#[test]
fn presentation_reads_back_as_dig_writes_it() {
    assert_eq!(checks::presentation_to_wire("."), Some(vec![0]));
    assert_eq!(
        checks::presentation_to_wire("a\\.b.\\027x\\\\"),
        Some(b"\x03a.b\x03\x1bx\\\x00".to_vec())
    );
    assert_eq!(checks::presentation_to_wire("a..b"), None);
    assert_eq!(checks::presentation_to_wire("\\25"), None);
    assert_eq!(checks::presentation_to_wire("\\256"), None);
    assert_eq!(checks::presentation_to_wire(&"x".repeat(64)), None);
}

/// Writes the seeds into fuzz/corpus/<target>/ (replacing the old seeds).
#[test]
#[ignore = "writes files: run by hand after changing the seeds"]
fn write_seed_corpus() {
    for (target, seeds) in seeds() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, _) in committed(target) {
            if name.starts_with(SEED_PREFIX) {
                std::fs::remove_file(dir.join(name)).unwrap();
            }
        }
        for (what, bytes) in seeds {
            std::fs::write(dir.join(format!("{SEED_PREFIX}{what}")), bytes).unwrap();
        }
    }
}
