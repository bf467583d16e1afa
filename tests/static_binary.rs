//! The binary is copied to nodes of any distribution, so it may depend on
//! nothing but the C library: libelf and zlib are linked in (libbpf-rs's
//! `vendored` feature), and a new shared library creeping in fails here.

use std::process::Command;

const DNSTRACE: &str = env!("CARGO_BIN_EXE_dnstrace");

/// What every glibc system has: the C library with the libraries it was
/// split into before glibc 2.34, its dynamic loader, the kernel's vdso, and
/// libgcc_s, which Rust's std links for unwinding on linux-gnu and which
/// glibc itself loads (for pthread_cancel), so no glibc system lacks it.
const ALLOWED: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libgcc_s.so.1",
    "linux-vdso.so.1",
    "linux-gate.so.1",
];

/// The dynamic loader's name depends on the architecture:
/// ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld64.so.2, ...
fn is_loader(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.starts_with("ld-linux") || base.starts_with("ld64.so") || base.starts_with("ld.so")
}

/// The libraries in `ldd` output that are not allowed (and the ones ldd
/// could not find, which are never allowed).
fn disallowed(ldd: &str) -> Vec<String> {
    ldd.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("statically linked"))
        .filter_map(|l| {
            let name = l.split_whitespace().next()?;
            let missing = l.contains("not found");
            let allowed = ALLOWED.contains(&name) || is_loader(name);
            (missing || !allowed).then(|| l.to_string())
        })
        .collect()
}

#[test]
fn depends_on_the_c_library_only() {
    let out = Command::new("ldd")
        .arg(DNSTRACE)
        .output()
        .expect("running ldd (Debian: libc-bin)");
    let text = String::from_utf8_lossy(&out.stdout);
    // ldd fails on a static executable ("not a dynamic executable"): fine.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("not a dynamic executable"),
        "ldd {DNSTRACE} failed: {stderr}"
    );
    let bad = disallowed(&text);
    assert!(
        bad.is_empty(),
        "{DNSTRACE} needs shared libraries beyond the C library: {bad:#?}\n\
         allowed: {ALLOWED:?} and the dynamic loader\n\
         full ldd output:\n{text}\n\
         (libelf and zlib must come statically from libbpf-rs's `vendored` feature)"
    );
}

#[test]
fn the_check_catches_what_used_to_be_linked() {
    // ldd of the binary before libelf and zlib were linked statically.
    let before = "\
\tlinux-vdso.so.1 (0x00007fb20268a000)
\tlibelf.so.1 => /lib/x86_64-linux-gnu/libelf.so.1 (0x00007fb2024be000)
\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007fb20249f000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007fb20247f000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fb20229d000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007fb20268c000)
";
    let bad = disallowed(before);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].starts_with("libelf.so.1"));
    assert!(bad[1].starts_with("libz.so.1"));
    assert_eq!(
        disallowed("\tlibzstd.so.1 => /lib/x86_64-linux-gnu/libzstd.so.1 (0x1)\n").len(),
        1
    );
    assert_eq!(disallowed("\tlibc.so.6 => not found\n").len(), 1);
    assert!(disallowed("\tstatically linked\n").is_empty());
}
