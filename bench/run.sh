#!/usr/bin/env bash
# Does dnstrace keep up with a busy DNS node? Measures, in one run and side
# by side with tshark as the reference peer:
#   completeness   transactions reported / queries dnsperf completed, at
#                  fixed rates (UDP 10k, 50k, 100k/s; TCP 20k/s)
#   overhead       the server's maximum throughput with the tracer / without,
#                  in back-to-back pairs, median of the pair ratios; for UDP
#                  in rounds (no tracer, dnstrace json, dnstrace kernel-only,
#                  the bpftrace floor, no tracer), with each tracer's
#                  throughput cost and dnstrace's cost / the floor's cost
#   CPU at 50k/s   the whole machine's busy CPU (/proc/stat) with no tracer,
#                  dnstrace json and the floor, in rounds: what each adds
#   CPU and RSS    of the tracer's own process, per 1k transactions
#   kernel cost    ns per BPF program invocation (kernel.bpf_stats_enabled),
#                  on DNS packets and on packets to a non-DNS port
#   start          dnstrace's own "(<N>ms to attach" figure, median of 5
#
# Usage, as root:  bench/run.sh [--short | --smoke | --kernel] [--out FILE] [--bin PATH]
#   (default)  20 s per fixed rate, 3 overhead pairs and 5 UDP rounds of
#              10 s runs, 3 CPU rounds of 10 s: ~20-25 min
#   --short    3 s per fixed rate, 1 pair and 1 round of 2 s runs, 1 CPU
#              round of 3 s: ~4 min, for development
#   --kernel   only the kernel-cost runs (DNS, non-DNS port, through DNAT,
#              through a node with and without its DNAT;
#              bpf_stats), 10 s each: ~1 min, for A/B work on the program
#   --smoke    ~1 s per scenario, one rate each; asserts only that every
#              number was produced, exits 1 otherwise (for CI, under 2 min)
#   --out FILE also write the results there
#   --bin PATH benchmark this binary instead of building one
# The full run writes bench/results-<date>.json; --short and --smoke write
# bench/results-<date>-short.json and -smoke.json.
#
# Load goes only to the server address inside the namespaces made here.
# knotd serves the zone with every thread pinned to core 1, dnsperf runs
# pinned to core 0 (unpinned, maximum-throughput runs are bimodal on two
# cores); the tracer is not pinned, as on a real node.
# net.core.rmem_default (root namespace only) and kernel.bpf_stats_enabled
# are restored at exit.
set -euo pipefail

MODE=full OUT='' BIN=''
while [ $# -gt 0 ]; do
    case $1 in
    --short) MODE=short ;;
    --smoke) MODE=smoke ;;
    --kernel) MODE=kernel ;;
    --out) OUT=${2:?--out needs a file}; shift ;;
    --out=*) OUT=${1#--out=} ;;
    --bin) BIN=${2:?--bin needs a path}; shift ;;
    --bin=*) BIN=${1#--bin=} ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
# Paths given are the caller's, before the cd to the repository.
[ -z "$OUT" ] || OUT=$(realpath -m "$OUT")
[ -z "$BIN" ] || BIN=$(realpath -m "$BIN")
cd "$(dirname "$0")/.."
ROOT=$PWD

# Fixed rates as proto:queries-per-second. The kernel's cost per program is
# read over the run at STATS_RATE (UDP).
case $MODE in
full)  FIXED='udp:10000 udp:50000 udp:100000 tcp:20000'; FIXED_S=20; PAIRS=3; MAX_S=10; NONDNS_S=10; STATS_RATE=50000 ;;
short) FIXED='udp:10000 udp:50000 udp:100000 tcp:20000'; FIXED_S=3; PAIRS=1; MAX_S=2; NONDNS_S=3; STATS_RATE=50000 ;;
smoke) FIXED='udp:10000 tcp:20000'; FIXED_S=1; PAIRS=1; MAX_S=1; NONDNS_S=1; STATS_RATE=10000 ;;
kernel) FIXED='udp:50000'; FIXED_S=10; PAIRS=0; MAX_S=0; NONDNS_S=10; STATS_RATE=50000 ;;
esac
# Rounds of maximum UDP throughput (every tracer beside the same no-tracer
# runs) and rounds of whole-machine CPU at STATS_RATE, CPU_S seconds each.
case $MODE in
full)  ROUNDS=5; CPU_ROUNDS=3; CPU_S=10 ;;
short) ROUNDS=1; CPU_ROUNDS=1; CPU_S=3 ;;
smoke) ROUNDS=1; CPU_ROUNDS=1; CPU_S=2 ;;
kernel) ROUNDS=0; CPU_ROUNDS=0; CPU_S=0 ;;
esac
CLK_TCK=$(getconf CLK_TCK)
STARTS=5

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
set -E
trap 'log "error: line $LINENO: $BASH_COMMAND failed"' ERR
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: loading BPF and making network namespaces need it"
for c in ip taskset knotd dnsperf tshark tmux bpftool bpftrace python3 dig cargo awk; do
    command -v "$c" >/dev/null || die "$c not found (apt-get install knot dnsperf tshark tmux bpftool bpftrace dnsutils)"
done
[ "$(nproc)" -ge 2 ] || die "needs two cores: the server and dnsperf are pinned to separate ones"

if [ -z "$BIN" ]; then
    if [ "$MODE" = smoke ]; then
        # The smoke run checks that numbers appear, not how good they are;
        # the debug build is the one CI's cargo test already made.
        log "building (debug profile, for --smoke)"
        cargo build --locked >&2
        BIN=$ROOT/target/debug/dnstrace
    else
        log "building (release profile)"
        cargo build --release --locked >&2
        BIN=$ROOT/target/release/dnstrace
    fi
fi
[ -x "$BIN" ] || die "no binary at $BIN"

# Names unique to this run: other engineers' tests run on the machine too.
ID=$$
D=$(mktemp -d /tmp/dnstrace-bench.XXXXXX)
CNS=dtb${ID}c SNS=dtb${ID}s CIF=dtb${ID}c SIF=dtb${ID}s
NET=10.251.$((ID % 250))
SADDR=$NET.1 CADDR=$NET.2
# The service address the NAT run asks: DNATed to SADDR in the client's
# namespace (OUTPUT), as kube-proxy does for a host-network client.
VIP=10.96.$((ID % 250)).10
# A node between client and server, as on a Kubernetes node: the client
# reaches it on N1 and the server behind it on N2; it DNATs NODE_VIP to
# the server in PREROUTING, as kube-proxy does for a pod.
NNS=dtb${ID}n CIF2=dtb${ID}cn NIF1=dtb${ID}nc NIF2=dtb${ID}ns SIF2=dtb${ID}sn
N1=10.252.$((ID % 250)) N2=10.253.$((ID % 250))
NODE_VIP=10.97.$((ID % 250)).10
TARGET=$SADDR
VIA=direct
TSOCK=dtb$ID
RAW=$D/raw.txt
: > "$RAW"

STARTED=()         # background processes of ours still to be ended
ORIG_RMEM='' ORIG_STATS=''
FAILED=1
cleanup() {
    local rc=$?
    set +e
    trap - ERR
    for p in "${STARTED[@]}"; do kill -TERM "$p" 2>/dev/null; done
    tmux -L "$TSOCK" kill-server 2>/dev/null
    # Whatever still runs inside our own namespaces (knotd, dnsperf) is ours.
    for ns in "$CNS" "$SNS" "$NNS"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    sleep 0.2
    ip netns del "$CNS" 2>/dev/null
    ip netns del "$SNS" 2>/dev/null
    ip netns del "$NNS" 2>/dev/null
    [ -n "$ORIG_RMEM" ] && sysctl -qw net.core.rmem_default="$ORIG_RMEM"
    [ -n "$ORIG_STATS" ] && sysctl -qw kernel.bpf_stats_enabled="$ORIG_STATS"
    if [ "$FAILED" -eq 0 ]; then
        rm -rf "$D"
    else
        log "failed (status $rc); logs kept in $D"
        [ "$rc" -eq 0 ] && rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started() { STARTED+=("$1"); }
finished() {
    local p keep=()
    for p in "${STARTED[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    STARTED=("${keep[@]+"${keep[@]}"}")
}

# One measurement per line: "rec key=value ...", or "meta<TAB>key<TAB>text".
rec() { echo "rec $*" >> "$RAW"; }
meta() { printf 'meta\t%s\t%s\n' "$1" "$2" >> "$RAW"; }

### The test bed ###########################################################

ip netns add "$CNS"
ip netns add "$SNS"
ip link add "$CIF" netns "$CNS" type veth peer name "$SIF" netns "$SNS"
ip -n "$CNS" addr add "$CADDR/24" dev "$CIF"
ip -n "$SNS" addr add "$SADDR/24" dev "$SIF"
for ns in "$CNS" "$SNS"; do ip -n "$ns" link set lo up; done
ip -n "$CNS" link set "$CIF" up
ip -n "$SNS" link set "$SIF" up
# The node and its two links; the client's routes through it are added
# for the runs through the node only.
ip netns add "$NNS"
ip link add "$CIF2" netns "$CNS" type veth peer name "$NIF1" netns "$NNS"
ip link add "$NIF2" netns "$NNS" type veth peer name "$SIF2" netns "$SNS"
ip -n "$CNS" addr add "$N1.2/24" dev "$CIF2"
ip -n "$NNS" addr add "$N1.1/24" dev "$NIF1"
ip -n "$NNS" addr add "$N2.1/24" dev "$NIF2"
ip -n "$SNS" addr add "$N2.2/24" dev "$SIF2"
for l in "$CNS $CIF2" "$NNS $NIF1" "$NNS $NIF2" "$SNS $SIF2" "$NNS lo"; do
    read -r ns dev <<< "$l"
    ip -n "$ns" link set "$dev" up
done
ip netns exec "$NNS" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NNS" route add "$SADDR/32" via "$N2.2"
ip -n "$SNS" route add "$N1.0/24" via "$N2.1"

# Bursts at 100k/s overflow the default UDP receive buffers (RcvbufErrors)
# before they trouble the server. The sysctl is read from the root
# namespace, and only when a socket is made: raise it before knotd starts.
ORIG_RMEM=$(sysctl -n net.core.rmem_default)
sysctl -qw net.core.rmem_default=4194304

# A small zone; Debian's knot loads no rate-limiting module (mod-rrl) unless
# the configuration names it, and this one does not. One UDP and one TCP
# worker, since knotd gets a single core. Port 5300 serves the non-DNS-port
# run: dnstrace watches 53 only there.
mkdir -p "$D/knot"
{
    echo "\$TTL 3600"
    echo '@ SOA ns.bench.test. admin.bench.test. 1 3600 600 86400 60'
    echo '@ NS ns'
    echo "ns A $SADDR"
    for i in $(seq 0 99); do echo "h$i A 192.0.2.$((i + 1))"; done
} > "$D/knot/bench.test.zone"
cat > "$D/knot/knot.conf" <<EOF
server:
    rundir: "$D/knot"
    user: root:root
    listen: [ $SADDR@53, $SADDR@5300 ]
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$D/knot/db"
template:
  - id: default
    storage: "$D/knot"
zone:
  - domain: bench.test
    file: bench.test.zone
EOF
for i in $(seq 0 99); do echo "h$i.bench.test A"; done > "$D/queries"

ip netns exec "$SNS" taskset -c 1 knotd -c "$D/knot/knot.conf" > "$D/knot.log" 2>&1 &
KNOT=$!
started "$KNOT"
for _ in $(seq 50); do
    ip netns exec "$CNS" dig +short +time=1 +tries=1 "@$SADDR" h1.bench.test A 2>/dev/null | grep -q 192.0.2.2 && break
    kill -0 "$KNOT" 2>/dev/null || die "knotd exited: $(cat "$D/knot.log")"
    sleep 0.2
done
ip netns exec "$CNS" dig +short +tcp +time=1 +tries=1 "@$SADDR" h1.bench.test A | grep -q 192.0.2.2 \
    || die "knotd does not answer on $SADDR (UDP or TCP): $(cat "$D/knot.log")"
# taskset alone does not keep knotd on core 1: each UDP worker pins itself
# to CPU (worker number % online CPUs) when it starts, so worker 0 sat on
# core 0 beside dnsperf and core 1 idled. Pin every thread again now that
# they have all started, and check.
taskset -a -p -c 1 "$KNOT" > /dev/null
for t in /proc/"$KNOT"/task/*; do
    grep -q '^Cpus_allowed_list:[[:space:]]*1$' "$t/status" || die "knotd thread ${t##*/} is not on core 1"
done

### Measuring helpers ######################################################

# dnsperf from the client namespace, pinned to core 0. RATE 0: as fast as
# the server answers (-q 500 queries in flight, -c 8 sockets).
perf() { # OUT PROTO PORT SECONDS RATE
    local qps=()
    [ "$5" -gt 0 ] && qps=(-Q "$5")
    ip netns exec "$CNS" taskset -c 0 dnsperf -m "$2" -s "$TARGET" -p "$3" -d "$D/queries" \
        -l "$4" -c 8 -T 1 -q 500 -b 8192 "${qps[@]}" > "$1" 2>&1 \
        || die "dnsperf failed: $(tail -5 "$1")"
}
perf_field() { # FILE LABEL: the first number after "LABEL:" in dnsperf's report
    awk -F: -v k="$2" '{ l = $1; sub(/^ +/, "", l) } l == k { split($2, a, " "); print a[1]; exit }' "$1"
}
perf_rec() { # FILE: dnsperf's figures as key=value
    echo "sent=$(perf_field "$1" 'Queries sent') completed=$(perf_field "$1" 'Queries completed')" \
        "lost=$(perf_field "$1" 'Queries lost') run_s=$(perf_field "$1" 'Run time (s)')" \
        "qps=$(perf_field "$1" 'Queries per second')"
}

# CPU time run by these processes, all their threads, in ns (schedstat is
# exact; /proc/PID/stat counts in 10 ms ticks).
cpu_ns() {
    local total=0 p t v
    for p in "$@"; do
        for t in /proc/"$p"/task/*/schedstat; do
            read -r v _ < "$t" 2>/dev/null && total=$((total + v))
        done
    done
    echo "$total"
}
# utime and stime in clock ticks, summed: the user/system split.
cpu_ticks() {
    local u=0 s=0 p f a
    for p in "$@"; do
        f=$(cat /proc/"$p"/stat 2>/dev/null) || continue
        # Fields after "pid (comm) ": state is the first, utime the 12th.
        read -ra a <<< "${f##*) }"
        u=$((u + a[11])) s=$((s + a[12]))
    done
    echo "$u $s"
}
# The whole machine's busy CPU so far, all cores, in clock ticks (CLK_TCK),
# after the wall clock in ns: "NS TICKS". Busy is user + nice + system +
# irq + softirq + steal from /proc/stat's first line; idle and iowait are
# not, and guest time is already inside user.
machine_busy() {
    local ns
    ns=$(date +%s%N)
    awk -v ns="$ns" '$1 == "cpu" { print ns, $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
# Every user process's CPU so far, "PID TICKS" (utime + stime, all its
# threads); kernel threads (kthreadd's children) are left out: they do
# the softirq work our own packets cause.
proc_ticks() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '{
        pid = $1; s = $0; sub(/.*\) /, "", s); split(s, a, " ")
        if (pid != 2 && a[2] != 2) print pid, a[12] + a[13] }'
}
# Clock ticks that processes not ours used between two proc_ticks
# snapshots (those alive at both ends; a short-lived one is missed):
# another user's build or test on the machine, which a whole-machine
# figure would count as ours. Ours: the bench itself, the tracer, and
# everything in our namespaces.
foreign_ticks() { # BEFORE AFTER
    local ours
    ours="$$ ${TR_PIDS:-} $(ip netns pids "$CNS" 2>/dev/null | tr '\n' ' ') $(ip netns pids "$SNS" 2>/dev/null | tr '\n' ' ')"
    awk -v ours="$ours" 'BEGIN { n = split(ours, o, " "); for (i = 1; i <= n; i++) mine[o[i]] = 1 }
        NR == FNR { t[$1] = $2; next }
        ($1 in t) && !($1 in mine) && $2 > t[$1] { s += $2 - t[$1] }
        END { print s + 0 }' "$1" "$2"
}
hwm_kib() { # peak resident set, summed over the processes
    local total=0 p v
    for p in "$@"; do
        v=$(awk '/^VmHWM:/ { print $2 }' /proc/"$p"/status 2>/dev/null) && total=$((total + ${v:-0}))
    done
    echo "$total"
}
# Until the processes stop working off a backlog (under 5 % of a core over
# half a second: the live table redraws even when idle), at most 240 s:
# tshark decodes 100k/s at about a quarter of real time here.
wait_idle() {
    local a b i
    for i in $(seq 480); do
        a=$(cpu_ns "$@")
        sleep 0.5
        b=$(cpu_ns "$@")
        [ $((b - a)) -lt 25000000 ] && return 0
    done
    log "warning: tracer still busy 240 s after the load ended"
}
wait_for_line() { # FILE PATTERN PID SECONDS
    local i
    for i in $(seq $(($4 * 10))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || die "tracer exited at start: $(cat "$1")"
        sleep 0.1
    done
    die "tracer not ready after $4 s: $(cat "$1")"
}

# BPF programs of process PID: "id name run_time_ns run_cnt" each.
bpf_progs() {
    local ids
    ids=$(grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u | tr '\n' ' ')
    bpftool prog show -j | python3 -c '
import json, sys
ids = set(sys.argv[1].split())
for p in json.load(sys.stdin):
    if str(p["id"]) in ids:
        print(p["id"], p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0))
' "$ids"
}
# How busy the machine is besides us, taken while no tracer of ours runs:
# programs named dt_* then belong to another dnstrace, which runs on every
# packet of ours too.
noise() {
    local n i
    # A tracer of ours that just exited leaves its programs for a moment
    # (the kernel frees them after a grace period): what is still there
    # after two seconds belongs to someone else.
    for i in $(seq 10); do
        n=$(bpftool prog show -j | python3 -c '
import json, sys
print(sum(1 for p in json.load(sys.stdin) if p.get("name", "").startswith("dt_")))')
        [ "$n" -eq 0 ] && break
        sleep 0.2
    done
    rec type=noise foreign_dt_progs="$n" load1="$(cut -d' ' -f1 /proc/loadavg)"
}
stats_on() {
    ORIG_STATS=${ORIG_STATS:-$(sysctl -n kernel.bpf_stats_enabled)}
    sysctl -qw kernel.bpf_stats_enabled=1
}
stats_restore() { sysctl -qw kernel.bpf_stats_enabled="$ORIG_STATS"; }
bpf_rec() { # BEFORE AFTER key=value...: the deltas per program
    local before=$1 after=$2
    shift 2
    local id name ns cnt ns0 cnt0
    while read -r id name ns cnt; do
        read -r ns0 cnt0 < <(awk -v id="$id" '$1 == id { print $3, $4 }' "$before")
        rec type=bpf "$@" prog="$name" run_ns=$((ns - ${ns0:-0})) run_cnt=$((cnt - ${cnt0:-0}))
    done < "$after"
}

### Tracers ################################################################
# start_tracer KIND PROTO OUT: KIND is dnstrace-json, dnstrace-table or
# tshark. Sets TR_PID (the one to signal), TR_ERR, and TR_PIDS (whose CPU
# counts).

start_tracer() {
    local kind=$1 proto=$2 out=$3
    TR_KIND=$kind
    TR_ERR=$D/$kind.err
    : > "$TR_ERR"
    case $kind in
    dnstrace-json)
        # -v: every kernel counter at exit (TCP messages skipped, ...).
        "$BIN" --json -v --server "$SADDR" > "$out" 2> "$TR_ERR" &
        TR_PID=$!
        started "$TR_PID"
        wait_for_line "$TR_ERR" 'ms to attach' "$TR_PID" 30
        TR_PIDS=$TR_PID
        ;;
    dnstrace-table)
        # The live table needs a terminal: a detached tmux of our own
        # (its own socket), 200x50. A shell in the pane waits for dnstrace
        # and writes its exit status (tmux's own pane_dead_status was
        # sometimes never set here: a SIGCHLD went missing), and the pane
        # stays after that, to read the exit summary from.
        echo 'set -g remain-on-exit on' > "$D/tmux.conf"
        rm -f "$D/table.status"
        tmux -L "$TSOCK" -f "$D/tmux.conf" new-session -d -s dt -x 200 -y 50 \
            "'$BIN' -v --server $SADDR 2>'$TR_ERR'; echo \$? > '$D/table.status'"
        local shell i
        shell=$(tmux -L "$TSOCK" display-message -p -t dt '#{pane_pid}')
        for i in $(seq 100); do
            TR_PID=$(pgrep -P "$shell" || true)
            [ -n "$TR_PID" ] && break
            sleep 0.05
        done
        [ -n "$TR_PID" ] || die "dnstrace did not start in tmux"
        wait_for_line "$TR_ERR" 'ms to attach' "$TR_PID" 30
        TR_PIDS=$TR_PID
        ;;
    dnstrace-kernel)
        # The kernel's share alone: every packet parsed and every query
        # paired and timed as usual, but the in-kernel --min-latency filter
        # lets no transaction through to the ring buffer or user space.
        "$BIN" --json --server "$SADDR" --min-latency 1h > "$out" 2> "$TR_ERR" &
        TR_PID=$!
        started "$TR_PID"
        wait_for_line "$TR_ERR" 'ms to attach' "$TR_PID" 30
        TR_PIDS=$TR_PID
        ;;
    bpftrace)
        # The floor: the least program on the same two tracepoints, a
        # count of every packet (what the issue measured at 6-11 %).
        bpftrace -e 'tracepoint:net:net_dev_queue, tracepoint:net:netif_receive_skb { @packets = count(); }' \
            > "$TR_ERR" 2>&1 &
        TR_PID=$!
        started "$TR_PID"
        # It says "Attaching" before it has attached.
        wait_for_line "$TR_ERR" 'Attaching' "$TR_PID" 60
        sleep 1
        TR_PIDS=$TR_PID
        ;;
    tshark)
        # dumpcap captures, tshark decodes; both count. TMPDIR: where
        # dumpcap writes its temporary capture file.
        TMPDIR=$D ip netns exec "$CNS" tshark -i "$CIF" -f "$proto port 53" -n \
            -T fields -e dns.flags.response -e dns.id -e dns.time > "$out" 2> "$TR_ERR" &
        TR_PID=$!
        started "$TR_PID"
        wait_for_line "$TR_ERR" 'Capturing on' "$TR_PID" 60
        TR_PIDS="$TR_PID $(pgrep -P "$TR_PID" | tr '\n' ' ')"
        ;;
    esac
}

# Stops the tracer with SIGINT, as Ctrl-C would, so that dnstrace drains
# its ring buffer; fails unless it exits with status 0.
stop_tracer() {
    local rc i
    kill -INT "$TR_PID"
    if [ "$TR_KIND" = dnstrace-table ]; then
        for i in $(seq 300); do
            [ -s "$D/table.status" ] && break
            sleep 0.1
        done
        rc=$(cat "$D/table.status" 2>/dev/null || true)
        tmux -L "$TSOCK" capture-pane -p -J -t dt -S -1000 > "$D/table.screen"
        tmux -L "$TSOCK" kill-server
    else
        rc=0
        wait "$TR_PID" || rc=$?
        finished "$TR_PID"
    fi
    [ "$rc" = 0 ] || die "$TR_KIND exited with status '$rc' on SIGINT: $(tail -5 "$TR_ERR")"
}

# The last number right before TEXT in FILE, or nothing.
number_before() {
    awk -v t="$1" '{ i = index($0, t); if (i) { s = substr($0, 1, i - 1); if (match(s, /[0-9]+$/)) n = substr(s, RSTART) } } END { print n }' "$2"
}
attach_ms() { number_before 'ms to attach' "$1"; }
# dnstrace's exit summary with -v: ring-buffer drops and every kernel
# counter, as key=value words (k_NAME; they count every packet on the
# machine, not only ours).
dnstrace_counters() {
    echo "ringbuf_drops=$(number_before ' (ring buffer full)' "$1")"
    # Queries whose response it never paired (stopped long before
    # --timeout, so they are not TIMEOUT lines).
    echo "pending_at_exit=$(number_before ' queries still pending at exit' "$1")"
    awk '/^dnstrace:   [a-z_]+ +[0-9]+  / { printf "k_%s=%s\n", $2, $3 }' "$1"
}

### Scenarios ##############################################################

# One tracer at one fixed rate: completeness, CPU and RSS; with STATS=1 also
# the BPF programs' run time over the same run.
fixed_run() { # KIND PROTO RATE SECONDS PORT [STATS]; TARGET: the address asked
    local kind=$1 proto=$2 rate=$3 secs=$4 port=$5 stats=${6:-0} nat=0
    [ "$TARGET" = "$SADDR" ] || nat=1
    local tag=$kind-$proto-$rate-$port-$nat-$VIA out c0 c1 t0 t1 u0 s0 u1 s1 l1 drain_ms hwm reported timeouts dropped extra=''
    out=$D/$tag.out
    log "$kind, $proto at $rate/s to port $port, ${secs}s"
    noise
    start_tracer "$kind" "$proto" "$out"
    if [ "$stats" = 1 ]; then
        stats_on
        bpf_progs "$TR_PID" > "$D/$tag.bpf0"
    fi
    # shellcheck disable=SC2086 # TR_PIDS is a list
    c0=$(cpu_ns $TR_PIDS) t0=$(cpu_ticks $TR_PIDS)
    perf "$D/$tag.perf" "$proto" "$port" "$secs" "$rate"
    l1=$(date +%s%N)
    # shellcheck disable=SC2086
    wait_idle $TR_PIDS
    # How long the tracer worked off a backlog after the load ended (less
    # the half second of quiet that ended the wait).
    drain_ms=$((($(date +%s%N) - l1) / 1000000 - 500))
    [ "$drain_ms" -ge 0 ] || drain_ms=0
    # shellcheck disable=SC2086
    c1=$(cpu_ns $TR_PIDS) t1=$(cpu_ticks $TR_PIDS) hwm=$(hwm_kib $TR_PIDS)
    if [ "$stats" = 1 ]; then
        bpf_progs "$TR_PID" > "$D/$tag.bpf1"
        stats_restore
    fi
    stop_tracer
    case $kind in
    dnstrace-json)
        # Lines for our server only (--server): answered ones count.
        timeouts=$(grep -c '"rcode":"TIMEOUT"' "$out" || true)
        reported=$(($(wc -l < "$out") - timeouts))
        extra="timeouts=$timeouts attach_ms=$(attach_ms "$TR_ERR") $(dnstrace_counters "$TR_ERR" | tr '\n' ' ')"
        ;;
    dnstrace-table)
        # The exit summary's "N shown" (transactions that passed --server)
        # less its TIMEOUT line, as for json.
        reported=$(number_before ' shown' "$D/table.screen")
        timeouts=$(awk '$1 == "TIMEOUT" { n = $2 } END { print n + 0 }' "$D/table.screen")
        [ -z "$reported" ] || reported=$((reported - timeouts))
        extra="timeouts=$timeouts $(dnstrace_counters "$D/table.screen" | tr '\n' ' ') "
        extra+="attach_ms=$(attach_ms "$TR_ERR")"
        ;;
    tshark)
        # Responses printed; a frame with several DNS messages (TCP) lists
        # their fields comma-separated on one line.
        reported=$(awk -F'\t' '{ n = split($1, a, ","); for (i = 1; i <= n; i++) if (a[i] == "1" || a[i] == "True") c++ } END { print c + 0 }' "$out")
        # "N packets dropped from IF" when the kernel or dumpcap dropped.
        dropped=$(number_before ' packets dropped' "$TR_ERR")
        [ -n "$dropped" ] || dropped=$(number_before ' packet dropped' "$TR_ERR")
        extra="capture_dropped=${dropped:-0}"
        ;;
    esac
    rm -f "$out"
    read -r u0 s0 <<< "$t0"
    read -r u1 s1 <<< "$t1"
    # shellcheck disable=SC2046,SC2086 # key=value words
    rec type=fixed tracer="$kind" proto="$proto" rate="$rate" port="$port" nat="$nat" via="$VIA" secs="$secs" \
        $(perf_rec "$D/$tag.perf") reported="${reported:-}" cpu_ns=$((c1 - c0)) \
        utime_ticks=$((u1 - u0)) stime_ticks=$((s1 - s0)) hwm_kib="$hwm" drain_ms="$drain_ms" $extra
    if [ "$stats" = 1 ]; then
        # shellcheck disable=SC2046
        bpf_rec "$D/$tag.bpf0" "$D/$tag.bpf1" port="$port" nat="$nat" via="$VIA" proto="$proto" rate="$rate" \
            $(perf_rec "$D/$tag.perf")
    fi
}

# dnsperf as perf runs it, with the CPU of other users' processes over the
# run (not ours: not TR_PIDS) left in FOREIGN, in clock ticks.
perf_watched() { # OUT PROTO PORT SECONDS RATE
    proc_ticks > "$D/procs0"
    perf "$@"
    proc_ticks > "$D/procs1"
    FOREIGN=$(foreign_ticks "$D/procs0" "$D/procs1")
}

# Maximum UDP throughput in ROUNDS rounds: no tracer, the three tracers
# (dnstrace json, dnstrace kernel-only, the bpftrace floor) in an order
# rotated from round to round, no tracer again. Each tracer's "without" is
# the mean of its round's two no-tracer runs: with a steady drift the
# middle tracer sits at their mean and the others on either side of it,
# and the rotation takes turns.
rounds() {
    local tracers=(dnstrace-json dnstrace-kernel bpftrace) i k n kind q0 q1 without f0 f1
    local -a order
    local -A c0 c1 hwm fx
    for i in $(seq "$ROUNDS"); do
        order=()
        for k in 0 1 2; do order+=("${tracers[$(((k + i - 1) % 3))]}"); done
        log "max udp throughput, round $i/$ROUNDS: none, ${order[*]}, none (${MAX_S}s each)"
        noise
        TR_PIDS=''
        perf_watched "$D/round-none0.perf" udp 53 "$MAX_S" 0
        f0=$FOREIGN
        for kind in "${order[@]}"; do
            noise
            start_tracer "$kind" udp /dev/null
            # shellcheck disable=SC2086 # TR_PIDS is a list
            c0[$kind]=$(cpu_ns $TR_PIDS)
            perf_watched "$D/round-$kind.perf" udp 53 "$MAX_S" 0
            fx[$kind]=$FOREIGN
            # shellcheck disable=SC2086
            c1[$kind]=$(cpu_ns $TR_PIDS) hwm[$kind]=$(hwm_kib $TR_PIDS)
            stop_tracer
        done
        noise
        TR_PIDS=''
        perf_watched "$D/round-none1.perf" udp 53 "$MAX_S" 0
        f1=$FOREIGN
        q0=$(perf_field "$D/round-none0.perf" 'Queries per second')
        q1=$(perf_field "$D/round-none1.perf" 'Queries per second')
        without=''
        [ -n "$q0" ] && [ -n "$q1" ] && without=$(awk -v a="$q0" -v b="$q1" 'BEGIN { printf "%.3f", (a + b) / 2 }')
        for n in "${!order[@]}"; do
            kind=${order[$n]}
            # shellcheck disable=SC2046 # key=value words
            rec type=max tracer="$kind" proto=udp pair="$i" round="$i" pos=$((n + 1)) secs="$MAX_S" \
                qps_without="$without" qps_none_before="$q0" qps_none_after="$q1" \
                $(perf_rec "$D/round-$kind.perf") cpu_ns=$((c1[$kind] - c0[$kind])) hwm_kib="${hwm[$kind]}" \
                foreign_ticks="${fx[$kind]}" foreign_none_ticks=$((f0 + f1)) clk_tck="$CLK_TCK"
        done
    done
}

# The whole machine's CPU at STATS_RATE UDP, in CPU_ROUNDS rounds of no
# tracer, dnstrace json and the bpftrace floor (order rotated): dnsperf and
# knotd run in every case, so with - without in the same round is what the
# tracer adds, its BPF programs (in softirq and in the senders' system
# time) and its process. The tracer's own process CPU over the same run
# (schedstat) beside it.
cpu_rounds() {
    local kinds=(none dnstrace-json bpftrace) i k n kind out c0 c1 w0 w1 b0 b1 foreign
    local -a order
    for i in $(seq "$CPU_ROUNDS"); do
        order=()
        for k in 0 1 2; do order+=("${kinds[$(((k + i - 1) % 3))]}"); done
        log "CPU at $STATS_RATE/s udp, round $i/$CPU_ROUNDS: ${order[*]} (${CPU_S}s each)"
        for n in "${!order[@]}"; do
            kind=${order[$n]}
            out=$D/cpu-$kind.out
            noise
            c0='' c1=''
            [ "$kind" = none ] || start_tracer "$kind" udp "$out"
            # Past the tracer's start, in every case alike.
            sleep 0.5
            # shellcheck disable=SC2086 # TR_PIDS is a list
            [ "$kind" = none ] || c0=$(cpu_ns $TR_PIDS)
            proc_ticks > "$D/procs0"
            read -r w0 b0 < <(machine_busy)
            perf "$D/cpu-$kind.perf" udp 53 "$CPU_S" "$STATS_RATE"
            read -r w1 b1 < <(machine_busy)
            proc_ticks > "$D/procs1"
            [ "$kind" = none ] && TR_PIDS=''
            foreign=$(foreign_ticks "$D/procs0" "$D/procs1")
            # shellcheck disable=SC2086
            [ "$kind" = none ] || { c1=$(cpu_ns $TR_PIDS); stop_tracer; }
            rm -f "$out"
            # shellcheck disable=SC2046 # key=value words
            rec type=cpu tracer="$kind" round="$i" pos=$((n + 1)) rate="$STATS_RATE" secs="$CPU_S" \
                wall_ns=$((w1 - w0)) busy_ticks=$((b1 - b0)) clk_tck="$CLK_TCK" foreign_ticks="$foreign" \
                tracer_cpu_ns="${c1:+$((c1 - c0))}" $(perf_rec "$D/cpu-$kind.perf")
        done
    done
}

# bpftrace's packet count (the floor) at STATS_RATE UDP, with bpf_stats:
# its programs' run time, as dnstrace's in fixed_run.
floor_stats() {
    log "bpftrace (the floor), udp at $STATS_RATE/s, bpf_stats, ${NONDNS_S}s"
    noise
    start_tracer bpftrace udp /dev/null
    stats_on
    bpf_progs "$TR_PID" > "$D/floor.bpf0"
    perf "$D/floor.perf" udp 53 "$NONDNS_S" "$STATS_RATE"
    bpf_progs "$TR_PID" > "$D/floor.bpf1"
    stats_restore
    stop_tracer
    # shellcheck disable=SC2046 # key=value words
    bpf_rec "$D/floor.bpf0" "$D/floor.bpf1" tracer=bpftrace port=53 nat=0 via=direct proto=udp \
        rate="$STATS_RATE" $(perf_rec "$D/floor.perf")
}

# Maximum throughput without and with the tracer, back to back, PAIRS times.
pairs() { # KIND PROTO
    local kind=$1 proto=$2 i c0 c1 hwm
    for i in $(seq "$PAIRS"); do
        log "max $proto throughput, pair $i/$PAIRS: without, then with $kind (${MAX_S}s each)"
        noise
        perf "$D/max-$proto-without.perf" "$proto" 53 "$MAX_S" 0
        start_tracer "$kind" "$proto" /dev/null
        # shellcheck disable=SC2086
        c0=$(cpu_ns $TR_PIDS)
        perf "$D/max-$proto-with.perf" "$proto" 53 "$MAX_S" 0
        # shellcheck disable=SC2086
        c1=$(cpu_ns $TR_PIDS) hwm=$(hwm_kib $TR_PIDS)
        stop_tracer
        # shellcheck disable=SC2046
        rec type=max tracer="$kind" proto="$proto" pair="$i" secs="$MAX_S" \
            qps_without="$(perf_field "$D/max-$proto-without.perf" 'Queries per second')" \
            $(perf_rec "$D/max-$proto-with.perf") cpu_ns=$((c1 - c0)) hwm_kib="$hwm"
    done
}

# The run's own duration, for the summary.
SECONDS=0
meta mode "$MODE"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta nproc "$(nproc)"
meta kernel "$(uname -r)"
meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
meta dnstrace "$("$BIN" --version 2>/dev/null | head -1)"
meta commit "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo '+changes')"
meta knot "$(knotd -V 2>/dev/null | awk '{ print $NF }')"
meta dnsperf "$(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }')"
meta tshark "$(tshark -v 2>/dev/null | head -1 | awk '{ print $3 }')"
meta fixed "$FIXED"
meta fixed_s "$FIXED_S"
meta pairs "$PAIRS"
meta max_s "$MAX_S"
meta stats_rate "$STATS_RATE"
meta rounds "$ROUNDS"
meta cpu_rounds "$CPU_ROUNDS"
meta cpu_s "$CPU_S"
meta clk_tck "$CLK_TCK"
meta starts "$STARTS"

# Warm the server and the caches before anything is recorded.
perf "$D/warmup.perf" udp 53 1 0

for fr in $FIXED; do
    proto=${fr%%:*} rate=${fr##*:}
    # The kernel's cost per invocation is read over the UDP run at
    # STATS_RATE. Counting run time slows the programs a little (two clock
    # reads each), not dnstrace's own process, so that run serves both.
    stats=0
    [ "$proto:$rate" = "udp:$STATS_RATE" ] && stats=1
    fixed_run dnstrace-json "$proto" "$rate" "$FIXED_S" 53 "$stats"
    [ "$MODE" = kernel ] && continue
    fixed_run dnstrace-table "$proto" "$rate" "$FIXED_S" 53
    fixed_run tshark "$proto" "$rate" "$FIXED_S" 53
done
# The floor's own kernel cost over the same load: what the least program
# on these two tracepoints takes per run and per transaction, beside
# dnstrace's run above.
floor_stats
# The same load to port 5300, which dnstrace does not watch: what the
# programs cost a busy node on packets that are not DNS.
fixed_run dnstrace-json udp "$STATS_RATE" "$NONDNS_S" 5300 1
# Through a node, the way a pod's queries go: without NAT (the server's
# own address, routed through the node), then to a VIP the node DNATs in
# PREROUTING. Eight hook runs per transaction in both; the sightings
# beyond the DNAT carry the translated tuple and no conntrack entry.
# Before the client's own DNAT below: like a pod's, the client's
# namespace has no conntrack yet.
ip netns exec "$NNS" iptables -t nat -A PREROUTING -d "$NODE_VIP" -p udp --dport 53 \
    -j DNAT --to-destination "$SADDR:53"
ip -n "$CNS" route add "$SADDR/32" via "$N1.1" dev "$CIF2"
ip -n "$CNS" route add "$NODE_VIP/32" via "$N1.1" dev "$CIF2"
ip netns exec "$CNS" dig +short +time=1 +tries=1 "@$NODE_VIP" h1.bench.test A | grep -q 192.0.2.2 \
    || die "the server does not answer through the node's DNAT"
VIA=node
fixed_run dnstrace-json udp "$STATS_RATE" "$FIXED_S" 53 1
TARGET=$NODE_VIP
fixed_run dnstrace-json udp "$STATS_RATE" "$FIXED_S" 53 1
TARGET=$SADDR VIA=direct
ip -n "$CNS" route del "$SADDR/32" via "$N1.1" dev "$CIF2"
# The same load through NAT: every query asks the VIP, DNATed to the
# server in the client's namespace, so every sighting but the first
# carries the translated addresses. What NAT tracking costs per packet.
for p in udp tcp; do
    ip netns exec "$CNS" iptables -t nat -A OUTPUT -d "$VIP" -p "$p" --dport 53 \
        -j DNAT --to-destination "$SADDR:53"
done
ip -n "$CNS" route add "$VIP/32" dev "$CIF"
TARGET=$VIP
fixed_run dnstrace-json udp "$STATS_RATE" "$FIXED_S" 53 1
TARGET=$SADDR

cpu_rounds
# UDP in rounds: dnstrace json, its kernel side alone (what bounds the
# ratio) and the least any program on these two tracepoints costs (the
# floor), each beside the same no-tracer runs.
rounds
pairs dnstrace-json tcp
for proto in udp tcp; do
    pairs tshark "$proto"
done

[ "$MODE" = kernel ] && STARTS=0
log "start to attached, $STARTS starts"
for i in $(seq "$STARTS"); do
    "$BIN" --json --server "$SADDR" -d 200ms > /dev/null 2> "$D/start.err" || die "dnstrace failed to start: $(cat "$D/start.err")"
    rec type=start n="$i" attach_ms="$(attach_ms "$D/start.err")"
done
noise

DAY=$(date -u +%Y-%m-%d)
case $MODE in
full) RESULT=$ROOT/bench/results-$DAY.json ;;
*) RESULT=$ROOT/bench/results-$DAY-$MODE.json ;;
esac
meta elapsed_s "$SECONDS"
CHECK=()
[ "$MODE" = smoke ] && CHECK=(--check)
python3 "$ROOT/bench/summarize.py" "$RAW" "$RESULT" ${OUT:+"$OUT"} "${CHECK[@]+"${CHECK[@]}"}"
FAILED=0
