#!/usr/bin/env python3
"""Turns bench/run.sh's raw measurements into one table and one JSON file.

    summarize.py RAW RESULT.json [COPY.json] [--check]

RAW has one measurement per line, "rec key=value ..." or
"meta<TAB>key<TAB>text". --check (the smoke run) exits 1 unless every
figure of the table was produced and is a finite number.
"""

import json
import math
import statistics
import sys

# The targets the issue set; each figure they apply to gets pass or miss.
TARGET_COMPLETENESS_PCT = 100.0  # at 100k/s UDP, dnstrace json
TARGET_THROUGHPUT_RATIO = 0.95  # max throughput with dnstrace / without
TARGET_CORES_AT_50K = 0.1  # dnstrace's own CPU at 50k/s, json mode
TARGET_RSS_MIB = 32.0  # peak RSS, any mode, any rate
TARGET_ATTACH_MS = 300.0  # start to attached, median
TARGET_COST_RATIO = 1.1  # max UDP throughput cost, dnstrace json / the floor's
TARGET_COST_ROUNDS = 5  # rounds the cost ratio is judged on, at least
FLOOR = "bpftrace"
# Other users' processes above this share of a core during a run: the run
# is marked disturbed (a whole-machine figure counts their work too).
DISTURBED_PCT = 5.0


def number(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return int(v) if v.is_integer() and "." not in text else v


def read_raw(path):
    meta, recs = {}, []
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("meta\t"):
            _, key, text = line.split("\t", 2)
            meta[key] = text
        elif line.startswith("rec "):
            r = {}
            for word in line[4:].split():
                key, _, value = word.partition("=")
                n = number(value)
                r[key] = n if n is not None else (value or None)
            recs.append(r)
    return meta, recs


def ratio(a, b):
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b == 0:
        return None
    return a / b


def spread(values):
    """Median, min and max of the values that are numbers; None if none are."""
    vals = [v for v in values if isinstance(v, (int, float))]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def rate_label(proto, rate):
    if rate == 0:
        return f"max {proto}"
    return f"{rate // 1000}k {proto}" if rate % 1000 == 0 else f"{rate} {proto}"


SCENARIO = {
    "dnstrace-json": "dnstrace json",
    "dnstrace-table": "dnstrace table",
    "dnstrace-kernel": "dnstrace, kernel only",
    "bpftrace": "bpftrace, packet count",
    "tshark": "tshark",
}


def cost(r):
    """CPU and memory of one run: ms per 1k transactions, cores, MiB."""
    completed = r.get("completed")
    cpu_ns = r.get("cpu_ns")
    out = {
        "cpu_ms_per_1k": None,
        "cores": ratio(cpu_ns, (r.get("run_s") or 0) * 1e9),
        "user_share": ratio(r.get("utime_ticks"), (r.get("utime_ticks") or 0) + (r.get("stime_ticks") or 0)),
        "peak_rss_mib": ratio(r.get("hwm_kib"), 1024),
    }
    if isinstance(cpu_ns, (int, float)) and isinstance(completed, (int, float)) and completed > 0:
        out["cpu_ms_per_1k"] = cpu_ns / 1e6 / (completed / 1000)
    return out


def completeness(r):
    """Transactions reported per query completed, in %."""
    c = ratio(r.get("reported"), r.get("completed"))
    return None if c is None else 100 * c


def kernel_cost(bpf_recs):
    """ns per invocation of each program, over one run."""
    progs = {}
    completed = None
    for b in bpf_recs:
        completed = b.get("completed")
        progs[b["prog"]] = {
            "run_ns": b.get("run_ns"),
            "run_cnt": b.get("run_cnt"),
            "ns_per_run": ratio(b.get("run_ns"), b.get("run_cnt")) if b.get("run_cnt") else None,
        }
    total = sum(p["run_ns"] for p in progs.values() if isinstance(p["run_ns"], int))
    # The packet hooks alone, without the periodic sweep: the four hook
    # runs of a transaction on a veth pair (eight through a node).
    hooks = sum(p["run_ns"] for name, p in progs.items()
                if name != "dt_sweep" and isinstance(p["run_ns"], int))
    return {
        "programs": progs,
        "completed": completed,
        # Everything the programs ran during the run, over the queries the
        # client completed: the kernel's cost per transaction, all packets
        # of the machine included.
        "ns_per_transaction": ratio(total, completed) if progs else None,
        "hooks_ns_per_transaction": ratio(hooks, completed) if progs else None,
    }


def pct_of_core(ticks, clk_tck, secs):
    if not isinstance(ticks, (int, float)) or not clk_tck or not secs:
        return None
    return 100 * ticks / clk_tck / secs


def throughput_rounds(maxes):
    """The UDP rounds: per round each tracer's q/s and its throughput cost
    (1 - q/s with / the mean of the round's two no-tracer runs), and the
    cost ratio, dnstrace's cost / the floor's; median and range over the
    rounds. A floor cost of zero or less (noise larger than the floor)
    leaves that round's ratio null, with a note."""
    by_round = {}
    for m in maxes:
        if m.get("proto") == "udp" and m.get("round") is not None:
            by_round.setdefault(m["round"], []).append(m)
    rounds = []
    for n in sorted(by_round):
        runs = sorted(by_round[n], key=lambda m: m.get("pos") or 0)
        first = runs[0]
        rnd = {
            "round": n,
            "order": ["none"] + [m["tracer"] for m in runs] + ["none"],
            "qps_none": [first.get("qps_none_before"), first.get("qps_none_after")],
            "qps_without": first.get("qps_without"),
            "qps": {m["tracer"]: m.get("qps") for m in runs},
            "cost": {},
            "cost_ratio": {},
            "foreign_pct": {},
            "notes": [],
        }
        for m in runs:
            rnd["foreign_pct"][m["tracer"]] = pct_of_core(m.get("foreign_ticks"), m.get("clk_tck"), m.get("secs"))
        if runs:
            rnd["foreign_pct"]["none"] = pct_of_core(first.get("foreign_none_ticks"), first.get("clk_tck"),
                                                     2 * (first.get("secs") or 0))
        disturbed = [k for k, v in rnd["foreign_pct"].items() if v is not None and v > DISTURBED_PCT]
        if disturbed:
            rnd["notes"].append("disturbed: other processes used "
                                + ", ".join(f"{rnd['foreign_pct'][k]:.0f} %" for k in disturbed)
                                + " of a core during " + ", ".join(disturbed))
        for m in runs:
            r = ratio(m.get("qps"), m.get("qps_without"))
            rnd["cost"][m["tracer"]] = None if r is None else 1 - r
        floor = rnd["cost"].get(FLOOR)
        for t in ("dnstrace-json", "dnstrace-kernel"):
            c = rnd["cost"].get(t)
            if c is None or floor is None:
                rnd["cost_ratio"][t] = None
            elif floor <= 0:
                rnd["cost_ratio"][t] = None
                note = f"floor's cost {floor:.4f} <= 0: no ratio this round"
                if note not in rnd["notes"]:
                    rnd["notes"].append(note)
            else:
                rnd["cost_ratio"][t] = c / floor
        rounds.append(rnd)
    out = {
        "definition": "cost = 1 - q/s with the tracer / mean q/s of the round's two no-tracer runs; "
                      "cost ratio = dnstrace's cost / the floor's (bpftrace counting packets) cost, per round",
        "n_rounds": len(rounds),
        "rounds": rounds,
        "cost": {t: spread([r["cost"].get(t) for r in rounds]) for t in ("dnstrace-json", "dnstrace-kernel", FLOOR)},
        "disturbed_rounds": sum(1 for r in rounds if any(n.startswith("disturbed") for n in r["notes"])),
        "cost_ratio": {},
    }
    for t in ("dnstrace-json", "dnstrace-kernel"):
        # A round whose floor cost is not above 0 while dnstrace's is has
        # an unbounded ratio: it ranks above every other in the median
        # rather than being dropped (dropping it would favour dnstrace).
        # If both costs are not above 0 the round has no ratio at all.
        ranked, unbounded, undefined = [], 0, 0
        for r in rounds:
            v, c, f = r["cost_ratio"].get(t), r["cost"].get(t), r["cost"].get(FLOOR)
            if v is not None:
                ranked.append(v)
            elif c is not None and f is not None and f <= 0 < c:
                ranked.append(math.inf)
                unbounded += 1
            else:
                undefined += 1
        fig = {"median": None, "min": None, "max": None, "n": len(ranked)}
        if ranked:
            med = statistics.median(ranked)
            fig.update(median=med if math.isfinite(med) else None,
                       min=min(ranked) if math.isfinite(min(ranked)) else None,
                       max=max(ranked) if math.isfinite(max(ranked)) else None)
        notes = []
        if unbounded:
            notes.append(f"{unbounded} of {len(rounds)} round(s) unbounded (the floor's cost not above 0, "
                         "dnstrace's above): ranked highest, max shown as null")
        if undefined:
            notes.append(f"{undefined} of {len(rounds)} round(s) without a ratio (no cost measured)")
        out["cost_ratio"][t] = {**fig, "n_rounds": len(rounds), "unbounded_rounds": unbounded,
                                "note": "; ".join(notes) or None}
    return out


def cpu_at_rate(cpus, nproc):
    """Whole-machine CPU (/proc/stat, all cores) at the fixed rate, in % of
    one core, per run; what each tracer adds over the same round's run
    without one, and the tracer's own process CPU over the same run."""
    rounds = {}
    for c in cpus:
        rounds.setdefault(c["round"], {})[c["tracer"]] = c

    def busy_pct(c):
        if not c or not c.get("wall_ns") or not c.get("clk_tck"):
            return None
        return 100 * (c["busy_ticks"] / c["clk_tck"]) / (c["wall_ns"] / 1e9)

    def foreign_pct(c):
        if not c or not c.get("wall_ns"):
            return None
        return pct_of_core(c.get("foreign_ticks"), c.get("clk_tck"), c["wall_ns"] / 1e9)

    def proc_pct(c):
        if not c or not isinstance(c.get("tracer_cpu_ns"), (int, float)) or not c.get("wall_ns"):
            return None
        return 100 * c["tracer_cpu_ns"] / c["wall_ns"]

    per_round = []
    for n in sorted(rounds):
        runs = rounds[n]
        none = busy_pct(runs.get("none"))
        fnone = foreign_pct(runs.get("none"))
        rnd = {"round": n, "order": [c["tracer"] for c in sorted(runs.values(), key=lambda c: c.get("pos") or 0)],
               "busy_pct": {}, "added_pct": {}, "process_pct": {}, "foreign_pct": {},
               "added_less_foreign_pct": {}, "runs": {}}
        for t, c in runs.items():
            b = busy_pct(c)
            f = foreign_pct(c)
            rnd["busy_pct"][t] = b
            rnd["foreign_pct"][t] = f
            rnd["runs"][t] = {k: c.get(k) for k in ("secs", "wall_ns", "busy_ticks", "foreign_ticks",
                                                    "tracer_cpu_ns", "sent", "completed", "lost", "qps")}
            if t != "none":
                rnd["added_pct"][t] = None if b is None or none is None else b - none
                rnd["added_less_foreign_pct"][t] = None if None in (b, none, f, fnone) else (b - f) - (none - fnone)
                rnd["process_pct"][t] = proc_pct(c)
        per_round.append(rnd)
    completion = [ratio(c.get("completed"), c.get("sent")) for c in cpus]
    completion = [100 * v for v in completion if v is not None]
    rate = cpus[0].get("rate") if cpus else None
    return {
        "rate": rate,
        "secs": cpus[0].get("secs") if cpus else None,
        "n_rounds": len(per_round),
        "definition": "busy = user+nice+system+irq+softirq+steal of /proc/stat's cpu line over the "
                      "dnsperf run, in % of one core over the wall time around the same reads; "
                      "added = busy with the tracer - busy without, same round",
        "busy_pct": {t: spread([r["busy_pct"].get(t) for r in per_round]) for t in ("none", "dnstrace-json", FLOOR)},
        "added_pct": {t: spread([r["added_pct"].get(t) for r in per_round]) for t in ("dnstrace-json", FLOOR)},
        "process_pct": {t: spread([r["process_pct"].get(t) for r in per_round]) for t in ("dnstrace-json", FLOOR)},
        # Other users' processes during the runs (alive at both ends of a
        # run): the added figures above include their work; the ones below
        # take it out, as far as it was seen.
        "foreign_pct": spread([v for r in per_round for v in r["foreign_pct"].values()]),
        "disturbed_runs": sum(1 for r in per_round for v in r["foreign_pct"].values()
                              if v is not None and v > DISTURBED_PCT),
        "added_less_foreign_pct": {t: spread([r["added_less_foreign_pct"].get(t) for r in per_round])
                                   for t in ("dnstrace-json", FLOOR)},
        "completed_pct_min": min(completion) if completion else None,
        "qps_min": min((c.get("qps") for c in cpus if isinstance(c.get("qps"), (int, float))), default=None),
        # Runs where every core was busy: the tracer's work then displaced
        # someone else's instead of adding to the total, so "added" is low.
        "saturated_runs": sum(1 for r in per_round for v in r["busy_pct"].values()
                              if v is not None and nproc and v >= 95 * nproc),
        "rounds": per_round,
    }


# Runs through NAT or through a node, by (direct, nat).
NAT_SCENARIO = {
    (True, True): "dnstrace json, through DNAT",
    (False, False): "dnstrace json, through a node",
    (False, True): "dnstrace json, through a node's DNAT",
}


def build(meta, recs):
    def direct(r):
        return r.get("via", "direct") == "direct"

    fixed = [r for r in recs if r["type"] == "fixed" and r.get("port") == 53 and not r.get("nat")
             and direct(r)]
    nondns = [r for r in recs if r["type"] == "fixed" and r.get("port") != 53]
    natted = [r for r in recs if r["type"] == "fixed" and (r.get("nat") or not direct(r))]
    maxes = [r for r in recs if r["type"] == "max"]
    bpf = [r for r in recs if r["type"] == "bpf" and r.get("tracer", "dnstrace-json") == "dnstrace-json"]
    floor_bpf = [r for r in recs if r["type"] == "bpf" and r.get("tracer") == "bpftrace"]
    starts = [r for r in recs if r["type"] == "start"]
    noise = [r for r in recs if r["type"] == "noise"]
    cpus = [r for r in recs if r["type"] == "cpu"]
    stats_rate = number(meta.get("stats_rate"))

    rows = []
    for r in fixed:
        row = {
            "rate": rate_label(r["proto"], r["rate"]),
            "proto": r["proto"],
            "target_qps": r["rate"],
            "scenario": SCENARIO.get(r["tracer"], r["tracer"]),
            "tracer": r["tracer"],
            "qps": r.get("qps"),
            "sent": r.get("sent"),
            "completed": r.get("completed"),
            "reported": r.get("reported"),
            "completeness_pct": completeness(r),
            "throughput_ratio": None,
            **cost(r),
            "ns_per_invocation": None,
        }
        for k in ("timeouts", "pending_at_exit", "ringbuf_drops", "capture_dropped", "attach_ms", "drain_ms"):
            if k in r:
                row[k] = r[k]
        counters = {k[2:]: v for k, v in r.items() if k.startswith("k_")}
        if counters:
            row["kernel_counters"] = counters
        if r["tracer"] == "dnstrace-json" and r["proto"] == "udp" and r["rate"] == stats_rate:
            row["kernel"] = kernel_cost([b for b in bpf if b.get("port") == 53 and not b.get("nat")
                                         and direct(b)])
        rows.append(row)

    for tracer in ("dnstrace-json", "tshark", "dnstrace-kernel", "bpftrace"):
        for proto in ("udp", "tcp"):
            runs = [m for m in maxes if m["tracer"] == tracer and m["proto"] == proto]
            if not runs:
                continue
            costs = [cost(m) for m in runs]
            rows.append({
                "rate": rate_label(proto, 0),
                "proto": proto,
                "target_qps": 0,
                "scenario": SCENARIO[tracer],
                "tracer": tracer,
                "qps": spread([m.get("qps") for m in runs]),
                "qps_without": spread([m.get("qps_without") for m in runs]),
                "completeness_pct": None,
                "throughput_ratio": spread([ratio(m.get("qps"), m.get("qps_without")) for m in runs]),
                "cpu_ms_per_1k": spread([c["cpu_ms_per_1k"] for c in costs]),
                "cores": spread([c["cores"] for c in costs]),
                "peak_rss_mib": spread([c["peak_rss_mib"] for c in costs]),
                "ns_per_invocation": None,
                "pairs": [{"without": m.get("qps_without"), "with": m.get("qps"),
                           **({"round": m["round"]} if m.get("round") is not None else {})} for m in runs],
            })

    throughput = throughput_rounds(maxes)
    cpu = cpu_at_rate(cpus, number(meta.get("nproc")))

    for r in nondns:
        rows.append({
            "rate": f"{rate_label(r['proto'], r['rate'])}:{r['port']}",
            "proto": r["proto"],
            "target_qps": r["rate"],
            "scenario": "dnstrace json, non-DNS port",
            "tracer": r["tracer"],
            "qps": r.get("qps"),
            "completed": r.get("completed"),
            "reported": r.get("reported"),
            "completeness_pct": None,
            "throughput_ratio": None,
            **cost(r),
            "kernel": kernel_cost([b for b in bpf if b.get("port") == r["port"]]),
        })

    for r in natted:
        rows.append({
            "rate": rate_label(r["proto"], r["rate"]),
            "proto": r["proto"],
            "target_qps": r["rate"],
            "scenario": NAT_SCENARIO[(direct(r), bool(r.get("nat")))],
            "tracer": r["tracer"],
            "qps": r.get("qps"),
            "sent": r.get("sent"),
            "completed": r.get("completed"),
            "reported": r.get("reported"),
            # Each query once, through NAT: 100 %, not 200 %.
            "completeness_pct": completeness(r),
            "throughput_ratio": None,
            **cost(r),
            "kernel": kernel_cost([b for b in bpf if bool(b.get("nat")) == bool(r.get("nat"))
                                   and direct(b) == direct(r)]),
        })

    for row in rows:
        k = row.get("kernel")
        if k:
            row["ns_per_invocation"] = {
                "egress": k["programs"].get("dt_egress", {}).get("ns_per_run"),
                "ingress": k["programs"].get("dt_ingress", {}).get("ns_per_run"),
            }

    start = spread([s.get("attach_ms") for s in starts])

    targets = []

    def target(name, figure, ok_if, limit, note=None):
        value = figure["median"] if isinstance(figure, dict) else figure
        passed = None if value is None or note else ok_if(value)
        targets.append({"target": name, "value": value, "limit": limit, "pass": passed, "note": note})
        return passed

    marks = {}
    for i, row in enumerate(rows):
        if not row["tracer"].startswith("dnstrace"):
            continue
        if row["proto"] == "udp" and row["target_qps"] == 100000 and row["tracer"] == "dnstrace-json" \
                and row["scenario"] == "dnstrace json":
            # Every completed query reported: not one missing.
            reached = isinstance(row["qps"], (int, float)) and row["qps"] >= 0.95 * row["target_qps"]
            marks[(i, "completeness_pct")] = target(
                "completeness at 100k/s UDP, json", row["completeness_pct"],
                lambda v: v >= TARGET_COMPLETENESS_PCT, "100.00 %",
                None if reached else "not judged: dnsperf did not reach the rate")
        if row["rate"] == "max udp" and row["scenario"] == "dnstrace json":
            marks[(i, "throughput_ratio")] = target(
                "max UDP throughput with / without dnstrace", row["throughput_ratio"],
                lambda v: v >= TARGET_THROUGHPUT_RATIO, ">= 0.95")
        if row["proto"] == "udp" and row["target_qps"] == 50000 and row["scenario"] == "dnstrace json":
            marks[(i, "cores")] = target(
                "dnstrace CPU at 50k/s, json (cores)", row["cores"],
                lambda v: v <= TARGET_CORES_AT_50K, "<= 0.1")
        if row["scenario"] in ("dnstrace json", "dnstrace table"):
            marks[(i, "peak_rss_mib")] = target(
                f"peak RSS, {row['scenario']} at {row['rate']} (MiB)", row["peak_rss_mib"],
                lambda v: v <= TARGET_RSS_MIB, "<= 32 MiB")
    start_pass = target("start to attached (ms, median)", start, lambda v: v < TARGET_ATTACH_MS, "< 300 ms")
    cr = throughput["cost_ratio"].get("dnstrace-json") or {}
    name = "max UDP throughput cost, dnstrace json / the floor's (median of rounds)"
    # Rounds with a ratio, unbounded ones included: an unbounded round
    # ranks highest and counts against dnstrace, it does not void the
    # verdict.
    with_ratio = cr.get("n", 0)
    if with_ratio < TARGET_COST_ROUNDS:
        ratio_pass = target(name, cr.get("median"), lambda v: v <= TARGET_COST_RATIO, "<= 1.1",
                            f"not judged: {with_ratio} round(s) with a ratio, the target asks for "
                            f"{TARGET_COST_ROUNDS}" + (f"; {cr['note']}" if cr.get("note") else ""))
    elif cr.get("median") is None:
        # Half the rounds or more unbounded: the median is too.
        ratio_pass = False
        targets.append({"target": name, "value": None, "limit": "<= 1.1", "pass": False,
                        "note": f"median unbounded: {cr.get('note')}"})
    else:
        ratio_pass = target(name, cr.get("median"), lambda v: v <= TARGET_COST_RATIO, "<= 1.1")
        targets[-1]["note"] = cr.get("note")
    added = cpu["added_pct"]
    if cpu["n_rounds"]:
        fig = added.get("dnstrace-json")
        fl = added.get(FLOOR)
        target(f"CPU added at {cpu['rate']} q/s UDP, dnstrace json, all cores (% of a core, median)",
               fig, None, "a figure, beside the floor's",
               "figure, not judged: the floor adds "
               + ("-" if not fl else f"{fl['median']:.1f} %"))

    noise_summary = {
        "load1": spread([n.get("load1") for n in noise]),
        "foreign_dt_progs_max": max((n.get("foreign_dt_progs") or 0 for n in noise), default=None),
    }
    result = {
        "date": meta.get("date"),
        "mode": meta.get("mode"),
        "machine": {"nproc": number(meta.get("nproc")), "kernel": meta.get("kernel"), "cpu": meta.get("cpu")},
        "versions": {k: meta.get(k) for k in ("dnstrace", "commit", "knot", "dnsperf", "tshark")},
        "settings": {
            "fixed_rates": meta.get("fixed", "").split(),
            **{k: number(meta.get(k)) for k in ("fixed_s", "pairs", "max_s", "stats_rate", "starts",
                                                 "rounds", "cpu_rounds", "cpu_s", "clk_tck")},
        },
        "noise": noise_summary,
        "rows": rows,
        "start_to_attached_ms": start,
        "max_udp_rounds": throughput,
        "cpu_at_fixed_rate": cpu,
        "floor_kernel": kernel_cost(floor_bpf) if floor_bpf else None,
        "elapsed_s": number(meta.get("elapsed_s")),
        "targets": targets,
        "raw": recs,
    }
    marks["cost_ratio"] = ratio_pass
    return result, marks, start_pass


def fmt(v, spec, unit=""):
    if isinstance(v, dict):
        if v["median"] is None:
            return "-"
        if v["min"] is None or v["max"] is None:
            return f"{format(v['median'], spec)}{unit} ({format(v['min'], spec)}-unbounded)"
        if v["n"] == 1:
            return format(v["median"], spec) + unit
        return f"{format(v['median'], spec)}{unit} ({format(v['min'], spec)}-{format(v['max'], spec)})"
    if v is None:
        return "-"
    return format(v, spec) + unit


def mark(text, passed):
    if passed is None:
        return text
    return f"{text} {'pass' if passed else 'MISS'}"


def render(result, marks, start_pass):
    cols = [
        ("rate", "rate"), ("scenario", "scenario"), ("qps", "achieved q/s"),
        ("completeness_pct", "complete %"), ("throughput_ratio", "server max ratio"),
        ("cpu_ms_per_1k", "CPU ms/1k tx"), ("cores", "cores"), ("peak_rss_mib", "peak RSS MiB"),
        ("ns_per_invocation", "ns/run egress/ingress"),
    ]
    specs = {"qps": ".0f", "completeness_pct": ".2f", "throughput_ratio": ".3f",
             "cpu_ms_per_1k": ".2f", "cores": ".3f", "peak_rss_mib": ".1f"}
    table = [[title for _, title in cols]]
    for i, row in enumerate(result["rows"]):
        line = []
        for key, _ in cols:
            v = row.get(key)
            if key in ("rate", "scenario"):
                text = v
            elif key == "qps" and row["target_qps"] and isinstance(v, (int, float)) \
                    and v < 0.95 * row["target_qps"]:
                # The machine could not deliver the rate: figures at this
                # row describe a lighter load than its label says.
                text = fmt(v, specs[key]) + "*"
            elif key == "ns_per_invocation":
                text = "-" if not v else f"{fmt(v['egress'], '.0f')}/{fmt(v['ingress'], '.0f')}"
            else:
                text = fmt(v, specs[key])
            line.append(mark(text, marks.get((i, key))))
        table.append(line)
    widths = [max(len(r[c]) for r in table) for c in range(len(cols))]
    out = []
    m = result["machine"]
    out.append(f"dnstrace benchmark, {result['mode']} run, {result['date']}: {m['nproc']} cores, "
               f"{m['cpu']}, Linux {m['kernel']}; dnstrace {result['versions']['commit']}")
    for r in table:
        out.append("  ".join(c.rjust(w) if j >= 2 else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))
    if any(r[2].endswith("*") for r in table[1:]):
        out.append("* under 95 % of the fixed rate: dnsperf could not deliver it (a busy machine?)")
    out.append(f"start to attached: {fmt(result['start_to_attached_ms'], '.0f', ' ms')} over "
               f"{(result['start_to_attached_ms'] or {}).get('n', 0)} starts"
               + ("" if start_pass is None else f" {'pass' if start_pass else 'MISS'} (< 300 ms)"))
    for row in result["rows"]:
        k = row.get("kernel")
        if not k:
            continue
        progs = ", ".join(f"{name} {fmt(p['ns_per_run'], '.0f')} ns x {p['run_cnt']}"
                          for name, p in sorted(k["programs"].items()))
        out.append(f"kernel, {row['rate']} ({row['scenario']}): {progs}; "
                   f"{fmt(k['ns_per_transaction'], '.0f')} ns per completed query "
                   f"({fmt(k.get('hooks_ns_per_transaction'), '.0f')} in the packet hooks)")
    fk = result.get("floor_kernel")
    if fk:
        progs = ", ".join(f"{fmt(p['ns_per_run'], '.0f')} ns x {p['run_cnt']}"
                          for _, p in sorted(fk["programs"].items()))
        out.append(f"kernel, the floor (bpftrace packet count) at the same rate: {progs}; "
                   f"{fmt(fk['ns_per_transaction'], '.0f')} ns per completed query")
    out.extend(render_rounds(result, marks.get("cost_ratio")))
    out.extend(render_cpu(result["cpu_at_fixed_rate"]))
    n = result["noise"]
    out.append(f"noise: load average {fmt(n['load1'], '.2f')}, other dnstrace programs loaded: "
               f"{n['foreign_dt_progs_max']} (both should be ~0 for a trustworthy run)")
    if result.get("elapsed_s") is not None:
        out.append(f"run took {result['elapsed_s'] / 60:.1f} min")
    return "\n".join(out)


SHORT = {"dnstrace-json": "dnstrace json", "dnstrace-kernel": "kernel only", FLOOR: "floor", "none": "none"}


def render_rounds(result, passed):
    t = result["max_udp_rounds"]
    if not t["n_rounds"]:
        return []
    out = [f"max UDP throughput in {t['n_rounds']} round(s): cost = 1 - q/s with / mean of the round's "
           "two no-tracer runs; ratio = cost / the floor's (bpftrace counting packets)"]
    for r in t["rounds"]:
        parts = [f"none {fmt(r['qps_none'][0], '.0f')}/{fmt(r['qps_none'][1], '.0f')}"]
        for name in r["order"][1:-1]:
            parts.append(f"{SHORT.get(name, name)} {fmt(r['qps'].get(name), '.0f')} "
                         f"(cost {fmt(r['cost'].get(name), '.3f')})")
        ratios = ", ".join(f"{SHORT[k]} {fmt(v, '.2f')}" for k, v in r["cost_ratio"].items())
        out.append(f"  round {r['round']}: {', '.join(parts)}; ratio {ratios}"
                   + "".join(f" [{n}]" for n in r["notes"]))
    if t["disturbed_rounds"]:
        out.append(f"  {t['disturbed_rounds']} of {t['n_rounds']} round(s) disturbed by other users' processes")
    costs = ", ".join(f"{SHORT[k]} {fmt(v, '.3f')}" for k, v in t["cost"].items())
    out.append(f"  throughput cost, median (min-max): {costs}")
    for k, v in t["cost_ratio"].items():
        line = (f"  cost ratio, {SHORT[k]} / floor: {fmt(v, '.2f')}"
                f" over {v['n']} of {v['n_rounds']} round(s)")
        if k == "dnstrace-json":
            line += " (target <= 1.1" + ("" if passed is None else f": {'pass' if passed else 'MISS'}") + ")"
        if v.get("note"):
            line += f" [{v['note']}]"
        out.append(line)
    return out


def render_cpu(c):
    if not c["n_rounds"]:
        return []
    busy = ", ".join(f"{SHORT[k]} {fmt(v, '.1f', ' %')}" for k, v in c["busy_pct"].items())
    added = ", ".join(f"{SHORT[k]} {fmt(v, '.1f', ' %')}" for k, v in c["added_pct"].items())
    proc = ", ".join(f"{SHORT[k]} {fmt(v, '.1f', ' %')}" for k, v in c["process_pct"].items())
    return [
        f"CPU at {c['rate']} q/s UDP, whole machine (/proc/stat, all cores, % of one core), "
        f"{c['n_rounds']} round(s) of {c['secs']} s:",
        f"  busy: {busy}",
        f"  added by the tracer: {added}",
        f"  the tracer's own process (schedstat): {proc}",
        f"  other users' processes during the runs: {fmt(c['foreign_pct'], '.1f', ' %')}"
        + (f"; {c['disturbed_runs']} run(s) disturbed (> {DISTURBED_PCT:.0f} %): added less theirs: "
           + ", ".join(f"{SHORT[k]} {fmt(v, '.1f', ' %')}" for k, v in c["added_less_foreign_pct"].items())
           if c["disturbed_runs"] else ""),
        f"  dnsperf completed {fmt(c['completed_pct_min'], '.2f', ' %')} of the queries sent (lowest run), "
        f"lowest rate achieved {fmt(c['qps_min'], '.0f')} q/s"
        + (" (under 95 % of the rate: not that load)"
           if isinstance(c["qps_min"], (int, float)) and c["rate"] and c["qps_min"] < 0.95 * c["rate"] else ""),
    ] + ([f"  {c['saturated_runs']} run(s) with every core busy: the added figures are not valid"]
         if c["saturated_runs"] else [])


def missing_figures(result):
    """Every figure the table shows, for the smoke run's check."""
    bad = []

    def need(where, v):
        if isinstance(v, dict) and "median" in v:
            v = v["median"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            bad.append(f"{where}: {v!r}")

    for row in result["rows"]:
        where = f"{row['rate']} {row['scenario']}"
        for key in ("qps", "cpu_ms_per_1k", "cores", "peak_rss_mib"):
            need(f"{where} {key}", row.get(key))
        if row["target_qps"] and row["scenario"] != "dnstrace json, non-DNS port":
            need(f"{where} completeness_pct", row.get("completeness_pct"))
        if not row["target_qps"]:
            need(f"{where} throughput_ratio", row.get("throughput_ratio"))
        if "kernel" in row:
            for name, p in row["kernel"]["programs"].items():
                need(f"{where} {name} ns/run", p["ns_per_run"])
            need(f"{where} ns per transaction", row["kernel"]["ns_per_transaction"])
            need(f"{where} hook ns per transaction", row["kernel"]["hooks_ns_per_transaction"])
            for d in ("egress", "ingress"):
                need(f"{where} {d} ns/run", row["ns_per_invocation"][d])
    need("start to attached", result["start_to_attached_ms"])
    fk = result.get("floor_kernel")
    if not fk or not fk["programs"]:
        bad.append("no kernel figures for the floor")
    else:
        need("the floor's ns per transaction", fk["ns_per_transaction"])
    t = result["max_udp_rounds"]
    if not t["n_rounds"]:
        bad.append("no max UDP rounds")
    for r in t["rounds"]:
        for k in ("dnstrace-json", "dnstrace-kernel", FLOOR):
            need(f"round {r['round']} {k} q/s", r["qps"].get(k))
            need(f"round {r['round']} {k} cost", r["cost"].get(k))
        need(f"round {r['round']} no-tracer q/s", r["qps_without"])
    for k, v in t["cost_ratio"].items():
        # A floor cost at or below zero (one short noisy round) leaves the
        # ratio undefined, with its note: produced, not missing.
        if v.get("median") is None and not v.get("note"):
            bad.append(f"cost ratio {k}: missing")
        elif v.get("median") is not None:
            need(f"cost ratio {k}", v)
    c = result["cpu_at_fixed_rate"]
    if not c["n_rounds"]:
        bad.append("no fixed-rate CPU rounds")
    for k in ("none", "dnstrace-json", FLOOR):
        need(f"CPU at fixed rate, busy {k}", c["busy_pct"].get(k))
    for k in ("dnstrace-json", FLOOR):
        need(f"CPU at fixed rate, added by {k}", c["added_pct"].get(k))
    need("CPU at fixed rate, dnstrace's process", c["process_pct"].get("dnstrace-json"))
    need("CPU at fixed rate, dnsperf completion", c["completed_pct_min"])
    for k in ("nproc", "kernel", "cpu"):
        if not result["machine"].get(k):
            bad.append(f"machine {k}: empty")
    # Each scenario must be there at all, not only well-formed when present.
    scenarios = {(r["scenario"], r["target_qps"] == 0) for r in result["rows"]}
    for s in ("dnstrace json", "dnstrace table", "tshark"):
        if (s, False) not in scenarios:
            bad.append(f"no fixed-rate row for {s}")
    for s in ("dnstrace json", "tshark", "dnstrace, kernel only", "bpftrace, packet count"):
        if (s, True) not in scenarios:
            bad.append(f"no max-throughput row for {s}")
    if not any("kernel" in r and r["scenario"] == "dnstrace json" for r in result["rows"]):
        bad.append("no in-kernel cost on DNS packets")
    if not any(r["scenario"] == "dnstrace json, non-DNS port" for r in result["rows"]):
        bad.append("no in-kernel cost on non-DNS packets")
    for s in NAT_SCENARIO.values():
        if not any("kernel" in r and r["scenario"] == s for r in result["rows"]):
            bad.append(f"no in-kernel cost for {s}")
    return bad


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) not in (2, 3):
        sys.exit(__doc__)
    meta, recs = read_raw(args[0])
    result, marks, start_pass = build(meta, recs)
    text = json.dumps(result, indent=1) + "\n"
    for path in args[1:]:
        with open(path, "w") as f:
            f.write(text)
    print(render(result, marks, start_pass))
    print(f"results: {', '.join(args[1:])}")
    if check:
        bad = missing_figures(result)
        if bad:
            print("smoke: figures missing or not numbers:", file=sys.stderr)
            for b in bad:
                print(f"  {b}", file=sys.stderr)
            return 1
        print("smoke: every figure produced")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
