/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The timeout sweep's callbacks, one per map it walks: each expires one
 * entry when its time has come. dt_sweep (in dnstrace.bpf.c), run by user
 * space a few times a second, walks the maps with them.
 */
#ifndef DNSTRACE_SWEEP_BPF_H
#define DNSTRACE_SWEEP_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include "dnstrace.h"
#include "maps.bpf.h"
#include "emit.bpf.h"
#include "mdns.bpf.h"
#include "encrypted.bpf.h"

struct dt_sweep_ctx {
	__u64 now;
	__u64 seen;		/* queries */
	__u64 queries_left;	/* queries not deleted by this sweep */
	__u64 twins_left;	/* twins not deleted by this sweep */
};

/* Expired so far in this sweep. A global, not a field of the callbacks'
 * context: the verifier would track a context counter compared against the
 * budget exactly, one state per value, and give up. */
__u64 dt_sweep_expired = 0;

/* Timeouts one sweep may report: 3.25 MiB of records of the longest name,
 * of the 4 MiB ring buffer, so that a flood of unanswered queries cannot
 * overflow it (a count, 16384, outgrew it as the record grew). User space
 * reads the records and sweeps again when a sweep used it all
 * (dt_sweep_more). */
#define DT_SWEEP_BUDGET ((13ULL << 18) / DT_RECORD_BYTES)

/* Whether q's tuple as DNAT delivered it is its own entry's (nat.bpf.h:
 * DNAT alone, the query keyed as sent). */
static __always_inline bool beyond_dnat_in_entry(const struct dt_pending *q)
{
	return (q->nat & (DT_NAT_DST | DT_NAT_SRC | DT_NAT_KEYED_DELIVERED | DT_NAT_TWINNED |
			  DT_NAT_TWIN)) == DT_NAT_DST;
}

/* A query unanswered for dt_timeout_ns: a TIMEOUT record, and its slot
 * among dt_done's timed-out ones kept for a late answer. key: its map
 * key, its client end (maps.bpf.h). */
static long expire_query(void *map, void *key, struct dt_pending *q, struct dt_sweep_ctx *c)
{
	struct dt_key ends, tk;
	__u16 shared;

	own_key(&ends, key, q);
	/* A twin goes with its query, unreported and uncounted; remembered
	 * so that a late answer's sightings beyond NAT are known too. */
	if (q->nat & DT_NAT_TWIN) {
		if ((__s64)(c->now - q->ts) >= (__s64)dt_timeout_ns) {
			struct dt_done *d = done_stage(&ends, q, DT_STATE_TIMED_OUT, 0, c->now);

			if (!bpf_map_delete_elem(map, key)) {
				done_mark(d, DT_STATE_TIMED_OUT);
				stat_inc(DT_STAT_TWINS_REMOVED);
				return 0;
			}
		}
		c->twins_left++;
		return 0;
	}
	c->seen++;
	if ((__s64)(c->now - q->ts) < (__s64)dt_timeout_ns || dt_sweep_expired >= DT_SWEEP_BUDGET) {
		c->queries_left++;
		return 0;
	}
	dt_sweep_expired++;
	/* The backend may have answered, its answer lost on the way back:
	 * the twin timed that. */
	if ((q->nat & DT_NAT_TWINNED) && !q->backend_ns) {
		struct dt_pending *t;

		other_key(&tk, &ends, q);
		t = find_own(&tk, &shared);
		if (t && (t->nat & DT_NAT_TWIN))
			q->backend_ns = t->backend_ns;
	}

	struct dt_report rep = {
		.kind = DT_KIND_TIMEOUT,
		.service = DT_SERVICE_DNS,
		.q = q,
		.ends = &ends,
		.remember = DT_STATE_TIMED_OUT,
		.done_ts = c->now,
		.sweep = true,
	};

	struct dt_done *beyond = NULL;

	/* Remembered as DNAT delivered it too, as a twin would be; staged
	 * while the entry holds. */
	if (beyond_dnat_in_entry(q)) {
		other_key(&tk, &ends, q);
		beyond = done_stage(&tk, q, DT_STATE_TIMED_OUT, 0, c->now);
	}
	/* Not ours: another CPU took it (answered just now), it is gone. */
	if (emit(&rep, dt_rcode_mask & (1U << DT_RCODE_TIMEOUT_BIT), &dt_pending, key,
		 DT_STAT_TIMEOUTS))
		done_mark(beyond, DT_STATE_TIMED_OUT);
	return 0;
}

/* An mDNS query no answer came to within DT_MDNS_WINDOW_NS. */
static long expire_mdns(void *map, struct dt_mdns_key *key, struct dt_mdns_pending *m,
			struct dt_sweep_ctx *c)
{
	struct dt_key ends;
	__u32 group_words[4] = {};
	__u8 *group = (__u8 *)group_words;

	if ((__s64)(c->now - m->q.ts) < (__s64)DT_MDNS_WINDOW_NS ||
	    dt_sweep_expired >= DT_SWEEP_BUDGET)
		return 0;
	dt_sweep_expired++;
	/* Asked of the group: no server answered. */
	if (m->family == 4) {
		group[0] = 224;
		group[3] = 251;
	} else {
		group[0] = 0xff;
		group[1] = 0x02;
		group[15] = 0xfb;
	}
	mdns_ends(&ends, m->client_addr, m->client_port, group, DT_MDNS_PORT, m->family);

	struct dt_report rep = {
		.kind = DT_KIND_TIMEOUT,
		.service = DT_SERVICE_MDNS,
		.q = &m->q,
		.ends = &ends,
		.sweep = true,
	};

	if (emit(&rep, dt_rcode_mask & (1U << DT_RCODE_TIMEOUT_BIT), &dt_mdns_pending, key,
		 DT_STAT_TIMEOUTS))
		stat_inc(DT_STAT_MDNS_ENDED);
	return 0;
}

/* An encrypted connection idle for DT_CONN_IDLE_NS, or every open one at
 * the last sweep (dt_sweep_flush); a closed one once its close is over. */
static long expire_conn(void *map, struct dt_key *key, struct dt_conn *conn,
			struct dt_sweep_ctx *c)
{
	__s64 idle = c->now - conn->last_ts;

	if (conn->closed) {
		if (idle >= (__s64)DT_CONN_CLOSED_KEEP_NS)
			bpf_map_delete_elem(map, key);
		return 0;
	}
	if (dt_sweep_expired >= DT_SWEEP_BUDGET)
		return 0;
	if (dt_sweep_flush || idle >= (__s64)DT_CONN_IDLE_NS) {
		dt_sweep_expired++;
		emit_conn(key, conn, true);
	}
	return 0;
}

#endif /* DNSTRACE_SWEEP_BPF_H */
