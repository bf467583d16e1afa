//! The command line. Flag and JSON names are fixed (users' scripts rely on
//! them): see the README's reference before renaming anything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};
use ipnet::IpNet;

use crate::filter::{Filter, RcodeFilter};
use crate::kernel::abi::{MAX_IDS, MAX_PORTS};
#[cfg(feature = "tracer")]
use crate::kernel::loader::{LoaderConfig, ReaderChoice};
use crate::metrics::{MAX_NAMESPACES_LIMIT, MAX_SERVERS_LIMIT};
use crate::output::OutputFormat;
use crate::record::dns::NameGlob;
use crate::tui::Column;
use parse::*;

mod parse;

const EXAMPLES: &str = "\
Examples:
  sudo dnstrace                                   # every DNS transaction on the host
  sudo dnstrace --min-latency 50ms                # only the slow ones (and timeouts)
  sudo dnstrace --rcode NXDOMAIN --name '*.svc.cluster.local'
  sudo dnstrace --errors --server 10.96.0.10      # failures from one resolver
  sudo dnstrace --lookups                         # one line per application call (search list,
                                                  # A and AAAA, resends grouped)
  sudo dnstrace --json | jq -r 'select(.rcode != \"NOERROR\") | .qname'
  sudo dnstrace --json -d 30s | jq -s 'group_by(.server_ip) | map({server: .[0].server_ip, n: length})'

Exit status: 0 on success (also when stopped by Ctrl-C, SIGTERM, SIGHUP, --duration, --count or a
closed pipe),
1 on a runtime error, 2 on a usage error, 3 without the privileges to load BPF programs,
4 when the kernel lacks what dnstrace needs (BTF, tracepoints, BPF features).";

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Live table with views (keys: t, b, s, space, r, ?, q)
    Table,
    /// One aligned line per transaction
    Text,
    /// One JSON object per line
    Json,
}

/// `--reader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReaderArg {
    /// dynptr when the kernel allows it, else linear; on a kernel without its own BTF (with
    /// --btf), classic tracepoints
    Auto,
    /// bpf_dynptr_from_skb: reads page fragments too (kernel 6.14 or so)
    Dynptr,
    /// bpf_probe_read_kernel of the linear part: older kernels, UDP only
    Linear,
    /// Classic tracepoints and the linear reader: kernels without their own BTF (with --btf)
    Tracepoint,
}

/// Trace DNS transactions on this host with eBPF: who asked what, which
/// server answered, with which response code, and how long it took.
///
/// Every network namespace and interface is covered. Queries are paired
/// with their responses in the kernel; unanswered ones are reported as
/// TIMEOUT. Repeating a filter flag ORs its values; different filter flags
/// AND together.
#[derive(Debug, Parser)]
#[command(
    name = "dnstrace",
    version,
    override_usage = "sudo dnstrace [OPTIONS]",
    after_help = EXAMPLES,
    max_term_width = 100
)]
pub struct Args {
    /// Output format [default: table on a terminal, text otherwise]
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<FormatArg>,

    /// Same as --output json
    #[arg(long, conflicts_with = "output")]
    pub json: bool,

    /// Only transactions at least this slow (timeouts and UNREACHABLE always qualify)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Filters")]
    pub min_latency: Option<Duration>,

    /// Only this DNS transaction id (up to 16 times)
    #[arg(long, value_name = "ID", help_heading = "Filters")]
    pub id: Vec<u16>,

    /// Only this response code: NOERROR, NXDOMAIN, ..., a number, TIMEOUT, UNREACHABLE (an ICMP
    /// error failed the query), or ENCRYPTED (DoT and DoQ connections)
    #[arg(long, value_name = "NAME|NUMBER|TIMEOUT", value_parser = parse_rcode_filter, help_heading = "Filters")]
    pub rcode: Vec<RcodeFilter>,

    /// Only failures: any rcode but NOERROR, timeouts and UNREACHABLE
    #[arg(long, help_heading = "Filters")]
    pub errors: bool,

    /// Only names matching this case-insensitive glob ('*' spans dots)
    #[arg(long, value_name = "GLOB", value_parser = parse_name, help_heading = "Filters")]
    pub name: Vec<NameGlob>,

    /// Only this query type: A, AAAA, MX, TYPE65280, ...
    #[arg(long, value_name = "TYPE", value_parser = parse_qtype, help_heading = "Filters")]
    pub qtype: Vec<u16>,

    /// Only queries from this client address or network
    #[arg(long, value_name = "IP|CIDR", value_parser = parse_net, help_heading = "Filters")]
    pub client: Vec<IpNet>,

    /// Only queries to this server address or network, or delivered there by NAT (a Service's
    /// backend)
    #[arg(long, value_name = "IP|CIDR", value_parser = parse_net, help_heading = "Filters")]
    pub server: Vec<IpNet>,

    /// Only transactions seen first on this interface (any namespace)
    #[arg(short = 'i', long, value_name = "NAME", value_parser = parse_interface, help_heading = "Filters")]
    pub interface: Vec<String>,

    /// Only queries sent by this process id
    #[arg(short = 'p', long, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Filters")]
    pub pid: Vec<u32>,

    /// Only queries sent by a process of this name (as in /proc/PID/comm)
    #[arg(long, value_name = "NAME", value_parser = parse_comm, help_heading = "Filters")]
    pub comm: Vec<String>,

    /// Only queries sent from a Kubernetes pod whose name matches this glob (named from
    /// kubelet's /var/log/pods)
    #[arg(long, value_name = "GLOB", value_parser = parse_name, help_heading = "Filters")]
    pub pod: Vec<NameGlob>,

    /// Only queries sent from a pod in this Kubernetes namespace
    #[arg(long, value_name = "NAME", value_parser = parse_namespace, help_heading = "Filters")]
    pub namespace: Vec<String>,

    /// Only queries sent from a container whose name (or id) matches this glob
    #[arg(long, value_name = "GLOB", value_parser = parse_name, help_heading = "Filters")]
    pub container: Vec<NameGlob>,

    /// Also trace DNS on this port, besides 53 (up to 15 times)
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..), help_heading = "Filters")]
    pub port: Vec<u16>,

    /// Report a query unanswered after this long as TIMEOUT [default: 5s; 1s with --lookups, so
    /// that a resend on the same socket is seen as one, and a later answer still counts]
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Show one record per lookup (what one application call asked: the search-list
    /// expansions, A and AAAA, resends, TCP after TC) instead of one per transaction
    #[arg(long)]
    pub lookups: bool,

    /// Stop after this long
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many transactions (lookups, with --lookups) have been shown
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// More detail: the loader's choices and every counter at exit (-vv: libbpf's log)
    #[arg(short = 'v', long, action = ArgAction::Count)]
    pub verbose: u8,

    /// Queries tracked at once; the oldest are evicted (and counted) beyond it
    #[arg(long, value_name = "N", default_value_t = 65536,
          value_parser = clap::value_parser!(u32).range(64..=16_777_216), help_heading = "Advanced")]
    pub max_pending: u32,

    /// BTF file to relocate the program against instead of /sys/kernel/btf/vmlinux; on a kernel
    /// without BTF of its own, classic tracepoints are used (plain DNS over UDP)
    #[arg(long, value_name = "PATH", help_heading = "Advanced")]
    pub btf: Option<PathBuf>,

    /// How the kernel program reads packet bytes
    #[arg(
        long,
        value_enum,
        value_name = "READER",
        default_value = "auto",
        help_heading = "Advanced"
    )]
    pub reader: ReaderArg,

    /// Where the node's /var/log/pods, /var/log/containers and container runtimes' state
    /// (/run/containerd, /run/containers, /var/lib/containers, /var/lib/docker) are found, to
    /// name pods and containers; read only
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        help_heading = "Advanced"
    )]
    pub node_root: PathBuf,

    /// Also show mDNS answers that no query asked for (they are always counted)
    #[arg(long)]
    pub announcements: bool,

    /// Do not print the summary at exit (losses are still reported)
    #[arg(long)]
    pub no_summary: bool,

    /// Columns of the table, in order: time, process, client, server, proto, id, type, name,
    /// rcode, latency, or any JSON field
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_column, num_args = 1..)]
    pub columns: Option<Vec<Column>>,

    /// Serve Prometheus metrics at http://ADDR/metrics (and /healthz) while tracing: a bare
    /// PORT listens on 127.0.0.1; IP:PORT, e.g. [::]:9253, where you choose (the metrics show
    /// server addresses and, by namespace, who asks)
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_addr, help_heading = "Metrics")]
    pub metrics: Option<SocketAddr>,

    /// Servers with their own label in the metrics (the busiest); the rest are "other"
    #[arg(long, value_name = "N", default_value_t = 20, requires = "metrics",
          value_parser = clap::value_parser!(u32).range(0..=MAX_SERVERS_LIMIT as i64),
          help_heading = "Metrics")]
    pub metrics_max_servers: u32,

    /// Also count transactions by the Kubernetes namespace of the pod that sent them, with a
    /// namespace label for the first N namespaces seen (the rest "_other")
    #[arg(long, value_name = "N", requires = "metrics",
          value_parser = clap::value_parser!(u32).range(1..=MAX_NAMESPACES_LIMIT as i64),
          help_heading = "Metrics")]
    pub metrics_namespaces: Option<u32>,

    /// Show only suspicious transactions (with --lookups, lookups with a suspicious query); see
    /// SECURITY SIGNALS
    #[arg(long, conflicts_with = "no_security", help_heading = "Filters")]
    pub suspicious: bool,

    /// Servers every client may ask besides those of its resolv.conf; a query to any other is
    /// from an unauthorized resolver
    #[arg(long, value_name = "CIDR,...", value_delimiter = ',', value_parser = parse_net,
          help_heading = "Security")]
    pub resolvers: Vec<IpNet>,

    /// Domains whose names are not checked (blocklists such as DNSBLs, which look like
    /// tunnels), besides arpa, cluster.local and local
    #[arg(long, value_name = "DOMAIN,...", value_delimiter = ',', value_parser = parse_domain,
          help_heading = "Security")]
    pub security_allow: Vec<String>,

    /// Unique names under one site (registered domain) per --security-window before the rest
    /// are flagged (RITA's threshold; the Zeek scripts use 8); up to 1000
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1000), help_heading = "Security")]
    pub suspicious_subdomains: u32,

    /// TXT and NULL queries under one registered domain per --security-window before the rest
    /// are flagged
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "Security")]
    pub suspicious_txt: u32,

    /// Names longer than this are flagged (the Zeek scripts' threshold)
    #[arg(long, value_name = "N", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..=1024), help_heading = "Security")]
    pub suspicious_name_length: u32,

    /// Labels longer than this are flagged
    #[arg(long, value_name = "N", default_value_t = 52,
          value_parser = clap::value_parser!(u32).range(1..=255), help_heading = "Security")]
    pub suspicious_label_length: u32,

    /// Answers larger than this are flagged (DNS Flag Day 2020's UDP size)
    #[arg(long, value_name = "BYTES", default_value_t = 1232,
          value_parser = clap::value_parser!(u16).range(1..), help_heading = "Security")]
    pub suspicious_answer_size: u16,

    /// NXDOMAIN answers to one client per --nxdomain-window before the rest are flagged
    #[arg(long, value_name = "N", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "Security")]
    pub suspicious_nxdomain: u32,

    /// The window the per-domain counts are kept over
    #[arg(long, value_name = "DURATION", default_value = "1h",
          value_parser = parse_window, help_heading = "Security")]
    pub security_window: Duration,

    /// The window the per-client NXDOMAIN count is kept over
    #[arg(long, value_name = "DURATION", default_value = "15m",
          value_parser = parse_window, help_heading = "Security")]
    pub nxdomain_window: Duration,

    /// Domains and clients whose counts are kept, each; the least recently used are dropped
    /// (and counted) beyond it. Memory: at most about N x (--suspicious-subdomains + 1) x 16
    /// bytes (6.6 MB by default)
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(16..=65_536), help_heading = "Security")]
    pub security_max_keys: u32,

    /// Do not look for security signals (suspicion is null)
    #[arg(long, help_heading = "Security")]
    pub no_security: bool,

    // Hidden: for packagers, and for refreshing the committed copies
    // (`cargo run -- --generate-assets .`); it needs no privileges.
    /// Write shell completions and the man page under DIR, then exit
    #[arg(long, value_name = "DIR", hide = true)]
    pub generate_assets: Option<PathBuf>,
}

impl Args {
    /// The output format after defaults: table on a terminal, text otherwise.
    pub fn output_format(&self, stdout_is_tty: bool) -> OutputFormat {
        let chosen = if self.json {
            Some(FormatArg::Json)
        } else {
            self.output
        };
        match chosen {
            Some(FormatArg::Json) => OutputFormat::Json,
            Some(FormatArg::Text) => OutputFormat::Text,
            Some(FormatArg::Table) => OutputFormat::Table,
            None if stdout_is_tty => OutputFormat::Table,
            None => OutputFormat::Text,
        }
    }

    /// The filter the flags describe.
    pub fn filter(&self) -> Filter {
        let mut ports = vec![53];
        for p in &self.port {
            if !ports.contains(p) {
                ports.push(*p);
            }
        }
        let mut f = Filter::new(ports);
        f.set_rcodes(&self.rcode, self.errors);
        f.ids = self.id.clone();
        f.min_latency = self.min_latency;
        f.names = self.name.clone();
        f.qtypes = self.qtype.clone();
        f.clients = self.client.clone();
        f.servers = self.server.clone();
        f.interfaces = self.interface.clone();
        f.pids = self.pid.clone();
        f.comms = self.comm.clone();
        f.pods = self.pod.clone();
        f.namespaces = self.namespace.clone();
        f.containers = self.container.clone();
        f
    }

    /// The security signals' settings.
    pub fn security(&self) -> crate::security::Settings {
        let mut allow: Vec<String> = crate::security::DEFAULT_ALLOW
            .iter()
            .map(|d| d.to_string())
            .collect();
        allow.extend(self.security_allow.iter().cloned());
        crate::security::Settings {
            resolvers: self.resolvers.clone(),
            allow,
            subdomains: self.suspicious_subdomains,
            type_volume: self.suspicious_txt,
            name_length: self.suspicious_name_length as usize,
            label_length: self.suspicious_label_length as usize,
            answer_size: self.suspicious_answer_size,
            nxdomain: self.suspicious_nxdomain,
            window_ns: self.security_window.as_nanos().min(u128::from(u64::MAX)) as u64,
            nxdomain_window_ns: self.nxdomain_window.as_nanos().min(u128::from(u64::MAX)) as u64,
            max_keys: self.security_max_keys as usize,
        }
    }

    /// Where attribution looks for names.
    pub fn attribution(&self) -> crate::attribution::Settings {
        crate::attribution::Settings {
            root: self.node_root.clone(),
            ..crate::attribution::Settings::default()
        }
    }

    /// What the loader needs: the kernel's part of `filter` and the
    /// settings of the kernel program.
    #[cfg(feature = "tracer")]
    pub fn loader_config(&self, filter: &Filter) -> LoaderConfig {
        LoaderConfig {
            filter: filter.kernel_part(),
            announcements: self.announcements,
            timeout: self.timeout(),
            max_pending: self.max_pending,
            btf: self.btf.clone(),
            reader: match self.reader {
                ReaderArg::Auto => ReaderChoice::Auto,
                ReaderArg::Dynptr => ReaderChoice::Dynptr,
                ReaderArg::Linear => ReaderChoice::Linear,
                ReaderArg::Tracepoint => ReaderChoice::Tracepoint,
            },
            verbose: self.verbose,
        }
    }

    /// How long the kernel waits for an answer: --timeout, else 5 s, or
    /// 1 s with --lookups (glibc resends after 1 s at the least, so each
    /// try is a transaction of its own; a later answer comes as a late
    /// one, which the lookup counts).
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(if self.lookups {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        })
    }

    /// The table's columns, in order.
    pub fn columns(&self) -> Vec<Column> {
        self.columns.clone().unwrap_or_else(Column::defaults)
    }

    /// Checks that clap's per-value parsers cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.len() > MAX_IDS {
            return Err(format!("--id can be given at most {MAX_IDS} times"));
        }
        let mut ports = self.port.clone();
        ports.sort_unstable();
        ports.dedup();
        ports.retain(|p| *p != 53);
        if ports.len() + 1 > MAX_PORTS {
            return Err(format!(
                "--port can add at most {} ports besides 53",
                MAX_PORTS - 1
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("dnstrace").chain(args.iter().copied()))
    }

    #[test]
    fn security_flags() {
        let a = parse(&[]).unwrap();
        let s = a.security();
        assert_eq!((s.subdomains, s.type_volume, s.nxdomain), (100, 50, 200));
        assert_eq!(
            (s.name_length, s.label_length, s.answer_size),
            (90, 52, 1232)
        );
        assert_eq!(s.window_ns, 3_600_000_000_000);
        assert_eq!(s.nxdomain_window_ns, 900_000_000_000);
        assert_eq!(s.allow, ["arpa", "cluster.local", "local"]);
        assert!(!a.suspicious && !a.no_security);
        let a = parse(&[
            "--suspicious",
            "--resolvers",
            "10.96.0.10,fd00::/8",
            "--security-allow",
            "Zen.Spamhaus.org.",
            "--suspicious-subdomains",
            "8",
            "--security-window",
            "10m",
        ])
        .unwrap();
        let s = a.security();
        assert!(a.suspicious);
        assert_eq!(s.resolvers.len(), 2);
        assert_eq!(s.allow.last().unwrap(), "zen.spamhaus.org");
        assert_eq!(s.subdomains, 8);
        assert_eq!(s.window_ns, 600_000_000_000);
        let err = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert!(err(&["--security-allow", "a..b"]).contains("not a domain name"));
        assert!(err(&["--security-allow", "bad domain"]).contains("not a domain name"));
        assert!(err(&["--resolvers", "nowhere"]).contains("neither an IP address"));
        assert!(err(&["--security-window", "0s"]).contains("count nothing"));
        assert!(err(&["--suspicious-subdomains", "0"]).contains("0"));
        assert!(err(&["--suspicious", "--no-security"]).contains("cannot be used with"));
    }

    #[test]
    fn definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.timeout(), Duration::from_secs(5));
        assert_eq!(a.output_format(true), OutputFormat::Table);
        assert_eq!(a.output_format(false), OutputFormat::Text);
        assert_eq!(a.max_pending, 65536);
        assert_eq!(a.reader, ReaderArg::Auto);
        assert_eq!(a.metrics, None);
        assert_eq!(a.metrics_max_servers, 20);
        assert!(a.validate().is_ok());
    }

    #[test]
    fn fixed_flag_names() {
        let a = parse(&[
            "-o",
            "json",
            "--min-latency",
            "50ms",
            "--id",
            "7",
            "--rcode",
            "NXDOMAIN",
            "--rcode",
            "timeout",
            "--errors",
            "--name",
            "*.example",
            "--qtype",
            "AAAA",
            "--client",
            "10.0.0.0/8",
            "--server",
            "fd00::1",
            "-i",
            "eth0",
            "-p",
            "42",
            "--comm",
            "dig",
            "--port",
            "5353",
            "--pod",
            "web-*",
            "--namespace",
            "shop",
            "--container",
            "curl",
            "--timeout",
            "2s",
            "-d",
            "1m",
            "-c",
            "10",
            "-vv",
        ])
        .unwrap();
        assert_eq!(a.output_format(true), OutputFormat::Json);
        assert_eq!(a.min_latency, Some(Duration::from_millis(50)));
        assert_eq!(a.id, vec![7]);
        assert_eq!(a.rcode, vec![RcodeFilter::Code(3), RcodeFilter::Timeout]);
        assert!(a.errors);
        assert_eq!(a.qtype, vec![28]);
        assert_eq!(a.client, vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]);
        assert_eq!(a.server, vec!["fd00::1/128".parse::<IpNet>().unwrap()]);
        assert_eq!(a.interface, vec!["eth0"]);
        assert_eq!(a.pid, vec![42]);
        assert_eq!(a.comm, vec!["dig"]);
        assert_eq!(a.port, vec![5353]);
        assert_eq!(a.pod, vec![NameGlob::new("web-*").unwrap()]);
        assert_eq!(a.namespace, vec!["shop"]);
        assert_eq!(a.container, vec![NameGlob::new("curl").unwrap()]);
        let f = a.filter();
        assert!(f.about_who());
        assert_eq!(f.namespaces, vec!["shop"]);
        assert_eq!(a.node_root, PathBuf::from("/"));
        assert_eq!(a.timeout(), Duration::from_secs(2));
        assert_eq!(a.duration, Some(Duration::from_secs(60)));
        assert_eq!(a.count, Some(10));
        assert_eq!(a.verbose, 2);
        assert_eq!(
            parse(&["--json"]).unwrap().output_format(true),
            OutputFormat::Json
        );
    }

    #[test]
    fn metrics_flags() {
        let a = parse(&["--metrics", "[::]:9253", "--metrics-max-servers", "5"]).unwrap();
        assert_eq!(a.metrics, Some("[::]:9253".parse().unwrap()));
        assert_eq!(a.metrics_max_servers, 5);
        let a = parse(&["--metrics", "127.0.0.1:9253"]).unwrap();
        assert_eq!(a.metrics, Some("127.0.0.1:9253".parse().unwrap()));
        let err = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert!(err(&["--metrics", "localhost"]).contains("use IP:PORT"));
        // A bare port is loopback's; other addresses only when asked for.
        for bare in ["9253", ":9253"] {
            let a = parse(&["--metrics", bare]).unwrap();
            assert_eq!(a.metrics, Some("127.0.0.1:9253".parse().unwrap()));
        }
        for bad in ["65536", ":", "-1", "9253:", "0x10"] {
            let e = err(&[&format!("--metrics={bad}")]);
            assert!(e.contains("use IP:PORT"), "{bad}: {e}");
        }
        assert!(err(&["--metrics-max-servers", "3"]).contains("--metrics <ADDR>"));
        assert!(err(&["--metrics", "[::]:1", "--metrics-max-servers", "1001"]).contains("1001"));
        assert_eq!(
            parse(&["--metrics", "[::]:1"]).unwrap().metrics_namespaces,
            None
        );
        let a = parse(&["--metrics", "[::]:1", "--metrics-namespaces", "50"]).unwrap();
        assert_eq!(a.metrics_namespaces, Some(50));
        assert!(err(&["--metrics-namespaces", "5"]).contains("--metrics <ADDR>"));
        assert!(err(&["--metrics", "[::]:1", "--metrics-namespaces", "0"]).contains("0"));
    }

    #[test]
    fn bad_values_are_rejected_clearly() {
        let err = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert!(err(&["--rcode", "BOGUS"]).contains("unknown rcode 'BOGUS'"));
        assert!(err(&["--rcode", "23"]).contains("extended"));
        assert!(err(&["--rcode", "UNREACH"]).contains("UNREACHABLE"));
        assert_eq!(
            parse(&["--rcode", "Unreachable"]).unwrap().rcode,
            vec![RcodeFilter::Unreachable]
        );
        assert!(err(&["--qtype", "NOPE"]).contains("unknown query type"));
        assert!(err(&["--client", "10.0.0.300"]).contains("neither an IP address nor a CIDR"));
        assert!(err(&["--min-latency", "fast"]).contains("not a duration"));
        assert!(err(&["--timeout", "0s"]).contains("between 10ms and 1h"));
        assert!(err(&["--port", "0"]).contains("0"));
        assert!(err(&["--count", "0"]).contains("0"));
        assert!(err(&["--json", "-o", "text"]).contains("cannot be used with"));
        assert!(err(&["--name", ""]).contains("empty"));
        let many: Vec<String> = (0..17)
            .flat_map(|i| ["--id".to_string(), i.to_string()])
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(parse(&refs)
            .unwrap()
            .validate()
            .unwrap_err()
            .contains("--id"));
        let ports: Vec<String> = (1000..1016)
            .flat_map(|p| ["--port".to_string(), p.to_string()])
            .collect();
        let refs: Vec<&str> = ports.iter().map(String::as_str).collect();
        assert!(parse(&refs)
            .unwrap()
            .validate()
            .unwrap_err()
            .contains("--port"));
        assert!(err(&["-d", "0s"]).contains("a duration of 0"));
        assert!(err(&["--pid", "0"]).contains("0"));
        assert!(err(&["--comm", "a-very-long-process-name"]).contains("15 bytes"));
        assert!(parse(&["--comm", "fifteen-bytes-x"]).is_ok());
        assert!(err(&["-i", "an-interface-name"]).contains("interface name"));
        assert!(err(&["--namespace", ""]).contains("namespace"));
        assert!(err(&["--namespace", &"n".repeat(64)]).contains("63"));
        assert!(err(&["--pod", ""]).contains("empty"));
        assert!(parse(&["-i", "fifteen-bytes-x"]).is_ok());
    }

    #[test]
    fn help_shows_examples() {
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("--min-latency 50ms"));
        assert!(help.contains("--json | jq"));
        assert!(help.contains("--rcode NXDOMAIN --name '*.svc.cluster.local'"));
        assert!(help.contains("Exit status"));
    }

    #[test]
    fn lookups_wait_a_second_for_each_try_unless_told() {
        let a = parse(&["--lookups"]).unwrap();
        assert!(a.lookups);
        assert_eq!(a.timeout(), Duration::from_secs(1));
        let a = parse(&["--lookups", "--timeout", "3s"]).unwrap();
        assert_eq!(a.timeout(), Duration::from_secs(3));
        let (tx, lk) = parse(&["--lookups", "--errors", "--min-latency", "1s", "--pid", "7"])
            .unwrap()
            .filter()
            .split_for_lookups();
        assert_eq!(tx.min_latency, None, "the kernel must send every try");
        assert_eq!(tx.pids, [7]);
        assert_eq!(lk.min_latency, Some(Duration::from_secs(1)));
        assert!(lk.pids.is_empty());
        assert_ne!(tx.rcode_mask, lk.rcode_mask);
    }
}
