/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * DNS over TCP: each message has a 2-byte length prefix, and a segment may
 * hold several messages (pipelining), the end of one, or the start of one
 * cut anywhere, even inside its prefix, whose rest follows in the next
 * segment. The stream position is kept per observation point
 * (dt_tcp_streams), so that retransmissions are not parsed twice and a
 * segment that starts inside a message is not mistaken for one. The head
 * of a cut message is held (dt_tcp_carries) until the next segment
 * completes it. Only the dynptr reader sees TCP payloads: they sit in page
 * fragments.
 */
#ifndef DNSTRACE_TCP_BPF_H
#define DNSTRACE_TCP_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "dnstrace.h"
#include "maps.bpf.h"
#include "reader.bpf.h"
#include "parse.bpf.h"
#include "query.bpf.h"

/* Messages parsed from one TCP segment at most; the length prefixes of
 * more are still followed, up to DT_TCP_MAX_WALK in all, so that the
 * stream stays in step and each skipped message is counted. (A pipelining
 * client or server puts hundreds of short messages in one large segment.) */
#define DT_TCP_MAX_MSGS 64
#define DT_TCP_MAX_WALK 512

/*
 * The stream's state at this observation point, made when it starts (its
 * SYN) or, for a stream that began before tracing, at its first data; it
 * ends with FIN or RST. NULL when there is nothing to parse.
 */
static __always_inline struct dt_tcp_state *tcp_stream(const struct dt_tcp_key *k,
						       const struct dt_packet *p)
{
	struct dt_tcp_state fresh = {}, *st;

	if (p->tcp_flags & DT_TH_SYN) {
		/* A stream before on the same ends holds nothing now. */
		st = bpf_map_lookup_elem(&dt_tcp_streams, k);
		if (st && st->carrying)
			bpf_map_delete_elem(&dt_tcp_carries, k);
		/* The SYN takes one sequence number; data starts after it. */
		fresh.next_seq = p->seq + 1;
		bpf_map_update_elem(&dt_tcp_streams, k, &fresh, BPF_ANY);
		return NULL;
	}
	if (p->dns_len == 0) {
		if (p->tcp_flags & (DT_TH_FIN | DT_TH_RST)) {
			st = bpf_map_lookup_elem(&dt_tcp_streams, k);
			if (st && st->carrying)
				bpf_map_delete_elem(&dt_tcp_carries, k);
			bpf_map_delete_elem(&dt_tcp_streams, k);
		}
		return NULL;
	}
	st = bpf_map_lookup_elem(&dt_tcp_streams, k);
	if (st)
		return st;
	/* Take this segment as starting with a message, as DNS clients
	 * write them. */
	fresh.next_seq = p->seq;
	bpf_map_update_elem(&dt_tcp_streams, k, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&dt_tcp_streams, k);
}

/* Hold the head of a message cut at this segment's end: n bytes from off
 * (its length prefix on), 0 < n < DT_TCP_HEAD, the message msg_len long
 * (0: not known, its prefix is cut). 0 when held. */
static __always_inline int carry_start(const struct dt_tcp_key *k, struct dt_reader *r,
				       struct dt_tcp_state *st, struct dt_tcp_scratch *w,
				       __u32 off, __u32 n, __u32 msg_len, __u32 seq_after)
{
	if (n == 0 || n >= DT_TCP_HEAD)
		return -1;
	/* A bound the verifier sees on the very register the helper gets:
	 * clang may pass it a copy made before the test above. */
	barrier_var(n);
	n &= DT_TCP_HEAD_MASK;
	if (bpf_dynptr_read(w->head.buf, n, r->dp, off, 0))
		return -1;
	w->head.len = n;
	if (bpf_map_update_elem(&dt_tcp_carries, k, &w->head, BPF_ANY))
		return -1;
	st->carrying = 1;
	st->carry_seq = seq_after;
	st->carry_msg_len = msg_len;
	return 0;
}

/*
 * A segment that continues a held head: more of it from the segment's
 * start. Returns the message's length when its head is complete now: it is
 * then in w->head, where dt_message reads it. 0 when still short (held
 * again, for the next segment), -1 when lost, -2 when its length prefix
 * says no DNS message (counted).
 */
static __always_inline int carry_more(const struct dt_tcp_key *k, struct dt_reader *r,
				      struct dt_tcp_state *st, struct dt_tcp_scratch *w,
				      __u32 payload, __u32 plen, __u32 seq)
{
	struct dt_tcp_carry *c = bpf_map_lookup_elem(&dt_tcp_carries, k);
	__u32 have, take, msg_len, need;

	/* Evicted by the heads of more cut messages than the map holds. */
	if (!c)
		return -1;
	have = c->len;
	if (have == 0 || have >= DT_TCP_HEAD)
		return -1;
	take = DT_TCP_HEAD - have;
	if (take > plen)
		take = plen;
	/* As in carry_start. */
	barrier_var(have);
	barrier_var(take);
	have &= DT_TCP_HEAD_MASK;
	take &= DT_TCP_HEAD_MASK;
	if (bpf_dynptr_read(c->buf + have, take, r->dp, payload, 0))
		return -1;
	have += take;
	c->len = have;
	if (have >= 2) {
		msg_len = (__u32)c->buf[0] << 8 | c->buf[1];
		if (msg_len < sizeof(struct dt_dnshdr)) {
			stat_inc(DT_STAT_MAL_SHORT);
			return -2;
		}
		need = msg_len < DT_TCP_HEAD - 2 ? msg_len : DT_TCP_HEAD - 2;
		if (have - 2 >= need) {
			__builtin_memcpy(w->head.buf, c->buf, DT_TCP_HEAD);
			w->head.len = have;
			bpf_map_delete_elem(&dt_tcp_carries, k);
			return msg_len;
		}
	}
	st->carrying = 1;
	st->carry_seq = seq + plen;
	return 0;
}

/* A stream ends with its FIN or RST, and what it held with it. */
static __always_inline void tcp_segment_end(const struct dt_tcp_key *k, struct dt_tcp_state *st,
					    const struct dt_packet *p)
{
	if (!(p->tcp_flags & (DT_TH_FIN | DT_TH_RST)))
		return;
	if (st->carrying)
		bpf_map_delete_elem(&dt_tcp_carries, k);
	bpf_map_delete_elem(&dt_tcp_streams, k);
}

static __always_inline void handle_tcp(struct sk_buff *skb, struct dt_reader *r, __u8 dir,
				       struct dt_packet *p, __u32 netns, struct net_device *dev)
{
	struct dt_tcp_scratch *w;
	struct dt_tcp_state *st;
	struct dt_tcp_key k = {};
	__u32 seq = p->seq, plen = p->dns_len, payload = p->dns_off, zero = 0;
	bool cut = false;
	int done;

	w = bpf_map_lookup_elem(&dt_tcp_scratch_map, &zero);
	if (!w)
		return;
	__builtin_memcpy(k.saddr, p->saddr, 16);
	__builtin_memcpy(k.daddr, p->daddr, 16);
	k.sport = p->sport;
	k.dport = p->dport;
	k.netns = netns;
	k.ifindex = dev->ifindex;
	k.family = p->family;

	st = tcp_stream(&k, p);
	if (!st)
		return;

	/* next_seq stays at a cut message's prefix while its head is held. */
	w->at = st->next_seq;
	w->parsed = 0;
	if (st->carrying) {
		/* A retransmission of what is held or parsed: nothing new. */
		if ((__s32)(seq + plen - st->carry_seq) <= 0) {
			tcp_segment_end(&k, st, p);
			return;
		}
		st->carrying = 0;
		if (seq == st->carry_seq) {
			done = carry_more(&k, r, st, w, payload, plen, seq);
			if (done == 0) {
				tcp_segment_end(&k, st, p);
				return;
			}
			if (done < 0) {
				if (done == -1)
					stat_inc(DT_STAT_TCP_LOST);
				bpf_map_delete_elem(&dt_tcp_carries, &k);
				if (!st->carry_msg_len) {
					/* This segment goes on with a message
					 * of unknown length: the stream starts
					 * again from the next one. (Not from
					 * this one: what it would take for a
					 * prefix is a message's inside, and a
					 * head held from there would evict the
					 * next stream's.) */
					stat_inc(DT_STAT_TCP_RESYNC);
					st->next_seq = seq + plen;
					tcp_segment_end(&k, st, p);
					return;
				}
				/* Its length is known: the walk goes on
				 * after it. */
				done = st->carry_msg_len;
			} else {
				stat_inc(DT_STAT_TCP_HELD);
				p->dns_off = 2;
				p->dns_len = w->head.len - 2 < (__u32)done ? w->head.len - 2
									  : (__u32)done;
				p->msg_size = done;
				w->parsed = 1;
				dt_message(skb, p, netns, dir, 1);
			}
			w->at += 2 + done;
		} else {
			/* The segment that continued it was missed, or this
			 * one overlaps it (a retransmission that joined
			 * segments): the walk takes what it can from here. */
			bpf_map_delete_elem(&dt_tcp_carries, &k);
		}
	}
	if ((__s32)(w->at - seq) < 0) {
		/* A segment was missed (or arrived before the one we wait
		 * for): start again from this one. */
		stat_inc(DT_STAT_TCP_RESYNC);
		w->at = seq;
	}

	/* An open-coded iterator: the verifier checks the body until its
	 * state repeats, not once per iteration (512 of them took 75 ms). */
	int i;

	bpf_for(i, 0, DT_TCP_MAX_WALK) {
		__u32 off = w->at - seq, msg_off, msg_len, avail;
		__be16 lbuf, *lp;

		/* Past this segment, or a retransmission of what was
		 * already parsed. */
		if ((__s32)off < 0 || off >= plen)
			break;
		/* Cut inside its length prefix. */
		if (off + 2 > plen) {
			w->cut = off;
			w->cut_len = 0;
			cut = true;
			break;
		}
		lp = rd_slice(r, DT_READ_DYNPTR, payload + off, &lbuf, sizeof(lbuf));
		if (!lp)
			break;
		msg_len = bpf_ntohs(*lp);
		/* No DNS message is shorter than its header: this is not a
		 * stream of them (or not where we think). Stop here, so that
		 * junk cannot make the walk long, and start again from the
		 * next segment. */
		if (msg_len < sizeof(struct dt_dnshdr)) {
			stat_inc(DT_STAT_MAL_SHORT);
			break;
		}
		msg_off = off + 2;
		avail = plen - msg_off;
		/* Cut before its header and question are whole: held, and
		 * parsed with the next segment. */
		if (avail < msg_len && avail < DT_TCP_HEAD - 2) {
			w->cut = off;
			w->cut_len = msg_len;
			cut = true;
			break;
		}
		w->at += 2 + msg_len;
		if (w->parsed >= DT_TCP_MAX_MSGS) {
			stat_inc(DT_STAT_TCP_SKIPPED);
			continue;
		}
		w->parsed++;
		p->dns_off = payload + msg_off;
		p->dns_len = avail < msg_len ? avail : msg_len;
		p->msg_size = msg_len;
		dt_message(skb, p, netns, dir, 0);
	}
	if (cut && carry_start(&k, r, st, w, payload + w->cut, plen - w->cut, w->cut_len,
			       seq + plen)) {
		/* Not held: lost. After it when its length is known, else
		 * from the next segment. */
		stat_inc(DT_STAT_TCP_LOST);
		w->at = w->cut_len ? w->at + 2 + w->cut_len : seq + plen;
	}
	if ((__s32)(w->at - st->next_seq) > 0)
		st->next_seq = w->at;
	tcp_segment_end(&k, st, p);
}

/*
 * A TCP segment as a global function: the verifier checks it once, not
 * once for each way the headers before it were parsed.
 */
__noinline int dt_tcp(struct sk_buff *skb __arg_trusted, struct dt_packet *p, __u32 netns,
		      __u32 dir)
{
	struct net_device *dev = skb->dev;
	struct bpf_dynptr dp;
	struct dt_reader r;

	if (!p || !dev || dynptr_reader(&r, &dp, skb))
		return 0;
	handle_tcp(skb, &r, dir == DT_DIR_INGRESS ? DT_DIR_INGRESS : DT_DIR_EGRESS, p, netns,
		   dev);
	return 0;
}

#endif /* DNSTRACE_TCP_BPF_H */
