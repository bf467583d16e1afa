/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Multicast DNS. Queries (id 0, to the group) are keyed by name and type
 * rather than by addresses, since the answer comes from whoever has the
 * name and goes to the group; the first answer within the window pairs
 * with the query. mDNS answers usually carry no question: the first
 * record, answer or question, names what it is about. Dynptr reader only.
 */
#ifndef DNSTRACE_MDNS_BPF_H
#define DNSTRACE_MDNS_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "dnstrace.h"
#include "maps.bpf.h"
#include "reader.bpf.h"
#include "context.bpf.h"
#include "parse.bpf.h"
#include "emit.bpf.h"

/* Unanswered mDNS queries expire after this (answers come at once or not
 * at all); an announcement seen again within it is the same one. */
#define DT_MDNS_WINDOW_NS 1000000000ULL

/* FNV-1a over the wire name, case folded: mDNS names match regardless of
 * case. A global function, so that the verifier checks it once per
 * program rather than once per state that reaches it. */
__noinline __u64 dt_name_hash(const struct dt_qbuf *qb, __u32 len)
{
	__u64 h = 14695981039346656037ULL;
	int i;

	if (!qb)
		return 0;
	/* mDNS is read by the dynptr programs only, on kernels that have
	 * the numbers iterator: the verifier then checks the body until
	 * its states repeat, not 255 times. */
	bpf_for(i, 0, DT_NAME_WIRE_MAX) {
		__u8 c;

		if (i >= len)
			break;
		c = qb->b[i & 0xff];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		h ^= c;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Client and server of an mDNS report, as the event shows them (no id).
 * Every address passed here lies 4-byte aligned in a struct of words;
 * saying so lets clang copy it in words rather than byte by byte. */
static __always_inline void mdns_ends(struct dt_key *k, const __u8 *client, __u16 client_port,
				      const __u8 *server, __u16 server_port, __u8 family)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->client_addr, __builtin_assume_aligned(client, 4), 16);
	__builtin_memcpy(k->server_addr, __builtin_assume_aligned(server, 4), 16);
	k->client_port = client_port;
	k->server_port = server_port;
	k->proto = DT_PROTO_UDP;
	k->family = family;
}

/* Where and when an mDNS message was seen, into the query part of m; name,
 * name_len and qtype are the caller's. */
static __always_inline void mdns_seen(struct dt_mdns_pending *m, struct net_device *dev,
				      __u32 netns, __u32 dir, __u16 qclass, __u64 now)
{
	m->q.ts = now;
	m->q.netns = netns;
	m->q.ifindex = dev->ifindex;
	m->q.qclass = qclass & 0x7fff;	/* the unicast-response bit */
	m->q.dir = dir == DT_DIR_INGRESS ? DT_DIR_INGRESS : DT_DIR_EGRESS;
	copy_kstr16(m->q.ifname, dev->name, DT_READ_DYNPTR);
	m->q.cgroup_id = 0;
}

static __always_inline void mdns_query(struct sk_buff *skb, struct dt_mdns_scratch *s,
				       struct dt_packet *p,
				       struct net_device *dev, __u32 netns, __u32 dir,
				       __u16 qclass, __u16 flags)
{
	struct dt_mdns_pending *m = &s->mq;

	if (bpf_map_lookup_elem(&dt_mdns_pending, &s->key)) {
		stat_inc(DT_STAT_QUERY_SEEN_AGAIN);
		return;
	}
	mdns_seen(m, dev, netns, dir, qclass, bpf_ktime_get_ns());
	m->q.name_len = s->key.name_len;
	m->q.qtype = s->key.qtype;
	m->q.qflags = flags;
	m->q.query_size = p->msg_size;
	m->q.pid = packet_sender(m->q.dir, p->task_ctx, m->q.comm, DT_READ_DYNPTR);
	m->q.cgroup_id = socket_cgroup(skb, m->q.dir, DT_READ_DYNPTR);
	__builtin_memcpy(m->client_addr, p->saddr, 16);
	m->client_port = p->sport;
	m->family = p->family;
	if (!bpf_map_update_elem(&dt_mdns_pending, &s->key, m, BPF_NOEXIST))
		stat_inc(DT_STAT_MDNS_QUERIES);
}

/* An answer to no query: counted once however many namespaces see it, and
 * shown with --announcements, described by its own name and type. */
static __always_inline void mdns_announcement(struct dt_mdns_scratch *s, struct dt_packet *p,
					      struct dt_dnshdr *h, struct net_device *dev,
					      __u32 netns, __u32 dir, __u16 qclass, __u64 now)
{
	struct dt_mdns_pending *m = &s->mq;
	struct dt_key ends;
	__u64 *seen;

	__builtin_memcpy(&s->key.responder, &p->saddr[12], 4);
	s->key.responder ^= *(__u32 *)&p->saddr[0];
	seen = bpf_map_lookup_elem(&dt_mdns_announced, &s->key);
	if (seen && now - *seen < DT_MDNS_WINDOW_NS)
		return;
	bpf_map_update_elem(&dt_mdns_announced, &s->key, &now, BPF_ANY);
	stat_inc(DT_STAT_MDNS_ANNOUNCEMENTS);
	if (!dt_show_announcements)
		return;

	mdns_seen(m, dev, netns, dir, qclass, now);
	m->q.name_len = s->key.name_len;
	m->q.qtype = s->key.qtype;
	m->q.qflags = 0;
	m->q.query_size = 0;
	m->q.pid = 0;
	m->q.comm[0] = 0;
	mdns_ends(&ends, p->daddr, p->dport, p->saddr, p->sport, p->family);

	struct dt_report rep = {
		.kind = DT_KIND_ANNOUNCEMENT,
		.service = DT_SERVICE_MDNS,
		.q = &m->q,
		.ends = &ends,
		.p = p,
		.resp = h,
	};

	emit(&rep, true, NULL, NULL, DT_STAT_MAX);
}

/* An answer: to a query of this type, or of type ANY. */
static __always_inline void mdns_answer(struct dt_mdns_scratch *s, struct dt_packet *p,
					struct dt_dnshdr *h, struct net_device *dev,
					__u32 netns, __u32 dir, __u16 qclass)
{
	struct dt_mdns_pending *q;
	__u16 qtype = s->key.qtype;
	struct dt_key ends;
	__u64 now;

	q = bpf_map_lookup_elem(&dt_mdns_pending, &s->key);
	if (!q) {
		s->key.qtype = 255;
		q = bpf_map_lookup_elem(&dt_mdns_pending, &s->key);
	}
	now = bpf_ktime_get_ns();
	if (!q) {
		s->key.qtype = qtype;
		mdns_announcement(s, p, h, dev, netns, dir, qclass, now);
		return;
	}
	if (q->q.netns != netns || q->q.ifindex != dev->ifindex)
		return;
	mdns_ends(&ends, q->client_addr, q->client_port, p->saddr, p->sport, q->family);

	struct dt_report rep = {
		.kind = DT_KIND_ANSWERED,
		.service = DT_SERVICE_MDNS,
		.q = &q->q,
		.ends = &ends,
		.p = p,
		.resp = h,
		.latency_ns = now - q->q.ts,
	};

	if (emit(&rep, dt_rcode_mask & (1U << (bpf_ntohs(h->flags) & 0xf)), &dt_mdns_pending,
		 &s->key, DT_STAT_ANSWERED))
		stat_inc(DT_STAT_MDNS_ENDED);
}

/* A global function, checked once by the verifier, like dt_message. */
__noinline int dt_mdns(struct sk_buff *skb __arg_trusted, struct dt_packet *p, __u32 netns,
		       __u32 dir)
{
	struct bpf_dynptr dp;
	struct dt_reader r;
	struct dt_dnshdr hbuf, *h;
	struct dt_mdns_scratch *s;
	struct net_device *dev;
	__u16 qtype = 0, qclass = 0, flags;
	__u32 zero = 0;
	int name_len;

	if (!p || dynptr_reader(&r, &dp, skb))
		return 0;
	dev = skb->dev;
	if (!dev)
		return 0;
	if (p->dns_len < sizeof(*h)) {
		stat_inc(DT_STAT_MAL_SHORT);
		return 0;
	}
	h = bpf_dynptr_slice(&dp, p->dns_off, &hbuf, sizeof(hbuf));
	if (!h) {
		stat_inc(DT_STAT_MAL_SHORT);
		return 0;
	}
	flags = bpf_ntohs(h->flags);
	if (!h->qdcount && (!(flags & DT_DNS_QR) || !h->ancount)) {
		stat_inc(DT_STAT_MAL_NO_QUESTION);
		return 0;
	}
	s = bpf_map_lookup_elem(&dt_mdns_scratch, &zero);
	if (!s)
		return 0;
	name_len = read_question(&r, DT_READ_DYNPTR, p, s->mq.q.name, &qtype, &qclass);
	if (name_len < 0)
		return 0;
	__builtin_memset(&s->key, 0, sizeof(s->key));
	s->key.name_hash = dt_name_hash((const struct dt_qbuf *)s->mq.q.name, name_len);
	s->key.qtype = qtype;
	s->key.name_len = name_len;

	if (flags & DT_DNS_QR)
		mdns_answer(s, p, h, dev, netns, dir, qclass);
	else
		mdns_query(skb, s, p, dev, netns, dir, qclass, flags);
	return 0;
}

#endif /* DNSTRACE_MDNS_BPF_H */
