//! A Kubernetes node in network namespaces, for the NAT tests.
//!
//! A node namespace routes to pod namespaces over veth pairs (one /30 and
//! one /64 per pod, the pod's `eth0` against the node's `veth-<pod>`), and
//! to an upstream namespace over its uplink `eth0` (the harness's link
//! numbering: 10.77.S.0/24, fd77:S::/64). The rules are data, the text that
//! iptables-restore, ip6tables-restore or nft -f reads, written the way
//! kube-proxy and the CNI write them: kube-proxy DNATs the cluster DNS
//! service VIP to the CoreDNS pods, in PREROUTING (pods) and OUTPUT
//! (host-network processes), and the CNI masquerades pod traffic that
//! leaves the cluster. Everything, rules included, goes with the
//! namespaces when the [`Node`] drops.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Stdio;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use super::{run, Dnsmasq, Netns, Responder};

/// The cluster DNS service's address (kube-dns), IPv4 and IPv6.
pub const VIP4: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x96, 0, 0, 0, 0, 0, 0xa);
/// The pods' addresses, as the CNI and kube-proxy know them.
pub const CLUSTER_CIDR4: &str = "10.244.0.0/16";
pub const CLUSTER_CIDR6: &str = "fd44::/16";
/// A pod's own interface, and the node's interface to the upstream.
pub const POD_IF: &str = "eth0";
pub const UPLINK_IF: &str = "eth0";
/// The pods of every node: a client and two CoreDNS replicas.
pub const CLIENT: usize = 0;
pub const COREDNS: [usize; 2] = [1, 2];
const PODS: [&str; 3] = ["client", "coredns1", "coredns2"];
/// Where a server in a pod listens: every address, both families.
const ANY_53: &str = "[::]:53";

/// A pod: its namespace, its addresses, and the node's end of its veth
/// (its gateway).
pub struct Pod {
    pub ns: Netns,
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
    pub node_if: String,
    pub node_v4: Ipv4Addr,
    pub node_v6: Ipv6Addr,
}

impl Pod {
    pub fn ip(&self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(self.v6)
        } else {
            IpAddr::V4(self.v4)
        }
    }
}

/// The resolver beyond the node's uplink, and the node's address there
/// (what MASQUERADE translates pod sources to).
pub struct Upstream {
    pub ns: Netns,
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
    pub node_v4: Ipv4Addr,
    pub node_v6: Ipv6Addr,
}

/// A node, its pods and its upstream. Fields drop in order: the servers
/// first, while their namespaces still exist, then the namespaces.
pub struct Node {
    servers: Vec<Box<dyn std::any::Any>>,
    pub pods: Vec<Pod>,
    pub upstream: Upstream,
    pub ns: Netns,
    pub subnet: u8,
}

/// One end of a veth pair: where it lives, its name, MAC and addresses.
struct End<'a> {
    ns: &'a Netns,
    ifname: &'a str,
    mac: [u8; 6],
    v4: Ipv4Addr,
    v6: Ipv6Addr,
}

fn mac(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

/// A veth pair between two namespaces, addressed, up, and with permanent
/// neighbour entries both ways (no query waits for ARP or neighbour
/// discovery and leaves from a softirq).
fn wire(a: End, b: End, prefix4: u8, prefix6: u8) {
    run(
        "ip",
        &[
            "link",
            "add",
            a.ifname,
            "netns",
            &a.ns.name,
            "address",
            &mac(a.mac),
            "type",
            "veth",
            "peer",
            "name",
            b.ifname,
            "netns",
            &b.ns.name,
            "address",
            &mac(b.mac),
        ],
    );
    for (me, peer) in [(&a, &b), (&b, &a)] {
        me.ns.ip(&[
            "addr",
            "add",
            &format!("{}/{prefix4}", me.v4),
            "dev",
            me.ifname,
        ]);
        me.ns.ip(&[
            "addr",
            "add",
            &format!("{}/{prefix6}", me.v6),
            "dev",
            me.ifname,
            "nodad",
        ]);
        me.ns.ip(&["link", "set", me.ifname, "up"]);
        for addr in [peer.v4.to_string(), peer.v6.to_string()] {
            me.ns.ip(&[
                "neigh",
                "replace",
                &addr,
                "lladdr",
                &mac(peer.mac),
                "dev",
                me.ifname,
                "nud",
                "permanent",
            ]);
        }
    }
}

impl Node {
    /// A node numbered `subnet` (240-249 here): pods in 10.244.S.0/24 and
    /// fd44:S::/32, one /30 and /64 each (client 10.244.S.2, CoreDNS
    /// 10.244.S.6 and .10), the uplink in 10.77.S.0/24 (upstream .1, node
    /// .2) and the node's default route through it. Pod egress leaving the
    /// cluster is masqueraded as flannel does it; no kube-proxy rules yet.
    pub fn new(tag: &str, subnet: u8) -> Node {
        let ns = Netns::new(&format!("nat{tag}node"));
        sysctl(
            &ns,
            &["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"],
        );
        let upstream = Upstream {
            ns: Netns::new(&format!("nat{tag}up")),
            v4: Ipv4Addr::new(10, 77, subnet, 1),
            v6: format!("fd77:{subnet:x}::1").parse().unwrap(),
            node_v4: Ipv4Addr::new(10, 77, subnet, 2),
            node_v6: format!("fd77:{subnet:x}::2").parse().unwrap(),
        };
        wire(
            End {
                ns: &ns,
                ifname: UPLINK_IF,
                mac: [0x02, 0x4e, subnet, 0xff, 0, 2],
                v4: upstream.node_v4,
                v6: upstream.node_v6,
            },
            End {
                ns: &upstream.ns,
                ifname: UPLINK_IF,
                mac: [0x02, 0x4e, subnet, 0xff, 0, 1],
                v4: upstream.v4,
                v6: upstream.v6,
            },
            24,
            64,
        );
        ns.ip(&["route", "add", "default", "via", &upstream.v4.to_string()]);
        ns.ip(&[
            "-6",
            "route",
            "add",
            "default",
            "via",
            &upstream.v6.to_string(),
        ]);
        let pods = PODS
            .iter()
            .enumerate()
            .map(|(i, role)| {
                let i = i as u8;
                let pod = Pod {
                    ns: Netns::new(&format!("nat{tag}{role}")),
                    v4: Ipv4Addr::new(10, 244, subnet, 4 * i + 2),
                    v6: format!("fd44:{subnet:x}:{i:x}::2").parse().unwrap(),
                    node_if: format!("veth-{role}"),
                    node_v4: Ipv4Addr::new(10, 244, subnet, 4 * i + 1),
                    node_v6: format!("fd44:{subnet:x}:{i:x}::1").parse().unwrap(),
                };
                wire(
                    End {
                        ns: &ns,
                        ifname: &pod.node_if,
                        mac: [0x02, 0x4e, subnet, i, 0, 1],
                        v4: pod.node_v4,
                        v6: pod.node_v6,
                    },
                    End {
                        ns: &pod.ns,
                        ifname: POD_IF,
                        mac: [0x02, 0x4e, subnet, i, 0, 2],
                        v4: pod.v4,
                        v6: pod.v6,
                    },
                    30,
                    64,
                );
                pod.ns
                    .ip(&["route", "add", "default", "via", &pod.node_v4.to_string()]);
                pod.ns.ip(&[
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    &pod.node_v6.to_string(),
                ]);
                pod
            })
            .collect();
        let node = Node {
            servers: Vec::new(),
            pods,
            upstream,
            ns,
            subnet,
        };
        node.iptables_restore(&flannel_masquerade(CLUSTER_CIDR4, "224.0.0.0/4"));
        node.ip6tables_restore(&flannel_masquerade(CLUSTER_CIDR6, "ff00::/8"));
        node
    }

    pub fn client(&self) -> &Pod {
        &self.pods[CLIENT]
    }

    pub fn coredns(&self, replica: usize) -> &Pod {
        &self.pods[COREDNS[replica]]
    }

    /// The CoreDNS pods' addresses of one family.
    pub fn coredns_ips(&self, v6: bool) -> Vec<IpAddr> {
        COREDNS.iter().map(|&p| self.pods[p].ip(v6)).collect()
    }

    /// The pod whose address is `ip`.
    pub fn pod_at(&self, ip: &str) -> &Pod {
        self.pods
            .iter()
            .find(|p| p.v4.to_string() == ip || p.v6.to_string() == ip)
            .unwrap_or_else(|| panic!("no pod has {ip}"))
    }

    /// The harness's responder in a pod, on both families (`[::]:53`),
    /// waiting `delay` more before each answer. Returns how many it has
    /// answered.
    pub fn responder(&mut self, pod: usize, delay: Duration) -> Arc<AtomicUsize> {
        let r = Responder::start_slow(&self.pods[pod].ns, ANY_53.parse().unwrap(), delay);
        let answered = r.answered.clone();
        self.servers.push(Box::new(r));
        answered
    }

    /// The responder on the upstream's addresses.
    pub fn upstream_responder(&mut self) {
        let r = Responder::start(&self.upstream.ns, ANY_53.parse().unwrap());
        self.servers.push(Box::new(r));
    }

    /// dnsmasq (`*.ok.test`, `*.nx.test`) on a pod's IPv4 address.
    pub fn dnsmasq(&mut self, pod: usize) {
        let d = Dnsmasq::start(&self.pods[pod].ns, &[self.pods[pod].ip(false)]);
        self.servers.push(Box::new(d));
    }

    pub fn iptables_restore(&self, rules: &str) {
        feed(&self.ns, "iptables-restore", &["--noflush"], rules);
    }

    pub fn ip6tables_restore(&self, rules: &str) {
        feed(&self.ns, "ip6tables-restore", &["--noflush"], rules);
    }

    pub fn nft(&self, rules: &str) {
        feed(&self.ns, "nft", &["-f", "-"], rules);
    }

    /// kube-proxy's rules for `services`, in `mode`, both families.
    pub fn kube_proxy(&self, mode: ProxyMode, services: &[ServicePort]) {
        let (v4, v6): (Vec<_>, Vec<_>) = services.iter().cloned().partition(|s| s.vip.is_ipv4());
        match mode {
            ProxyMode::Iptables => {
                if !v4.is_empty() {
                    self.iptables_restore(&kube_proxy_iptables(&v4));
                }
                if !v6.is_empty() {
                    self.ip6tables_restore(&kube_proxy_iptables(&v6));
                }
            }
            ProxyMode::Nftables => {
                if !v4.is_empty() {
                    self.nft(&kube_proxy_nftables(&v4));
                }
                if !v6.is_empty() {
                    self.nft(&kube_proxy_nftables(&v6));
                }
            }
        }
    }

    /// The tracer's filter for everything this node's clients send: its
    /// pods and its uplink, never another test's namespaces (the VIP is
    /// everybody's).
    pub fn own_clients(&self) -> Vec<String> {
        let s = self.subnet;
        [
            format!("10.244.{s}.0/24"),
            format!("fd44:{s:x}::/32"),
            format!("10.77.{s}.0/24"),
            format!("fd77:{s:x}::/64"),
        ]
        .into_iter()
        .flat_map(|c| ["--client".to_string(), c])
        .collect()
    }

    /// The node's conntrack entries of one family and protocol.
    pub fn conntrack(&self, v6: bool, proto: &str) -> Vec<Conntrack> {
        let family = if v6 { "ipv6" } else { "ipv4" };
        let out = self
            .ns
            .command("conntrack")
            .args(["-L", "-f", family, "-p", proto])
            .output()
            .expect("running conntrack (apt-get install conntrack)");
        assert!(out.status.success(), "conntrack -L: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(Conntrack::parse)
            .collect()
    }

    /// The one conntrack entry of the connection `client` opened.
    pub fn conntrack_of(&self, proto: &str, client: SocketAddr) -> Conntrack {
        let all = self.conntrack(client.is_ipv6(), proto);
        let mine: Vec<_> = all.iter().filter(|c| c.orig.src == client).collect();
        assert_eq!(mine.len(), 1, "conntrack of {client}: {all:#?}");
        mine[0].clone()
    }

    /// The nat table's rules with their packet counters, as iptables -L
    /// prints them: for a failure message.
    pub fn nat_counters(&self) -> String {
        let out = self
            .ns
            .command("iptables")
            .args(["-t", "nat", "-L", "-v", "-n", "-x"])
            .output()
            .expect("running iptables");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn sysctl(ns: &Netns, settings: &[&str]) {
    let mut c = ns.command("sysctl");
    c.arg("-qw").args(settings);
    let st = c.status().expect("running sysctl");
    assert!(st.success(), "sysctl {settings:?} in {}", ns.name);
}

/// Runs `program args` inside `ns` with `text` on its standard input.
fn feed(ns: &Netns, program: &str, args: &[&str], text: &str) {
    let mut child = ns
        .command(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("running {program}: {e} (apt-get install iptables nftables conntrack)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Which of kube-proxy's proxiers writes the rules.
#[derive(Debug, Clone, Copy)]
pub enum ProxyMode {
    Iptables,
    Nftables,
}

/// One port of a Service: `namespace/name:port_name`, its cluster IP and
/// port, and the endpoints kube-proxy spreads it over.
#[derive(Debug, Clone)]
pub struct ServicePort {
    pub namespace: &'static str,
    pub name: &'static str,
    pub port_name: &'static str,
    pub proto: &'static str,
    pub vip: IpAddr,
    pub port: u16,
    pub endpoints: Vec<SocketAddr>,
}

/// kube-dns as a cluster has it: `dns` over UDP and `dns-tcp` over TCP,
/// port 53 on the VIP and on each endpoint.
pub fn kube_dns(vip: IpAddr, endpoints: &[IpAddr]) -> Vec<ServicePort> {
    [("dns", "udp"), ("dns-tcp", "tcp")]
        .into_iter()
        .map(|(port_name, proto)| ServicePort {
            namespace: "kube-system",
            name: "kube-dns",
            port_name,
            proto,
            vip,
            port: 53,
            endpoints: endpoints
                .iter()
                .map(|&ip| SocketAddr::new(ip, 53))
                .collect(),
        })
        .collect()
}

/// kube-proxy's chain-name hashes are 16 base32 characters of a SHA-256;
/// any stable hash does here.
fn chain_hash(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..2u8)
        .flat_map(|half| {
            let mut h = DefaultHasher::new();
            (half, s).hash(&mut h);
            let x = h.finish();
            (0..8).map(move |i| ALPHABET[((x >> (5 * i)) & 31) as usize] as char)
        })
        .collect()
}

fn host_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}/32"),
        IpAddr::V6(a) => format!("{a}/128"),
    }
}

/// kube-proxy's iptables mode (one family: iptables-restore or
/// ip6tables-restore), as `iptables-save -t nat` shows it on a node:
/// PREROUTING and OUTPUT to KUBE-SERVICES, one KUBE-SVC chain per
/// service port choosing an endpoint at random, one KUBE-SEP chain per
/// endpoint (hairpin marked for masquerade, then DNAT), and
/// KUBE-POSTROUTING masquerading what was marked.
pub fn kube_proxy_iptables(services: &[ServicePort]) -> String {
    let mut chains = vec![
        "KUBE-SERVICES".to_string(),
        "KUBE-POSTROUTING".into(),
        "KUBE-MARK-MASQ".into(),
    ];
    let mut rules = vec![
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
            .to_string(),
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES".into(),
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING"
            .into(),
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000".into(),
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN".into(),
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000".into(),
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" \
         -j MASQUERADE --random-fully"
            .into(),
    ];
    for s in services {
        let svc_name = format!("{}/{}:{}", s.namespace, s.name, s.port_name);
        let svc = format!("KUBE-SVC-{}", chain_hash(&format!("{svc_name}{}", s.proto)));
        chains.push(svc.clone());
        rules.push(format!(
            "-A KUBE-SERVICES -d {} -p {p} -m comment --comment \"{svc_name} cluster IP\" \
             -m {p} --dport {} -j {svc}",
            host_prefix(s.vip),
            s.port,
            p = s.proto
        ));
        let n = s.endpoints.len();
        for (i, ep) in s.endpoints.iter().enumerate() {
            let sep = format!(
                "KUBE-SEP-{}",
                chain_hash(&format!("{svc_name}{}{ep}", s.proto))
            );
            chains.push(sep.clone());
            let pick = if i + 1 < n {
                format!(
                    "-m statistic --mode random --probability {:.11} ",
                    1.0 / (n - i) as f64
                )
            } else {
                String::new()
            };
            rules.push(format!(
                "-A {svc} -m comment --comment \"{svc_name} -> {ep}\" {pick}-j {sep}"
            ));
            rules.push(format!(
                "-A {sep} -s {} -m comment --comment \"{svc_name}\" -j KUBE-MARK-MASQ",
                host_prefix(ep.ip())
            ));
            rules.push(format!(
                "-A {sep} -p {p} -m comment --comment \"{svc_name}\" -m {p} \
                 -j DNAT --to-destination {ep}",
                p = s.proto
            ));
        }
    }
    let mut text = String::from("*nat\n");
    for c in chains {
        text.push_str(&format!(":{c} - [0:0]\n"));
    }
    for r in rules {
        text.push_str(&r);
        text.push('\n');
    }
    text.push_str("COMMIT\n");
    text
}

/// kube-proxy's nftables mode (one family: `table ip kube-proxy` or
/// `table ip6 kube-proxy`), as its proxier writes the transaction: the
/// `service-ips` verdict map sends a VIP, protocol and port to a
/// `service-...` chain, which picks an `endpoint-...` chain with numgen,
/// which DNATs; `masquerading` SNATs what `mark-for-masquerade` marked.
pub fn kube_proxy_nftables(services: &[ServicePort]) -> String {
    let v6 = services.first().is_some_and(|s| s.vip.is_ipv6());
    let (family, ip, addr_type) = if v6 {
        ("ip6", "ip6", "ipv6_addr")
    } else {
        ("ip", "ip", "ipv4_addr")
    };
    let t = format!("{family} kube-proxy");
    let mut lines = vec![
        format!("add table {t} {{ comment \"rules for kube-proxy\" ; }}"),
        format!("add chain {t} mark-for-masquerade"),
        format!("add rule {t} mark-for-masquerade mark set mark or 0x4000"),
        format!("add chain {t} masquerading"),
        format!("add rule {t} masquerading mark and 0x4000 == 0 return"),
        format!("add rule {t} masquerading mark set mark xor 0x4000"),
        format!("add rule {t} masquerading masquerade fully-random"),
        format!("add chain {t} services"),
        format!("add chain {t} nat-prerouting {{ type nat hook prerouting priority -100 ; }}"),
        format!("add rule {t} nat-prerouting jump services"),
        format!("add chain {t} nat-output {{ type nat hook output priority -100 ; }}"),
        format!("add rule {t} nat-output jump services"),
        format!("add chain {t} nat-postrouting {{ type nat hook postrouting priority 100 ; }}"),
        format!("add rule {t} nat-postrouting jump masquerading"),
        format!(
            "add map {t} service-ips {{ type {addr_type} . inet_proto . inet_service : verdict ; \
             comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }}"
        ),
        format!("add rule {t} services {ip} daddr . meta l4proto . th dport vmap @service-ips"),
    ];
    for s in services {
        let port_id = format!("{}/{}/{}/{}", s.namespace, s.name, s.proto, s.port_name);
        let svc = format!("service-{}-{port_id}", &chain_hash(&port_id)[..8]);
        lines.push(format!("add chain {t} {svc}"));
        let mut picks = Vec::new();
        for (i, ep) in s.endpoints.iter().enumerate() {
            // Colons are not allowed in a chain name: kube-proxy writes an
            // IPv6 endpoint with dots.
            let ep_id = format!("{port_id}__{}/{}", ep.ip(), ep.port()).replace(':', ".");
            let chain = format!("endpoint-{}-{ep_id}", &chain_hash(&ep_id)[..8]);
            lines.push(format!("add chain {t} {chain}"));
            lines.push(format!(
                "add rule {t} {chain} {ip} saddr {} jump mark-for-masquerade",
                ep.ip()
            ));
            lines.push(format!(
                "add rule {t} {chain} meta l4proto {} dnat to {ep}",
                s.proto
            ));
            picks.push(format!("{i} : goto {chain}"));
        }
        lines.push(format!(
            "add rule {t} {svc} numgen random mod {} vmap {{ {} }}",
            s.endpoints.len(),
            picks.join(" , ")
        ));
        lines.push(format!(
            "add element {t} service-ips {{ {} . {} . {} : goto {svc} }}",
            s.vip, s.proto, s.port
        ));
    }
    lines.join("\n") + "\n"
}

/// The CNI's masquerade (flannel's chain): pod traffic to anywhere but the
/// cluster and multicast leaves with the node's address.
pub fn flannel_masquerade(cluster: &str, multicast: &str) -> String {
    format!(
        "*nat\n\
         :FLANNEL-POSTRTG - [0:0]\n\
         -A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG\n\
         -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment \"flanneld masq\" -j RETURN\n\
         -A FLANNEL-POSTRTG -s {cluster} -d {cluster} -m comment --comment \"flanneld masq\" -j RETURN\n\
         -A FLANNEL-POSTRTG -s {cluster} ! -d {multicast} -m comment --comment \"flanneld masq\" \
         -j MASQUERADE --random-fully\n\
         COMMIT\n"
    )
}

/// One direction of a conntrack entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuple {
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

/// A conntrack entry as `conntrack -L` prints it: the direction the client
/// opened and the one the answers take (translated where NAT was done).
#[derive(Debug, Clone)]
pub struct Conntrack {
    pub orig: Tuple,
    pub reply: Tuple,
}

impl Conntrack {
    /// `udp 17 29 src=A dst=B sport=P dport=Q [UNREPLIED] src=.. mark=0 use=1`
    fn parse(line: &str) -> Option<Conntrack> {
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for word in line.split_whitespace() {
            if let Some(kv) = word.split_once('=') {
                fields.push(kv);
            }
        }
        let tuple = |n: usize| -> Option<Tuple> {
            let get = |key: &str| {
                fields
                    .iter()
                    .filter(|(k, _)| *k == key)
                    .nth(n)
                    .map(|(_, v)| *v)
            };
            let ip = |key| get(key)?.parse::<IpAddr>().ok();
            let port = |key| get(key)?.parse::<u16>().ok();
            Some(Tuple {
                src: SocketAddr::new(ip("src")?, port("sport")?),
                dst: SocketAddr::new(ip("dst")?, port("dport")?),
            })
        };
        Some(Conntrack {
            orig: tuple(0)?,
            reply: tuple(1)?,
        })
    }

    /// Where DNAT sent the connection (None without DNAT).
    pub fn backend(&self) -> Option<SocketAddr> {
        (self.reply.src != self.orig.dst).then_some(self.reply.src)
    }

    /// The source SNAT gave it (None without SNAT).
    pub fn nat(&self) -> Option<SocketAddr> {
        (self.reply.dst != self.orig.src).then_some(self.reply.dst)
    }
}

/// Sends one query with a chosen id over a connected UDP socket from inside
/// `ns`: Ok(answer), or Err(kind) when none came (ConnectionRefused for an
/// ICMP port unreachable, WouldBlock for a timeout).
pub fn ask_connected(
    ns: &Netns,
    server: SocketAddr,
    id: u16,
    name: &str,
    qtype: u16,
    wait: Duration,
) -> Result<Vec<u8>, std::io::ErrorKind> {
    let msg = super::dns::build_query(id, name, qtype);
    ns.within(move || {
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .unwrap();
        let sock = std::net::UdpSocket::bind(bind).unwrap();
        sock.connect(server).unwrap();
        sock.set_read_timeout(Some(wait)).unwrap();
        sock.send(&msg).unwrap();
        let mut buf = [0u8; 1500];
        sock.recv(&mut buf)
            .map(|n| buf[..n].to_vec())
            .map_err(|e| e.kind())
    })
}
