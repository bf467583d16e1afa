//! Compiles the kernel program (src/bpf/dnstrace.bpf.c and the headers it
//! includes) with clang and generates its Rust skeleton into OUT_DIR; the
//! object is embedded in the binary, so nothing but the binary is needed at
//! run time. Also builds the letter model that judges whether a name looks
//! generated (src/security/generated.rs) from the system's English word
//! list, into OUT_DIR too.

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
    write_name_model(&out);

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

/// Debian's `wamerican` word list: about 100,000 English words, proper
/// nouns among them, the letters of ordinary names.
const WORDS: &str = "/usr/share/dict/american-english";

/// Symbols of the letter model: a to z, then 26 for a word's edge (in a
/// name, a digit or a hyphen too). Must match src/security/generated.rs.
const EDGE: usize = 26;
const SYMBOLS: usize = 27;

/// How far each order of the model is trusted: trigrams seen in the words
/// decide, with the bigram, the single letter and a flat floor under
/// them, so that a sequence no word has still gets a finite cost.
const WEIGHTS: [f64; 4] = [0.75, 0.2, 0.049, 0.001];

/// Writes `name_trigrams.bin`: for each (a, b, c) at index
/// `(a * 27 + b) * 27 + c`, the surprisal of c after a and b in English
/// words, -log2 P(c | a b), in sixteenths of a bit, at most 255. Each word
/// counts once (the list has no frequencies); possessives (`'s`) and
/// words with letters outside a to z are left out.
fn write_name_model(out: &Path) {
    let text = std::fs::read_to_string(WORDS).unwrap_or_else(|e| {
        panic!(
            "reading the English word list {WORDS}: {e}\n\
             (install Debian's wamerican package: apt-get install wamerican; \
             the model of ordinary names is built from it)"
        )
    });
    let mut tri = vec![0u32; SYMBOLS * SYMBOLS * SYMBOLS];
    let mut bi = vec![0u32; SYMBOLS * SYMBOLS];
    let mut uni = [0u32; SYMBOLS];
    let mut words = 0u32;
    for word in text.lines() {
        if word.is_empty() || !word.bytes().all(|b| b.is_ascii_alphabetic()) {
            continue;
        }
        words += 1;
        let (mut a, mut b) = (EDGE, EDGE);
        let letters = word
            .bytes()
            .map(|l| (l.to_ascii_lowercase() - b'a') as usize);
        for c in letters.chain(std::iter::once(EDGE)) {
            tri[(a * SYMBOLS + b) * SYMBOLS + c] += 1;
            bi[b * SYMBOLS + c] += 1;
            uni[c] += 1;
            (a, b) = (b, c);
        }
    }
    assert!(
        words > 50_000,
        "{WORDS} has {words} plain words: expected wamerican's list of about 100,000"
    );
    let total: u32 = uni.iter().sum();
    let mut table = vec![0u8; tri.len()];
    for a in 0..SYMBOLS {
        for b in 0..SYMBOLS {
            let seen_ab: u32 = (0..SYMBOLS)
                .map(|c| tri[(a * SYMBOLS + b) * SYMBOLS + c])
                .sum();
            let seen_b: u32 = (0..SYMBOLS).map(|c| bi[b * SYMBOLS + c]).sum();
            for c in 0..SYMBOLS {
                let ratio = |n: u32, d: u32| if d == 0 { 0.0 } else { n as f64 / d as f64 };
                let i = (a * SYMBOLS + b) * SYMBOLS + c;
                let p = WEIGHTS[0] * ratio(tri[i], seen_ab)
                    + WEIGHTS[1] * ratio(bi[b * SYMBOLS + c], seen_b)
                    + WEIGHTS[2] * ratio(uni[c], total)
                    + WEIGHTS[3] / SYMBOLS as f64;
                table[i] = (-p.log2() * 16.0).round().min(255.0) as u8;
            }
        }
    }
    std::fs::write(out.join("name_trigrams.bin"), table).expect("writing the name model");
    println!("cargo:rerun-if-changed={WORDS}");
}
