/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Encrypted DNS (DoT on TCP 853, DoQ on UDP 853): nothing to decode, but
 * the operator should know that it happens, between whom, how much, and
 * for how long. Counted at the first observation point only, and reported
 * when the connection closes (both FINs, or a reset), after
 * DT_CONN_IDLE_NS idle, or at exit.
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
#include "nat.bpf.h"

/* An encrypted connection is reported after this long idle. */
#define DT_CONN_IDLE_NS 30000000000ULL
/* A closed connection is remembered this long, so that the packets of its
 * close that follow (the other side's TLS close_notify and FIN, on every
 * point they cross) start no connection of their own. */
#define DT_CONN_CLOSED_KEEP_NS 10000000000ULL

/* Reports the connection (it was counted when first seen). At its close it
 * stays as a tombstone (claim); idle or at exit, found by the sweep, it is
 * deleted. */
static __always_inline bool emit_conn(const struct dt_key *key, struct dt_conn *c, bool sweep)
{
	struct dt_report rep = {
		.kind = DT_KIND_ENCRYPTED,
		.conn = c,
		.ends = key,
		.claim = &c->closed,
		.claim_from = 0,
		.claim_to = 1,
		.sweep = sweep,
	};

	if (!emit(&rep, dt_rcode_mask & (1U << DT_RCODE_ENCRYPTED_BIT), NULL, NULL, DT_STAT_MAX))
		return false;
	if (sweep)
		bpf_map_delete_elem(&dt_conns, key);
	return true;
}

/* A connection's key, as the client opened it: through NAT, from
 * conntrack (the packet's own tuple then becomes its alias). Returns the
 * enum dt_nat bits. */
static __always_inline __u8 conn_key(struct dt_scratch *s, const struct dt_packet *p,
				     bool to_server, __u32 netns)
{
	struct dt_key *key = &s->key;
	__u8 nat = 0;

	if (to_server && p->nfct)
		nat = read_nat(p->nfct, &s->nat, true);
	if (nat) {
		nat_key(key, &s->nat, 0, p, netns, true);
		nat_key(&s->alias, &s->nat, 0, p, netns, false);
		return nat;
	}
	__builtin_memset(key, 0, sizeof(*key));
	__builtin_memcpy(key->client_addr, to_server ? p->saddr : p->daddr, 16);
	__builtin_memcpy(key->server_addr, to_server ? p->daddr : p->saddr, 16);
	key->client_port = to_server ? p->sport : p->dport;
	key->server_port = to_server ? p->dport : p->sport;
	key->proto = p->proto;
	key->family = p->family;
	if (is_loopback(key->server_addr, p->family))
		key->netns = netns;
	return 0;
}

/* A connection seen for the first time: tracked from its SYN, or (begun
 * before tracing) from data the client sends; not from the other side's
 * data or the closing handshake. */
static __always_inline struct dt_conn *start_conn(struct sk_buff *skb, const struct dt_key *key,
						  const struct dt_packet *p,
						  enum dt_reader_kind rk, __u8 dir, __u32 netns,
						  struct net_device *dev, bool to_server, __u64 now)
{
	struct dt_conn fresh = {};

	if (p->proto == DT_PROTO_TCP && !(p->tcp_flags & DT_TH_SYN) &&
	    (!to_server || p->dns_len == 0 || (p->tcp_flags & (DT_TH_FIN | DT_TH_RST))))
		return NULL;
	fresh.first_ts = now;
	fresh.last_ts = now;
	fresh.netns = netns;
	fresh.ifindex = RD(rk, dev, ifindex);
	fresh.dir = dir;
	fresh.service = p->service;
	copy_kstr16(fresh.ifname, dev->name, rk);
	if (to_server) {
		fresh.pid = packet_sender(dir, p->task_ctx, fresh.comm, rk);
		fresh.cgroup_id = socket_cgroup(skb, dir, rk);
	}
	if (bpf_map_update_elem(&dt_conns, key, &fresh, BPF_NOEXIST))
		return NULL;
	stat_inc(DT_STAT_ENCRYPTED_CONNS);
	return bpf_map_lookup_elem(&dt_conns, key);
}

static __always_inline void handle_encrypted(struct sk_buff *skb, struct dt_packet *p,
					     enum dt_reader_kind rk,
					     __u8 dir, __u32 netns, struct net_device *dev)
{
	bool to_server = p->dport == DT_ENCRYPTED_PORT;
	__u64 now = bpf_ktime_get_ns();
	struct dt_scratch *s;
	struct dt_conn *c;
	__u32 zero = 0;
	bool translated = false;
	__u8 nat;

	s = bpf_map_lookup_elem(&dt_scratch_map, &zero);
	if (!s)
		return;
	nat = conn_key(s, p, to_server, netns);
	c = lookup_or_alias(&dt_conns, &s->key, &translated);
	if (!c)
		c = start_conn(skb, &s->key, p, rk, dir, netns, dev, to_server, now);
	if (!c || c->closed)
		return;
	if (nat && !c->nat) {
		c->nat = nat;
		remember_alias(&s->alias, &s->key);
	}
	if (c->netns != netns || c->ifindex != RD(rk, dev, ifindex))
		return;
	c->last_ts = now;
	if (to_server)
		__sync_fetch_and_add(&c->bytes_out, p->dns_len);
	else
		__sync_fetch_and_add(&c->bytes_in, p->dns_len);
	/* Closed once both sides sent their FIN (the last data, a TLS
	 * close_notify, may follow the first), or at a reset. */
	if (p->proto == DT_PROTO_TCP && (p->tcp_flags & DT_TH_FIN))
		c->fins |= to_server ? 1 : 2;
	if (p->proto == DT_PROTO_TCP && ((p->tcp_flags & DT_TH_RST) || c->fins == 3))
		emit_conn(&s->key, c, false);
}

#endif /* DNSTRACE_ENCRYPTED_BPF_H */
