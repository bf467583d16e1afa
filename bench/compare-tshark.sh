#!/usr/bin/env bash
# Independent check of dnstrace against tshark, as root: dnsperf sends
# queries from one namespace to dnsmasq in another; tshark decodes the
# client's interface. Every reply tshark sees must be reported once by
# dnstrace with the same id, name, qtype and rcode, and a latency within
# 1 ms of tshark's dns.time.
#   RATE=20000 SECS=10 bench/compare-tshark.sh
# Needs: dnsmasq-base, dnsperf, tshark, python3; cargo build --release.
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/dnstrace}
RATE=${RATE:-5000}; SECS=${SECS:-5}
ip netns add va_c; ip netns add va_s
cleanup() { pkill -f "kc_marker_va"; ip netns del va_c; ip netns del va_s; }
trap cleanup EXIT
ip link add vac netns va_c type veth peer name vas netns va_s
ip -n va_c addr add 10.89.0.2/24 dev vac; ip -n va_s addr add 10.89.0.1/24 dev vas
for n in va_c va_s; do ip -n $n link set lo up; done
ip -n va_c link set vac up; ip -n va_s link set vas up
ip netns exec va_s dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --user=root --pid-file= --listen-address=10.89.0.1 --address=/ok.test/10.1.2.3 --address=/nx.test/ --dhcp-leasefile=/tmp/kc_marker_va &
sleep 1
python3 - > /tmp/va_queries <<'PY'
import random
random.seed(7)
for i in range(3000):
    kind = random.choice(["ok.test","nx.test","other.example"])
    print(f"n{i}.{kind} {random.choice(['A','AAAA','MX','TXT'])}")
PY
$BIN --json --no-summary --server 10.89.0.1 > /tmp/va_dt.json 2>/tmp/va_dt.err &
TR=$!
ip netns exec va_c tshark -i vac -f "udp port 53" -l -T fields -E separator='|' -e dns.flags.response -e udp.dstport -e dns.id -e dns.qry.name -e dns.qry.type -e dns.flags.rcode -e dns.time > /tmp/va_ts.txt 2>/tmp/va_ts.err &
TS=$!
sleep 3
ip netns exec va_c dnsperf -s 10.89.0.1 -d /tmp/va_queries -l $SECS -Q $RATE -c 8 > /tmp/va_perf 2>&1
sleep 1
kill -INT $TS; wait $TS
kill -INT $TR; wait $TR
grep -E "Queries (sent|completed)" /tmp/va_perf
python3 - <<'PY'
import json
from collections import defaultdict, deque
recs = defaultdict(deque)
n = 0
for l in open('/tmp/va_dt.json'):
    r = json.loads(l)
    n += 1
    recs[(r['client_port'], r['id'])].append(r)
dups = 0
qt = {1:'A',28:'AAAA',15:'MX',16:'TXT'}
rc = {0:'NOERROR',3:'NXDOMAIN',5:'REFUSED',2:'SERVFAIL'}
seen = missing = mismatch = late = 0
worst = 0.0
for l in open('/tmp/va_ts.txt'):
    f = l.rstrip('\n').split('|')
    if len(f) < 7 or f[0] not in ('1','True'): continue
    seen += 1
    port, id_ = int(f[1]), int(f[2], 0)
    q = recs.get((port, id_))
    if not q: missing += 1; continue
    r = q.popleft()
    exp = (f[3].rstrip('.'), qt.get(int(f[4]), f"TYPE{f[4]}"), rc.get(int(f[5]), f"RCODE{f[5]}"))
    got = (r['qname'], r['qtype'], r['rcode'])
    if exp != got: mismatch += 1; print("mismatch", exp, got); continue
    if f[6]:
        d = abs(float(f[6])*1000 - r['latency_ms'])
        worst = max(worst, d)
        if d > 1.0: late += 1
print(f"tshark replies: {seen}; dnstrace records: {n}; left unmatched: {sum(len(v) for v in recs.values())}; missing: {missing}; field mismatches: {mismatch}; latency off by >1ms: {late}; worst latency difference: {worst:.3f} ms")
PY
