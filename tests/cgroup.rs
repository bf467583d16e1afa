//! The socket's cgroup: the kernel reads the cgroup (v2) of the socket a
//! query leaves from, the key to the container or pod that sent it. This
//! machine mounts only cgroup v1, so the test mounts a cgroup2 hierarchy
//! of its own, moves dig into a cgroup there, and checks that the record
//! names that cgroup by its id (the inode of its directory), and that a
//! process left in the root is named by the root's.

mod util;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use util::{parse_dig, privileged, run, Dnsmasq, Netns, TempDir, Tracer};

/// A cgroup2 hierarchy mounted for the test, with one child cgroup;
/// unmounted (the child removed first) on drop.
struct Cgroup2 {
    dir: TempDir,
    child: PathBuf,
}

impl Cgroup2 {
    fn mount(tag: &str) -> Cgroup2 {
        let dir = TempDir::new(tag);
        let root = dir.path.to_str().unwrap().to_string();
        run("mount", &["-t", "cgroup2", "none", &root]);
        let child = dir.path.join("dnstrace-test");
        std::fs::create_dir(&child).expect("a cgroup in the cgroup2 mount");
        Cgroup2 { dir, child }
    }

    fn id(path: &Path) -> u64 {
        std::fs::metadata(path).expect("cgroup directory").ino()
    }
}

impl Drop for Cgroup2 {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.child);
        let _ = Command::new("umount").arg(&self.dir.path).status();
    }
}

/// dig from `ns`, first moved into the cgroup `procs` is the
/// cgroup.procs of (None: left where it is).
fn dig_in(ns: &Netns, procs: Option<&Path>, name: &str) -> util::Dig {
    let mv = procs
        .map(|p| format!("echo $$ > {} && ", p.display()))
        .unwrap_or_default();
    let out = ns
        .command("sh")
        .arg("-c")
        .arg(format!(
            "{mv}exec dig @127.0.0.1 {name} +tries=1 +timeout=2 +noedns"
        ))
        .output()
        .expect("sh and dig");
    parse_dig(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn socket_cgroup_names_the_senders_v2_cgroup() {
    let Some(_serial) = privileged("socket_cgroup_names_the_senders_v2_cgroup") else {
        return;
    };
    let cg = Cgroup2::mount("cg2");
    let ns = Netns::new("cgroup");
    let _dnsmasq = Dnsmasq::start(&ns, &["127.0.0.1".parse().unwrap()]);
    let tracer = Tracer::start(&["--name", "*.cg.ok.test"]);
    let moved = dig_in(
        &ns,
        Some(&cg.child.join("cgroup.procs")),
        "moved.cg.ok.test",
    );
    let stayed = dig_in(&ns, None, "stayed.cg.ok.test");
    assert_eq!(moved.status, "NOERROR", "{}", moved.stdout);
    assert_eq!(stayed.status, "NOERROR", "{}", stayed.stdout);
    let out = tracer.stop();

    let moved_rec = out.by_id(moved.id.unwrap());
    assert_eq!(moved_rec["qname"], "moved.cg.ok.test", "{moved_rec}");
    assert_eq!(
        moved_rec["cgroup_id"],
        Cgroup2::id(&cg.child),
        "the cgroup dig was moved to: {moved_rec}"
    );
    let stayed_rec = out.by_id(stayed.id.unwrap());
    assert_eq!(
        stayed_rec["cgroup_id"],
        Cgroup2::id(&cg.dir.path),
        "a process in no v2 cgroup of its own is in the root: {stayed_rec}"
    );
    assert_ne!(moved_rec["cgroup_id"], stayed_rec["cgroup_id"]);
}
