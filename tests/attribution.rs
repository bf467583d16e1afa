//! Pods, containers and units named, with real runtimes and real cgroups:
//! a podman container, a Docker container (a Docker daemon of the test's
//! own), kubelet's cgroupfs layout on this machine's cgroup
//! v1 hierarchies, its systemd layout on a cgroup2 hierarchy the test
//! mounts, a host-network pod, and senders that exit before their answer.
//! kubelet's /var/log/pods and containerd's state are files the test makes
//! under a directory given to dnstrace with --node-root.
//!
//! Everything made (cgroups, mounts, namespaces, containers, images,
//! daemons) is removed on drop, also when a test fails.

mod util;

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use util::{dns, privileged, run, Dnsmasq, Link, Netns, Responder, TempDir, Tracer};

/// Where the metrics are served when a test reads them.
const METRICS_ADDR: &str = "127.0.0.1:19263";

/// The body of GET /metrics.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut text = String::new();
    let _ = conn.read_to_string(&mut text);
    text
}

/// A v1 hierarchy of this machine's, one a process can be moved into.
const V1: &str = "/sys/fs/cgroup/pids";

fn uid(n: u8) -> String {
    format!(
        "{:08x}-2f4a-4e5b-9c8d-7a6b5c4d3e{n:02x}",
        std::process::id()
    )
}

fn container_id(n: u8) -> String {
    format!("{:08x}{n:02x}", std::process::id()).repeat(7)[..64].to_string()
}

/// cgroup directories made by the test; on drop, whatever still runs in
/// them is killed and they are removed, deepest first.
struct Cgroups {
    made: Vec<PathBuf>,
}

impl Cgroups {
    fn new() -> Cgroups {
        Cgroups { made: Vec::new() }
    }

    /// `base/rel`, with every missing directory on the way.
    fn make(&mut self, base: &Path, rel: &str) -> PathBuf {
        let mut dir = base.to_path_buf();
        for part in rel.split('/') {
            dir.push(part);
            if !dir.exists() {
                std::fs::create_dir(&dir)
                    .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
                self.made.push(dir.clone());
            }
        }
        dir
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in self.made.iter().rev() {
            for _ in 0..50 {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    // SAFETY: killing a process this test moved there.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A cgroup2 hierarchy mounted for the test; unmounted on drop, after the
/// cgroups made in it are gone.
struct Cgroup2 {
    dir: TempDir,
    cgroups: Cgroups,
}

impl Cgroup2 {
    fn mount(tag: &str) -> Cgroup2 {
        let dir = TempDir::new(tag);
        run(
            "mount",
            &["-t", "cgroup2", "none", dir.path.to_str().unwrap()],
        );
        Cgroup2 {
            dir,
            cgroups: Cgroups::new(),
        }
    }
}

impl Drop for Cgroup2 {
    fn drop(&mut self) {
        drop(std::mem::replace(&mut self.cgroups, Cgroups::new()));
        let _ = Command::new("umount").arg(&self.dir.path).status();
    }
}

/// A node's files as kubelet and containerd leave them, under a
/// temporary root given to dnstrace with --node-root.
struct NodeFiles {
    root: TempDir,
}

impl NodeFiles {
    fn new() -> NodeFiles {
        NodeFiles {
            root: TempDir::new("node"),
        }
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.root.path.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// kubelet's log directory of a pod's container, and its link in
    /// /var/log/containers, which says which container id it is.
    fn kubelet_logs(&self, ns: &str, pod: &str, uid: &str, container: &str, id: &str) {
        let log = format!("var/log/pods/{ns}_{pod}_{uid}/{container}/0.log");
        self.write(&log, "");
        let link = self.root.path.join(format!(
            "var/log/containers/{pod}_{ns}_{container}-{id}.log"
        ));
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(format!("../pods/{ns}_{pod}_{uid}/{container}/0.log"), link)
            .unwrap();
    }

    /// containerd's bundle of a CRI container: its name in the
    /// annotations.
    fn containerd_bundle(&self, id: &str, container: &str, pod: &str, ns: &str, uid: &str) {
        self.write(
            &format!("run/containerd/io.containerd.runtime.v2.task/k8s.io/{id}/config.json"),
            &format!(
                r#"{{"ociVersion":"1.1.0","annotations":{{
                    "io.kubernetes.cri.container-type":"container",
                    "io.kubernetes.cri.container-name":"{container}",
                    "io.kubernetes.cri.sandbox-name":"{pod}",
                    "io.kubernetes.cri.sandbox-namespace":"{ns}",
                    "io.kubernetes.cri.sandbox-uid":"{uid}"}}}}"#
            ),
        );
    }

    fn arg(&self) -> &str {
        self.root.path.to_str().unwrap()
    }
}

/// Sends one DNS query (id `id`, type A) to `server` from a bash first
/// moved into each cgroup of `procs` (their cgroup.procs files), inside
/// `ns` (None: the host's namespace). bash sends it itself, through
/// /dev/udp, so the record's pid is that bash's; it stays `linger`
/// seconds after (0: it exits at once, before any answer).
fn send_from(
    ns: Option<&Netns>,
    procs: &[&Path],
    server: SocketAddr,
    id: u16,
    name: &str,
    linger: u32,
) -> Child {
    let query: String = dns::build_query(id, name, 1)
        .iter()
        .map(|b| format!("\\x{b:02x}"))
        .collect();
    let moves: String = procs
        .iter()
        .map(|p| format!("echo $$ > {} && ", p.display()))
        .collect();
    let script = format!(
        "{moves}exec 3<>/dev/udp/{}/{} && printf '{query}' >&3 && sleep {linger}",
        server.ip(),
        server.port()
    );
    let mut cmd = match ns {
        Some(ns) => in_netns(ns, "bash"),
        None => Command::new("bash"),
    };
    cmd.arg("-c")
        .arg(script)
        .stdout(Stdio::null())
        .spawn()
        .expect("bash")
}

/// A process that only sleeps in `ns`, moved into the cgroup `procs` is
/// the cgroup.procs file of: a pod's sandbox (its pause container).
fn sandbox(ns: &Netns, procs: &Path) -> Child {
    in_netns(ns, "sh")
        .arg("-c")
        .arg(format!("echo $$ > {} && exec sleep 60", procs.display()))
        .spawn()
        .expect("sh")
}

/// `program` in `ns`, with the host's /sys: `ip netns exec` mounts a
/// sysfs of the namespace's, without the cgroup hierarchies.
fn in_netns(ns: &Netns, program: &str) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net=/run/netns/{}", ns.name)).arg(program);
    c
}

fn wait(mut c: Child) {
    let _ = c.wait();
}

/// The one record of `name`, type A.
fn record<'a>(out: &'a util::TraceOutput, name: &str) -> &'a Value {
    let found: Vec<&Value> = out
        .records
        .iter()
        .filter(|r| r["qname"] == name && r["qtype"] == "A")
        .collect();
    assert_eq!(found.len(), 1, "{name}: {found:#?}\nall: {}", out.stdout);
    // Shown with --nocapture: what a user would see.
    println!("{name}: {}", found[0]);
    found[0]
}

fn who(r: &Value) -> [&Value; 5] {
    [
        &r["namespace"],
        &r["pod"],
        &r["container"],
        &r["container_id"],
        &r["unit"],
    ]
}

/// A pod on cgroup v1 (this machine), kubelet's cgroupfs driver: its
/// sandbox and a container in `kubepods/besteffort/pod<uid>/<id>`, in a
/// namespace of its own. A container's query is named down to the
/// container (by the sender's /proc/PID/cgroup); a query whose sender
/// exited before its (delayed) answer, by what remains in its namespace:
/// the pod, and no container (the sandbox is there too).
#[test]
fn kubelet_cgroupfs_pod_on_cgroup_v1() {
    let Some(_serial) = privileged("kubelet_cgroupfs_pod_on_cgroup_v1") else {
        return;
    };
    let link = Link::new("attv1", 150);
    let server = SocketAddr::new(link.server_v4.into(), 53);
    let _responder = Responder::start(&link.server, server);
    let (uid, app, pause) = (uid(1), container_id(1), container_id(2));
    let mut cgroups = Cgroups::new();
    let pod_dir = format!("kubepods/besteffort/pod{uid}");
    let app_cg = cgroups.make(Path::new(V1), &format!("{pod_dir}/{app}"));
    let pause_cg = cgroups.make(Path::new(V1), &format!("{pod_dir}/{pause}"));
    let node = NodeFiles::new();
    node.kubelet_logs("shop", "web-7d9f", &uid, "curl", &app);

    let tracer = Tracer::start(&[
        "--name",
        "*.v1.attr.test",
        "--node-root",
        node.arg(),
        "--metrics",
        METRICS_ADDR,
        "--metrics-namespaces",
        "4",
    ]);
    let pause_proc = sandbox(&link.client, &pause_cg.join("cgroup.procs"));
    std::thread::sleep(Duration::from_millis(100));
    let asks = send_from(
        Some(&link.client),
        &[&app_cg.join("cgroup.procs")],
        server,
        0x7101,
        "app.v1.attr.test",
        2,
    );
    let gone = send_from(
        Some(&link.client),
        &[&app_cg.join("cgroup.procs")],
        server,
        0x7102,
        "delay-700.gone.v1.attr.test",
        0,
    );
    wait(gone);
    wait(asks);
    // Both answered, the second after 700 ms; both counted by the pod's
    // namespace (the one gone before its answer by its namespace's).
    let counted = r#"dnstrace_namespace_transactions_total{namespace="shop",rcode="NOERROR"} 2"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let body = scrape(METRICS_ADDR);
        if body.contains(counted) || std::time::Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = tracer.stop();
    drop(pause_proc);
    assert!(metrics.contains(counted), "{metrics}");

    let r = record(&out, "app.v1.attr.test");
    assert_eq!(
        who(r),
        [
            &Value::from("shop"),
            &Value::from("web-7d9f"),
            &Value::from("curl"),
            &Value::from(app.as_str()),
            &Value::Null
        ],
        "{r}"
    );
    assert_eq!(r["comm"], "bash", "the process is kept: {r}");
    let r = record(&out, "delay-700.gone.v1.attr.test");
    assert!(r["latency_ms"].as_f64().unwrap() >= 700.0, "{r}");
    assert_eq!(
        who(r),
        [
            &Value::from("shop"),
            &Value::from("web-7d9f"),
            &Value::Null,
            &Value::Null,
            &Value::Null
        ],
        "gone before its answer: the pod, not a container: {r}"
    );
}

/// A pod on cgroup v2, kubelet's systemd driver, on a cgroup2 hierarchy
/// the test mounts: `kubepods.slice/kubepods-burstable.slice/
/// kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope`, its
/// container named by containerd's bundle. The sender exits before its
/// answer: the socket's cgroup id names it all the same.
#[test]
fn kubelet_systemd_pod_on_cgroup_v2() {
    let Some(_serial) = privileged("kubelet_systemd_pod_on_cgroup_v2") else {
        return;
    };
    let link = Link::new("attv2", 151);
    let server = SocketAddr::new(link.server_v4.into(), 53);
    let _responder = Responder::start(&link.server, server);
    let (uid, id) = (uid(3), container_id(3));
    let mut cg2 = Cgroup2::mount("cg2");
    let slice = format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        uid.replace('-', "_")
    );
    let scope = cg2.cgroups.make(
        &cg2.dir.path.clone(),
        &format!("{slice}/cri-containerd-{id}.scope"),
    );
    let node = NodeFiles::new();
    node.write(
        &format!("var/log/pods/kube-system_coredns-5d78c_{uid}/coredns/0.log"),
        "",
    );
    node.containerd_bundle(&id, "coredns", "coredns-5d78c", "kube-system", &uid);

    let tracer = Tracer::start(&["--name", "*.v2.attr.test", "--node-root", node.arg()]);
    let gone = send_from(
        Some(&link.client),
        &[&scope.join("cgroup.procs")],
        server,
        0x7201,
        "delay-500.v2.attr.test",
        0,
    );
    wait(gone);
    std::thread::sleep(Duration::from_millis(800));
    let out = tracer.stop();

    let r = record(&out, "delay-500.v2.attr.test");
    assert_eq!(
        r["cgroup_id"],
        std::fs::metadata(&scope).unwrap().ino(),
        "{r}"
    );
    assert_eq!(
        who(r),
        [
            &Value::from("kube-system"),
            &Value::from("coredns-5d78c"),
            &Value::from("coredns"),
            &Value::from(id.as_str()),
            &Value::Null
        ],
        "{r}"
    );
}

/// A host-network pod: its own cgroup (cgroupfs driver, v1), the node's
/// network namespace, which every host process shares and which names no
/// one. Its query is named by its process's cgroup; a host process's
/// query in the same namespace is not named after the pod.
#[test]
fn host_network_pod() {
    let Some(_serial) = privileged("host_network_pod") else {
        return;
    };
    // A responder on the node's loopback, on a port of its own.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let server = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let responder = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while !stop2.load(Ordering::Relaxed) {
            if let Ok((n, peer)) = sock.recv_from(&mut buf) {
                if let Some(reply) = dns::build_response(&buf[..n], 0) {
                    let _ = sock.send_to(&reply, peer);
                }
            }
        }
    });
    let (uid, id) = (uid(4), container_id(4));
    let mut cgroups = Cgroups::new();
    let cg = cgroups.make(Path::new(V1), &format!("kubepods/burstable/pod{uid}/{id}"));
    let node = NodeFiles::new();
    node.kubelet_logs("kube-system", "kube-proxy-x7k2p", &uid, "kube-proxy", &id);

    let port = server.port().to_string();
    let tracer = Tracer::start(&[
        "--name",
        "*.hostnet.attr.test",
        "--port",
        &port,
        "--node-root",
        node.arg(),
    ]);
    let pod = send_from(
        None,
        &[&cg.join("cgroup.procs")],
        server,
        0x7301,
        "pod.hostnet.attr.test",
        2,
    );
    let host = send_from(None, &[], server, 0x7302, "host.hostnet.attr.test", 2);
    wait(pod);
    wait(host);
    let out = tracer.stop();
    stop.store(true, Ordering::Relaxed);
    let _ = responder.join();

    let host_netns = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let r = record(&out, "pod.hostnet.attr.test");
    assert_eq!(r["netns"], host_netns, "{r}");
    assert_eq!(
        who(r),
        [
            &Value::from("kube-system"),
            &Value::from("kube-proxy-x7k2p"),
            &Value::from("kube-proxy"),
            &Value::from(id.as_str()),
            &Value::Null
        ],
        "{r}"
    );
    let r = record(&out, "host.hostnet.attr.test");
    assert!(
        r["pod"].is_null() && r["container_id"].is_null(),
        "a host process is no pod: {r}"
    );
}

/// A podman container (an image imported from a busybox rootfs), in a
/// namespace of the test's: its nslookup is named by its container id and
/// name (from podman's own state, at the default --node-root), and
/// --container keeps its queries only.
#[test]
fn podman_container() {
    let Some(_serial) = privileged("podman_container") else {
        return;
    };
    let link = Link::new("attpm", 152);
    let _dnsmasq = Dnsmasq::start(&link.server, &[link.server_v4.into()]);
    let podman = Podman::new();
    let name = format!("dnstrace-test-{}", std::process::id());
    let tracer = Tracer::start(&["--name", "*.podman.ok.test", "--container", &name]);
    let id = podman.run(
        &name,
        &link.client,
        &format!("nslookup a.podman.ok.test {} && sleep 2", link.server_v4),
    );
    // A host process's query: not the container's.
    let other = util::dig(&link.server, link.server_v4.into(), "b.podman.ok.test", &[]);
    assert_eq!(other.status, "NOERROR");
    podman.wait(&name);
    let out = tracer.stop();

    let r = record(&out, "a.podman.ok.test");
    assert_eq!(r["container_id"], id.as_str(), "{r}");
    assert_eq!(r["container"], name.as_str(), "{r}");
    assert!(
        r["pod"].is_null() && r["namespace"].is_null() && r["unit"].is_null(),
        "{r}"
    );
    assert!(
        out.records.iter().all(|r| r["container"] == name.as_str()),
        "--container keeps the container's only: {}",
        out.stdout
    );
}

/// A tarball of a root filesystem with busybox (`sh`, `nslookup`,
/// `sleep`), made in `dir`: the image the container tests import.
fn busybox_rootfs(dir: &TempDir) -> PathBuf {
    let bin = dir.path.join("tree/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("/bin/busybox (apt-get install busybox-static)");
    for applet in ["sh", "nslookup", "sleep"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    std::fs::create_dir_all(dir.path.join("tree/etc")).unwrap();
    let tar = dir.path.join("rootfs.tar");
    run(
        "tar",
        &[
            "-C",
            dir.path.join("tree").to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
    );
    tar
}

/// podman as it runs here (see DESIGN §5), with an image imported from a
/// busybox rootfs; containers and the image removed on drop.
struct Podman {
    image: String,
    names: std::cell::RefCell<Vec<String>>,
    _rootfs: TempDir,
}

const PODMAN_FLAGS: [&str; 4] = [
    "--runtime",
    "/usr/sbin/runc",
    "--cgroup-manager",
    "cgroupfs",
];

impl Podman {
    fn new() -> Podman {
        let rootfs = TempDir::new("rootfs");
        let tar = busybox_rootfs(&rootfs);
        let image = format!("localhost/dnstrace-test-{}:1", std::process::id());
        let out = Command::new("podman")
            .args(["import", tar.to_str().unwrap(), &image])
            .output()
            .expect("podman (apt-get install podman runc)");
        assert!(out.status.success(), "podman import: {out:?}");
        Podman {
            image,
            names: Default::default(),
            _rootfs: rootfs,
        }
    }

    /// Starts `script` in a container called `name`, in `ns`; its id.
    fn run(&self, name: &str, ns: &Netns, script: &str) -> String {
        self.names.borrow_mut().push(name.to_string());
        let out = Command::new("podman")
            .args(PODMAN_FLAGS)
            .args(["run", "-d", "--name", name])
            .args([
                "--ulimit",
                "nofile=20000:20000",
                "--ulimit",
                "nproc=1024:1024",
            ])
            .arg(format!("--network=ns:/run/netns/{}", ns.name))
            .args([&self.image, "sh", "-c", script])
            .output()
            .expect("podman run");
        assert!(out.status.success(), "podman run: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn wait(&self, name: &str) {
        let _ = Command::new("podman")
            .args(PODMAN_FLAGS)
            .args(["wait", name])
            .output();
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for name in self.names.borrow().iter() {
            let _ = Command::new("podman")
                .args(PODMAN_FLAGS)
                .args(["rm", "-f", name])
                .output();
        }
        let _ = Command::new("podman")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

/// A Docker container (the busybox image, imported), run by a Docker
/// daemon of the test's own, on cgroup v1 (`/docker/<id>`, the cgroupfs
/// driver). It has no network of Docker's (`--network none`): the test
/// moves one end of its veth pair into the container's namespace, so its
/// nslookup reaches a dnsmasq in the test's namespace. The query is named
/// by the container's id and its name (Docker's config.v2.json, under the
/// daemon's data root, which is `var/lib/docker` of the --node-root given
/// to dnstrace), and --container keeps its queries only.
#[test]
fn docker_container() {
    let Some(_serial) = privileged("docker_container") else {
        return;
    };
    let link = Link::new("attdk", 158);
    let _dnsmasq = Dnsmasq::start(&link.server, &[link.server_v4.into()]);
    let docker = Docker::start();
    let name = format!("dt-docker-{}", std::process::id());
    let id = docker.run(&name, &["sleep", "30"]);
    assert!(
        id.len() == 64
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "docker run printed {id:?}"
    );
    let pid = docker.pid(&name);
    // The client's end of the link, into the container's namespace.
    let net = format!("--net=/proc/{pid}/ns/net");
    link.client
        .ip(&["link", "set", "dev", &link.client_if, "netns", &pid]);
    let smac = link.server_mac.map(|b| format!("{b:02x}")).join(":");
    let in_container = |args: &[&str]| {
        let mut all = vec![net.as_str(), "ip"];
        all.extend_from_slice(args);
        run("nsenter", &all);
    };
    let client_v4 = format!("{}/24", link.client_v4);
    let server_v4 = link.server_v4.to_string();
    in_container(&["addr", "add", &client_v4, "dev", &link.client_if]);
    in_container(&["link", "set", &link.client_if, "up"]);
    in_container(&[
        "neigh",
        "replace",
        &server_v4,
        "lladdr",
        &smac,
        "dev",
        &link.client_if,
        "nud",
        "permanent",
    ]);

    let tracer = Tracer::start(&[
        "--name",
        "*.docker.ok.test",
        "--container",
        &name,
        "--node-root",
        docker.node_root(),
    ]);
    let asked = docker.exec(
        &name,
        &["nslookup", "-type=a", "a.docker.ok.test", &server_v4],
    );
    assert!(
        asked.contains("10.1.2.3"),
        "nslookup in the container: {asked}"
    );
    // A host process's query: not the container's.
    let other = util::dig(&link.server, link.server_v4.into(), "b.docker.ok.test", &[]);
    assert_eq!(other.status, "NOERROR");
    std::thread::sleep(Duration::from_millis(300));
    let out = tracer.stop();

    let r = record(&out, "a.docker.ok.test");
    assert_eq!(r["container_id"], id.as_str(), "{r}");
    assert_eq!(r["container"], name.as_str(), "{r}");
    assert!(
        r["pod"].is_null() && r["namespace"].is_null() && r["unit"].is_null(),
        "{r}"
    );
    assert!(
        out.records.iter().all(|r| r["container"] == name.as_str()),
        "--container keeps the container's only: {}",
        out.stdout
    );
}

/// A Docker daemon (and its containerd) of the test's own: every
/// directory it keeps under one temporary directory laid out as a node's
/// (`node/var/lib/docker`, `node/run/containerd`, ...), its own sockets
/// and config files, no bridge and no iptables rules, the vfs storage
/// driver (nothing mounted on the host). Docker's packaged services are
/// not used and may run alongside. On drop: its containers and image
/// removed, its processes stopped (anything still running with the
/// temporary directory on its command line is killed), what it mounted
/// there unmounted, the directory removed, and what the daemons made
/// outside it whatever they are told (the `/docker` cgroups,
/// /run/containerd/s, /run/docker/plugins, /etc/docker/key.json) removed
/// when it was not there before (directories: when empty).
struct Docker {
    dir: TempDir,
    node: PathBuf,
    containerd: Child,
    dockerd: Option<Child>,
    image: String,
    names: std::cell::RefCell<Vec<String>>,
    /// Files and directories outside `dir` the daemons may make, which
    /// did not exist before: removed (directories when empty) on drop,
    /// deepest first.
    outside: Vec<PathBuf>,
}

impl Docker {
    fn start() -> Docker {
        // The host's directories the daemons make whatever they are told.
        let mut watch: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
            .map(|dirs| {
                dirs.flatten()
                    .map(|d| d.path().join("docker"))
                    .filter(|p| p.parent().is_some_and(|h| h.join("cgroup.procs").exists()))
                    .collect()
            })
            .unwrap_or_default();
        for d in [
            // dockerd's identity (20.10 writes it there whatever its root).
            "/etc/docker/key.json",
            "/etc/docker",
            "/run/containerd/s",
            "/run/containerd",
            "/run/docker/plugins",
            "/run/docker",
        ] {
            watch.push(PathBuf::from(d));
        }
        let outside = watch.into_iter().filter(|p| !p.exists()).collect();

        let dir = TempDir::new("docker");
        let node = dir.path.join("node");
        let at = |rel: &str| dir.path.join(rel).to_str().unwrap().to_string();
        let containerd_sock = at("containerd.sock");
        std::fs::write(
            dir.path.join("containerd.toml"),
            format!(
                r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{containerd_sock}"
[ttrpc]
  address = "{containerd_sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
"#,
                root = at("node/var/lib/containerd"),
                state = at("node/run/containerd"),
                opt = at("opt"),
            ),
        )
        .unwrap();
        let containerd = Command::new("containerd")
            .args(["--config", &at("containerd.toml")])
            .stdin(Stdio::null())
            .stdout(log_file(&dir, "containerd.log"))
            .stderr(log_file(&dir, "containerd.err"))
            .spawn()
            .expect("containerd (apt-get install docker.io)");
        let mut docker = Docker {
            dir,
            node,
            containerd,
            dockerd: None,
            image: format!("dt-docker-{}:1", std::process::id()),
            names: Default::default(),
            outside,
        };
        docker.wait_for("containerd", |_| Path::new(&containerd_sock).exists());

        std::fs::write(docker.dir.path.join("daemon.json"), "{}").unwrap();
        let at = |rel: &str| docker.dir.path.join(rel).to_str().unwrap().to_string();
        let dockerd = Command::new("dockerd")
            .args(["--config-file", &at("daemon.json")])
            .args(["--data-root", &at("node/var/lib/docker")])
            .args(["--exec-root", &at("node/run/docker")])
            .args(["--pidfile", &at("dockerd.pid")])
            .args(["--host", &format!("unix://{}", at("docker.sock"))])
            .args(["--containerd", &containerd_sock])
            .args([
                "--storage-driver",
                "vfs",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .args([
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
            ])
            .stdin(Stdio::null())
            .stdout(log_file(&docker.dir, "dockerd.log"))
            .stderr(log_file(&docker.dir, "dockerd.err"))
            .spawn()
            .expect("dockerd (apt-get install docker.io)");
        docker.dockerd = Some(dockerd);
        docker.wait_for("dockerd", |d| d.cli(&["version"]).status.success());

        let rootfs = TempDir::new("rootfs");
        let tar = busybox_rootfs(&rootfs);
        docker.ok(&["import", tar.to_str().unwrap(), &docker.image]);
        docker
    }

    /// What dnstrace is given as --node-root: Docker's state is in its
    /// `var/lib/docker`, as on a host.
    fn node_root(&self) -> &str {
        self.node.to_str().unwrap()
    }

    /// Waits until `ready`, as long as the daemon `what` runs.
    fn wait_for(&mut self, what: &str, ready: impl Fn(&Docker) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !ready(self) {
            let log = |f: &str| std::fs::read_to_string(self.dir.path.join(f)).unwrap_or_default();
            let daemon = match what {
                "dockerd" => self.dockerd.as_mut(),
                _ => Some(&mut self.containerd),
            };
            let exited = daemon.and_then(|d| d.try_wait().ok().flatten());
            assert!(
                exited.is_none() && std::time::Instant::now() < deadline,
                "{what} did not start ({exited:?}):\n{}\n{}",
                log(&format!("{what}.err")),
                log(&format!("{what}.log"))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The docker client, on this daemon's socket (and with a
    /// configuration directory of its own).
    fn cli(&self, args: &[&str]) -> std::process::Output {
        let sock = format!("unix://{}", self.dir.path.join("docker.sock").display());
        Command::new("docker")
            .env("DOCKER_CONFIG", self.dir.path.join("cli"))
            .args(["--host", &sock])
            .args(args)
            .output()
            .expect("docker (apt-get install docker.io)")
    }

    /// `docker args`, which must succeed; its output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "docker {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Starts `cmd` in a container called `name`, without a network of
    /// Docker's; its id.
    fn run(&self, name: &str, cmd: &[&str]) -> String {
        self.names.borrow_mut().push(name.to_string());
        let mut args = vec!["run", "-d", "--name", name, "--network", "none"];
        args.push(&self.image);
        args.extend_from_slice(cmd);
        self.ok(&args)
    }

    /// The host pid of the container's first process.
    fn pid(&self, name: &str) -> String {
        self.ok(&["inspect", "--format", "{{.State.Pid}}", name])
    }

    /// `cmd` run in the container (in its cgroup); its output.
    fn exec(&self, name: &str, cmd: &[&str]) -> String {
        let mut args = vec!["exec", name];
        args.extend_from_slice(cmd);
        self.ok(&args)
    }
}

fn log_file(dir: &TempDir, name: &str) -> std::fs::File {
    std::fs::File::create(dir.path.join(name)).unwrap()
}

impl Drop for Docker {
    fn drop(&mut self) {
        if self.dockerd.is_some() {
            for name in self.names.borrow().iter() {
                let _ = self.cli(&["rm", "--force", name]);
            }
            let _ = self.cli(&["rmi", "--force", &self.image]);
        }
        let stop = |child: &mut Child| {
            // SAFETY: signalling a child of this test.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        if let Some(dockerd) = self.dockerd.as_mut() {
            stop(dockerd);
        }
        stop(&mut self.containerd);
        // Shims (and anything else) still running with the directory on
        // their command line: the test's own, killed.
        let mark = self.dir.path.to_str().unwrap().as_bytes().to_vec();
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.flatten() {
                let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
                if cmdline.windows(mark.len()).any(|w| w == mark.as_slice()) {
                    // SAFETY: a process this test's daemons started.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        // Whatever is still mounted under the directory, deepest first.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut under: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(&self.dir.path))
            .collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in under {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        for d in &self.outside {
            for _ in 0..50 {
                let gone = if d.is_dir() {
                    std::fs::remove_dir(d)
                } else {
                    std::fs::remove_file(d)
                };
                if gone.is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
