/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Finished transactions, remembered in dt_done's slots (maps.bpf.h says
 * why a cache and not a map update): what a late answer, a second answer
 * or a repeat on lo is matched against.
 */
#ifndef DNSTRACE_DONE_BPF_H
#define DNSTRACE_DONE_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include "dnstrace.h"
#include "maps.bpf.h"

/* How long a timed-out query keeps its slot for a late answer against an
 * answered one: one --timeout, and at least this (a resolver's own
 * timeout is often longer than ours). */
#define DT_LATE_KEEP_MIN_NS 5000000000ULL

static __always_inline __u64 late_keep_ns(void)
{
	return dt_timeout_ns > DT_LATE_KEEP_MIN_NS ? dt_timeout_ns : DT_LATE_KEEP_MIN_NS;
}

/* The slot of a key: its words mixed, then folded. */
static __always_inline struct dt_done *done_slot(const struct dt_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 0;
	__u32 i;

	for (int n = 0; n < (int)(sizeof(*k) / 4); n++)
		h = (h ^ w[n]) * 0x9e3779b1;
	i = (h ^ (h >> 16)) & (DT_DONE_SLOTS - 1);
	return bpf_map_lookup_elem(&dt_done, &i);
}

static __always_inline bool same_key(const struct dt_key *a, const struct dt_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 diff = 0;

	for (int n = 0; n < (int)(sizeof(*a) / 4); n++)
		diff |= x[n] ^ y[n];
	return diff == 0;
}

/*
 * Writes a finished query into its slot, still marked empty: the caller
 * marks it (done_mark) once the transaction is its own. NULL when the slot
 * is kept by a timed-out query that may still get a late answer.
 */
static __always_inline struct dt_done *done_stage(const struct dt_key *key,
						  const struct dt_pending *q, __u64 state,
						  __u8 rcode, __u64 now)
{
	struct dt_done *d = done_slot(key);

	if (!d)
		return NULL;
	if (state == DT_STATE_ANSWERED && d->state == DT_STATE_TIMED_OUT &&
	    now - d->done_ts < late_keep_ns())
		return NULL;
	d->state = DT_STATE_EMPTY;
	__builtin_memcpy(&d->key, key, sizeof(d->key));
	d->done_ts = now;
	d->rcode = rcode;
	__builtin_memcpy(d->head, q, sizeof(d->head));
	return d;
}

/* A plain store, last: readers check the state, then the key. */
static __always_inline void done_mark(struct dt_done *d, __u64 state)
{
	if (d) {
		barrier();
		*(volatile __u64 *)&d->state = state;
	}
}

#endif /* DNSTRACE_DONE_BPF_H */
