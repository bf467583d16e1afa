/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Finished transactions, remembered in the slots of dt_done (maps.bpf.h
 * says why caches and not a map update): what a late answer, a second
 * answer or a repeat on lo is matched against.
 */
#ifndef DNSTRACE_DONE_BPF_H
#define DNSTRACE_DONE_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include "dnstrace.h"
#include "maps.bpf.h"

/* A key's slot among the slots (a power of two) of dt_done from first:
 * its words mixed, then folded. */
static __always_inline struct dt_done *slot_of(__u32 first, __u32 slots, const struct dt_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 0;
	__u32 i;

	for (int n = 0; n < (int)(sizeof(*k) / 4); n++)
		h = (h ^ w[n]) * 0x9e3779b1;
	i = first + ((h ^ (h >> 16)) & (slots - 1));
	return bpf_map_lookup_elem(&dt_done, &i);
}

/* Where a transaction that ended in state is remembered. */
static __always_inline struct dt_done *done_slot(const struct dt_key *k, __u64 state)
{
	if (state == DT_STATE_TIMED_OUT)
		return slot_of(DT_DONE_SLOTS, DT_LATE_SLOTS, k);
	return slot_of(0, DT_DONE_SLOTS, k);
}

/* The remembered transaction of a key, answered or timed out (the later
 * when both are: the same client port and id used again); NULL when none
 * is. */
static __always_inline struct dt_done *done_find(const struct dt_key *k)
{
	struct dt_done *d = done_slot(k, DT_STATE_ANSWERED);
	struct dt_done *l = done_slot(k, DT_STATE_TIMED_OUT);

	if (d && (d->state == DT_STATE_EMPTY || !same_key(&d->key, k)))
		d = NULL;
	if (l && (l->state == DT_STATE_EMPTY || !same_key(&l->key, k)))
		l = NULL;
	if (d && l)
		return (__s64)(d->done_ts - l->done_ts) >= 0 ? d : l;
	return d ? d : l;
}

/*
 * Writes a finished query into its slot, still marked empty: the caller
 * marks it (done_mark) once the transaction is its own. Stores only: a
 * load from the slot, cold, would wait for memory.
 */
static __always_inline struct dt_done *done_stage(const struct dt_key *key,
						  const struct dt_pending *q, __u64 state,
						  __u8 rcode, __u64 now)
{
	struct dt_done *d = done_slot(key, state);

	if (!d)
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
