/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Unicast DNS, over UDP or TCP: a query is remembered where it is first
 * seen, and completed by its response crossing that same observation
 * point (netns, ifindex), the one nearest the client.
 */
#ifndef DNSTRACE_QUERY_BPF_H
#define DNSTRACE_QUERY_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "dnstrace.h"
#include "maps.bpf.h"
#include "reader.bpf.h"
#include "context.bpf.h"
#include "parse.bpf.h"
#include "emit.bpf.h"

/*
 * A query's key: the same for every sighting of it on the host, so the
 * netns is left out, except for loopback addresses, which never leave
 * their namespace and repeat in every pod. from_client: the packet goes
 * from the client to the server (a query), else the other way.
 */
static __always_inline void make_key(struct dt_key *key, const struct dt_packet *p, __u16 id,
				     __u32 netns, bool from_client)
{
	__builtin_memset(key, 0, sizeof(*key));
	/* Branches, not a choice of source pointer: clang copies the
	 * addresses in words only when it sees which field it copies. */
	if (from_client) {
		__builtin_memcpy(key->client_addr, p->saddr, 16);
		__builtin_memcpy(key->server_addr, p->daddr, 16);
		key->client_port = p->sport;
		key->server_port = p->dport;
	} else {
		__builtin_memcpy(key->client_addr, p->daddr, 16);
		__builtin_memcpy(key->server_addr, p->saddr, 16);
		key->client_port = p->dport;
		key->server_port = p->sport;
	}
	key->id = id;
	key->proto = p->proto;
	key->family = p->family;
	if (is_loopback(from_client ? p->daddr : p->saddr, p->family))
		key->netns = netns;
}

static __always_inline void handle_query(struct dt_reader *r, enum dt_reader_kind rk, __u8 dir,
					 struct dt_packet *p, struct dt_dnshdr *h, __u32 netns,
					 struct net_device *dev)
{
	struct dt_pending *q;
	struct dt_scratch *s;
	struct dt_key *key;
	__u32 zero = 0;
	int name_len;
	long err;

	if (!is_dns_port(p->dport))
		return;
	if (!h->qdcount) {
		stat_inc(DT_STAT_MAL_NO_QUESTION);
		return;
	}
	if (!id_wanted(bpf_ntohs(h->id)))
		return;

	s = bpf_map_lookup_elem(&dt_scratch_map, &zero);
	if (!s)
		return;
	key = &s->key;
	make_key(key, p, bpf_ntohs(h->id), netns, true);

	/* The common repeat (the same query on the next hop) stops here. */
	if (bpf_map_lookup_elem(&dt_pending, key)) {
		stat_inc(DT_STAT_QUERY_SEEN_AGAIN);
		return;
	}

	q = &s->query;
	name_len = read_question(r, rk, p, q->name, &q->qtype, &q->qclass);
	if (name_len < 0)
		return;

	q->ts = bpf_ktime_get_ns();
	q->netns = netns;
	q->ifindex = RD(rk, dev, ifindex);
	q->name_len = name_len;
	q->qflags = bpf_ntohs(h->flags);
	q->query_size = p->msg_size;
	q->dir = dir;
	copy_kstr16(q->ifname, dev->name, rk);
	q->pid = packet_sender(dir, p->task_ctx, q->comm, rk);

	err = bpf_map_update_elem(&dt_pending, key, q, BPF_NOEXIST);
	if (err == 0)
		stat_inc(DT_STAT_QUERIES);
	else if (err == -17 /* EEXIST: another CPU was first */)
		stat_inc(DT_STAT_QUERY_SEEN_AGAIN);
	else
		stat_inc(DT_STAT_INSERT_FAILED);
}

static __always_inline void handle_response(struct dt_reader *r, enum dt_reader_kind rk,
					    struct dt_packet *p, struct dt_dnshdr *h,
					    __u32 netns, struct net_device *dev)
{
	struct dt_pending *q;
	struct dt_scratch *s;
	struct dt_key *key;
	__u32 zero = 0;
	__u32 rcode = bpf_ntohs(h->flags) & 0xf;
	__u64 now, latency;

	if (!is_dns_port(p->sport))
		return;

	s = bpf_map_lookup_elem(&dt_scratch_map, &zero);
	if (!s)
		return;
	key = &s->key;
	make_key(key, p, bpf_ntohs(h->id), netns, false);

	q = bpf_map_lookup_elem(&dt_pending, key);
	if (!q) {
		if (bpf_map_lookup_elem(&dt_recent, key))
			stat_inc(DT_STAT_RESP_REPEAT);
		else if (id_wanted(key->id))
			stat_inc(DT_STAT_RESP_NO_QUERY);
		return;
	}
	/* Complete only where the query was first seen (nearest the client). */
	if (q->netns != netns || q->ifindex != RD(rk, dev, ifindex))
		return;

	/* A response that echoes another question is not this query's answer. */
	if (h->qdcount) {
		__u16 qtype = 0, qclass = 0;
		int name_len;

		name_len = read_question(r, rk, p, s->resp_name, &qtype, &qclass);
		if (name_len < 0)
			return;
		if (name_len != q->name_len || qtype != q->qtype || qclass != q->qclass ||
		    !same_name(s->resp_name, q->name, name_len)) {
			stat_inc(DT_STAT_RESP_MISMATCH);
			return;
		}
	}

	now = bpf_ktime_get_ns();
	latency = now - q->ts;
	struct dt_report rep = {
		.kind = DT_KIND_ANSWERED,
		.service = DT_SERVICE_DNS,
		.q = q,
		.ends = key,
		.p = p,
		.resp = h,
		.latency_ns = latency,
		/* Only a loopback device shows a response again after the
		 * point that completed it (lo passes it at egress, then at
		 * ingress): remember the transaction there only, and spare
		 * every other completion a map update. */
		.completed_at = (RD(rk, dev, flags) & IFF_LOOPBACK) ? &now : NULL,
	};

	emit(&rep, latency >= dt_min_latency_ns && (dt_rcode_mask & (1U << rcode)),
	     &dt_pending, key, DT_STAT_ANSWERED);
}

/* One DNS message at p->dns_off, p->dns_len bytes of it in this packet. */
static __always_inline void handle_message(struct sk_buff *skb, struct dt_reader *r,
					   enum dt_reader_kind rk, __u8 dir, struct dt_packet *p,
					   __u32 netns)
{
	struct net_device *dev = RD(rk, skb, dev);
	struct dt_dnshdr hbuf, *h;

	if (!dev)
		return;
	if (p->dns_len < sizeof(*h)) {
		stat_inc(DT_STAT_MAL_SHORT);
		return;
	}
	h = rd_slice(r, rk, p->dns_off, &hbuf, sizeof(hbuf));
	if (!h) {
		stat_inc(DT_STAT_MAL_SHORT);
		return;
	}
	if (bpf_ntohs(h->flags) & DT_DNS_QR)
		handle_response(r, rk, p, h, netns, dev);
	else
		handle_query(r, rk, dir, p, h, netns, dev);
}

/*
 * The same for the dynptr reader, as a global function: the verifier checks
 * it once, not once per message of every TCP segment, which would exceed
 * its budget.
 */
__noinline int dt_message(struct sk_buff *skb __arg_trusted, struct dt_packet *p,
			  __u32 netns, __u32 dir)
{
	struct bpf_dynptr dp;
	struct dt_reader r;

	if (!p || dynptr_reader(&r, &dp, skb))
		return 0;
	handle_message(skb, &r, DT_READ_DYNPTR,
		       dir == DT_DIR_INGRESS ? DT_DIR_INGRESS : DT_DIR_EGRESS, p, netns);
	return 0;
}

#endif /* DNSTRACE_QUERY_BPF_H */
