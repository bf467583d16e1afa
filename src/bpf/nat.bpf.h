/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One query, whatever NAT it crosses. After DNAT or SNAT a query carries
 * other addresses than the client sent; the conntrack entry the kernel
 * attached to the packet still knows both: its original tuple is what the
 * client asked (the service VIP), its reply tuple who answers (the
 * backend) and to whom (the translated source). A translated sighting is
 * keyed by the original tuple, and the translated tuple is remembered as
 * an alias of that key in dt_alias: the sightings after it (in the
 * backend's namespace, and the answer on its way back before conntrack
 * undoes the translation) carry no conntrack entry, since veth scrubs it
 * when a packet changes namespace, and are recognised through the alias.
 */
#ifndef DNSTRACE_NAT_BPF_H
#define DNSTRACE_NAT_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "dnstrace.h"
#include "maps.bpf.h"
#include "parse.bpf.h"

/* The conntrack tuple is read in one piece, as struct dt_ct_tuple (in
 * maps.bpf.h): the layout has been the same since conntrack was written,
 * and this checks it against the running kernel's BTF at load time. */
static __always_inline bool nat_layout_known(void)
{
	return bpf_core_field_exists(struct sk_buff, _nfct) &&
	       bpf_core_type_size(struct nf_conntrack_tuple) == sizeof(struct dt_ct_tuple) &&
	       bpf_core_field_offset(struct nf_conntrack_tuple, src.u) == 16 &&
	       bpf_core_field_offset(struct nf_conntrack_tuple, dst) == 20 &&
	       bpf_core_field_offset(struct nf_conntrack_tuple, dst.u) == 36;
}

/* The packet's conntrack word (entry and direction), 0 when there is none
 * or this kernel has no conntrack. */
static __always_inline __u64 packet_nfct(struct sk_buff *skb, enum dt_reader_kind rk)
{
	if (!nat_layout_known())
		return 0;
	return RD(rk, skb, _nfct);
}

/*
 * What NAT made of a query: reads the conntrack entry of a packet going
 * the original way (client to server) and returns its enum dt_nat bits,
 * 0 when the entry translated nothing. v->orig then holds what the client
 * sent, v->reply what the answer will carry.
 */
static __always_inline __u8 read_nat(__u64 nfct, struct dt_nat_view *v)
{
	struct nf_conn *ct = (struct nf_conn *)(nfct & ~7ULL);
	unsigned long status = 0;
	__u8 bits = 0;

	if (!ct || (nfct & 7) >= IP_CT_IS_REPLY)
		return 0;
	if (bpf_core_read(&status, sizeof(status), &ct->status))
		return 0;
	if (status & IPS_DST_NAT)
		bits |= DT_NAT_DST;
	if (status & IPS_SRC_NAT)
		bits |= DT_NAT_SRC;
	if (!bits)
		return 0;
	if (bpf_core_read(&v->orig, sizeof(v->orig), &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple) ||
	    bpf_core_read(&v->reply, sizeof(v->reply), &ct->tuplehash[IP_CT_DIR_REPLY].tuple))
		return 0;
	return bits;
}

/*
 * A query's key from a conntrack view: as the client sent it (the
 * original tuple) or as NAT delivered it (the reply tuple, reversed: from
 * the translated source to the backend), which is the alias's key.
 */
static __always_inline void nat_key(struct dt_key *key, const struct dt_nat_view *v, __u16 id,
				    const struct dt_packet *p, __u32 netns, bool as_sent)
{
	__builtin_memset(key, 0, sizeof(*key));
	if (as_sent) {
		__builtin_memcpy(key->client_addr, v->orig.src, 16);
		__builtin_memcpy(key->server_addr, v->orig.dst, 16);
		key->client_port = bpf_ntohs(v->orig.sport);
		key->server_port = bpf_ntohs(v->orig.dport);
	} else {
		__builtin_memcpy(key->client_addr, v->reply.dst, 16);
		__builtin_memcpy(key->server_addr, v->reply.src, 16);
		key->client_port = bpf_ntohs(v->reply.dport);
		key->server_port = bpf_ntohs(v->reply.sport);
	}
	key->id = id;
	key->proto = p->proto;
	key->family = p->family;
	if (is_loopback(key->server_addr, p->family))
		key->netns = netns;
}

/* Records in a query what NAT did to it. */
static __always_inline void note_nat(struct dt_pending *q, const struct dt_nat_view *v, __u8 bits)
{
	q->nat = bits;
	if (bits & DT_NAT_DST) {
		__builtin_memcpy(q->backend_addr, v->reply.src, 16);
		q->backend_port = bpf_ntohs(v->reply.sport);
	}
	if (bits & DT_NAT_SRC) {
		__builtin_memcpy(q->nat_addr, v->reply.dst, 16);
		q->nat_port = bpf_ntohs(v->reply.dport);
	}
}

/* Remembers that the translated tuple (alias) stands for key. */
static __always_inline void remember_alias(const struct dt_key *alias, const struct dt_key *key)
{
	if (bpf_map_update_elem(&dt_alias, alias, key, BPF_ANY))
		stat_inc(DT_STAT_ALIAS_FAILED);
	if (!dt_nat_seen)
		dt_nat_seen = 1;
}

/*
 * The alias a translated query was remembered under, from what it
 * recorded of NAT (q->nat). Forgotten when its transaction is answered:
 * every later sighting of the answer is nearer the client, so the alias
 * map holds only queries in flight, and its updates never have to evict.
 */
static __always_inline void forget_alias(struct dt_key *alias, const struct dt_key *key,
					 const struct dt_pending *q)
{
	__builtin_memcpy(alias, key, sizeof(*alias));
	if (q->nat & DT_NAT_DST) {
		__builtin_memcpy(alias->server_addr, q->backend_addr, 16);
		alias->server_port = q->backend_port;
	}
	if (q->nat & DT_NAT_SRC) {
		__builtin_memcpy(alias->client_addr, q->nat_addr, 16);
		alias->client_port = q->nat_port;
	}
	if (!is_loopback(alias->server_addr, alias->family))
		alias->netns = 0;
}

/*
 * The key a sighting with no conntrack entry stands for, when it is an
 * alias: replaces *key and returns true. Costs nothing on a host where no
 * DNS packet has been translated yet.
 */
static __always_inline bool resolve_alias(struct dt_key *key)
{
	struct dt_key *orig;

	if (!dt_nat_seen)
		return false;
	orig = bpf_map_lookup_elem(&dt_alias, key);
	if (!orig)
		return false;
	__builtin_memcpy(key, orig, sizeof(*key));
	return true;
}

/* The entry of map for key, or for the key that key is an alias of (then
 * *key becomes that key, and *translated is set). */
static __always_inline void *lookup_or_alias(void *map, struct dt_key *key, bool *translated)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (!v && resolve_alias(key)) {
		v = bpf_map_lookup_elem(map, key);
		*translated = true;
	}
	return v;
}

#endif /* DNSTRACE_NAT_BPF_H */
