//! The container image, as root: deploy/build-image.sh builds it with
//! podman from the release binary (FROM scratch), and it runs as
//! deploy/kubernetes/daemonset.yaml runs it: privileged, the node's PID
//! namespace, a read-only root, a network namespace of its own (a pod's),
//! the DaemonSet's host mounts and arguments, read from the manifest. It
//! must trace DNS sent from another namespace, write it as JSON lines, and
//! serve metrics that a real Prometheus scrapes over the pod's address;
//! SIGTERM ends it cleanly.

mod util;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::prometheus::{http, Prometheus};
use util::{dig, privileged, run, Dnsmasq, Link, Netns, TempDir};

/// podman as it runs here (DESIGN §5).
const PODMAN_FLAGS: [&str; 4] = [
    "--runtime",
    "/usr/sbin/runc",
    "--cgroup-manager",
    "cgroupfs",
];
const PROMETHEUS_ADDR: &str = "127.0.0.1:19093";
/// The pod's address, and the node's end of its veth.
const POD_IP: &str = "10.78.239.2";
const NODE_IP: &str = "10.78.239.1";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn podman(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("podman")
        .args(PODMAN_FLAGS)
        .args(args)
        .output()
        .expect("podman (apt-get install podman runc)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An image or a container, removed on drop.
struct Podman {
    rm: &'static str,
    name: String,
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = podman(&[self.rm, "-f", &self.name]);
    }
}

/// What the DaemonSet says of how the container runs: its arguments, and
/// its mounts (host path, container path, read-only).
struct Pod {
    args: Vec<String>,
    mounts: Vec<(String, String, bool)>,
}

/// The value of a `key: value` line.
fn value_of<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.trim()
        .trim_start_matches("- ")
        .strip_prefix(key)
        .and_then(|v| v.strip_prefix(':'))
        .map(|v| v.trim().trim_matches('"'))
}

/// Reads deploy/kubernetes/daemonset.yaml (its own layout: one container,
/// hostPath volumes), and checks the settings this test reproduces.
fn daemonset() -> Pod {
    let text = std::fs::read_to_string(repo("deploy/kubernetes/daemonset.yaml")).unwrap();
    for setting in [
        "hostNetwork: false",
        "hostPID: true",
        "privileged: true",
        "readOnlyRootFilesystem: true",
    ] {
        assert!(
            text.contains(setting),
            "the DaemonSet no longer says {setting}"
        );
    }
    let lines: Vec<&str> = text.lines().collect();
    let block = |header: &str| -> Vec<&str> {
        let start = lines
            .iter()
            .position(|l| l.trim() == header)
            .unwrap_or_else(|| panic!("no {header} in the DaemonSet"));
        let indent = lines[start].len() - lines[start].trim_start().len();
        lines[start + 1..]
            .iter()
            .take_while(|l| {
                l.trim().is_empty()
                    || l.len() - l.trim_start().len() > indent
                    || l.trim().starts_with("- ")
            })
            .filter(|l| !l.trim().starts_with('#') && !l.trim().is_empty())
            .copied()
            .collect()
    };
    let args = block("args:")
        .iter()
        .map(|l| {
            l.trim()
                .trim_start_matches("- ")
                .trim_matches('"')
                .to_string()
        })
        .collect();
    let mut paths = std::collections::HashMap::new();
    let mut name = None;
    for l in block("volumes:") {
        if let Some(n) = value_of(l, "name") {
            name = Some(n.to_string());
        } else if let (Some(p), Some(n)) = (value_of(l, "path"), &name) {
            paths.insert(n.clone(), p.to_string());
        }
    }
    let mut mounts = Vec::new();
    let mut current: Option<(String, String)> = None;
    for l in block("volumeMounts:") {
        if let Some(n) = value_of(l, "name") {
            current = Some((n.to_string(), String::new()));
        } else if let (Some(p), Some(c)) = (value_of(l, "mountPath"), current.as_mut()) {
            c.1 = p.to_string();
        } else if let (Some(ro), Some((n, p))) = (value_of(l, "readOnly"), current.take()) {
            let host = paths
                .get(&n)
                .unwrap_or_else(|| panic!("no volume {n}"))
                .clone();
            mounts.push((host, p, ro == "true"));
        }
    }
    assert!(mounts.len() >= 4, "{mounts:?}");
    Pod { args, mounts }
}

/// The release binary, built if it is not up to date.
fn release_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo(""))
        .args(["build", "--release", "--locked", "--bin", "dnstrace"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo build --release: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo("target/release/dnstrace")
}

#[test]
fn image_traces_and_serves_metrics_as_the_daemonset_runs_it() {
    let Some(_serial) = privileged("image_traces_and_serves_metrics_as_the_daemonset_runs_it")
    else {
        return;
    };
    let pod = daemonset();
    let bin = release_binary();

    // The image.
    let image = Podman {
        rm: "rmi",
        name: format!("localhost/dt-fleet-img-{}:test", std::process::id()),
    };
    let t = Instant::now();
    let built = Command::new(repo("deploy/build-image.sh"))
        .arg(&bin)
        .arg(&image.name)
        .env("PODMAN_OPTS", PODMAN_FLAGS.join(" "))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&built.stdout).into_owned();
    assert!(
        built.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let build_time = t.elapsed();
    let (_, size, _) = podman(&["image", "inspect", "--format", "{{.Size}}", &image.name]);
    let size: u64 = size.trim().parse().unwrap();
    println!("{}built in {build_time:?}", said);
    assert!(size < 16 << 20, "image of {size} bytes");

    // The pod's network: a namespace with a veth to the node.
    let pod_ns = Netns::new("impod");
    let node_if = format!("dtim{}", std::process::id() % 100_000);
    run(
        "ip",
        &[
            "link",
            "add",
            &node_if,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &pod_ns.name,
        ],
    );
    struct NodeIf(String);
    impl Drop for NodeIf {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).output();
        }
    }
    let _node_if = NodeIf(node_if.clone());
    run(
        "ip",
        &["addr", "add", &format!("{NODE_IP}/30"), "dev", &node_if],
    );
    run("ip", &["link", "set", &node_if, "up"]);
    pod_ns.ip(&["addr", "add", &format!("{POD_IP}/30"), "dev", "eth0"]);
    pod_ns.ip(&["link", "set", "eth0", "up"]);

    // The DaemonSet's host paths; one this machine lacks is an empty
    // directory (as kubelet makes for a hostPath of type "").
    let empty = TempDir::new("hostpaths");
    let mut volumes = Vec::new();
    for (i, (host, inside, ro)) in pod.mounts.iter().enumerate() {
        let source = if Path::new(host).exists() {
            host.clone()
        } else {
            let dir = empty.path.join(i.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            dir.display().to_string()
        };
        volumes.push("-v".to_string());
        volumes.push(format!("{source}:{inside}{}", if *ro { ":ro" } else { "" }));
    }
    let container = Podman {
        rm: "rm",
        name: format!("dt-fleet-img-{}", std::process::id()),
    };
    let network = format!("--network=ns:/run/netns/{}", pod_ns.name);
    let mut run_args: Vec<&str> = vec![
        "run",
        "-d",
        "--name",
        &container.name,
        "--privileged",
        "--pid=host",
        "--read-only",
        &network,
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=1024:1024",
    ];
    run_args.extend(volumes.iter().map(String::as_str));
    run_args.push(&image.name);
    run_args.extend(pod.args.iter().map(String::as_str));
    println!("podman {}", run_args.join(" "));

    let link = Link::new("imd", 239);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);

    let (ok, _, err) = podman(&run_args);
    assert!(ok, "podman run: {err}");
    let logs = |stream: &str| {
        let (_, out, err) = podman(&["logs", &container.name]);
        if stream == "stdout" {
            out
        } else {
            err
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !logs("stderr").contains("tracing DNS") {
        assert!(
            Instant::now() < deadline,
            "the container did not start tracing:\n{}",
            logs("stderr")
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // DNS from another namespace.
    for name in ["a0.img.ok.test", "a1.img.ok.test", "a2.img.ok.test"] {
        assert_eq!(dig(&link.client, server, name, &[]).status, "NOERROR");
    }
    for name in ["b0.img.nx.test", "b1.img.nx.test"] {
        assert_eq!(dig(&link.client, server, name, &[]).status, "NXDOMAIN");
    }

    // Metrics, scraped over the pod's address.
    let target = format!("{POD_IP}:9253");
    let (status, _, health) = http(&target, "GET", "/healthz");
    assert_eq!(status, 200, "{health}");
    let prom = Prometheus::start(PROMETHEUS_ADDR, &target, &[]);
    prom.wait_for(r#"up{job="dnstrace"}"#, 1.0);
    let by_server = format!(r#"sum(dnstrace_latency_seconds_count{{server="{server}"}})"#);
    prom.wait_for(&by_server, 5.0);
    let nx = prom.wait_for(
        r#"sum(dnstrace_transactions_total{rcode="NXDOMAIN",type="A"})"#,
        2.0,
    );
    let series = prom.samples("dnstrace_transactions_total > 0");
    drop(prom);

    let (ok, _, err) = podman(&["stop", "--time", "10", &container.name]);
    assert!(ok, "podman stop: {err}");
    let (_, code, _) = podman(&[
        "inspect",
        "--format",
        "{{.State.ExitCode}}",
        &container.name,
    ]);
    let (stdout, stderr) = (logs("stdout"), logs("stderr"));
    assert_eq!(code.trim(), "0", "exit status after SIGTERM:\n{stderr}");

    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let ours: Vec<&Value> = records
        .iter()
        .filter(|r| r["server_ip"] == server.to_string())
        .collect();
    println!("podman logs {} (stderr):\n{stderr}", container.name);
    println!(
        "podman logs {} (stdout, this test's records):",
        container.name
    );
    for r in &ours {
        println!(
            "  {} {}[{}] {}:{} -> {}:{} {} {} {} {} ms (of {} fields)",
            r["ts"],
            r["comm"],
            r["pid"],
            r["client_ip"],
            r["client_port"],
            r["server_ip"],
            r["server_port"],
            r["qtype"],
            r["qname"],
            r["rcode"],
            r["latency_ms"],
            r.as_object().map_or(0, |o| o.len())
        );
    }
    println!("Prometheus, scraping {target}: {nx}");
    for (labels, v) in &series {
        println!("  dnstrace_transactions_total{labels} {v}");
    }
    assert_eq!(ours.len(), 5, "{stdout}");
    for r in &ours {
        let name = r["qname"].as_str().unwrap();
        let want = if name.contains(".nx.") {
            "NXDOMAIN"
        } else {
            "NOERROR"
        };
        assert_eq!(r["rcode"], want, "{r}");
        assert_eq!(r["client_ip"], link.client_v4.to_string(), "{r}");
        // The node's PID namespace: the sender is named.
        assert_eq!(r["comm"], "dig", "{r}");
    }
}
