complete -c dnstrace -s o -l output -d 'Output format [default: table on a terminal, text otherwise]' -r -f -a "table\t'Live table with views (keys: t, b, s, space, r, ?, q)'
text\t'One aligned line per transaction'
json\t'One JSON object per line'"
complete -c dnstrace -l min-latency -d 'Only transactions at least this slow (timeouts and UNREACHABLE always qualify)' -r
complete -c dnstrace -l id -d 'Only this DNS transaction id (up to 16 times)' -r
complete -c dnstrace -l rcode -d 'Only this response code: NOERROR, NXDOMAIN, ..., a number, TIMEOUT, UNREACHABLE (an ICMP error failed the query), or ENCRYPTED (DoT and DoQ connections)' -r
complete -c dnstrace -l name -d 'Only names matching this case-insensitive glob (\'*\' spans dots)' -r
complete -c dnstrace -l qtype -d 'Only this query type: A, AAAA, MX, TYPE65280, ...' -r
complete -c dnstrace -l client -d 'Only queries from this client address or network' -r
complete -c dnstrace -l server -d 'Only queries to this server address or network, or delivered there by NAT (a Service\'s backend)' -r
complete -c dnstrace -s i -l interface -d 'Only transactions seen first on this interface (any namespace)' -r
complete -c dnstrace -s p -l pid -d 'Only queries sent by this process id' -r
complete -c dnstrace -l comm -d 'Only queries sent by a process of this name (as in /proc/PID/comm)' -r
complete -c dnstrace -l pod -d 'Only queries sent from a Kubernetes pod whose name matches this glob (named from kubelet\'s /var/log/pods)' -r
complete -c dnstrace -l namespace -d 'Only queries sent from a pod in this Kubernetes namespace' -r
complete -c dnstrace -l container -d 'Only queries sent from a container whose name (or id) matches this glob' -r
complete -c dnstrace -l port -d 'Also trace DNS on this port, besides 53 (up to 15 times)' -r
complete -c dnstrace -l timeout -d 'Report a query unanswered after this long as TIMEOUT [default: 5s; 1s with --lookups, so that a resend on the same socket is seen as one, and a later answer still counts]' -r
complete -c dnstrace -s d -l duration -d 'Stop after this long' -r
complete -c dnstrace -s c -l count -d 'Stop after this many transactions (lookups, with --lookups) have been shown' -r
complete -c dnstrace -l max-pending -d 'Queries tracked at once; the oldest are evicted (and counted) beyond it' -r
complete -c dnstrace -l btf -d 'BTF file to relocate the program against instead of /sys/kernel/btf/vmlinux; on a kernel without BTF of its own, classic tracepoints are used (plain DNS over UDP)' -r -F
complete -c dnstrace -l reader -d 'How the kernel program reads packet bytes' -r -f -a "auto\t'dynptr when the kernel allows it, else linear; on a kernel without its own BTF (with --btf), classic tracepoints'
dynptr\t'bpf_dynptr_from_skb: reads page fragments too (kernel 6.14 or so)'
linear\t'bpf_probe_read_kernel of the linear part: older kernels, UDP only'
tracepoint\t'Classic tracepoints and the linear reader: kernels without their own BTF (with --btf)'"
complete -c dnstrace -l node-root -d 'Where the node\'s /var/log/pods, /var/log/containers and container runtimes\' state (/run/containerd, /run/containers, /var/lib/containers, /var/lib/docker) are found, to name pods and containers; read only' -r -F
complete -c dnstrace -l columns -d 'Columns of the table, in order: time, process, client, server, proto, id, type, name, rcode, latency, or any JSON field' -r
complete -c dnstrace -l metrics -d 'Serve Prometheus metrics at http://ADDR/metrics (and /healthz) while tracing: a bare PORT listens on 127.0.0.1; IP:PORT, e.g. [::]:9253, where you choose (the metrics show server addresses and, by namespace, who asks)' -r
complete -c dnstrace -l metrics-max-servers -d 'Servers with their own label in the metrics (the busiest); the rest are "other"' -r
complete -c dnstrace -l metrics-namespaces -d 'Also count transactions by the Kubernetes namespace of the pod that sent them, with a namespace label for the first N namespaces seen (the rest "_other")' -r
complete -c dnstrace -l resolvers -d 'Servers every client may ask besides those of its resolv.conf; a query to any other is from an unauthorized resolver' -r
complete -c dnstrace -l security-allow -d 'Domains whose names are not checked (blocklists such as DNSBLs, which look like tunnels), besides arpa, cluster.local and local' -r
complete -c dnstrace -l suspicious-subdomains -d 'Unique names under one site (registered domain) per --security-window before the rest are flagged (RITA\'s threshold; the Zeek scripts use 8); up to 1000' -r
complete -c dnstrace -l suspicious-txt -d 'TXT and NULL queries under one registered domain per --security-window before the rest are flagged' -r
complete -c dnstrace -l suspicious-name-length -d 'Names longer than this are flagged (the Zeek scripts\' threshold)' -r
complete -c dnstrace -l suspicious-label-length -d 'Labels longer than this are flagged' -r
complete -c dnstrace -l suspicious-answer-size -d 'Answers larger than this are flagged (DNS Flag Day 2020\'s UDP size)' -r
complete -c dnstrace -l suspicious-nxdomain -d 'NXDOMAIN answers to one client per --nxdomain-window before the rest are flagged' -r
complete -c dnstrace -l security-window -d 'The window the per-domain counts are kept over' -r
complete -c dnstrace -l nxdomain-window -d 'The window the per-client NXDOMAIN count is kept over' -r
complete -c dnstrace -l security-max-keys -d 'Domains and clients whose counts are kept, each; the least recently used are dropped (and counted) beyond it. Memory: at most about N x (--suspicious-subdomains + 1) x 16 bytes (6.6 MB by default)' -r
complete -c dnstrace -l json -d 'Same as --output json'
complete -c dnstrace -l errors -d 'Only failures: any rcode but NOERROR, timeouts and UNREACHABLE'
complete -c dnstrace -l lookups -d 'Show one record per lookup (what one application call asked: the search-list expansions, A and AAAA, resends, TCP after TC) instead of one per transaction'
complete -c dnstrace -s v -l verbose -d 'More detail: the loader\'s choices and every counter at exit (-vv: libbpf\'s log)'
complete -c dnstrace -l announcements -d 'Also show mDNS answers that no query asked for (they are always counted)'
complete -c dnstrace -l no-summary -d 'Do not print the summary at exit (losses are still reported)'
complete -c dnstrace -l suspicious -d 'Show only suspicious transactions (with --lookups, lookups with a suspicious query); see SECURITY SIGNALS'
complete -c dnstrace -l no-security -d 'Do not look for security signals (suspicion is null)'
complete -c dnstrace -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dnstrace -s V -l version -d 'Print version'
