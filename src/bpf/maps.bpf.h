/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Everything the program keeps outside its stack, in one place: the
 * settings user space writes before load, what it reads back after each
 * sweep, and every map with the types of its keys and values. The
 * skeleton shows user space all of these by name.
 */
#ifndef DNSTRACE_MAPS_BPF_H
#define DNSTRACE_MAPS_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include "dnstrace.h"

/* Filters and settings, written by user space before load. */
const volatile __u16 dt_ports[DT_MAX_PORTS] = { 53 };
const volatile __u32 dt_nports = 1;
const volatile __u16 dt_ids[DT_MAX_IDS] = {};
const volatile __u32 dt_nids = 0;
const volatile __u64 dt_min_latency_ns = 0;
const volatile __u64 dt_timeout_ns = 5000000000ULL;
/* Bit n: report rcode n; bit DT_RCODE_TIMEOUT_BIT: report timeouts. */
const volatile __u32 dt_rcode_mask = 0xffffffff;
/* Report mDNS announcements (answers to no query) as records. */
const volatile bool dt_show_announcements = false;

/* Queries seen by the last sweep (twins not counted), for the warning of
 * a nearly full map. */
__u64 dt_last_occupancy = 0;
/*
 * What the last sweep left in the pending map: queries and twins it saw
 * and did not delete. With the counters read before the sweep for inserts
 * and after it for deletes, inserted - deleted - left is never more than
 * the evictions so far: an entry that stayed through the whole walk was
 * seen, so the walk misses at most the entries inserted meanwhile, which
 * the inserts read before it leave out too. It falls short by the churn
 * of the walk at most, and is exact once no packet comes (at exit).
 */
__u64 dt_last_queries_left = 0;
__u64 dt_last_twins_left = 0;
/* The last sweep stopped at its budget: more is waiting to expire, so user
 * space reads the ring buffer and sweeps again at once. */
__u32 dt_sweep_more = 0;
/* Set by user space before its last sweep: report every open encrypted
 * connection now. */
__u32 dt_sweep_flush = 0;
/* Set once an encrypted connection crossed NAT: until then no sighting
 * looks for an alias (nat.bpf.h), so a host without NAT pays nothing for
 * it. */
__u32 dt_nat_seen = 0;
/* Set once an entry of dt_pending was keyed beside another (a shared mark
 * in its key): until then a sighting its client end does not match looks
 * no further. */
__u32 dt_keyed_beside = 0;

/*
 * Not read by the program: a member of each type user space decodes, so
 * that all of them reach the object's BTF and the skeleton generates them.
 * clang emits BTF only for the types of what the object keeps (an enum
 * used only for its constants does not count), and none for #defines.
 */
struct dt_abi {
	struct dt_event event;
	enum dt_kind kind;
	enum dt_service service;
	enum dt_dir dir;
	enum dt_proto proto;
	enum dt_stat stat;
	enum dt_limits limits;
	enum dt_rcode_bit rcode_bit;
	enum dt_port port;
	enum dt_nat nat;
	enum dt_state state;
} dt_abi = {};

/*
 * Queries waiting for their response (user space sizes it: --max-pending),
 * each keyed by the client's end of its tuple alone (address, port, id,
 * protocol, family, and the namespace when the server is a loopback
 * address: the first DT_CLIENT_END bytes of struct dt_key), its server's
 * end kept in the value (key_server). DNAT changes only the server's end
 * (but to or from a loopback address, which nat.bpf.h twins), so every
 * sighting of a query beyond it, which carries the backend and no
 * conntrack entry (nat.bpf.h), finds the query by the same one lookup,
 * and DNAT costs no second entry. A second query from the
 * same end with the same id to another server at the same time (a
 * forwarder asking two upstreams) is keyed beside it, the key's shared
 * mark set from its server's end, and so is a twin whose client end is
 * taken; dt_keyed_beside says whether any such entry was ever made.
 */
/* The pending map's key as its BTF names it: a key size without a key
 * type makes the kernel refuse the map's BTF (after allocating all its
 * entries), and libbpf then makes the map again without BTF: 13-17 ms
 * of start-up spent twice. */
struct dt_client_end {
	__u8 b[DT_CLIENT_END];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dt_client_end);
	__type(value, struct dt_pending);
} dt_pending SEC(".maps");

/*
 * Transactions lately finished, so that an answer after the end is told
 * for what it is: a second answer to an answered query (a duplicate), an
 * answer to a query that timed out (late), or the same response seen
 * again on lo. Direct-mapped caches, one slot per hash of the key, which
 * a later transaction may take: remembering costs a few stores, not a map
 * update, and nothing is read first, so the common transaction pays next
 * to nothing for it; under heavy load an old slot is taken sooner (best
 * effort). Answered transactions have the first DT_DONE_SLOTS, timed-out
 * ones (written by the sweep, off the packets' path) the DT_LATE_SLOTS
 * after them, so that a burst of answers cannot take the slot a late
 * answer will look for. One map for both: a slot's pointer then has one
 * type for the verifier, whichever part it is in.
 */
#define DT_DONE_SLOTS 32768
#define DT_LATE_SLOTS 16384

struct dt_done {
	struct dt_key key;
	__u32 _pad;
	__u64 state;		/* enum dt_state */
	__u64 done_ts;		/* when it was answered or timed out */
	__u8 rcode;		/* of the answer; DT_RCODE_UNREACHABLE_BIT for an ICMP error */
	__u8 _pad2[7];
	/* The query as it was pending, up to its name (a late or duplicate
	 * record takes the name from the answer's question). */
	__u8 head[__builtin_offsetof(struct dt_pending, name)];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DT_DONE_SLOTS + DT_LATE_SLOTS);
	__type(key, __u32);
	__type(value, struct dt_done);
} dt_done SEC(".maps");


/* An encrypted connection as NAT delivered it (the translated tuple) to
 * its key as the client opened it (nat.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dt_key);
	__type(value, struct dt_key);
} dt_alias SEC(".maps");

/* Finished transactions for user space, struct dt_event each, cut after
 * its name's bytes (emit.bpf.h). 4 MiB: about 16,000 records of a usual
 * name (a record is 216 bytes and the name's, 8 more for the ring's
 * header), a third of a second at 50k/s while the reader is busy; of the
 * longest names (255 bytes), half as many. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} dt_events SEC(".maps");

/* Where a record is made before it goes into the ring (emit.bpf.h), one
 * per CPU; the second is the sweep's: it runs in a process's context,
 * where a packet's program may interrupt it on the same CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct dt_event);
} dt_records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dt_stats SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&dt_stats, &idx);

	if (v)
		*v += 1;
}

/* A conntrack tuple as the kernel lays it out (nat.bpf.h checks). */
struct dt_ct_tuple {
	__u8 src[16];
	__be16 sport;
	__u16 l3num;
	__u8 dst[16];
	__be16 dport;
	__u8 protonum;
	__u8 dir;
};

/* A conntrack entry's two tuples, what the client sent and what the
 * answer carries, and its status: read in one piece, from the first
 * tuple to the status (nat.bpf.h checks the layout). */
struct dt_nat_view {
	struct dt_ct_tuple orig;
	__u8 _reply_node[16];	/* the reply tuple's hash node */
	struct dt_ct_tuple reply;
	__u64 status;
};

/* Per-CPU room for what does not fit on the 512-byte BPF stack. */
struct dt_scratch {
	struct dt_pending query;
	__u8 resp_name[DT_QBUF_LEN];	/* 8-byte aligned, compared in words */
	struct dt_key key;
	struct dt_key alias;
	struct dt_key other;
	struct dt_nat_view nat;
	/* What find_pending says, kept here rather than on the stack: the
	 * verifier tracks a stack slot's every value apart, and the paths
	 * after it would be walked once per value. */
	__u16 shared;		/* the found query's shared mark */
	__u16 twin_shared;	/* its twin's */
	__u8 found;		/* enum dt_found */
	__u8 alias_found;
	__u8 _pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dt_scratch);
} dt_scratch_map SEC(".maps");

/* Where the next DNS message of a TCP stream starts, as seen at one
 * observation point (each point sees every segment once). */
struct dt_tcp_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 netns;
	__u32 ifindex;
	__u32 family;
};

struct dt_tcp_state {
	__u32 next_seq;		/* sequence number of the next length prefix */
	__u32 carry_seq;	/* where the segment that continues a cut message starts */
	/* The cut message's length when its prefix was whole (0: cut inside
	 * it): if its head is lost, the stream goes on after it. */
	__u16 carry_msg_len;
	__u8 carrying;		/* a message's head is held in dt_tcp_carries */
	__u8 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct dt_tcp_key);
	__type(value, struct dt_tcp_state);
} dt_tcp_streams SEC(".maps");

/* The head of a DNS message cut between two TCP segments (a sender short
 * of window or buffer cuts anywhere): its length prefix and as much of it
 * as parsing needs, the header and the question. Held by the stream until
 * the next segment completes it. */
#define DT_TCP_HEAD (2 + 12 + DT_NAME_WIRE_MAX + 4)
/* Offsets and lengths into buf are masked with this for the verifier. */
#define DT_TCP_HEAD_MASK 511
struct dt_tcp_carry {
	__u32 len;		/* bytes held, from the length prefix on */
	__u32 _pad;
	/* Room for a masked length copied after a masked held part. */
	__u8 buf[2 * (DT_TCP_HEAD_MASK + 1)];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct dt_tcp_key);
	__type(value, struct dt_tcp_carry);
} dt_tcp_carries SEC(".maps");

/*
 * The walk of one segment's messages, kept in memory: the verifier knows
 * nothing of values loaded from a map, so the walk's loop looks the same at
 * each step and is checked once, not once per step (as it would be if the
 * position or the count were tracked). And a head: one being made before
 * it is held, or one completed, which dt_message reads.
 */
struct dt_tcp_scratch {
	struct dt_tcp_carry head;
	__u32 at;		/* sequence number of the next length prefix */
	__u32 cut;		/* offset in the segment of a cut message */
	__u32 cut_len;		/* its length, 0 when its prefix is cut too */
	__u32 parsed;		/* messages parsed from this segment */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dt_tcp_scratch);
} dt_tcp_scratch_map SEC(".maps");

/* mDNS queries are keyed by name and type (mdns.bpf.h says why). No
 * namespace in the key: a multicast packet reaches every namespace on the
 * link, and is the same query (or answer) in all of them. */
struct dt_mdns_key {
	__u64 name_hash;
	__u32 responder;	/* announcements only: who announced */
	__u16 qtype;
	__u16 name_len;
};

struct dt_mdns_pending {
	struct dt_pending q;
	__u8 client_addr[16];
	__u16 client_port;
	__u8 family;
	__u8 _pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct dt_mdns_key);
	__type(value, struct dt_mdns_pending);
} dt_mdns_pending SEC(".maps");

/* Announcements seen lately, so that one seen in several namespaces is
 * counted (and shown) once. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct dt_mdns_key);
	__type(value, __u64);
} dt_mdns_announced SEC(".maps");

struct dt_mdns_scratch {
	struct dt_mdns_pending mq;
	struct dt_mdns_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dt_mdns_scratch);
} dt_mdns_scratch SEC(".maps");

/* An encrypted DNS connection (DoT, DoQ), keyed like a query without an
 * id, from its first packet to its end. */
struct dt_conn {
	__u64 first_ts;
	__u64 last_ts;
	__u64 bytes_out;
	__u64 bytes_in;
	__u32 netns;
	__u32 ifindex;
	__u64 closed;		/* reported at its close: later packets are its end */
	__u32 pid;
	__u8 dir;
	__u8 service;
	__u8 nat;		/* enum dt_nat bits, once its alias is remembered */
	__u8 fins;		/* FIN seen from the client (1), from the server (2) */
	__u64 cgroup_id;	/* the client socket's cgroup (v2), 0: not known */
	char comm[DT_COMM_LEN];
	char ifname[DT_IFNAMSIZ];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct dt_key);
	__type(value, struct dt_conn);
} dt_conns SEC(".maps");

/* Whether two keys are the same, word by word. */
static __always_inline bool same_key(const struct dt_key *a, const struct dt_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 diff = 0;

	for (int n = 0; n < (int)(sizeof(*a) / 4); n++)
		diff |= x[n] ^ y[n];
	return diff == 0;
}

/* Whether a tuple's server end is this address and port. */
static __always_inline bool server_is(const struct dt_key *k, const __u8 *addr, __u16 port)
{
	const __u32 *a = (const __u32 *)k->server_addr, *b = (const __u32 *)addr;

	return !((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) &&
	       k->server_port == port;
}

/* Whether two tuples have the same client end. */
static __always_inline bool same_client_end(const struct dt_key *a, const struct dt_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 diff = 0;

	for (int n = 0; n < (int)(DT_CLIENT_END / 4); n++)
		diff |= x[n] ^ y[n];
	return diff == 0;
}

/* A query's own tuple from its map key (its client end) and its entry. */
static __always_inline void own_key(struct dt_key *key, const void *mkey,
				    const struct dt_pending *q)
{
	__builtin_memcpy(key, mkey, DT_CLIENT_END);
	key->shared = 0;
	__builtin_memcpy(key->server_addr, q->key_server, sizeof(key->server_addr));
	key->server_port = q->key_server_port;
	key->_pad = 0;
}

/* The shared mark of a query keyed beside another on its client end: its
 * server's end folded to 15 bits, the 16th set (never 0). Two servers
 * with the same mark on one client end and id at once cannot both be
 * tracked (insert_pending). */
static __always_inline __u16 shared_mark(const struct dt_key *k)
{
	const __u32 *a = (const __u32 *)k->server_addr;
	__u32 h = (a[0] ^ a[1] ^ a[2] ^ a[3] ^ k->server_port) * 0x9e3779b1;

	return 0x8000 | (h >> 17);
}

/* How find_pending found a tuple. */
enum dt_found {
	DT_FOUND_NONE = 0,
	DT_FOUND_OWN,		/* a query whose own tuple it is */
	DT_FOUND_OTHER,		/* a query it is the other tuple of, after DNAT */
};

/*
 * The shared mark under which a query keyed beside others on key's client
 * end has key as its own tuple; 0 when none has. A global function, which
 * the verifier checks once: it is rarely called (dt_keyed_beside), and the
 * caller looks the entry up again under the mark.
 */
__noinline int dt_beside(struct dt_key *key)
{
	struct dt_pending *q;
	__u16 mark;

	if (!key)
		return 0;
	mark = shared_mark(key);
	key->shared = mark;
	q = bpf_map_lookup_elem(&dt_pending, key);
	key->shared = 0;
	return q && server_is(key, q->key_server, q->key_server_port) ? mark : 0;
}

/* The query dt_beside finds, and in *shared its mark. */
static __always_inline struct dt_pending *find_beside(struct dt_key *key, __u16 *shared)
{
	struct dt_pending *q = NULL;
	__u16 mark;

	if (!dt_keyed_beside)
		return NULL;
	mark = dt_beside(key);
	if (mark) {
		key->shared = mark;
		q = bpf_map_lookup_elem(&dt_pending, key);
		key->shared = 0;
	}
	*shared = mark;
	return q;
}

/*
 * The pending query a tuple (key) stands for: under the tuple's client
 * end, when the server's end is the query's own or, after DNAT alone, the
 * other one (key then becomes the query's own tuple); else beside it. *shared: the mark of the map key it was found under (0: the
 * client end alone), to set in key to delete it.
 */
static __always_inline struct dt_pending *find_pending(struct dt_key *key, __u8 *found,
						       __u16 *shared)
{
	struct dt_pending *q = bpf_map_lookup_elem(&dt_pending, key);

	*shared = 0;
	if (q) {
		if (server_is(key, q->key_server, q->key_server_port)) {
			*found = DT_FOUND_OWN;
			return q;
		}
		/* DNAT alone: after SNAT too, its client end is not this. */
		if ((q->nat & (DT_NAT_DST | DT_NAT_SRC | DT_NAT_TWIN | DT_NAT_TWINNED)) ==
			    DT_NAT_DST &&
		    server_is(key, q->other_server, q->other_server_port)) {
			__builtin_memcpy(key->server_addr, q->key_server, sizeof(key->server_addr));
			key->server_port = q->key_server_port;
			*found = DT_FOUND_OTHER;
			return q;
		}
	}
	*found = DT_FOUND_NONE;
	q = find_beside(key, shared);
	if (q)
		*found = DT_FOUND_OWN;
	return q;
}

/* The entry whose own tuple key is (a twin, or a query by the tuple it is
 * keyed as): find_pending without the other tuple of a DNAT. */
static __always_inline struct dt_pending *find_own(struct dt_key *key, __u16 *shared)
{
	struct dt_pending *q = bpf_map_lookup_elem(&dt_pending, key);

	*shared = 0;
	if (q && server_is(key, q->key_server, q->key_server_port))
		return q;
	return find_beside(key, shared);
}

/* Deletes the entry of key's client end, or of the mark shared beside it. */
static __always_inline long delete_pending(struct dt_key *key, __u16 shared)
{
	long err;

	key->shared = shared;
	err = bpf_map_delete_elem(&dt_pending, key);
	key->shared = 0;
	return err;
}

/*
 * Inserts v, the query of tuple key, under the tuple's client end, or
 * beside it when that end is another query's: *shared then says under
 * which mark. Returns the map's error: -EEXIST when another CPU inserted
 * the same query first; -ENOSPC when its mark is another server's too.
 * The client end is tried first even when a lookup found it taken: its
 * query may have completed since.
 */
static __always_inline long insert_pending(struct dt_key *key, struct dt_pending *v,
					   __u16 *shared)
{
	struct dt_pending *held;
	long err;

	__builtin_memcpy(v->key_server, key->server_addr, sizeof(v->key_server));
	v->key_server_port = key->server_port;
	*shared = 0;
	err = bpf_map_update_elem(&dt_pending, key, v, BPF_NOEXIST);
	if (err != -17)
		return err;
	held = bpf_map_lookup_elem(&dt_pending, key);
	/* Gone between the two: free again. */
	if (!held)
		return bpf_map_update_elem(&dt_pending, key, v, BPF_NOEXIST);
	if (server_is(key, held->key_server, held->key_server_port))
		return err;
	if (!dt_keyed_beside)
		dt_keyed_beside = 1;
	key->shared = shared_mark(key);
	err = bpf_map_update_elem(&dt_pending, key, v, BPF_NOEXIST);
	if (err == -17) {
		held = bpf_map_lookup_elem(&dt_pending, key);
		if (held && !server_is(key, held->key_server, held->key_server_port))
			err = -28;
	}
	*shared = key->shared;
	key->shared = 0;
	return err;
}

#endif /* DNSTRACE_MAPS_BPF_H */
