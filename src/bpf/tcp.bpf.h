/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * DNS over TCP: each message has a 2-byte length prefix, and a segment may
 * hold several messages (pipelining), the end of one, or a lone prefix
 * whose message follows in the next segment. The stream position is kept
 * per observation point (dt_tcp_streams), so that retransmissions are not
 * parsed twice and a segment that starts inside a message is not mistaken
 * for one. Only the dynptr reader sees TCP payloads: they sit in page
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
		/* The SYN takes one sequence number; data starts after it. */
		fresh.next_seq = p->seq + 1;
		bpf_map_update_elem(&dt_tcp_streams, k, &fresh, BPF_ANY);
		return NULL;
	}
	if (p->dns_len == 0) {
		if (p->tcp_flags & (DT_TH_FIN | DT_TH_RST))
			bpf_map_delete_elem(&dt_tcp_streams, k);
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

static __always_inline void handle_tcp(struct sk_buff *skb, struct dt_reader *r, __u8 dir,
				       struct dt_packet *p, __u32 netns, struct net_device *dev)
{
	const enum dt_reader_kind rk = DT_READ_DYNPTR;
	struct dt_tcp_state *st;
	struct dt_tcp_key k = {};
	__u32 seq = p->seq, plen = p->dns_len, payload = p->dns_off;
	__u32 boundary, parsed = 0;
	bool body_first;

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

	body_first = st->body_pending && st->body_seq == seq;
	boundary = st->next_seq;
	if (!body_first && (__s32)(boundary - seq) < 0) {
		/* A segment was missed (or arrived before the one we wait
		 * for): start again from this one. */
		stat_inc(DT_STAT_TCP_RESYNC);
		boundary = seq;
	}

	/* An open-coded iterator: the verifier checks the body until its
	 * state repeats, not once per iteration (512 of them took 75 ms). */
	int i;

	bpf_for(i, 0, DT_TCP_MAX_WALK) {
		__u32 msg_off, msg_len;

		if (body_first) {
			body_first = false;
			st->body_pending = 0;
			msg_off = 0;
			msg_len = st->body_len;
		} else {
			__u32 off = boundary - seq;
			__be16 lbuf, *lp;

			/* Past this segment, or a retransmission of what was
			 * already parsed. */
			if ((__s32)off < 0 || off + 2 > plen)
				break;
			lp = rd_slice(r, rk, payload + off, &lbuf, sizeof(lbuf));
			if (!lp)
				break;
			msg_len = bpf_ntohs(*lp);
			/* No DNS message is shorter than its header: this is
			 * not a stream of them (or not where we think). Stop
			 * here, so that junk cannot make the walk long, and
			 * start again from the next segment. */
			if (msg_len < sizeof(struct dt_dnshdr)) {
				stat_inc(DT_STAT_MAL_SHORT);
				break;
			}
			boundary += 2 + msg_len;
			if (off + 2 >= plen) {
				st->body_pending = 1;
				st->body_seq = seq + off + 2;
				st->body_len = msg_len;
				break;
			}
			msg_off = off + 2;
		}
		if (parsed >= DT_TCP_MAX_MSGS) {
			stat_inc(DT_STAT_TCP_SKIPPED);
			continue;
		}
		parsed++;
		p->dns_off = payload + msg_off;
		p->dns_len = plen - msg_off < msg_len ? plen - msg_off : msg_len;
		p->msg_size = msg_len;
		dt_message(skb, p, netns, dir);
	}
	if ((__s32)(boundary - st->next_seq) > 0)
		st->next_seq = boundary;
	if (p->tcp_flags & (DT_TH_FIN | DT_TH_RST))
		bpf_map_delete_elem(&dt_tcp_streams, &k);
}

#endif /* DNSTRACE_TCP_BPF_H */
