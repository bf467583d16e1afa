use std::fs;
use std::os::unix::fs::MetadataExt;

use super::names::tests::TempRoot;
use super::*;

const ID: &str = "4f2a0c1e9b8d7f6a5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d";
const UID: &str = "3b0e6c1d-2f4a-4e5b-9c8d-7a6b5c4d3e2f";

fn settings(root: &TempRoot) -> Settings {
    Settings {
        root: root.0.join("node"),
        proc: root.0.join("proc"),
        cgroup2: Some(vec![root.0.join("cgroup")]),
        capacity: 64,
        rescan: Duration::ZERO,
        retry: Duration::from_secs(60),
    }
}

fn ino(p: &Path) -> u64 {
    fs::metadata(p).unwrap().ino()
}

/// A process in the fake /proc: its cgroup file, and a file standing for
/// its network namespace, whose inode is returned.
fn process(root: &TempRoot, pid: u32, cgroup: &str, netns_of: Option<u32>) -> u32 {
    let dir = root.0.join(format!("proc/{pid}"));
    fs::create_dir_all(dir.join("ns")).unwrap();
    fs::write(dir.join("cgroup"), cgroup).unwrap();
    match netns_of {
        Some(other) => fs::hard_link(
            root.0.join(format!("proc/{other}/ns/net")),
            dir.join("ns/net"),
        )
        .unwrap(),
        None => fs::write(dir.join("ns/net"), "").unwrap(),
    }
    ino(&dir.join("ns/net")) as u32
}

fn kubelet_files(root: &TempRoot, ns: &str, pod: &str, uid: &str, container: &str, id: &str) {
    root.write(
        &format!("node/var/log/pods/{ns}_{pod}_{uid}/{container}/0.log"),
        "",
    );
    root.write(
        &format!("node/var/log/containers/{pod}_{ns}_{container}-{id}.log"),
        "",
    );
}

#[test]
fn cgroup_v2_ids_name_the_pod_and_stay_named_after_exit() {
    let root = TempRoot::new("v2");
    let uid_ = UID.replace('-', "_");
    let rel = format!(
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{ID}.scope"
    );
    let dir = root.0.join("cgroup").join(&rel);
    fs::create_dir_all(&dir).unwrap();
    root.write(
        &format!("node/run/containerd/io.containerd.runtime.v2.task/k8s.io/{ID}/config.json"),
        r#"{"annotations":{"io.kubernetes.cri.container-name":"curl"}}"#,
    );
    root.write(
        &format!("node/var/log/pods/shop_web-0_{UID}/curl/0.log"),
        "",
    );
    let mut r = Resolver::new(settings(&root));
    let id = ino(&dir);
    let who = r.resolve(Some(id), None, 1).expect("named");
    assert_eq!(
        *who,
        Attribution {
            container_id: Some(ID.into()),
            container: Some("curl".into()),
            pod: Some("web-0".into()),
            namespace: Some("shop".into()),
            unit: None,
            runtime: Some(Runtime::Containerd),
            pod_uid: Some(UID.into()),
            shown: None,
        }
        .labelled()
    );
    assert_eq!(who.label(), Some("shop/web-0"));
    // The container exits: its cgroup, state and logs go. A late record
    // still gets its name.
    fs::remove_dir_all(root.0.join("cgroup/kubepods.slice")).unwrap();
    fs::remove_dir_all(root.0.join("node")).unwrap();
    assert_eq!(r.resolve(Some(id), None, 1), Some(who));
    // The root cgroup (all sockets on a v1 host) names nothing, nor does
    // an id no cgroup has.
    assert_eq!(r.resolve(Some(ino(&root.0.join("cgroup"))), None, 1), None);
    assert_eq!(r.resolve(Some(u64::MAX), None, 1), None);
}

#[test]
fn a_new_cgroup_is_found_at_the_next_listing() {
    let root = TempRoot::new("v2new");
    fs::create_dir_all(root.0.join("cgroup")).unwrap();
    let mut r = Resolver::new(Settings {
        rescan: Duration::from_secs(3600),
        ..settings(&root)
    });
    assert_eq!(r.resolve(Some(12345), None, 1), None);
    let dir = root
        .0
        .join(format!("cgroup/system.slice/docker-{ID}.scope"));
    fs::create_dir_all(&dir).unwrap();
    // Listed at most once an hour here: not yet.
    assert_eq!(r.resolve(Some(ino(&dir)), None, 1), None);
    let mut r = Resolver::new(settings(&root));
    let who = r.resolve(Some(ino(&dir)), None, 1).unwrap();
    assert_eq!(who.container_id.as_deref(), Some(ID));
    assert_eq!(who.runtime, Some(Runtime::Docker));
    assert_eq!(who.container, None, "no state, no name: never a guess");
    assert_eq!(who.label(), Some(&ID[..12]));
}

#[test]
fn cgroup_v1_by_pid_then_by_netns() {
    let root = TempRoot::new("v1");
    let cg = format!(
        "9:name=systemd:/kubepods/besteffort/pod{UID}/{ID}\n4:memory:/kubepods/besteffort/pod{UID}/{ID}\n0::/\n"
    );
    let netns = process(&root, 100, &cg, None);
    kubelet_files(&root, "prod", "api-1", UID, "app", ID);
    let mut r = Resolver::new(settings(&root));
    // The v2 id of a v1 host (its root's) says nothing; the pid does.
    let root_id = {
        fs::create_dir_all(root.0.join("cgroup")).unwrap();
        ino(&root.0.join("cgroup"))
    };
    let who = r.resolve(Some(root_id), Some(100), netns).unwrap();
    assert_eq!(who.pod.as_deref(), Some("api-1"));
    assert_eq!(who.namespace.as_deref(), Some("prod"));
    assert_eq!(who.container.as_deref(), Some("app"));
    assert_eq!(who.container_id.as_deref(), Some(ID));
    assert_eq!(who.runtime, Some(Runtime::Unknown));
    // It exits before its answer: the pid's answer stands a while.
    fs::remove_dir_all(root.0.join("proc/100")).unwrap();
    assert_eq!(r.resolve(None, Some(100), netns), Some(who.clone()));
    // Another process in that namespace that is gone (or a record with no
    // pid at all): its namespace's, which a pod shares among containers
    // (its sandbox's at least): the pod, not a container.
    let pod = r.resolve(None, Some(101), netns).unwrap();
    assert_eq!(
        (pod.pod.as_deref(), pod.namespace.as_deref()),
        (Some("api-1"), Some("prod"))
    );
    assert_eq!(
        (pod.container.as_deref(), pod.container_id.as_deref()),
        (None, None)
    );
    assert_eq!(r.resolve(None, None, netns), Some(pod));
    // A namespace nothing was learned of says nothing.
    assert_eq!(r.resolve(None, None, netns + 1), None);
}

#[test]
fn a_pid_in_another_namespace_is_another_process() {
    let root = TempRoot::new("pidreuse");
    let cg = format!("1:name=systemd:/docker/{ID}\n");
    let netns = process(&root, 200, &cg, None);
    let mut r = Resolver::new(settings(&root));
    assert_eq!(r.resolve(None, Some(200), netns + 1), None);
    // A pid gone from a namespace only a container's processes are in:
    // that container (found by listing them).
    let who = r.resolve(None, Some(201), netns).unwrap();
    assert_eq!(who.container_id.as_deref(), Some(ID));
    assert_eq!(who.runtime, Some(Runtime::Docker));
}

#[test]
fn a_gone_sender_is_named_by_what_remains_in_its_namespace() {
    let root = TempRoot::new("gone");
    // A pod's sandbox stays; the container that asked has exited.
    let pause = "f".repeat(64);
    let netns = process(
        &root,
        500,
        &format!("3:pids:/kubepods/besteffort/pod{UID}/{pause}\n"),
        None,
    );
    kubelet_files(&root, "prod", "api-1", UID, "app", ID);
    let mut r = Resolver::new(settings(&root));
    let who = r.resolve(None, Some(501), netns).unwrap();
    assert_eq!(
        (who.pod.as_deref(), who.namespace.as_deref()),
        (Some("api-1"), Some("prod"))
    );
    assert_eq!(
        who.container_id, None,
        "not the sandbox's, whose process is the one left"
    );
    // Nothing left at all: nothing known.
    let empty = process(&root, 600, "0::/\n", None);
    fs::remove_dir_all(root.0.join("proc/600")).unwrap();
    assert_eq!(r.resolve(None, Some(600), empty), None);
    // The host's namespace: never by its processes.
    let mut r = Resolver::new(settings(&root));
    r.host_netns = Some(netns);
    assert_eq!(r.resolve(None, Some(501), netns), None);
}

#[test]
fn a_shared_namespace_says_only_what_its_processes_share() {
    let root = TempRoot::new("shared");
    let other = "e".repeat(64);
    let netns = process(
        &root,
        300,
        &format!("1:name=systemd:/kubepods/pod{UID}/{ID}\n"),
        None,
    );
    process(
        &root,
        301,
        &format!("1:name=systemd:/kubepods/pod{UID}/{other}\n"),
        Some(300),
    );
    kubelet_files(&root, "prod", "api-1", UID, "app", ID);
    kubelet_files(&root, "prod", "api-1", UID, "sidecar", &other);
    let mut r = Resolver::new(settings(&root));
    assert_eq!(
        r.resolve(None, Some(300), netns)
            .unwrap()
            .container
            .as_deref(),
        Some("app")
    );
    assert_eq!(
        r.resolve(None, Some(301), netns)
            .unwrap()
            .container
            .as_deref(),
        Some("sidecar")
    );
    // Two containers of one pod: a record of neither is the pod's only.
    let pod = r.resolve(None, None, netns).unwrap();
    assert_eq!(
        (
            pod.pod.as_deref(),
            pod.container.as_deref(),
            pod.container_id.as_deref()
        ),
        (Some("api-1"), None, None)
    );
    // A process of no pod joins: nothing is common any more.
    process(
        &root,
        302,
        "1:name=systemd:/system.slice/x.service\n",
        Some(300),
    );
    assert_eq!(
        r.resolve(None, Some(302), netns).unwrap().unit.as_deref(),
        Some("x.service")
    );
    assert_eq!(r.resolve(None, None, netns), None);
}

#[test]
fn host_services_and_unknown_processes() {
    let root = TempRoot::new("host");
    let netns = process(
        &root,
        400,
        "1:name=systemd:/system.slice/nginx.service\n0::/\n",
        None,
    );
    process(
        &root,
        401,
        "4:memory:/process_api/0bc769cc\n0::/\n",
        Some(400),
    );
    let mut r = Resolver::new(settings(&root));
    let who = r.resolve(None, Some(400), netns).unwrap();
    assert_eq!(who.unit.as_deref(), Some("nginx.service"));
    assert_eq!((who.pod.clone(), who.container_id.clone()), (None, None));
    assert_eq!(who.label(), Some("nginx.service"));
    assert_eq!(r.resolve(None, Some(401), netns), None);
}

#[test]
fn incomplete_answers_are_asked_again() {
    let root = TempRoot::new("retry");
    let dir = root
        .0
        .join(format!("cgroup/machine.slice/libpod-{ID}.scope"));
    fs::create_dir_all(&dir).unwrap();
    let mut r = Resolver::new(Settings {
        retry: Duration::ZERO,
        ..settings(&root)
    });
    let id = ino(&dir);
    assert_eq!(r.resolve(Some(id), None, 1).unwrap().container, None);
    root.write(
        "node/var/lib/containers/storage/overlay-containers/containers.json",
        &format!(r#"[{{"id":"{ID}","names":["web"]}}]"#),
    );
    assert_eq!(
        r.resolve(Some(id), None, 1).unwrap().container.as_deref(),
        Some("web")
    );
}

#[test]
fn caches_are_bounded_and_keep_what_is_used() {
    let mut b: Bounded<u32, u32> = Bounded::new(8);
    for i in 0..100 {
        b.insert(i, i);
        // One key used all along is never the least recent.
        assert_eq!(b.get(&0), Some(&0));
        assert!(b.len() <= 8);
    }
    assert_eq!(b.get(&99), Some(&99));

    let root = TempRoot::new("bounded");
    let mut r = Resolver::new(Settings {
        capacity: 16,
        ..settings(&root)
    });
    let mut netns = 0;
    for pid in 1000..1100u32 {
        let id = format!("{:064x}", pid);
        netns = process(&root, pid, &format!("1:name=systemd:/docker/{id}\n"), None);
        assert!(r.resolve(None, Some(pid), netns).is_some());
    }
    assert!(r.cached() <= 3 * 16, "{}", r.cached());
    assert!(r.resolve(None, Some(1099), netns).is_some());
}

#[test]
fn proc_cgroup_lines() {
    assert_eq!(best_cgroup_path("0::/\n"), None);
    assert_eq!(
        best_cgroup_path("9:name=systemd:/\n4:memory:/process_api/0bc769cc67357ee1\n0::/\n"),
        None
    );
    let v2 = format!("0::/system.slice/docker-{ID}.scope\n");
    assert_eq!(
        best_cgroup_path(&v2),
        Some(format!("/system.slice/docker-{ID}.scope"))
    );
    // A container in any v1 hierarchy, before a unit in name=systemd.
    let v1 =
        format!("9:name=systemd:/user.slice/session-2.scope\n3:pids:/kubepods/pod{UID}/{ID}\n");
    assert_eq!(
        best_cgroup_path(&v1),
        Some(format!("/kubepods/pod{UID}/{ID}"))
    );
    assert_eq!(
        best_cgroup_path("9:name=systemd:/system.slice/cron.service\n"),
        Some("/system.slice/cron.service".into())
    );
    // Colons in a path stay in it; garbage says nothing.
    assert_eq!(best_cgroup_path("garbage\n::\n1:x\n"), None);
    assert_eq!(
        best_cgroup_path("1:name=systemd:/system.slice/a:b.service\n").as_deref(),
        Some("/system.slice/a:b.service")
    );
    // This host's own answer parses without a panic, whatever it is.
    let _ = best_cgroup_path(&fs::read_to_string("/proc/self/cgroup").unwrap_or_default());
}

#[test]
fn cgroup2_mounts_from_mountinfo() {
    let info = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
                90 23 0:50 / /tmp/cg\\040two rw,relatime shared:5 - cgroup2 none rw\n\
                91 23 0:51 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n";
    assert_eq!(
        cgroup2_mounts(info),
        vec![
            PathBuf::from("/tmp/cg two"),
            PathBuf::from("/sys/fs/cgroup/unified")
        ]
    );
    assert!(cgroup2_mounts("nonsense\n - \n").is_empty());
}

#[test]
fn a_cgroup_under_two_mounts_keeps_its_longer_path() {
    let root = TempRoot::new("twomounts");
    let scope = format!(
        "kubepods.slice/kubepods-pod{}.slice/crio-{ID}.scope",
        UID.replace('-', "_")
    );
    let dir = root.0.join("cgroup").join(&scope);
    fs::create_dir_all(&dir).unwrap();
    // A mount rooted at the pod's slice, as a container's own would be,
    // listed after the whole tree's and before it.
    let inner = root
        .0
        .join("cgroup/kubepods.slice")
        .join(format!("kubepods-pod{}.slice", UID.replace('-', "_")));
    for mounts in [
        vec![root.0.join("cgroup"), inner.clone()],
        vec![inner.clone(), root.0.join("cgroup")],
    ] {
        let mut r = Resolver::new(Settings {
            cgroup2: Some(mounts),
            ..settings(&root)
        });
        let who = r.resolve(Some(ino(&dir)), None, 1).unwrap();
        assert_eq!(who.pod_uid.as_deref(), Some(UID));
        assert_eq!(who.runtime, Some(Runtime::Crio));
    }
}

#[test]
fn an_empty_namespace_is_not_listed_again_at_once() {
    let root = TempRoot::new("empty");
    let mut r = Resolver::new(Settings {
        rescan: Duration::from_secs(1),
        ..settings(&root)
    });
    fs::create_dir_all(root.0.join("proc")).unwrap();
    let second = 1_000_000_000;
    // Namespace 7 has no process: listed once, then not for 30 s.
    assert_eq!(r.resolve_at(None, None, 7, 10 * second), None);
    let netns = process(&root, 700, &format!("1:name=systemd:/docker/{ID}\n"), None);
    assert_eq!(r.resolve_at(None, None, 7, 12 * second), None);
    assert!(r.by_netns.get(&netns).is_none(), "/proc listed again");
    // Another namespace asked for is listed (once a second at most).
    let who = r.resolve_at(None, None, netns, 12 * second).unwrap();
    assert_eq!(who.container_id.as_deref(), Some(ID));
    // And namespace 7 again after 30 s.
    let other = process(&root, 701, &format!("1:name=systemd:/docker/{ID}\n"), None);
    assert_eq!(r.resolve_at(None, None, 7, 39 * second), None);
    assert!(r.by_netns.get(&other).is_none(), "/proc listed again");
    assert_eq!(r.resolve_at(None, None, 7, 41 * second), None);
    assert!(r.by_netns.get(&other).is_some(), "/proc not listed");
    // A process read by its pid names its namespace, whatever was cached.
    r.by_netns.insert(other, NetnsSeen::Empty(u64::MAX));
    let by_pid = r.resolve_at(None, Some(701), other, 42 * second).unwrap();
    assert_eq!(by_pid.container_id.as_deref(), Some(ID));
    assert!(matches!(r.by_netns.get(&other), Some(NetnsSeen::Same(_))));
}
