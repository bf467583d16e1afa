/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reporting a finished transaction (answered, timed out, an mDNS
 * announcement, an encrypted connection) to user space, exactly once.
 */
#ifndef DNSTRACE_EMIT_BPF_H
#define DNSTRACE_EMIT_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "dnstrace.h"
#include "maps.bpf.h"
#include "parse.bpf.h"
#include "done.bpf.h"

/* Where a record's name starts: what comes before it is sent whole. */
#define DT_RECORD_HEAD __builtin_offsetof(struct dt_event, name)

/* A record's room in the ring at most (the longest name): an 8-byte
 * header, rounded up to 8. */
#define DT_RECORD_BYTES ((sizeof(struct dt_event) + 8 + 7) / 8 * 8)

/* Wake the reader only once this much is waiting: a wakeup costs more
 * than the rest of the program (an IPI; several microseconds in a VM),
 * and the reader polls on a short timer anyway. */
#define DT_WAKEUP_BYTES (1ULL << 20)

/*
 * A record goes out as long as its name: its fixed part, then name_len
 * bytes of the name (a usual name is a tenth of the room for the longest,
 * so a record is about half the struct). It is made in dt_records and
 * copied into the ring at that length.
 *
 * Records go out without waking the reader, which reads every 50 ms: a
 * wakeup is an interrupt, costly in a VM. Only when another
 * DT_WAKEUP_BYTES have piled up since the last mark does a record wake it,
 * so a burst cannot fill the buffer before the timer. Once per mark, not
 * on every record past it: while the reader lags behind a backlog, that
 * was an interrupt per record.
 */
static __always_inline void submit_event(struct dt_event *e)
{
	__u32 name_len = e->name_len < DT_QBUF_LEN ? e->name_len : DT_QBUF_LEN;
	__u32 len = DT_RECORD_HEAD + name_len;
	__u64 before = bpf_ringbuf_query(&dt_events, BPF_RB_AVAIL_DATA);
	__u64 after = before + (len + 8 + 7) / 8 * 8;

	if (bpf_ringbuf_output(&dt_events, e, len,
			       before / DT_WAKEUP_BYTES != after / DT_WAKEUP_BYTES
				       ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP))
		stat_inc(DT_STAT_RINGBUF_DROPS);
}

/*
 * What a record is made of: constants, and pointers to what the caller
 * holds already (fields are read only for a record that goes out, as a
 * transaction the filters drop needs none of them). emit() is inlined, so
 * the struct costs no copy, and kind, a constant at every call, leaves
 * one way of filling in each caller.
 */
struct dt_report {
	__u8 kind;			/* enum dt_kind */
	__u8 service;			/* enum dt_service; a connection has its own */
	__u8 first_rcode;		/* DUPLICATE */
	const struct dt_pending *q;	/* the query: all kinds but ENCRYPTED */
	const struct dt_conn *conn;	/* ENCRYPTED */
	const struct dt_key *ends;	/* client and server, proto, family, id */
	/* The response (ANSWERED, LATE, DUPLICATE, ANNOUNCEMENT), or the
	 * ICMP error (UNREACHABLE). */
	const struct dt_packet *p;
	const struct dt_dnshdr *resp;	/* the response's header */
	__u64 latency_ns;		/* 0 for TIMEOUT and ANNOUNCEMENT */
	/* Who reports: whoever moves *claim from claim_from to claim_to
	 * (NULL: whoever deletes the entry, see emit()). */
	__u64 *claim;
	__u64 claim_from;
	__u64 claim_to;
	/* A query's end to remember in dt_done (enum dt_state; EMPTY:
	 * nothing), with the answer's rcode, at done_ts. */
	__u64 remember;
	__u8 done_rcode;
	__u64 done_ts;
	/* Reported by the sweep, which has a record's room of its own. */
	bool sweep;
};

/* The part of a record that comes from the remembered query. */
static __always_inline void fill_query(struct dt_event *e, const struct dt_pending *q)
{
	__u16 name_len;

	e->ts = q->ts;
	e->netns = q->netns;
	e->ifindex = q->ifindex;
	e->pid = q->pid;
	e->dir = q->dir;
	e->qtype = q->qtype;
	e->qclass = q->qclass;
	e->qflags = q->qflags;
	e->query_size = q->query_size;
	/* Read once: its length sent and its bytes copied must agree. */
	name_len = q->name_len;
	e->name_len = name_len;
	e->backend_ns = q->backend_ns;
	e->cgroup_id = q->cgroup_id;
	__builtin_memcpy(e->comm, q->comm, sizeof(e->comm));
	__builtin_memcpy(e->ifname, q->ifname, sizeof(e->ifname));
	/* The name's own bytes only (user space reads name_len of them), in
	 * one call: a loop of word copies cost the verifier 33 steps on every
	 * path into each report, 7 % of a program's instructions checked. */
	bpf_probe_read_kernel(e->name, name_len < sizeof(e->name) ? name_len : sizeof(e->name),
			      q->name);
}

/* An encrypted connection: no question, but its bytes and duration. */
static __always_inline void fill_conn(struct dt_event *e, const struct dt_conn *c)
{
	e->service = c->service;
	e->ts = c->first_ts;
	e->latency_ns = c->last_ts - c->first_ts;
	e->bytes_out = c->bytes_out;
	e->bytes_in = c->bytes_in;
	e->netns = c->netns;
	e->ifindex = c->ifindex;
	e->pid = c->pid;
	e->dir = c->dir;
	e->cgroup_id = c->cgroup_id;
	__builtin_memcpy(e->comm, c->comm, sizeof(e->comm));
	__builtin_memcpy(e->ifname, c->ifname, sizeof(e->ifname));
}

static __always_inline void fill_ends(struct dt_event *e, const struct dt_key *k)
{
	e->proto = k->proto;
	e->family = k->family;
	__builtin_memcpy(e->client_addr, k->client_addr, 16);
	__builtin_memcpy(e->server_addr, k->server_addr, 16);
	e->client_port = k->client_port;
	e->server_port = k->server_port;
	e->id = k->id;
}

/*
 * What NAT did to a query, over the ends its key gave (fill_ends): the
 * client and server as the client sent them, the backend it was
 * delivered to and the source it left with.
 */
static __always_inline void fill_nat(struct dt_event *e, const struct dt_pending *q,
				     const struct dt_key *k)
{
	bool delivered = q->nat & DT_NAT_KEYED_DELIVERED;

	e->nat = q->nat & (DT_NAT_DST | DT_NAT_SRC);
	if (q->nat & DT_NAT_DST) {
		if (delivered) {
			__builtin_memcpy(e->backend_addr, k->server_addr, 16);
			e->backend_port = k->server_port;
			__builtin_memcpy(e->server_addr, q->other_server, 16);
			e->server_port = q->other_server_port;
		} else {
			__builtin_memcpy(e->backend_addr, q->other_server, 16);
			e->backend_port = q->other_server_port;
		}
	}
	if (q->nat & DT_NAT_SRC) {
		if (delivered) {
			__builtin_memcpy(e->nat_addr, k->client_addr, 16);
			e->nat_port = k->client_port;
			__builtin_memcpy(e->client_addr, q->other_client, 16);
			e->client_port = q->other_client_port;
		} else {
			__builtin_memcpy(e->nat_addr, q->other_client, 16);
			e->nat_port = q->other_client_port;
		}
	}
}

/* What only a response has: its header, and its size. */
static __always_inline void fill_response(struct dt_event *e, const struct dt_dnshdr *h,
					  const struct dt_packet *p)
{
	e->rflags = bpf_ntohs(h->flags);
	e->ancount = bpf_ntohs(h->ancount);
	e->nscount = bpf_ntohs(h->nscount);
	e->arcount = bpf_ntohs(h->arcount);
	e->resp_size = p->msg_size;
}

static __always_inline void fill_record(struct dt_event *e, const struct dt_report *r)
{
	/* Everything before the strings is cleared first: the room holds the
	 * last record made on this CPU, and each kind leaves some of it
	 * unset. The kinds
	 * that answer a query (ANSWERED, LATE, DUPLICATE) differ in data
	 * only: one path for the verifier. */
	__builtin_memset(e, 0, __builtin_offsetof(struct dt_event, comm));
	e->kind = r->kind;
	if (r->kind == DT_KIND_ENCRYPTED) {
		fill_conn(e, r->conn);
	} else {
		e->service = r->service;
		e->latency_ns = r->latency_ns;
		fill_query(e, r->q);
	}
	fill_ends(e, r->ends);
	if (r->kind != DT_KIND_ENCRYPTED && r->q->nat)
		fill_nat(e, r->q, r->ends);
	if (r->kind == DT_KIND_UNREACHABLE) {
		e->icmp_type = r->p->icmp_type;
		e->icmp_code = r->p->icmp_code;
		__builtin_memcpy(e->icmp_addr, r->p->icmp_from, 16);
	} else if (r->resp) {
		fill_response(e, r->resp, r->p);
	}
	e->first_rcode = r->first_rcode;
}

/*
 * Reports a finished transaction exactly once, even when the sweep or
 * another CPU races for it: only whoever takes it reports it. An entry of
 * a map (map and key) is taken by deleting it, last: the record is made
 * while the entry still holds, and sent by the winner only. What has no
 * entry of its own (a remembered transaction, a closed connection) is
 * taken by moving its state (r->claim, a compare-and-swap), first.
 * A record goes out only when the filters want it (wanted). The owner
 * counts stat (DT_STAT_MAX: nothing). map NULL and no claim: nothing to
 * take (an announcement).
 * Returns whether the transaction was ours, reported or filtered out.
 */
static __always_inline bool emit(const struct dt_report *r, bool wanted, void *map,
				 const void *key, enum dt_stat stat)
{
	__u32 room = r->sweep;
	struct dt_event *e = NULL;
	struct dt_done *d = NULL;

	if (r->claim &&
	    __sync_val_compare_and_swap(r->claim, r->claim_from, r->claim_to) != r->claim_from)
		return false;
	if (wanted)
		e = bpf_map_lookup_elem(&dt_records, &room);
	if (e)
		fill_record(e, r);
	/* Remembered before the entry goes (its memory may be reused at
	 * once), marked once the transaction is ours, and before the record
	 * can be read: a repeat on lo seen then counts as one. */
	if (r->remember)
		d = done_stage(r->ends, r->q, r->remember, r->done_rcode, r->done_ts);
	if (map && bpf_map_delete_elem(map, key))
		return false;
	if (r->remember)
		done_mark(d, r->remember);
	if (stat != DT_STAT_MAX)
		stat_inc(stat);
	if (e)
		submit_event(e);
	return true;
}

#endif /* DNSTRACE_EMIT_BPF_H */
