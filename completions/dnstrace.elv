
use builtin;
use str;

set edit:completion:arg-completer[dnstrace] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'dnstrace'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'dnstrace'= {
            cand -o 'Output format [default: table on a terminal, text otherwise]'
            cand --output 'Output format [default: table on a terminal, text otherwise]'
            cand --min-latency 'Only transactions at least this slow (timeouts and UNREACHABLE always qualify)'
            cand --id 'Only this DNS transaction id (up to 16 times)'
            cand --rcode 'Only this response code: NOERROR, NXDOMAIN, ..., a number, TIMEOUT, UNREACHABLE (an ICMP error failed the query), or ENCRYPTED (DoT and DoQ connections)'
            cand --name 'Only names matching this case-insensitive glob (''*'' spans dots)'
            cand --qtype 'Only this query type: A, AAAA, MX, TYPE65280, ...'
            cand --client 'Only queries from this client address or network'
            cand --server 'Only queries to this server address or network, or delivered there by NAT (a Service''s backend)'
            cand -i 'Only transactions seen first on this interface (any namespace)'
            cand --interface 'Only transactions seen first on this interface (any namespace)'
            cand -p 'Only queries sent by this process id'
            cand --pid 'Only queries sent by this process id'
            cand --comm 'Only queries sent by a process of this name (as in /proc/PID/comm)'
            cand --pod 'Only queries sent from a Kubernetes pod whose name matches this glob (named from kubelet''s /var/log/pods)'
            cand --namespace 'Only queries sent from a pod in this Kubernetes namespace'
            cand --container 'Only queries sent from a container whose name (or id) matches this glob'
            cand --port 'Also trace DNS on this port, besides 53 (up to 15 times)'
            cand --timeout 'Report a query unanswered after this long as TIMEOUT [default: 5s; 1s with --lookups, so that a resend on the same socket is seen as one, and a later answer still counts]'
            cand -d 'Stop after this long'
            cand --duration 'Stop after this long'
            cand -c 'Stop after this many transactions (lookups, with --lookups) have been shown'
            cand --count 'Stop after this many transactions (lookups, with --lookups) have been shown'
            cand --max-pending 'Queries tracked at once; the oldest are evicted (and counted) beyond it'
            cand --btf 'BTF file to relocate the program against instead of /sys/kernel/btf/vmlinux; on a kernel without BTF of its own, classic tracepoints are used (plain DNS over UDP)'
            cand --reader 'How the kernel program reads packet bytes'
            cand --node-root 'Where the node''s /var/log/pods, /var/log/containers and container runtimes'' state (/run/containerd, /run/containers, /var/lib/containers, /var/lib/docker) are found, to name pods and containers; read only'
            cand --columns 'Columns of the table, in order: time, process, client, server, proto, id, type, name, rcode, latency, or any JSON field'
            cand --metrics 'Serve Prometheus metrics at http://ADDR/metrics (and /healthz) while tracing: a bare PORT listens on 127.0.0.1; IP:PORT, e.g. [::]:9253, where you choose (the metrics show server addresses and, by namespace, who asks)'
            cand --metrics-max-servers 'Servers with their own label in the metrics (the busiest); the rest are "other"'
            cand --metrics-namespaces 'Also count transactions by the Kubernetes namespace of the pod that sent them, with a namespace label for the first N namespaces seen (the rest "_other")'
            cand --resolvers 'Servers every client may ask besides those of its resolv.conf; a query to any other is from an unauthorized resolver'
            cand --security-allow 'Domains whose names are not checked (blocklists such as DNSBLs, which look like tunnels), besides arpa, cluster.local and local'
            cand --suspicious-subdomains 'Unique names under one site (registered domain) per --security-window before the rest are flagged (RITA''s threshold; the Zeek scripts use 8); up to 1000'
            cand --suspicious-txt 'TXT and NULL queries under one registered domain per --security-window before the rest are flagged'
            cand --suspicious-name-length 'Names longer than this are flagged (the Zeek scripts'' threshold)'
            cand --suspicious-label-length 'Labels longer than this are flagged'
            cand --suspicious-answer-size 'Answers larger than this are flagged (DNS Flag Day 2020''s UDP size)'
            cand --suspicious-nxdomain 'NXDOMAIN answers to one client per --nxdomain-window before the rest are flagged'
            cand --security-window 'The window the per-domain counts are kept over'
            cand --nxdomain-window 'The window the per-client NXDOMAIN count is kept over'
            cand --security-max-keys 'Domains and clients whose counts are kept, each; the least recently used are dropped (and counted) beyond it. Memory: at most about N x (--suspicious-subdomains + 1) x 16 bytes (6.6 MB by default)'
            cand --json 'Same as --output json'
            cand --errors 'Only failures: any rcode but NOERROR, timeouts and UNREACHABLE'
            cand --lookups 'Show one record per lookup (what one application call asked: the search-list expansions, A and AAAA, resends, TCP after TC) instead of one per transaction'
            cand -v 'More detail: the loader''s choices and every counter at exit (-vv: libbpf''s log)'
            cand --verbose 'More detail: the loader''s choices and every counter at exit (-vv: libbpf''s log)'
            cand --announcements 'Also show mDNS answers that no query asked for (they are always counted)'
            cand --no-summary 'Do not print the summary at exit (losses are still reported)'
            cand --suspicious 'Show only suspicious transactions (with --lookups, lookups with a suspicious query); see SECURITY SIGNALS'
            cand --no-security 'Do not look for security signals (suspicion is null)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
