//! Shell completions and the man page, generated from the clap definition
//! so that they cannot disagree with `--help`. Copies are committed under
//! `completions/` and `man/` for packagers; tests/assets.rs fails when they
//! are stale (`cargo run -- --generate-assets .` refreshes them).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use clap::CommandFactory;
use clap_complete::{Generator, Shell};
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

use crate::cli::Args;
use crate::output::fields::FIELDS;
use crate::output::LOOKUP_FIELDS;

const BIN: &str = "dnstrace";

/// Every shell clap_complete knows, each written to its conventional name
/// (`dnstrace.bash`, `_dnstrace`, `dnstrace.fish`, `dnstrace.elv`,
/// `_dnstrace.ps1`).
pub const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Elvish,
    Shell::PowerShell,
];

/// Exit statuses, as in `--help` and `preflight`'s constants.
const EXIT_STATUSES: &[(&str, &str)] = &[
    (
        "0",
        "Success, including Ctrl-C, SIGTERM, SIGHUP, --duration, --count and a closed \
         pipe (dnstrace | head).",
    ),
    ("1", "A runtime error."),
    ("2", "A usage error: a bad flag or value."),
    ("3", "Not privileged enough to load BPF programs."),
    (
        "4",
        "The kernel lacks what dnstrace needs: BTF, the tracepoints, BPF features.",
    ),
];

/// What each example shows, and the command.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "Every DNS transaction on the host, as lines of text:",
        "sudo dnstrace",
    ),
    (
        "Only the slow ones (timeouts always qualify):",
        "sudo dnstrace --min-latency 50ms",
    ),
    (
        "Names under a Kubernetes cluster domain that do not exist:",
        "sudo dnstrace --rcode NXDOMAIN --name '*.svc.cluster.local'",
    ),
    (
        "Any failure from one resolver, for AAAA queries:",
        "sudo dnstrace --errors --server 10.96.0.10 --qtype AAAA",
    ),
    (
        "Two programs, on eth0, with a 2 s timeout, for a minute:",
        "sudo dnstrace --comm curl --comm wget -i eth0 --timeout 2s -d 1m",
    ),
    (
        "What each application call asked and got (search-list expansions, A and AAAA, resends \
         grouped into one lookup), and the lookups that took more than two queries:",
        "sudo dnstrace --lookups --json | jq -c 'select(.queries > 2) | {name, queries, search_misses, retries, retransmits, rcode}'",
    ),
    (
        "Names that fail, as they happen:",
        "sudo dnstrace --json | jq -r 'select(.rcode != \"NOERROR\") | \"\\(.rcode) \\(.qname)\"'",
    ),
    (
        "Mean latency per server over 30 seconds:",
        "sudo dnstrace --json -d 30s | jq -s 'map(select(.latency_ms)) | group_by(.server_ip)\n  \
         | map({server: .[0].server_ip, n: length, mean_ms: (map(.latency_ms) | add / length)})'",
    ),
    (
        "Which processes time out:",
        "sudo dnstrace --json --rcode TIMEOUT | jq -r '\"\\(.comm // \"?\") \\(.qname) -> \\(.server_ip)\"'",
    ),
];

/// A tagged paragraph: the term on one line, the text indented below.
fn item(roff: &mut Roff, term: Vec<Inline>, text: &str) {
    roff.control("TP", []);
    roff.text(term);
    roff.text([roman(text)]);
}

fn paragraph(roff: &mut Roff, text: &str) {
    roff.control("PP", []);
    roff.text([roman(text)]);
}

/// The sections clap knows nothing about.
fn extra_sections() -> Roff {
    let mut roff = Roff::new();

    roff.control("SH", ["OUTPUT"]);
    roff.text([roman(
        "One line per transaction, aligned: local time, process (comm[pid], or - when not \
         known), client -> server, protocol, DNS id, query type, name, response code (with \
         ,TC when truncated) and latency. With --json, one JSON object per line instead \
         (see JSON OUTPUT).",
    )]);
    paragraph(
        &mut roff,
        "Where DNAT delivered a query elsewhere (a Kubernetes Service's virtual IP to a \
         backend pod), the server reads 10.96.0.10:53\u{2192}10.244.2.2: the address asked, \
         then the backend's (with its port when it is not the server's). After the name, \
         (late) marks an answer that came after its query's TIMEOUT line, (duplicate) a \
         second answer to an answered query (with the first answer's rcode when it was \
         another), and a query failed by an ICMP error has the rcode UNREACHABLE and says \
         which error, from whom. Late and duplicate answers are shown but not counted as \
         transactions again.",
    );
    paragraph(
        &mut roff,
        "At exit, standard error gets a summary: transactions answered, timed out and \
         unreachable, late and duplicate answers, and what was lost and why: ring buffer \
         full, evicted from the pending-query map, still pending at exit, malformed packets \
         skipped by reason. Losses are also reported \
         while tracing. Standard output carries nothing but the transactions.",
    );

    roff.control("SH", ["JSON OUTPUT"]);
    roff.text([roman(
        "With --json or --output json, each transaction is one JSON object on one line, \
         with these fields in this order. The names are fixed; fields may be added.",
    )]);
    for f in FIELDS {
        item(
            &mut roff,
            vec![bold(f.name), roman(" ("), italic(f.ty), roman(")")],
            &f.plain_doc(),
        );
    }

    roff.control("SH", ["LOOKUPS"]);
    roff.text([roman(LOOKUPS_TEXT)]);
    paragraph(
        &mut roff,
        "With --lookups --json, each lookup is one JSON object on one line, with these \
         fields in this order. The names are fixed; fields may be added.",
    );
    for f in LOOKUP_FIELDS {
        item(
            &mut roff,
            vec![bold(f.name), roman(" ("), italic(f.ty), roman(")")],
            &f.doc.replace('`', ""),
        );
    }

    roff.control("SH", ["SECURITY SIGNALS"]);
    roff.text([roman(SECURITY_TEXT)]);
    for (kind, meaning) in SECURITY_KINDS {
        item(&mut roff, vec![bold(*kind)], meaning);
    }

    roff.control("SH", ["EXIT STATUS"]);
    for (status, meaning) in EXIT_STATUSES {
        item(&mut roff, vec![bold(*status)], meaning);
    }

    roff.control("SH", ["REQUIREMENTS"]);
    roff.text([roman(
        "Linux 5.14 or later with BTF (/sys/kernel/btf/vmlinux, or --btf PATH with a BTF file \
         for the running kernel), BPF ring buffers and tp_btf tracepoints; root, or \
         CAP_BPF and CAP_PERFMON. Kernels from about 6.14 on let the \
         program read packets with bpf_dynptr_from_skb; older ones get the linear reader, \
         chosen at start-up.",
    )]);

    roff.control("SH", ["EXAMPLES"]);
    for (what, command) in EXAMPLES {
        roff.control("PP", []);
        roff.text([roman(*what)]);
        roff.control("RS", ["4"]);
        roff.control("EX", []);
        roff.text([roman(*command)]);
        roff.control("EE", []);
        roff.control("RE", []);
    }

    roff.control("SH", ["SEE ALSO"]);
    roff.control("BR", ["dig", "(1),"]);
    roff.control("BR", ["tcpdump", "(8),"]);
    roff.control("BR", ["bpftool", "(8)"]);
    roff
}

/// The man page, in roff.
pub fn man_page() -> Vec<u8> {
    // NAME is one short line; DESCRIPTION keeps the whole of --help's text.
    let cmd = Args::command().about("trace every DNS transaction on a Linux host with eBPF");
    // clap_mangen writes an empty date as nothing at all, which shifts the
    // source and manual into the date's place; "" keeps them in theirs. No
    // real date: the page must regenerate identically for the staleness test.
    let man = Man::new(cmd)
        .title("DNSTRACE")
        .date("\"\"")
        .manual("User Commands");
    // Writing to a Vec cannot fail.
    let mut page = Vec::new();
    man.render_title(&mut page).expect("render to memory");
    // Every render_* call starts with the same preamble; keep only the first.
    let preamble = Roff::new().render();
    let mut section = |render: &dyn Fn(&mut Vec<u8>) -> io::Result<()>| {
        let mut buf = Vec::new();
        render(&mut buf).expect("render to memory");
        let body = buf.strip_prefix(preamble.as_bytes()).unwrap_or(&buf);
        page.extend_from_slice(body);
    };
    // Flag names, capabilities and field names read badly when hyphenated.
    section(&|w| Roff::new().control("nh", []).to_writer(w));
    section(&|w| man.render_name_section(w));
    section(&|w| man.render_synopsis_section(w));
    section(&|w| man.render_description_section(w));
    section(&|w| man.render_options_section(w));
    section(&|w| extra_sections().to_writer(w));
    section(&|w| man.render_version_section(w));
    page
}

/// The README's table of JSON fields (under "## Output"), one row per
/// field: name, type, meaning. tests/assets.rs checks the README against
/// it.
pub fn readme_json_table() -> String {
    let mut table = String::from("| field | type | meaning |\n|---|---|---|\n");
    for f in FIELDS {
        table.push_str(&format!("| `{}` | {} | {} |\n", f.name, f.ty, f.doc));
    }
    table
}

/// What a lookup is, for the man page.
const LOOKUPS_TEXT: &str = "A lookup is what one application call asked: the queries one client \
     (a process, or a socket when the process is not known) sends for one name. That is the \
     search-list expansions (search and ndots read from the process's /etc/resolv.conf, or \
     its network namespace's, or inferred from the names), the sibling types A and AAAA, \
     retransmissions on the same socket, retries from a new one, and a TCP retry after a \
     truncated answer. It ends when the application has its answer (the first name in \
     search order with records, or the last failure), or when everything timed out. With \
     --lookups, one line (text, JSON, or a row of the table's lookups view, key l) per \
     lookup replaces the transactions. The rcode, latency, name and type filters then pick \
     lookups; the others pick the transactions lookups are made of. A lookup is reported \
     once no query of it can still be reported: a second or so after its last answer, or \
     after the resolver's retry when a query was lost. The summary always says how many \
     lookups there were, how many queries each took, the share that were search misses, \
     the resends (and how many came about 5 s after the first try), and which names to \
     fix. Up to 16384 lookups are open at once; beyond that the oldest is reported early \
     (incomplete) and counted.";

/// What the security signals are, for the man page.
const SECURITY_TEXT: &str = "Each transaction that passes the filters is checked in user space, \
     and a suspicious one gets a suspicion: a score from 0 to 100 (the sum of its reasons' \
     weights) and its reasons, each with a text a person can read. JSON has it in the \
     suspicion field, text lines end with [suspicious SCORE: kinds], the table's view x lists \
     flagged transactions by client (the pod, when known) and registered domain, the summary \
     has a security section and the metrics count dnstrace_suspicious_total by reason. \
     --suspicious shows only flagged transactions (with --lookups, lookups with a flagged \
     query). The registered domain is one label under the ICANN public suffix (the list is \
     compiled in; hosting suffixes such as cloudfront.net are stepped over, so that a CDN \
     customer's host is judged by the CDN's label); unique names and TXT volume are counted \
     per site, one label under the suffix with hosting suffixes included (each cloud \
     customer's apart). Names under arpa, \
     cluster.local, local, the client's search domains and --security-allow are not checked. \
     The per-site and per-client counts are kept for at most --security-max-keys sites \
     and clients each; the least recently used are dropped first, and the drops are counted \
     in the summary. A resolver's forwarded queries count toward neither the TXT volume \
     nor its NXDOMAIN burst. \
     The kinds, with their default thresholds:";

/// Each kind of reason, and where its threshold comes from.
const SECURITY_KINDS: &[(&str, &str)] = &[
    (
        "unauthorized_resolver (50)",
        "A local process asked a server that is neither in its resolv.conf (or its network \
         namespace's) nor in --resolvers. A resolver's own upstream queries pass when it \
         listens on port 53 at an address some client is configured to use, or on every \
         address. Not judged when the client's settings or the sender cannot be read.",
    ),
    (
        "unique_subdomains (60)",
        "More than --suspicious-subdomains (100) unique names under one registered domain in \
         --security-window (1h): RITA's DNS tunneling threshold. The Zeek anomalous-dns \
         scripts use 8 per hour from a host that is not a resolver, a stricter setting.",
    ),
    (
        "type_volume (40)",
        "More than --suspicious-txt (50) TXT and NULL queries under one registered domain in \
         the window: the types tunnels carry data in.",
    ),
    (
        "long_name (20)",
        "A name longer than --suspicious-name-length (90) characters, the Zeek scripts' \
         threshold.",
    ),
    (
        "long_label (30)",
        "A label longer than --suspicious-label-length (52): tunnels fill labels to their \
         63-byte limit.",
    ),
    (
        "unusual_type (30)",
        "A NULL query, or a private-use type (65280-65534).",
    ),
    (
        "large_answer (15)",
        "An answer larger than --suspicious-answer-size (1232) bytes, DNS Flag Day 2020's \
         unfragmented UDP size.",
    ),
    (
        "generated_name (50)",
        "The registered domain's label looks machine-made (domain generation algorithms): \
         each letter priced by a trigram model built from an English word list, against a \
         random letter, with switches between letters and digits adding to the price. Labels \
         of 6 characters or fewer, and xn-- labels, are not judged.",
    ),
    (
        "nxdomain_burst (40)",
        "More than --suspicious-nxdomain (200) NXDOMAIN answers to one client in \
         --nxdomain-window (15m), as SIEM rules for DGA activity count them.",
    ),
];

/// The README's table of lookup fields (under "## Lookups").
pub fn readme_lookup_table() -> String {
    let mut table = String::from("| field | type | meaning |\n|---|---|---|\n");
    for f in LOOKUP_FIELDS {
        table.push_str(&format!("| `{}` | {} | {} |\n", f.name, f.ty, f.doc));
    }
    table
}

/// The command as completions should offer it. clap_complete offers hidden
/// flags too (`--generate-assets`), and clap cannot remove an argument, so
/// the visible ones are copied into a fresh command.
fn visible_command() -> clap::Command {
    let full = Args::command();
    let visible = full.get_arguments().filter(|a| !a.is_hide_set()).cloned();
    clap::Command::new(BIN)
        .version(env!("CARGO_PKG_VERSION"))
        .args(visible)
}

/// The completion script for one shell.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut visible_command(), BIN, &mut out);
    out
}

/// Where each generated file goes, relative to the repository (or package)
/// root, with its contents.
pub fn files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = SHELLS
        .iter()
        .map(|&shell| {
            (
                format!("completions/{}", shell.file_name(BIN)),
                completion(shell),
            )
        })
        .collect();
    files.push((format!("man/{BIN}.1"), man_page()));
    files
}

/// Writes every completion script and the man page under `dir`.
pub fn write_all(dir: &Path) -> io::Result<()> {
    for (rel, contents) in files() {
        let path = dir.join(&rel);
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(named)?;
        }
        fs::File::create(&path)
            .and_then(|mut f| f.write_all(&contents))
            .map_err(named)?;
    }
    Ok(())
}
