//! `--btf PATH`: the loader relocates the programs against the given file,
//! a copy of the kernel's BTF traces like the original, and a file that is
//! not BTF is refused before anything loads. (A missing file is covered in
//! tests/cli.rs.)

mod util;

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Command, Output};

use util::{dig, privileged, Link, Responder, TempDir, Tracer, DNSTRACE};

const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn dnstrace_with_btf(btf: &Path) -> Output {
    Command::new(DNSTRACE)
        .arg("--btf")
        .arg(btf)
        .args(["--duration", "1s"])
        .output()
        .expect("running dnstrace")
}

#[test]
fn a_copy_of_the_kernel_btf_loads_and_traces() {
    let Some(_serial) = privileged("a_copy_of_the_kernel_btf_loads_and_traces") else {
        return;
    };
    let tmp = TempDir::new("btf");
    let copy = tmp.path.join("vmlinux.btf");
    fs::copy(KERNEL_BTF, &copy).expect("copying the kernel's BTF");

    let link = Link::new("btf", 230);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&[
        "--btf",
        copy.to_str().unwrap(),
        "--server",
        &link.server_v4.to_string(),
    ]);
    let d = dig(&link.client, server.ip(), "www.btf.test", &["AAAA"]);
    assert_eq!(d.status, "NOERROR", "{}", d.stdout);
    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.records.len(), 1, "{}", out.stdout);
    let r = out.by_id(d.id.expect("dig printed an id"));
    assert_eq!(r["qname"], "www.btf.test");
    assert_eq!(r["qtype"], "AAAA");
    assert_eq!(r["rcode"], "NOERROR");
    assert_eq!(r["interface"], link.client_if.as_str());
    assert_eq!(r["comm"], "dig");
    assert!(r["latency_ms"].as_f64().is_some(), "{r}");
}

/// What a kernel without its own BTF gets: classic tracepoints whose every
/// kernel field read is relocated against the --btf file (this kernel has
/// BTF, but the classic programs do not use it).
#[test]
fn classic_tracepoints_with_a_btf_file_trace_udp() {
    let Some(_serial) = privileged("classic_tracepoints_with_a_btf_file_trace_udp") else {
        return;
    };
    let tmp = TempDir::new("btf-classic");
    let copy = tmp.path.join("vmlinux.btf");
    fs::copy(KERNEL_BTF, &copy).expect("copying the kernel's BTF");
    let link = Link::new("btfc", 231);
    let server = SocketAddr::new(IpAddr::V4(link.server_v4), 53);
    let _resp = Responder::start(&link.server, server);
    let tracer = Tracer::start(&[
        "--btf",
        copy.to_str().unwrap(),
        "--reader",
        "tracepoint",
        "--server",
        &link.server_v4.to_string(),
    ]);
    // The first query waits for ARP and leaves from a softirq: no process.
    let server_v4 = link.server_v4.to_string();
    link.client
        .ip(&["neigh", "del", &server_v4, "dev", &link.client_if]);
    let arp = dig(&link.client, server.ip(), "arp.classic.test", &[]);
    let d = dig(
        &link.client,
        server.ip(),
        "rcode-nxdomain.classic.test",
        &[],
    );
    let late = dig(&link.client, server.ip(), "delay-30.classic.test", &[]);
    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("classic tracepoints"), "{}", out.stderr);
    assert_eq!(out.records.len(), 3, "{}", out.stdout);
    let r = out.by_id(arp.id.unwrap());
    assert!(
        r["pid"].is_null() && r["comm"].is_null(),
        "sent from a softirq: {r}"
    );
    let r = out.by_id(d.id.unwrap());
    assert_eq!(r["qname"], "rcode-nxdomain.classic.test");
    assert_eq!(r["rcode"], "NXDOMAIN");
    assert_eq!(r["interface"], link.client_if.as_str());
    assert_eq!(r["comm"], "dig", "process attribution through probe reads");
    let r = out.by_id(late.id.unwrap());
    assert!(r["latency_ms"].as_f64().unwrap() >= 30.0, "{r}");
}

#[test]
fn the_loader_relocates_against_the_given_file() {
    let Some(_serial) = privileged("the_loader_relocates_against_the_given_file") else {
        return;
    };
    // Valid BTF that describes no type at all: it parses, so only the
    // loader can reject it, and only if it relocates the programs against
    // this file rather than the kernel's own BTF, which has every type.
    let tmp = TempDir::new("btf-empty");
    let empty = tmp.path.join("empty.btf");
    let mut btf = Vec::new();
    btf.extend_from_slice(&0xeb9f_u16.to_le_bytes()); // magic
    btf.extend_from_slice(&[1, 0]); // version 1, no flags
    for field in [24u32, 0, 0, 0, 1] {
        // header length; type section offset and length; string section
        // offset and length (one byte: the empty string)
        btf.extend_from_slice(&field.to_le_bytes());
    }
    btf.push(0);
    fs::write(&empty, &btf).unwrap();

    let out = dnstrace_with_btf(&empty);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains(&format!("--btf {}", empty.display())),
        "the failure names the file: {err}"
    );
}

#[test]
fn a_file_that_is_not_btf_is_a_usage_error() {
    // Checked before the preflight, so this needs no privileges.
    let tmp = TempDir::new("btf-bad");
    let text = tmp.path.join("not-btf.txt");
    fs::write(&text, "this is not BTF\n").unwrap();
    let mut cases = vec![(text, "not a BTF file"), (tmp.path.clone(), "not a file")];
    if let Ok(kernel) = fs::read(KERNEL_BTF) {
        let truncated = tmp.path.join("truncated.btf");
        fs::write(&truncated, &kernel[..kernel.len() / 2]).unwrap();
        cases.push((truncated, "not a BTF file"));
    }
    for (path, why) in cases {
        let out = dnstrace_with_btf(&path);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert!(
            err.contains(&format!("--btf {}: {why}", path.display())),
            "{err}"
        );
        assert_eq!(err.matches("error:").count(), 1, "said once: {err}");
    }
}
