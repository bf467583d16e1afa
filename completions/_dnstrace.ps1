
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'dnstrace' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'dnstrace'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'dnstrace' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format [default: table on a terminal, text otherwise]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format [default: table on a terminal, text otherwise]')
            [CompletionResult]::new('--min-latency', '--min-latency', [CompletionResultType]::ParameterName, 'Only transactions at least this slow (timeouts and UNREACHABLE always qualify)')
            [CompletionResult]::new('--id', '--id', [CompletionResultType]::ParameterName, 'Only this DNS transaction id (up to 16 times)')
            [CompletionResult]::new('--rcode', '--rcode', [CompletionResultType]::ParameterName, 'Only this response code: NOERROR, NXDOMAIN, ..., a number, TIMEOUT, UNREACHABLE (an ICMP error failed the query), or ENCRYPTED (DoT and DoQ connections)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Only names matching this case-insensitive glob (''*'' spans dots)')
            [CompletionResult]::new('--qtype', '--qtype', [CompletionResultType]::ParameterName, 'Only this query type: A, AAAA, MX, TYPE65280, ...')
            [CompletionResult]::new('--client', '--client', [CompletionResultType]::ParameterName, 'Only queries from this client address or network')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Only queries to this server address or network, or delivered there by NAT (a Service''s backend)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Only transactions seen first on this interface (any namespace)')
            [CompletionResult]::new('--interface', '--interface', [CompletionResultType]::ParameterName, 'Only transactions seen first on this interface (any namespace)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Only queries sent by this process id')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Only queries sent by this process id')
            [CompletionResult]::new('--comm', '--comm', [CompletionResultType]::ParameterName, 'Only queries sent by a process of this name (as in /proc/PID/comm)')
            [CompletionResult]::new('--pod', '--pod', [CompletionResultType]::ParameterName, 'Only queries sent from a Kubernetes pod whose name matches this glob (named from kubelet''s /var/log/pods)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Only queries sent from a pod in this Kubernetes namespace')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Only queries sent from a container whose name (or id) matches this glob')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Also trace DNS on this port, besides 53 (up to 15 times)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Report a query unanswered after this long as TIMEOUT [default: 5s; 1s with --lookups, so that a resend on the same socket is seen as one, and a later answer still counts]')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'Stop after this long')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Stop after this long')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Stop after this many transactions (lookups, with --lookups) have been shown')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Stop after this many transactions (lookups, with --lookups) have been shown')
            [CompletionResult]::new('--max-pending', '--max-pending', [CompletionResultType]::ParameterName, 'Queries tracked at once; the oldest are evicted (and counted) beyond it')
            [CompletionResult]::new('--btf', '--btf', [CompletionResultType]::ParameterName, 'BTF file to relocate the program against instead of /sys/kernel/btf/vmlinux; on a kernel without BTF of its own, classic tracepoints are used (plain DNS over UDP)')
            [CompletionResult]::new('--reader', '--reader', [CompletionResultType]::ParameterName, 'How the kernel program reads packet bytes')
            [CompletionResult]::new('--node-root', '--node-root', [CompletionResultType]::ParameterName, 'Where the node''s /var/log/pods, /var/log/containers and container runtimes'' state (/run/containerd, /run/containers, /var/lib/containers, /var/lib/docker) are found, to name pods and containers; read only')
            [CompletionResult]::new('--columns', '--columns', [CompletionResultType]::ParameterName, 'Columns of the table, in order: time, process, client, server, proto, id, type, name, rcode, latency, or any JSON field')
            [CompletionResult]::new('--metrics', '--metrics', [CompletionResultType]::ParameterName, 'Serve Prometheus metrics at http://ADDR/metrics (and /healthz) while tracing: a bare PORT listens on 127.0.0.1; IP:PORT, e.g. [::]:9253, where you choose (the metrics show server addresses and, by namespace, who asks)')
            [CompletionResult]::new('--metrics-max-servers', '--metrics-max-servers', [CompletionResultType]::ParameterName, 'Servers with their own label in the metrics (the busiest); the rest are "other"')
            [CompletionResult]::new('--metrics-namespaces', '--metrics-namespaces', [CompletionResultType]::ParameterName, 'Also count transactions by the Kubernetes namespace of the pod that sent them, with a namespace label for the first N namespaces seen (the rest "_other")')
            [CompletionResult]::new('--resolvers', '--resolvers', [CompletionResultType]::ParameterName, 'Servers every client may ask besides those of its resolv.conf; a query to any other is from an unauthorized resolver')
            [CompletionResult]::new('--security-allow', '--security-allow', [CompletionResultType]::ParameterName, 'Domains whose names are not checked (blocklists such as DNSBLs, which look like tunnels), besides arpa, cluster.local and local')
            [CompletionResult]::new('--suspicious-subdomains', '--suspicious-subdomains', [CompletionResultType]::ParameterName, 'Unique names under one site (registered domain) per --security-window before the rest are flagged (RITA''s threshold; the Zeek scripts use 8); up to 1000')
            [CompletionResult]::new('--suspicious-txt', '--suspicious-txt', [CompletionResultType]::ParameterName, 'TXT and NULL queries under one registered domain per --security-window before the rest are flagged')
            [CompletionResult]::new('--suspicious-name-length', '--suspicious-name-length', [CompletionResultType]::ParameterName, 'Names longer than this are flagged (the Zeek scripts'' threshold)')
            [CompletionResult]::new('--suspicious-label-length', '--suspicious-label-length', [CompletionResultType]::ParameterName, 'Labels longer than this are flagged')
            [CompletionResult]::new('--suspicious-answer-size', '--suspicious-answer-size', [CompletionResultType]::ParameterName, 'Answers larger than this are flagged (DNS Flag Day 2020''s UDP size)')
            [CompletionResult]::new('--suspicious-nxdomain', '--suspicious-nxdomain', [CompletionResultType]::ParameterName, 'NXDOMAIN answers to one client per --nxdomain-window before the rest are flagged')
            [CompletionResult]::new('--security-window', '--security-window', [CompletionResultType]::ParameterName, 'The window the per-domain counts are kept over')
            [CompletionResult]::new('--nxdomain-window', '--nxdomain-window', [CompletionResultType]::ParameterName, 'The window the per-client NXDOMAIN count is kept over')
            [CompletionResult]::new('--security-max-keys', '--security-max-keys', [CompletionResultType]::ParameterName, 'Domains and clients whose counts are kept, each; the least recently used are dropped (and counted) beyond it. Memory: at most about N x (--suspicious-subdomains + 1) x 16 bytes (6.6 MB by default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('--errors', '--errors', [CompletionResultType]::ParameterName, 'Only failures: any rcode but NOERROR, timeouts and UNREACHABLE')
            [CompletionResult]::new('--lookups', '--lookups', [CompletionResultType]::ParameterName, 'Show one record per lookup (what one application call asked: the search-list expansions, A and AAAA, resends, TCP after TC) instead of one per transaction')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: the loader''s choices and every counter at exit (-vv: libbpf''s log)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: the loader''s choices and every counter at exit (-vv: libbpf''s log)')
            [CompletionResult]::new('--announcements', '--announcements', [CompletionResultType]::ParameterName, 'Also show mDNS answers that no query asked for (they are always counted)')
            [CompletionResult]::new('--no-summary', '--no-summary', [CompletionResultType]::ParameterName, 'Do not print the summary at exit (losses are still reported)')
            [CompletionResult]::new('--suspicious', '--suspicious', [CompletionResultType]::ParameterName, 'Show only suspicious transactions (with --lookups, lookups with a suspicious query); see SECURITY SIGNALS')
            [CompletionResult]::new('--no-security', '--no-security', [CompletionResultType]::ParameterName, 'Do not look for security signals (suspicion is null)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
