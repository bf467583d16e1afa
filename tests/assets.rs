//! The committed completions and man page are what the clap definition
//! generates today, and the man page documents every flag and every JSON
//! field the code has.

mod util;

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

use clap::CommandFactory;
use dnstrace::assets;
use dnstrace::cli::Args;
use dnstrace::output::{self, fields::FIELDS, Clock};
use dnstrace::record::{Direction, Kind, Proto, Service, Transaction};
use util::{TempDir, DNSTRACE};

const REFRESH: &str = "cargo run -- --generate-assets .";

/// The directories that hold generated files, relative to the repository.
const GENERATED_DIRS: [&str; 2] = ["completions", "man"];

/// Every file under the generated directories of `root`, relative to it.
fn generated_files(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for dir in GENERATED_DIRS {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries {
            files.push(format!(
                "{dir}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    files.sort();
    files
}

#[test]
fn committed_completions_and_man_page_are_fresh() {
    let tmp = TempDir::new("assets");
    let out = Command::new(DNSTRACE)
        .arg("--generate-assets")
        .arg(&tmp.path)
        .output()
        .expect("running dnstrace --generate-assets");
    assert!(
        out.status.success(),
        "--generate-assets failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fresh = generated_files(&tmp.path);
    assert_eq!(
        fresh.len(),
        assets::files().len(),
        "the binary wrote what the library generates: {fresh:?}"
    );
    let mut stale = Vec::new();
    for rel in &fresh {
        let want = fs::read(tmp.path.join(rel)).unwrap();
        match fs::read(repo.join(rel)) {
            Ok(have) if have == want => {}
            Ok(_) => stale.push(format!("{rel} differs")),
            Err(e) => stale.push(format!("{rel}: {e}")),
        }
    }
    for rel in generated_files(repo) {
        if !fresh.contains(&rel) {
            stale.push(format!("{rel} is no longer generated: remove it"));
        }
    }
    assert!(
        stale.is_empty(),
        "the committed completions or man page do not match the CLI:\n  {}\n\
         Refresh them from the repository root with `{REFRESH}` and commit the result.",
        stale.join("\n  ")
    );
}

#[test]
fn generating_needs_no_privileges() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let tmp = TempDir::new("assets-nobody");
    let mut cmd = if root {
        // As nobody with no capabilities, into a directory nobody may write.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp.path, fs::Permissions::from_mode(0o777)).unwrap();
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            DNSTRACE,
        ]);
        c
    } else {
        Command::new(DNSTRACE)
    };
    let out = cmd
        .arg("--generate-assets")
        .arg(&tmp.path)
        .output()
        .expect("running dnstrace --generate-assets (setpriv is in util-linux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tmp.path.join("man/dnstrace.1").is_file());
}

#[test]
fn generating_into_an_unwritable_place_fails_clearly() {
    let out = Command::new(DNSTRACE)
        .args(["--generate-assets", "/proc/dnstrace-no-such-dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/proc/dnstrace-no-such-dir/") && err.contains("man page"),
        "{err}"
    );
}

/// How a flag appears in roff source: bold, each dash escaped.
fn roff_flag(dashes: &str, name: &str) -> String {
    format!(
        "\\fB{}{}\\fR",
        dashes.replace('-', "\\-"),
        name.replace('-', "\\-")
    )
}

#[test]
fn man_page_documents_every_flag_and_completions_offer_it() {
    let man = String::from_utf8(assets::man_page()).unwrap();
    let bash = String::from_utf8(assets::completion(clap_complete::Shell::Bash)).unwrap();
    let mut cmd = Args::command();
    cmd.build(); // adds --help and --version
    let mut checked = 0;
    for arg in cmd.get_arguments() {
        let long = arg.get_long().expect("every flag has a long name");
        if arg.is_hide_set() {
            assert!(
                !man.contains(&long.replace('-', "\\-")),
                "--{long} is hidden"
            );
            assert!(!bash.contains(long), "--{long} is hidden");
            continue;
        }
        assert!(
            man.contains(&roff_flag("--", long)),
            "the man page does not document --{long}; refresh with `{REFRESH}`"
        );
        if let Some(short) = arg.get_short() {
            assert!(
                man.contains(&roff_flag("-", &short.to_string())),
                "-{short}"
            );
        }
        assert!(
            [" ", "\""]
                .iter()
                .any(|end| bash.contains(&format!("--{long}{end}"))),
            "bash completion lacks --{long}"
        );
        checked += 1;
    }
    assert!(checked > 20, "only {checked} flags found");
}

/// A transaction with every field set, as the kernel would report one.
fn sample_transaction() -> Transaction {
    Transaction {
        kind: Kind::Answered,
        service: Service::Dns,
        mono_ns: 1_000_000_000,
        latency_ns: Some(2_500_000),
        duration_ns: None,
        bytes_out: 0,
        bytes_in: 0,
        netns: 4026531840,
        ifindex: 2,
        interface: "eth0".into(),
        direction: Direction::Egress,
        pid: Some(4242),
        comm: Some("dig".into()),
        client: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        client_port: 40000,
        server: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        server_port: 53,
        proto: Proto::Udp,
        id: 0xbeef,
        qname: "www.example.com".into(),
        qtype: 28,
        qclass: 1,
        qflags: 0x0100,
        rflags: Some(0x8180),
        ancount: 1,
        nscount: 0,
        arcount: 0,
        query_size: 33,
        response_size: Some(61),
        backend_ip: None,
        backend_port: None,
        nat_ip: None,
        nat_port: None,
        backend_ns: None,
        cgroup_id: Some(4242),
        first_rcode: None,
        icmp: None,
    }
}

/// The JSON field names in the order they are printed.
fn json_field_names() -> Vec<String> {
    let t = sample_transaction();
    let mut line = String::new();
    output::json_line(&t, &Clock::now(), &mut line);
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    let mut names: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    // serde_json's map sorts its keys; the printed order is the line's.
    names.sort_by_key(|n| line.find(&format!("\"{n}\":")).unwrap());
    names
}

#[test]
fn man_page_documents_every_json_field() {
    let man = String::from_utf8(assets::man_page()).unwrap();
    let section = man
        .split(".SH \"JSON OUTPUT\"")
        .nth(1)
        .and_then(|s| s.split("\n.SH ").next())
        .expect("a JSON OUTPUT section");
    let names = json_field_names();
    assert!(names.len() > 20, "{names:?}");
    for name in &names {
        assert!(
            section.contains(&format!(".TP\n\\fB{name}\\fR")),
            "the man page's JSON OUTPUT does not describe {name}; add it to \
             output::fields::FIELDS and refresh with `{REFRESH}`"
        );
    }
    // And it describes no field that does not exist, in the printed order.
    let documented: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
    assert_eq!(
        documented, names,
        "output::fields::FIELDS against the JSON line"
    );
}

/// The README's table of JSON fields is the one the field table renders,
/// row for row: name, type, meaning.
#[test]
fn readme_documents_every_json_field() {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let output = readme
        .split("\n## Output\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a section ## Output");
    let table: Vec<&str> = output
        .split("JSON: one object per line")
        .nth(1)
        .expect("JSON: one object per line, then the table")
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let want = assets::readme_json_table();
    let want: Vec<&str> = want.lines().collect();
    assert!(want.len() > 20, "{want:?}");
    assert_eq!(
        table, want,
        "README.md's JSON field table (under ## Output) is not the one \
         output::fields::FIELDS renders; paste in assets::readme_json_table()"
    );
}

/// The README's table of lookup fields is the one the lookup field table
/// renders.
#[test]
fn readme_documents_every_lookup_field() {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let table: Vec<&str> = readme
        .split("\n## Lookups\n")
        .nth(1)
        .and_then(|s| s.split("Lookup JSON: one object per line").nth(1))
        .expect("a section ## Lookups with its JSON table")
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let want = assets::readme_lookup_table();
    let want: Vec<&str> = want.lines().collect();
    assert!(want.len() > 20, "{want:?}");
    assert_eq!(
        table, want,
        "README.md's lookup field table is not the one output::LOOKUP_FIELDS \
         renders; paste in assets::readme_lookup_table()"
    );
}

#[test]
fn man_page_has_the_sections_users_look_for() {
    let man = String::from_utf8(assets::man_page()).unwrap();
    for needle in [
        ".SH \"EXIT STATUS\"",
        ".SH EXAMPLES",
        ".SH \"SEE ALSO\"",
        "sudo dnstrace \\-\\-min\\-latency 50ms",
        "sudo dnstrace \\-\\-json | jq",
        "sudo dnstrace \\-\\-rcode NXDOMAIN \\-\\-name \\*(Aq*.svc.cluster.local\\*(Aq",
        ".BR dig (1),",
        ".BR tcpdump (8),",
        ".BR bpftool (8)",
    ] {
        assert!(man.contains(needle), "the man page lacks {needle:?}");
    }
    let statuses = man
        .split(".SH \"EXIT STATUS\"")
        .nth(1)
        .and_then(|s| s.split("\n.SH ").next())
        .unwrap();
    for code in 0..=4 {
        assert!(
            statuses.contains(&format!(".TP\n\\fB{code}\\fR\n")),
            "exit status {code}"
        );
    }
}

/// The README's layout names every source file, so that a newcomer finds
/// each module's room from it.
#[test]
fn readme_layout_names_every_source_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(root.join("README.md")).expect("README.md");
    let layout = readme
        .split("\n### Layout\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a section ### Layout");
    let mut missing = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let parent = path.parent().unwrap().strip_prefix(root).unwrap();
            // A file is named by its path, or by its name under its
            // folder's entry (`src/output/`: ... `json.rs`).
            let folder = format!("`{}/`", parent.display());
            let named = layout.contains(&format!("`{rel}`"))
                || (layout.contains(&folder) && layout.contains(&format!("`{name}`")));
            if !named {
                missing.push(rel);
            }
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "README.md's ### Layout does not name: {missing:?}"
    );
}
