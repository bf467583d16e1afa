//! Compiles the kernel program (src/bpf/dnstrace.bpf.c and the headers it
//! includes) with clang and generates its Rust skeleton into OUT_DIR; the
//! object is embedded in the binary, so nothing but the binary is needed at
//! run time.

use std::env;
use std::path::{Path, PathBuf};

use libbpf_cargo::util::CargoWarningFormatter;
use libbpf_cargo::SkeletonBuilder;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;

const SRC: &str = "src/bpf/dnstrace.bpf.c";
/// The program's directory: cargo watches every file in a directory it is
/// given, so each header is covered, one added later too.
const SRC_DIR: &str = "src/bpf";

/// The newest clang on PATH, unless $CLANG names one: BPF code generation
/// improves with every release, and Debian ships several side by side.
fn find_clang() -> PathBuf {
    if let Some(clang) = env::var_os("CLANG") {
        return PathBuf::from(clang);
    }
    let path = env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = env::split_paths(&path).collect();
    let found = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
    (14..=30)
        .rev()
        .find_map(|v| found(&format!("clang-{v}")))
        .or_else(|| found("clang"))
        .unwrap_or_else(|| PathBuf::from("clang"))
}

fn main() {
    // clang's own diagnostics become cargo warnings; the skeleton
    // generator's chatter about ELF sections does not.
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(CargoWarningFormatter)
                .with_filter(filter_fn(|meta| meta.target().starts_with("compiler"))),
        )
        .init();

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let clang = find_clang();
    SkeletonBuilder::new()
        .source(SRC)
        .clang(&clang)
        .clang_args(["-Wall", "-Wno-unused-function", "-I", "src/bpf"])
        .build_and_generate(Path::new(&out).join("dnstrace.skel.rs"))
        .unwrap_or_else(|e| {
            panic!(
                "building the BPF program with {} failed: {e:#}\n\
                 (install clang and libelf-dev, or set CLANG to a clang that targets bpf)",
                clang.display()
            )
        });

    write_types(&out);

    println!("cargo:rerun-if-changed={SRC_DIR}");
    println!("cargo:rerun-if-env-changed=CLANG");
}

/// The skeleton's `types` module on its own: the kernel ABI (structs and
/// enums from the object's BTF) without the loader, so that decoding
/// records depends on nothing of libbpf. The module is found by counting
/// braces: the generator writes only type definitions there, with no
/// brace in a string or comment; a change that broke this would fail to
/// compile, not pass unnoticed.
fn write_types(out: &Path) {
    let skel = std::fs::read_to_string(out.join("dnstrace.skel.rs")).expect("reading the skeleton");
    let start = skel
        .find("pub mod types {")
        .expect("the skeleton has a types module");
    let mut depth = 0usize;
    let mut end = None;
    for (i, c) in skel[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = Some(start + i + 1);
                    break;
                }
            }
            _ => {}
        }
    }
    let end = end.expect("the types module ends");
    std::fs::write(out.join("dnstrace.types.rs"), &skel[start..end])
        .expect("writing the ABI types");
}
