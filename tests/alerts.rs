//! The alerting rules and the manifests, offline: `promtool test rules`
//! on synthetic series, the PrometheusRule the same as the plain rules
//! file, the Kubernetes objects checked against the API's schemas and the
//! scrape configuration by promtool. And, as root, the loss alert's
//! expression against a healthy run: a real Prometheus, the rules loaded,
//! scraping dnstrace every second while dnsperf sends 20,000 queries a
//! second that are all answered.

mod util;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::prometheus::Prometheus;
use util::{counter, privileged, Dnsmasq, Link, TempDir};

const METRICS_ADDR: &str = "127.0.0.1:19266";
const PROMETHEUS_ADDR: &str = "127.0.0.1:19091";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `program`, found on PATH or at `fallback`; None (and SKIPPED printed)
/// when it is not installed, unless CI requires every test to run.
fn tool(test: &str, program: &str, fallback: Option<&str>) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    let found = found.or_else(|| fallback.map(PathBuf::from).filter(|p| p.is_file()));
    if found.is_none() {
        if std::env::var("DNSTRACE_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
            panic!("{test} needs {program} (.ci/setup --tests installs it)");
        }
        println!("SKIPPED: {test} ({program} not installed: .ci/setup --tests)");
    }
    found
}

/// Runs a command: (success, stdout and stderr).
fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn promtool_tests_the_rules() {
    let Some(promtool) = tool("promtool_tests_the_rules", "promtool", None) else {
        return;
    };
    let dir = repo("deploy/prometheus");
    let (ok, text) = output(Command::new(&promtool).current_dir(&dir).args([
        "check",
        "rules",
        "dnstrace.rules.yml",
    ]));
    assert!(ok && text.contains("SUCCESS: 4 rules found"), "{text}");
    let (ok, text) = output(Command::new(&promtool).current_dir(&dir).args([
        "test",
        "rules",
        "dnstrace.rules.test.yml",
    ]));
    println!("promtool test rules dnstrace.rules.test.yml:\n{text}");
    assert!(ok && text.contains("SUCCESS"), "{text}");
}

/// The PrometheusRule's spec is the plain rules file, indented; and
/// promtool reads it so (the groups extracted from it).
#[test]
fn prometheusrule_carries_the_rules_file() {
    let plain = std::fs::read_to_string(repo("deploy/prometheus/dnstrace.rules.yml")).unwrap();
    let groups = &plain[plain.find("\ngroups:").expect("a groups key") + 1..];
    let crd = std::fs::read_to_string(repo("deploy/kubernetes/prometheusrule.yaml")).unwrap();
    let spec = &crd[crd.find("\nspec:\n").expect("a spec") + "\nspec:\n".len()..];
    let unindented: String = spec
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        unindented, groups,
        "deploy/kubernetes/prometheusrule.yaml differs from deploy/prometheus/dnstrace.rules.yml"
    );
    assert!(crd.contains("\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n"));
    assert!(crd.contains("\n  namespace: dnstrace\n"));
}

/// The Kubernetes objects against the API's schemas (kubernetes-validate,
/// strict: no unknown field), the plain scrape configuration by promtool,
/// and what the objects say of each other: the port the monitors scrape
/// is the container's, the probe asks /healthz there.
#[test]
fn manifests_validate_offline() {
    let test = "manifests_validate_offline";
    let Some(validate) = tool(
        test,
        "kubernetes-validate",
        Some("/opt/dnstrace-tests/bin/kubernetes-validate"),
    ) else {
        return;
    };
    let Some(promtool) = tool(test, "promtool", None) else {
        return;
    };
    let k8s = repo("deploy/kubernetes");
    let (ok, text) = output(
        Command::new(&validate)
            .current_dir(&k8s)
            .args(["--strict", "daemonset.yaml"]),
    );
    println!("kubernetes-validate --strict daemonset.yaml:\n{text}");
    assert!(ok, "{text}");
    for kind in ["namespace", "serviceaccount", "daemonset"] {
        assert!(
            text.contains(&format!("passed for resource {kind}/dnstrace")),
            "{kind}: {text}"
        );
    }
    assert!(!text.contains("ERROR") && !text.contains("WARN"), "{text}");
    // Debian's Prometheus is built without Kubernetes discovery: promtool
    // checks the rest of the configuration, the discovery block replaced.
    let scrape = std::fs::read_to_string(k8s.join("prometheus-scrape.yaml")).unwrap();
    let (sd, relabel) = (
        scrape.find("    kubernetes_sd_configs:\n").unwrap(),
        scrape.find("    relabel_configs:\n").unwrap(),
    );
    let scratch = TempDir::new("scrape-config");
    let checked = scratch.path.join("prometheus.yml");
    std::fs::write(
        &checked,
        format!(
            "{}    static_configs:\n      - targets: ['127.0.0.1:9253']\n{}",
            &scrape[..sd],
            &scrape[relabel..]
        ),
    )
    .unwrap();
    let (ok, text) = output(
        Command::new(&promtool)
            .arg("check")
            .arg("config")
            .arg(&checked),
    );
    assert!(ok && text.contains("SUCCESS"), "{text}");

    let ds = std::fs::read_to_string(k8s.join("daemonset.yaml")).unwrap();
    let monitor = std::fs::read_to_string(k8s.join("podmonitor.yaml")).unwrap();
    assert!(ds.contains("- name: metrics\n              containerPort: 9253\n"));
    assert!(ds.contains("livenessProbe:\n            httpGet:\n              path: /healthz\n              port: metrics\n"));
    assert!(monitor.contains("\napiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\n"));
    assert!(monitor.contains("- port: metrics\n      path: /metrics\n"));
}

/// The expression of an alert in the rules file.
fn alert_expr(rules: &str, alert: &str) -> String {
    let start = rules
        .find(&format!("- alert: {alert}\n"))
        .unwrap_or_else(|| panic!("no alert {alert}"));
    let rest = &rules[start..];
    let expr = &rest[rest.find("expr: |\n").unwrap() + "expr: |\n".len()..];
    let expr = &expr[..expr.find("\n        for:").unwrap()];
    expr.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

/// dnsperf's figure in its report (`Queries sent:  600000`).
fn dnsperf_figure(report: &str, key: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in:\n{report}"))
}

/// A child killed and reaped when the test ends, by a failed assertion
/// too: a tracer left running would go on tracing the next tests'
/// traffic (and hold what the test held).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn losing_transactions_alert_stays_quiet_on_a_healthy_run() {
    let test = "losing_transactions_alert_stays_quiet_on_a_healthy_run";
    let Some(_serial) = privileged(test) else {
        return;
    };
    let rules_path = repo("deploy/prometheus/dnstrace.rules.yml");
    let rules = std::fs::read_to_string(&rules_path).unwrap();
    let expr = alert_expr(&rules, "DnstraceLosingTransactions");
    let link = Link::new("al", 237);
    let server = IpAddr::V4(link.server_v4);
    let _dnsmasq = Dnsmasq::start(&link.server, &[server]);
    let scratch = TempDir::new("alerts");
    let names = scratch.path.join("names");
    let list: String = (0..1000).map(|i| format!("h{i}.ok.test A\n")).collect();
    std::fs::write(&names, list).unwrap();

    // DNSTRACE_BIN: another build to hold to the same test (the one
    // before the exact count fails it).
    let bin = std::env::var("DNSTRACE_BIN").unwrap_or_else(|_| util::DNSTRACE.to_string());
    let err_path = scratch.path.join("stderr");
    let mut tracer = Reaped(
        Command::new(bin)
            .args(["--json", "-v", "--server", &server.to_string()])
            .args(["--timeout", "1s", "--metrics", METRICS_ADDR])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&err_path)
        .unwrap_or_default()
        .contains("tracing DNS")
    {
        assert!(Instant::now() < deadline, "dnstrace did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let prom = Prometheus::start(PROMETHEUS_ADDR, METRICS_ADDR, &[&rules_path]);
    prom.wait_for(r#"up{job="dnstrace"}"#, 1.0);

    let report = link
        .client
        .command("dnsperf")
        .args(["-s", &server.to_string(), "-d"])
        .arg(&names)
        .args(["-Q", "20000", "-l", "20", "-c", "4", "-t", "2"])
        .output()
        .expect("running dnsperf (apt-get install dnsperf)");
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    let sent = dnsperf_figure(&report, "Queries sent:");
    // Every query answered or timed out (1 s) and counted, then scraped.
    let want = sent as f64;
    prom.wait_for("sum(dnstrace_transactions_total)", want);
    let quiet = |promql: &str| {
        let answer = prom.query(promql);
        let result = answer["data"]["result"].as_array().unwrap();
        assert!(result.is_empty(), "{promql}: {answer}");
    };
    std::thread::sleep(Duration::from_secs(2));
    let window = "[60s:1s]";
    quiet(&format!("max_over_time(({expr}){window}) > 0"));
    quiet(r#"max_over_time(ALERTS{alertname="DnstraceLosingTransactions"}[60s])"#);
    let evictions = prom
        .value("max_over_time(dnstrace_pending_evictions_total[60s])")
        .unwrap();
    let scrapes = prom
        .value(r#"count_over_time(up{job="dnstrace"}[60s])"#)
        .unwrap();
    let slowest = prom
        .value(r#"max_over_time(scrape_duration_seconds{job="dnstrace"}[60s])"#)
        .unwrap();
    drop(prom);

    // SAFETY: signalling our own child.
    unsafe { libc::kill(tracer.0.id() as i32, libc::SIGINT) };
    let status = tracer.0.wait().unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert!(status.success(), "{stderr}");
    println!(
        "healthy run: dnsperf sent {sent} at 20k/s for 20 s; dnstrace counted as many; \
         evictions metric max {evictions} over {scrapes} scrapes (slowest {slowest:.4} s); \
         at exit: evicted {}, ring-buffer drops {}, insert failures {}\n{}",
        counter(&stderr, "evicted"),
        counter(&stderr, "ringbuf_drops"),
        counter(&stderr, "insert_failed"),
        report
            .lines()
            .filter(|l| l.contains("Queries"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(evictions, 0.0);
    assert!(scrapes >= 20.0, "{scrapes} scrapes");
    for key in ["evicted", "ringbuf_drops", "insert_failed"] {
        assert_eq!(counter(&stderr, key), 0, "{key}:\n{stderr}");
    }
}
