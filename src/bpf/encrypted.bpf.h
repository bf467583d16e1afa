/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Encrypted DNS (DoT on TCP 853, DoQ on UDP 853): nothing to decode, but
 * the operator should know that it happens, between whom, how much, and
 * for how long. Counted at the first observation point only, and reported
 * when the connection closes, after DT_CONN_IDLE_NS idle, or at exit.
 */
#ifndef DNSTRACE_ENCRYPTED_BPF_H
#define DNSTRACE_ENCRYPTED_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include "dnstrace.h"
#include "maps.bpf.h"
#include "reader.bpf.h"
#include "context.bpf.h"
#include "parse.bpf.h"
#include "emit.bpf.h"

/* An encrypted connection is reported after this long idle. */
#define DT_CONN_IDLE_NS 30000000000ULL

/* Reports the connection and stops tracking it (it was counted when first
 * seen). */
static __always_inline void emit_conn(const struct dt_key *key, const struct dt_conn *c)
{
	struct dt_report rep = {
		.kind = DT_KIND_ENCRYPTED,
		.conn = c,
		.ends = key,
	};

	emit(&rep, dt_rcode_mask & (1U << DT_RCODE_ENCRYPTED_BIT), &dt_conns, key, DT_STAT_MAX);
}

static __always_inline void handle_encrypted(struct dt_packet *p, enum dt_reader_kind rk,
					     __u8 dir, __u32 netns, struct net_device *dev)
{
	__u32 ifindex = RD(rk, dev, ifindex);
	struct dt_key key = {};
	struct dt_conn *c;
	bool to_server = p->dport == DT_ENCRYPTED_PORT;
	__u64 now = bpf_ktime_get_ns();

	__builtin_memcpy(key.client_addr, to_server ? p->saddr : p->daddr, 16);
	__builtin_memcpy(key.server_addr, to_server ? p->daddr : p->saddr, 16);
	key.client_port = to_server ? p->sport : p->dport;
	key.server_port = to_server ? p->dport : p->sport;
	key.proto = p->proto;
	key.family = p->family;
	if (is_loopback(key.server_addr, p->family))
		key.netns = netns;

	c = bpf_map_lookup_elem(&dt_conns, &key);
	if (!c) {
		struct dt_conn fresh = {};

		/* A TCP connection starts with its SYN, or (begun before
		 * tracing) with data; its closing handshake, pure ACKs and
		 * FINs, is no reason to start tracking it. */
		if (p->proto == DT_PROTO_TCP && !(p->tcp_flags & DT_TH_SYN) &&
		    (p->dns_len == 0 || (p->tcp_flags & (DT_TH_FIN | DT_TH_RST))))
			return;
		fresh.first_ts = now;
		fresh.last_ts = now;
		fresh.netns = netns;
		fresh.ifindex = ifindex;
		fresh.dir = dir;
		fresh.service = p->service;
		copy_kstr16(fresh.ifname, dev->name, rk);
		if (to_server)
			fresh.pid = packet_sender(dir, p->task_ctx, fresh.comm, rk);
		if (bpf_map_update_elem(&dt_conns, &key, &fresh, BPF_NOEXIST))
			return;
		stat_inc(DT_STAT_ENCRYPTED_CONNS);
		c = bpf_map_lookup_elem(&dt_conns, &key);
		if (!c)
			return;
	}
	if (c->netns != netns || c->ifindex != ifindex)
		return;
	c->last_ts = now;
	if (to_server)
		__sync_fetch_and_add(&c->bytes_out, p->dns_len);
	else
		__sync_fetch_and_add(&c->bytes_in, p->dns_len);
	if (p->proto == DT_PROTO_TCP && (p->tcp_flags & (DT_TH_FIN | DT_TH_RST)))
		emit_conn(&key, c);
}

#endif /* DNSTRACE_ENCRYPTED_BPF_H */
