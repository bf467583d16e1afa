/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One query, whatever NAT it crosses. After DNAT or SNAT a query carries
 * other addresses than the client sent; the conntrack entry the kernel
 * attached to the packet still knows both: its original tuple is what the
 * client asked (the service VIP), its reply tuple who answers (the
 * backend) and to whom (the translated source).
 * A query is keyed by the client end of its first sighting's tuple
 * (maps.bpf.h), and remembers the other tuple (note_nat). A sighting that carries the entry finds the query
 * under either tuple. One that does not (veth scrubs the entry when a
 * packet changes namespace: the backend's side, and the answer on its way
 * back before conntrack undoes the translation) carries the translated
 * tuple:
 * - when the first sighting was after NAT (the client's own namespace
 *   translated it), every later one carries that tuple too, unless a
 *   second NAT translates it again (below);
 * - when it was before DNAT alone (kube-proxy's DNAT on the node), the
 *   first sighting after NAT, which has the entry, notes the backend in
 *   the query (other_server) and when it reached it. The pending map keys
 *   a query by its client end (maps.bpf.h), which DNAT leaves as it was:
 *   the sightings beyond find the query itself, by one lookup;
 * - when it was before SNAT (masquerade, or DNAT and SNAT), the first
 *   sighting after NAT makes the query a twin under the translated tuple
 *   (DT_NAT_TWIN): a copy of its head, found by one lookup like any
 *   query, which times the backend's leg. The query itself
 *   (DT_NAT_TWINNED) completes where it was first seen, takes the
 *   backend's leg from its twin and deletes it;
 * - a query translated a second time (double NAT: a twin, or a query
 *   already translated once, seen translated again) gets a twin under
 *   each further tuple, leading back to its key (chain_twin); its record
 *   names the first translation, and the sweep drops those twins.
 * Connections (encrypted.bpf.h) use dt_alias instead, a map from the
 * translated tuple to the key, as they are few.
 */
#ifndef DNSTRACE_NAT_BPF_H
#define DNSTRACE_NAT_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "dnstrace.h"
#include "maps.bpf.h"
#include "parse.bpf.h"

/* The conntrack entry is read in one piece, as struct dt_nat_view (in
 * maps.bpf.h): the layout has been the same since conntrack was written,
 * and this checks it against the running kernel's BTF at load time. */
static __always_inline bool nat_layout_known(void)
{
	return bpf_core_field_exists(struct sk_buff, _nfct) &&
	       bpf_core_type_size(struct nf_conntrack_tuple) == sizeof(struct dt_ct_tuple) &&
	       bpf_core_field_offset(struct nf_conntrack_tuple, src.u) == 16 &&
	       bpf_core_field_offset(struct nf_conntrack_tuple, dst) == 20 &&
	       bpf_core_field_offset(struct nf_conntrack_tuple, dst.u) == 36 &&
	       bpf_core_type_size(struct nf_conntrack_tuple_hash) ==
		       __builtin_offsetof(struct dt_nat_view, reply) &&
	       bpf_core_field_offset(struct nf_conntrack_tuple_hash, tuple) ==
		       sizeof(((struct dt_nat_view *)0)->_reply_node) &&
	       bpf_core_field_offset(struct nf_conn, status) -
			       bpf_core_field_offset(struct nf_conn, tuplehash) ==
		       __builtin_offsetof(struct dt_nat_view, status) +
			       sizeof(((struct dt_nat_view *)0)->_reply_node);
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
 * What NAT made of a connection: reads the packet's conntrack entry and
 * returns its enum dt_nat bits, 0 when it translated nothing (or, with
 * original_only, when the packet goes the reply way). v->orig then holds
 * what the client sent, v->reply what the answer carries.
 */
static __always_inline __u8 read_nat(__u64 nfct, struct dt_nat_view *v, bool original_only)
{
	struct nf_conn *ct = (struct nf_conn *)(nfct & ~7ULL);
	__u8 bits = 0;

	if (!ct || (original_only && (nfct & 7) >= IP_CT_IS_REPLY))
		return 0;
	if (bpf_probe_read_kernel(v, sizeof(*v), &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple))
		return 0;
	if (v->status & IPS_DST_NAT)
		bits |= DT_NAT_DST;
	if (v->status & IPS_SRC_NAT)
		bits |= DT_NAT_SRC;
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

/* Which of a conntrack entry's two tuples a sighting's own key is. */
enum dt_nat_side {
	DT_SIDE_NONE = 0,	/* neither (translated twice): not followed */
	DT_SIDE_SENT,		/* as the client sent it */
	DT_SIDE_DELIVERED,	/* as NAT delivered it */
};

/* Whether a key's ends are these (ports in network order). */
static __always_inline bool key_ends(const struct dt_key *k, const __u8 *client, __be16 cport,
				     const __u8 *server, __be16 sport)
{
	const __u32 *kc = (const __u32 *)k->client_addr, *ks = (const __u32 *)k->server_addr;
	const __u32 *c = (const __u32 *)client, *sv = (const __u32 *)server;
	__u32 diff = 0;

	for (int n = 0; n < 4; n++)
		diff |= (kc[n] ^ c[n]) | (ks[n] ^ sv[n]);
	return !diff && k->client_port == bpf_ntohs(cport) && k->server_port == bpf_ntohs(sport);
}

/* Which tuple own is, and the other one as a key in *other. */
static __always_inline enum dt_nat_side nat_other_key(struct dt_key *other,
						      const struct dt_key *own,
						      const struct dt_nat_view *v,
						      const struct dt_packet *p, __u32 netns)
{
	if (key_ends(own, v->orig.src, v->orig.sport, v->orig.dst, v->orig.dport)) {
		nat_key(other, v, own->id, p, netns, false);
		return DT_SIDE_SENT;
	}
	if (key_ends(own, v->reply.dst, v->reply.dport, v->reply.src, v->reply.sport)) {
		nat_key(other, v, own->id, p, netns, true);
		return DT_SIDE_DELIVERED;
	}
	return DT_SIDE_NONE;
}

/* Records in a query what NAT did to it: the tuple its key is not. */
static __always_inline void note_nat(struct dt_pending *q, const struct dt_nat_view *v, __u8 bits,
				     bool keyed_delivered)
{
	q->nat = bits | (keyed_delivered ? DT_NAT_KEYED_DELIVERED : 0);
	/* Branches, not a choice of pointer alone: clang copies the
	 * addresses in words only when it sees which field it copies. */
	if (bits & DT_NAT_DST) {
		if (keyed_delivered) {
			__builtin_memcpy(q->other_server, v->orig.dst, 16);
			q->other_server_port = bpf_ntohs(v->orig.dport);
		} else {
			__builtin_memcpy(q->other_server, v->reply.src, 16);
			q->other_server_port = bpf_ntohs(v->reply.sport);
		}
	}
	if (bits & DT_NAT_SRC) {
		if (keyed_delivered) {
			__builtin_memcpy(q->other_client, v->orig.src, 16);
			q->other_client_port = bpf_ntohs(v->orig.sport);
		} else {
			__builtin_memcpy(q->other_client, v->reply.dst, 16);
			q->other_client_port = bpf_ntohs(v->reply.dport);
		}
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
 * A query's key with the addresses it does not carry (q's other_*): the
 * key of its twin from its own, or the reverse.
 */
static __always_inline void other_key(struct dt_key *other, const struct dt_key *key,
				      const struct dt_pending *q)
{
	__builtin_memcpy(other, key, sizeof(*other));
	if (q->nat & DT_NAT_DST) {
		__builtin_memcpy(other->server_addr, q->other_server, 16);
		other->server_port = q->other_server_port;
	}
	if (q->nat & DT_NAT_SRC) {
		__builtin_memcpy(other->client_addr, q->other_client, 16);
		other->client_port = q->other_client_port;
	}
	other->netns = is_loopback(other->server_addr, other->family) ? key->netns : 0;
}

/* Whether the entry of tuple key is a twin, deleted if so (a query's own
 * twin, or one another query no longer needs). */
static __always_inline void drop_twin(struct dt_key *key)
{
	__u16 shared;
	struct dt_pending *t = find_own(key, &shared);

	if (t && (t->nat & DT_NAT_TWIN) && !delete_pending(key, shared))
		stat_inc(DT_STAT_TWINS_REMOVED);
}

/* Inserts the twin built in s->query under twin_key. */
static __always_inline void add_twin(struct dt_scratch *s, struct dt_key *twin_key)
{
	__u16 shared;

	s->query.nat |= DT_NAT_TWIN;
	s->query.backend_ts = bpf_ktime_get_ns();
	if (insert_pending(twin_key, &s->query, &shared))
		stat_inc(DT_STAT_ALIAS_FAILED);
	else
		stat_inc(DT_STAT_TWINS_ADDED);
}

/*
 * Notes in q, keyed as the client sent it (s->alias; beside another query
 * on its client end when beside), its tuple as NAT delivered it (twin_key;
 * nat bits, from s->nat). After DNAT alone, where q's map key is also
 * twin_key's, q itself serves the sightings beyond: the backend and when
 * it reached it go in q. Else q gets a twin under twin_key: its head, the
 * addresses swapped, and when it reached the backend. The twin's name is
 * not kept: only the query itself is ever reported. A twin it had under
 * another tuple (the backend changed, as endpoints do, and the client
 * sent the query again) goes.
 */
static __always_inline void make_twin(struct dt_scratch *s, struct dt_pending *q, __u8 nat,
				      struct dt_key *twin_key, bool beside)
{
	/* Counted once, when first seen translated (the caller counts a
	 * query noted before it was inserted). */
	bool first = !(q->nat & (DT_NAT_DST | DT_NAT_SRC));

	if (nat == DT_NAT_DST && !(q->nat & DT_NAT_TWINNED) && !beside &&
	    same_client_end(twin_key, &s->alias)) {
		if (first)
			stat_inc(DT_STAT_NAT_QUERIES);
		note_nat(q, &s->nat, nat, false);
		q->backend_ts = bpf_ktime_get_ns();
		q->backend_ns = 0;
		return;
	}
	if (q->nat & DT_NAT_TWINNED) {
		other_key(&s->other, &s->alias, q);
		if (!same_key(&s->other, twin_key))
			drop_twin(&s->other);
	} else if (first) {
		stat_inc(DT_STAT_NAT_QUERIES);
	}
	note_nat(q, &s->nat, nat, false);
	q->nat |= DT_NAT_TWINNED;
	__builtin_memcpy(&s->query, q, __builtin_offsetof(struct dt_pending, name));
	note_nat(&s->query, &s->nat, nat, true);
	add_twin(s, twin_key);
}

/*
 * A query translated again, beyond a first NAT (q is its twin, or a query
 * its own namespace translated first, keyed as delivered, or one found by
 * the tuple a first DNAT delivered it as), found under s->alias (which
 * find_pending made the query's own tuple, but a twin's): a twin under
 * twin_key whose other addresses lead back to the query's key. The
 * query's record keeps the first translation; the sweep drops this twin.
 */
static __always_inline void chain_twin(struct dt_scratch *s, struct dt_pending *q,
				       struct dt_key *twin_key)
{
	struct dt_key *k = &s->other;
	struct dt_pending *t = &s->query;

	if (q->nat & DT_NAT_TWIN)
		other_key(k, &s->alias, q);
	else
		__builtin_memcpy(k, &s->alias, sizeof(*k));
	__builtin_memcpy(t, q, __builtin_offsetof(struct dt_pending, name));
	/* Both ends, whichever changed: the key's own where they did not. */
	t->nat = DT_NAT_DST | DT_NAT_SRC | DT_NAT_KEYED_DELIVERED;
	__builtin_memcpy(t->other_server, k->server_addr, 16);
	t->other_server_port = k->server_port;
	__builtin_memcpy(t->other_client, k->client_addr, 16);
	t->other_client_port = k->client_port;
	add_twin(s, twin_key);
}

/* How a query was found for dt_twin. */
enum dt_twin_how {
	DT_TWIN_VIA_OTHER = 1,	/* by its other tuple, after a first DNAT */
	DT_TWIN_BESIDE = 2,	/* keyed beside another query on its client end */
};

/*
 * What NAT made of q, found under s->alias (how: enum dt_twin_how bits),
 * seen as twin_key: its first translation (or a new backend), or one
 * beyond a second NAT. A global function: the verifier checks it once,
 * not on every path of the readers that inline the rest.
 */
__noinline int dt_twin(struct dt_scratch *s, struct dt_pending *q, struct dt_key *twin_key,
		       __u32 nat, __u32 how)
{
	if (!s || !q || !twin_key)
		return 0;
	if ((how & DT_TWIN_VIA_OTHER) || (q->nat & (DT_NAT_TWIN | DT_NAT_KEYED_DELIVERED)))
		chain_twin(s, q, twin_key);
	else
		make_twin(s, q, nat, twin_key, how & DT_TWIN_BESIDE);
	return 0;
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
 * *key becomes that key, and *translated is set). For connections. */
static __always_inline void *lookup_or_alias(void *map, struct dt_key *key, bool *translated)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (!v && resolve_alias(key)) {
		v = bpf_map_lookup_elem(map, key);
		*translated = true;
	}
	return v;
}

/*
 * The pending query a DNS sighting stands for, when its own tuple (s->key)
 * found none: through the packet's conntrack entry, under the other tuple
 * (an answer translated back before this hook, of a query keyed as NAT
 * delivered it, where SNAT or a mark beside another tells the two apart:
 * after DNAT alone find_pending finds it already). s->key then becomes the query's key, *shared the mark of
 * its map key; *translated is set when this sighting is of the query as
 * NAT delivered it. NULL, s->key unchanged, when there is none.
 */
static __always_inline struct dt_pending *find_translated(struct dt_scratch *s,
							  const struct dt_packet *p, __u32 netns,
							  bool *translated, __u16 *shared)
{
	struct dt_pending *q;
	enum dt_nat_side side;

	if (!p->nfct || !read_nat(p->nfct, &s->nat, false))
		return NULL;
	side = nat_other_key(&s->alias, &s->key, &s->nat, p, netns);
	if (side == DT_SIDE_NONE)
		return NULL;
	q = find_own(&s->alias, shared);
	if (q) {
		__builtin_memcpy(&s->key, &s->alias, sizeof(s->key));
		*translated = side == DT_SIDE_DELIVERED;
	}
	return q;
}

#endif /* DNSTRACE_NAT_BPF_H */
