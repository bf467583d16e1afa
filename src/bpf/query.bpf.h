/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Unicast DNS, over UDP or TCP: a query is remembered where it is first
 * seen, and completed by its response crossing that same observation
 * point (netns, ifindex), the one nearest the client. A finished
 * transaction is remembered a while (done.bpf.h), so that a second answer
 * or a late one is recognised as such.
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
#include "nat.bpf.h"

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

/* Whether a response crossing the point where its query was first seen
 * goes the answer's way there: the other way than the query, except on a
 * loopback device, where an answer passes egress first and then ingress
 * again (a repeat). */
static __always_inline bool answer_way(const struct dt_pending *q, __u8 dir, bool loopback)
{
	return loopback ? dir == DT_DIR_EGRESS : dir != q->dir;
}

/* A sighting of a query already tracked. */
static __always_inline void query_seen_again(void)
{
	stat_inc(DT_STAT_QUERY_SEEN_AGAIN);
}

/* Whether a query's key is the tuple NAT delivered: then every sighting
 * found by its own tuple is one beyond NAT. */
static __always_inline bool keyed_delivered(const struct dt_pending *q)
{
	return q->nat & DT_NAT_KEYED_DELIVERED;
}

static __always_inline void handle_query(struct sk_buff *skb, struct dt_reader *r,
					 enum dt_reader_kind rk, __u8 dir, struct dt_packet *p,
					 struct dt_dnshdr *h, __u32 netns, struct net_device *dev)
{
	struct dt_pending *q, *fresh;
	struct dt_scratch *s;
	struct dt_key *key;
	enum dt_nat_side side = DT_SIDE_NONE;
	__u32 zero = 0;
	__u16 id = bpf_ntohs(h->id);
	__u8 nat = 0;
	bool translated = false;
	int name_len;
	long err;

	if (!is_dns_port(p->dport))
		return;
	if (!h->qdcount) {
		stat_inc(DT_STAT_MAL_NO_QUESTION);
		return;
	}
	if (!id_wanted(id))
		return;

	s = bpf_map_lookup_elem(&dt_scratch_map, &zero);
	if (!s)
		return;
	key = &s->key;
	make_key(key, p, id, netns, true);

	/* The common repeat (the same query on the next hop, or beyond a
	 * DNAT already noted) stops here. */
	q = find_pending(key, &s->found, &s->shared);
	if (q) {
		query_seen_again();
		return;
	}
	/* Who sent it, before the cases of NAT below, so that the verifier
	 * walks these reads once, not once per case (see handle_skb on
	 * loads of kernel pointers). Past the lookup above, a sighting
	 * from a socket is a new query but in rare cases through NAT. */
	fresh = &s->query;
	fresh->pid = packet_sender(dir, p->task_ctx, fresh->comm, rk);
	fresh->cgroup_id = socket_cgroup(skb, dir, rk);
	/* Not known by its own tuple: through NAT it may be known by the
	 * other one, from conntrack. Read only here: on a host with
	 * conntrack every packet carries an entry, and most sightings are
	 * repeats. */
	if (p->nfct) {
		nat = read_nat(p->nfct, &s->nat, true);
		if (nat)
			side = nat_other_key(&s->alias, key, &s->nat, p, netns);
		if (side == DT_SIDE_NONE)
			nat = 0;
	}
	/* A query a process is sending now is seen for the first time:
	 * its namespace's NAT is behind it, and no hook saw it before. */
	if (nat && !(side == DT_SIDE_DELIVERED && p->task_ctx)) {
		q = find_pending(&s->alias, &s->alias_found, &s->shared);
		if (q) {
			/* Seen before this NAT, and not yet as this tuple:
			 * noted, for the sightings beyond, which carry no
			 * conntrack entry. */
			if (side == DT_SIDE_DELIVERED)
				dt_twin(s, q, key, nat,
					(s->alias_found == DT_FOUND_OTHER ? DT_TWIN_VIA_OTHER : 0) |
						(s->shared ? DT_TWIN_BESIDE : 0));
			else
				query_seen_again();
			return;
		}
	}

	/* A new query, keyed by this sighting's tuple. Everything that
	 * depends on NAT is done before the question is read, and so is
	 * what does not depend on the name: the verifier then walks the
	 * reading once, not once per case, and each path out of it has the
	 * less to walk. */
	translated = side == DT_SIDE_DELIVERED;
	fresh->ts = bpf_ktime_get_ns();
	fresh->backend_ts = translated ? fresh->ts : 0;
	fresh->backend_ns = 0;
	fresh->nat = 0;
	if (nat)
		note_nat(fresh, &s->nat, nat, translated);
	fresh->netns = netns;
	fresh->ifindex = RD(rk, dev, ifindex);
	fresh->qflags = bpf_ntohs(h->flags);
	fresh->query_size = p->msg_size;
	fresh->dir = dir;
	copy_kstr16(fresh->ifname, dev->name, rk);
	name_len = read_question(r, rk, p, fresh->name, &fresh->qtype, &fresh->qclass);
	if (name_len < 0)
		return;
	fresh->name_len = name_len;

	err = insert_pending(key, fresh, &s->shared);
	if (err == 0) {
		stat_inc(DT_STAT_QUERIES);
		if (!nat)
			return;
		if (translated) {
			stat_inc(DT_STAT_NAT_QUERIES);
			return;
		}
		/* Seen before NAT with its conntrack entry already (rare):
		 * the sightings beyond need it noted too. dt_twin takes the
		 * query's tuple in s->alias, the one beyond as twin_key. */
		key->shared = s->shared;
		q = bpf_map_lookup_elem(&dt_pending, key);
		key->shared = 0;
		if (!q)
			return;
		__builtin_memcpy(&s->other, &s->alias, sizeof(s->other));
		__builtin_memcpy(&s->alias, key, sizeof(s->alias));
		__builtin_memcpy(key, &s->other, sizeof(*key));
		stat_inc(DT_STAT_NAT_QUERIES);
		dt_twin(s, q, key, nat, s->shared ? DT_TWIN_BESIDE : 0);
	} else if (err == -17 /* EEXIST: another CPU was first */) {
		stat_inc(DT_STAT_QUERY_SEEN_AGAIN);
	} else {
		stat_inc(DT_STAT_INSERT_FAILED);
	}
}

/*
 * A response to no pending query, at the point nearest its client, when
 * its transaction is remembered (done.bpf.h): the same response again on
 * lo (a repeat), an answer to a query that timed out (one late record), a
 * second answer to an answered one (one duplicate record, then only
 * counted). Such a record takes the name from the answer's question.
 */
static __always_inline void answer_after_end(struct dt_reader *r, enum dt_reader_kind rk,
					     struct dt_packet *p, struct dt_dnshdr *h,
					     struct dt_scratch *s, __u32 netns,
					     struct net_device *dev, __u8 dir)
{
	struct dt_done *d = done_find(&s->key);
	const struct dt_pending *was;
	struct dt_pending *q = &s->query;
	__u32 rcode = bpf_ntohs(h->flags) & 0xf;
	__u64 state, now;
	int name_len;

	/* Remembered under the other tuple of its conntrack entry (an answer
	 * translated back before this hook, after one that was not). */
	if (!d && p->nfct && read_nat(p->nfct, &s->nat, false) &&
	    nat_other_key(&s->alias, &s->key, &s->nat, p, netns) != DT_SIDE_NONE) {
		d = done_find(&s->alias);
		if (d)
			__builtin_memcpy(&s->key, &s->alias, sizeof(s->key));
	}
	if (!d) {
		if (id_wanted(s->key.id))
			stat_inc(DT_STAT_RESP_NO_QUERY);
		return;
	}
	was = (const struct dt_pending *)d->head;
	if (was->netns != netns || was->ifindex != RD(rk, dev, ifindex))
		return;
	if (!answer_way(was, dir, RD(rk, dev, flags) & IFF_LOOPBACK)) {
		stat_inc(DT_STAT_RESP_REPEAT);
		return;
	}
	state = d->state;
	if ((state != DT_STATE_ANSWERED && state != DT_STATE_TIMED_OUT) || !h->qdcount) {
		stat_inc(state == DT_STATE_TIMED_OUT ? DT_STAT_LATE_ANSWERS
						     : DT_STAT_DUPLICATE_ANSWERS);
		return;
	}
	__builtin_memcpy(q, d->head, sizeof(d->head));
	name_len = read_question(r, rk, p, q->name, &q->qtype, &q->qclass);
	if (name_len < 0)
		return;
	q->name_len = name_len;
	now = bpf_ktime_get_ns();

	struct dt_report rep = {
		.kind = state == DT_STATE_TIMED_OUT ? DT_KIND_LATE : DT_KIND_DUPLICATE,
		.service = DT_SERVICE_DNS,
		.first_rcode = state == DT_STATE_ANSWERED ? d->rcode : 0,
		.q = q,
		.ends = &s->key,
		.p = p,
		.resp = h,
		.latency_ns = now - q->ts,
		.claim = &d->state,
		.claim_from = state,
		.claim_to = state == DT_STATE_TIMED_OUT ? DT_STATE_LATE : DT_STATE_DUPLICATED,
	};

	emit(&rep, rep.latency_ns >= dt_min_latency_ns && (dt_rcode_mask & (1U << rcode)), NULL,
	     NULL, state == DT_STATE_TIMED_OUT ? DT_STAT_LATE_ANSWERS : DT_STAT_DUPLICATE_ANSWERS);
}

static __always_inline void handle_response(struct dt_reader *r, enum dt_reader_kind rk,
					    struct dt_packet *p, struct dt_dnshdr *h,
					    __u32 netns, struct net_device *dev, __u8 dir)
{
	struct dt_pending *q;
	struct dt_scratch *s;
	struct dt_key *key;
	__u32 zero = 0;
	__u32 rcode = bpf_ntohs(h->flags) & 0xf;
	struct dt_pending *twin;
	bool translated = false, twinned;
	__u64 now, latency;

	if (!is_dns_port(p->sport))
		return;

	s = bpf_map_lookup_elem(&dt_scratch_map, &zero);
	if (!s)
		return;
	key = &s->key;
	make_key(key, p, bpf_ntohs(h->id), netns, false);

	/* Found by the other tuple of a DNAT, key becomes the query's own. */
	q = find_pending(key, &s->found, &s->shared);
	if (q)
		translated = (s->found == DT_FOUND_OTHER) != keyed_delivered(q);
	else
		q = find_translated(s, p, netns, &translated, &s->shared);
	if (!q) {
		answer_after_end(r, rk, p, h, s, netns, dev, dir);
		return;
	}
	/* The answer's first sighting beyond NAT ends the backend's leg. */
	if (translated && q->backend_ts && !q->backend_ns)
		q->backend_ns = bpf_ktime_get_ns() - q->backend_ts;
	/* Complete only where the query was first seen (nearest the client),
	 * going the answer's way there. */
	if (q->netns != netns || q->ifindex != RD(rk, dev, ifindex) ||
	    !answer_way(q, dir, RD(rk, dev, flags) & IFF_LOOPBACK))
		return;
	/* A twin is for the sightings beyond NAT; here the query itself
	 * completes. */
	if (q->nat & DT_NAT_TWIN) {
		twin = q;
		other_key(&s->alias, key, twin);
		q = find_own(&s->alias, &s->shared);
		if (!q)
			return;
		if (!q->backend_ns)
			q->backend_ns = twin->backend_ns;
		__builtin_memcpy(key, &s->alias, sizeof(*key));
	}

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
	/* The backend's leg was timed by the twin. */
	twinned = q->nat & DT_NAT_TWINNED;
	if (twinned) {
		other_key(&s->alias, key, q);
		twin = find_own(&s->alias, &s->twin_shared);
		if (!twin || !(twin->nat & DT_NAT_TWIN))
			twinned = false;
		else if (!q->backend_ns)
			q->backend_ns = twin->backend_ns;
	}
	struct dt_report rep = {
		.kind = DT_KIND_ANSWERED,
		.service = DT_SERVICE_DNS,
		.q = q,
		.ends = key,
		.p = p,
		.resp = h,
		.latency_ns = latency,
		.remember = DT_STATE_ANSWERED,
		.done_rcode = rcode,
		.done_ts = now,
	};

	/* Its entry's key: its tuple with the mark it was found under, apart
	 * from the record's ends (which key the cache of finished ones). */
	__builtin_memcpy(&s->other, key, sizeof(s->other));
	s->other.shared = s->shared;
	if (emit(&rep, latency >= dt_min_latency_ns && (dt_rcode_mask & (1U << rcode)),
		 &dt_pending, &s->other, DT_STAT_ANSWERED) &&
	    twinned && !delete_pending(&s->alias, s->twin_shared))
		stat_inc(DT_STAT_TWINS_REMOVED);
}

/*
 * An ICMP destination unreachable quoting a pending query: the client has
 * its error now, so the transaction completes as UNREACHABLE instead of
 * waiting for TIMEOUT. Taken where the query was first seen, or on a
 * loopback device in that namespace (an error the host made itself).
 */
static __always_inline void handle_unreachable(struct dt_reader *r, enum dt_reader_kind rk,
					       struct dt_packet *p, __u32 netns,
					       struct net_device *dev)
{
	struct dt_dnshdr hbuf, *h;
	struct dt_pending *q;
	struct dt_scratch *s;
	struct dt_key *key;
	__u32 zero = 0;
	bool twinned;
	__u64 now;

	h = rd_slice(r, rk, p->dns_off, &hbuf, sizeof(hbuf));
	if (!h || (bpf_ntohs(h->flags) & DT_DNS_QR))
		return;
	s = bpf_map_lookup_elem(&dt_scratch_map, &zero);
	if (!s)
		return;
	key = &s->key;
	make_key(key, p, bpf_ntohs(h->id), netns, true);
	/* Where the client is, the error quotes the query as the client's
	 * side sees it: not its twin. */
	q = find_own(key, &s->shared);
	if (!q || q->netns != netns || (q->nat & DT_NAT_TWIN))
		return;
	if (q->ifindex != RD(rk, dev, ifindex) && !(RD(rk, dev, flags) & IFF_LOOPBACK))
		return;

	now = bpf_ktime_get_ns();
	struct dt_report rep = {
		.kind = DT_KIND_UNREACHABLE,
		.service = DT_SERVICE_DNS,
		.q = q,
		.ends = key,
		.p = p,
		.latency_ns = now - q->ts,
		.remember = DT_STATE_ANSWERED,
		.done_rcode = DT_RCODE_UNREACHABLE_BIT,
		.done_ts = now,
	};

	twinned = q->nat & DT_NAT_TWINNED;
	if (twinned)
		other_key(&s->alias, key, q);
	__builtin_memcpy(&s->other, key, sizeof(s->other));
	s->other.shared = s->shared;
	if (emit(&rep, dt_rcode_mask & (1U << DT_RCODE_UNREACHABLE_BIT), &dt_pending, &s->other,
		 DT_STAT_UNREACHABLE) &&
	    twinned)
		drop_twin(&s->alias);
}

/* One DNS message at p->dns_off, p->dns_len bytes of it in this packet,
 * crossing dev. */
static __always_inline void handle_message(struct sk_buff *skb, struct dt_reader *r,
					   enum dt_reader_kind rk, __u8 dir, struct dt_packet *p,
					   __u32 netns, struct net_device *dev)
{
	struct dt_dnshdr hbuf, *h;

	if (p->dns_len < sizeof(*h)) {
		stat_inc(DT_STAT_MAL_SHORT);
		return;
	}
	h = rd_fixed(r, rk, p->dns_off, &hbuf, sizeof(hbuf));
	if (!h) {
		stat_inc(DT_STAT_MAL_SHORT);
		return;
	}
	if (bpf_ntohs(h->flags) & DT_DNS_QR)
		handle_response(r, rk, p, h, netns, dev, dir);
	else
		handle_query(skb, r, rk, dir, p, h, netns, dev);
}

/*
 * The same for the dynptr reader, as a global function: the verifier checks
 * it once, not once per message of every TCP segment, which would exceed
 * its budget. held: the message is the TCP head held in dt_tcp_scratch_map
 * (tcp.bpf.h), not in this packet; the verifier sees it as unknown, so the
 * two sources cost one more branch at each read, not a second walk.
 */
__noinline int dt_message(struct sk_buff *skb __arg_trusted, struct dt_packet *p,
			  __u32 netns, __u32 dir, __u32 held)
{
	struct net_device *dev = skb->dev;
	struct bpf_dynptr dp;
	struct dt_reader r;

	if (!p || !dev || dynptr_reader(&r, &dp, skb))
		return 0;
	r.held = held;
	handle_message(skb, &r, DT_READ_DYNPTR,
		       dir == DT_DIR_INGRESS ? DT_DIR_INGRESS : DT_DIR_EGRESS, p, netns, dev);
	return 0;
}

#endif /* DNSTRACE_QUERY_BPF_H */
