/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The contract between the kernel program and user space. Every type here
 * reaches the object's BTF (the structs through the maps and globals that
 * hold them, the enums through the dt_abi global), so the generated
 * skeleton carries them all in its types module; user space checks the
 * struct sizes. A change here is a change on both sides.
 */
#ifndef DNSTRACE_H
#define DNSTRACE_H

/*
 * Sizes, as enumerators rather than #defines: #defines never reach BTF,
 * and user space takes these from the skeleton.
 */
enum dt_limits {
	/* Longest name on the wire, root label included. */
	DT_NAME_WIRE_MAX = 255,
	/* Room for such a name and the qtype and qclass that follow it
	 * (259 bytes), rounded up to whole 8-byte words. */
	DT_QBUF_LEN = 264,
	DT_MAX_PORTS = 16,	/* entries of dt_ports */
	DT_MAX_IDS = 16,	/* entries of dt_ids */
	DT_IFNAMSIZ = 16,
	DT_COMM_LEN = 16,
};

/* Bits of dt_rcode_mask past the 16 rcodes: an unanswered query, and an
 * encrypted connection. */
enum dt_rcode_bit {
	DT_RCODE_TIMEOUT_BIT = 16,
	DT_RCODE_ENCRYPTED_BIT = 17,
	DT_RCODE_UNREACHABLE_BIT = 18,
};

/* Ports watched besides the DNS ports of dt_ports. */
enum dt_port {
	DT_MDNS_PORT = 5353,
	DT_ENCRYPTED_PORT = 853,	/* DoT over TCP, DoQ over UDP */
};

enum dt_kind {
	DT_KIND_ANSWERED = 0,
	DT_KIND_TIMEOUT = 1,
	DT_KIND_ANNOUNCEMENT = 2,	/* mDNS answer nobody asked for */
	DT_KIND_ENCRYPTED = 3,		/* a DoT or DoQ connection */
	DT_KIND_LATE = 4,		/* an answer after the query's TIMEOUT */
	DT_KIND_UNREACHABLE = 5,	/* ICMP destination unreachable for a query */
	DT_KIND_DUPLICATE = 6,		/* another answer to an answered query */
};

/* What NAT did to a query (the conntrack entry's status), bits of nat. */
enum dt_nat {
	DT_NAT_DST = 1,			/* DNAT: delivered to backend_addr */
	DT_NAT_SRC = 2,			/* SNAT: left as nat_addr */
	/* Of a pending query only, never in a record: */
	DT_NAT_KEYED_DELIVERED = 4,	/* keyed by its tuple as NAT delivered it */
	DT_NAT_TWINNED = 8,		/* has a twin under that tuple (nat.bpf.h) */
	DT_NAT_TWIN = 16,		/* is the twin of a query keyed as sent */
};

/* What runs on the port: plain DNS, multicast DNS, or encrypted DNS. */
enum dt_service {
	DT_SERVICE_DNS = 0,
	DT_SERVICE_MDNS = 1,
	DT_SERVICE_DOT = 2,
	DT_SERVICE_DOQ = 3,
};

enum dt_dir {
	DT_DIR_EGRESS = 0,
	DT_DIR_INGRESS = 1,
};

enum dt_proto {
	DT_PROTO_UDP = 17,
	DT_PROTO_TCP = 6,
};

/*
 * Per-CPU counters, the indexes of dt_stats; user space sums each over the
 * CPUs. User space takes the numbers from the skeleton's types and keeps a
 * name and a description for each (src/kernel/counters.rs): a unit test
 * there fails when a counter here has none.
 */
enum dt_stat {
	DT_STAT_DNS_PACKETS = 0,	/* packets on a DNS port, every sighting */
	DT_STAT_QUERIES,		/* queries tracked since load, not now */
	DT_STAT_QUERY_SEEN_AGAIN,	/* retransmits and later sightings of a tracked query */
	DT_STAT_ANSWERED,		/* transactions completed by a response */
	DT_STAT_TIMEOUTS,		/* transactions expired without a response */
	DT_STAT_RINGBUF_DROPS,		/* finished transactions lost: ring buffer full */
	DT_STAT_INSERT_FAILED,		/* query not tracked: map update failed */
	DT_STAT_RESP_NO_QUERY,		/* response to no tracked query */
	DT_STAT_RESP_REPEAT,		/* response seen again after its transaction completed */
	DT_STAT_RESP_MISMATCH,		/* response whose question differs from the query's */
	DT_STAT_MAL_SHORT,		/* DNS message shorter than its header */
	DT_STAT_MAL_NO_QUESTION,	/* query with qdcount 0 */
	DT_STAT_MAL_TRUNCATED,		/* question runs past the end of the packet */
	DT_STAT_MAL_LABEL,		/* reserved label type (0x40, 0x80) */
	DT_STAT_MAL_POINTER,		/* compression pointer in the question name */
	DT_STAT_MAL_NAME_LONG,		/* question name over 255 bytes */
	DT_STAT_NONLINEAR,		/* payload in page fragments, unreadable by the linear reader */
	DT_STAT_IP_FRAGMENT,		/* later IP fragment: no UDP header to read */
	DT_STAT_TCP_RESYNC,		/* TCP stream position lost: restarted at a segment */
	DT_STAT_TCP_SKIPPED,		/* TCP messages beyond the per-segment limit, skipped */
	DT_STAT_TCP_HELD,		/* TCP messages cut between segments, read with the next */
	DT_STAT_TCP_LOST,		/* TCP messages cut between segments whose head was lost */
	DT_STAT_MDNS_QUERIES,		/* mDNS queries tracked */
	DT_STAT_MDNS_ANNOUNCEMENTS,	/* mDNS answers to no tracked query */
	DT_STAT_ENCRYPTED_CONNS,	/* DoT and DoQ connections seen */
	DT_STAT_NAT_QUERIES,		/* queries seen translated by NAT */
	DT_STAT_ALIAS_FAILED,		/* a twin or a connection alias not made: map update failed */
	DT_STAT_LATE_ANSWERS,		/* answers after the query's timeout */
	DT_STAT_DUPLICATE_ANSWERS,	/* answers to an already answered query */
	DT_STAT_UNREACHABLE,		/* queries failed by ICMP destination unreachable */
	/* The pending map's entries come in by a successful insert (QUERIES,
	 * TWINS_ADDED) and leave by a successful delete (ANSWERED, UNREACHABLE
	 * and TIMEOUTS less MDNS_ENDED; TWINS_REMOVED) or by the LRU's silent
	 * eviction: user space counts evictions from these and the entries
	 * the sweep left (maps.bpf.h). Only NAT and mDNS pay for them. */
	DT_STAT_TWINS_ADDED,		/* NAT twins inserted into the pending map */
	DT_STAT_TWINS_REMOVED,		/* NAT twins deleted from it */
	DT_STAT_MDNS_ENDED,		/* mDNS queries answered or expired (counted in ANSWERED, TIMEOUTS too) */
	DT_STAT_MAX,			/* the number of counters */
};

/*
 * A query's tuple, the same for every sighting of it on the host.
 * Addresses are 16 bytes; IPv4 uses the first 4. The client's end comes
 * first, with the namespace of a loopback server and a mark: it alone
 * (DT_CLIENT_END bytes) keys the pending map (maps.bpf.h says why).
 */
struct dt_key {
	__u8 client_addr[16];
	__u16 client_port;
	__u16 id;
	__u8 proto;
	__u8 family;
	__u16 shared;		/* 0 but in the pending map's key of a query keyed
				 * beside another on the same client end */
	__u32 netns;		/* only for loopback addresses, else 0 */
	__u8 server_addr[16];
	__u16 server_port;
	__u16 _pad;
};

#define DT_CLIENT_END __builtin_offsetof(struct dt_key, server_addr)

/* What became of a finished transaction (struct dt_done, maps.bpf.h):
 * whoever moves it on (a compare-and-swap) reports the next record. */
enum dt_state {
	DT_STATE_EMPTY = 0,
	DT_STATE_ANSWERED = 1,		/* by a response, or an ICMP error */
	DT_STATE_DUPLICATED = 2,	/* answered, and a second answer reported */
	DT_STATE_TIMED_OUT = 3,
	DT_STATE_LATE = 4,		/* timed out, then a late answer reported */
};

/* What is remembered of a query until its response or its timeout. */
struct dt_pending {
	__u64 ts;		/* bpf_ktime_get_ns() at first sighting */
	__u64 backend_ts;	/* the first sighting of the query as NAT delivered it */
	__u64 backend_ns;	/* from backend_ts to the first sighting of its answer so */
	__u64 cgroup_id;	/* the sending socket's cgroup (v2), 0: not known */
	__u32 netns;		/* observation point of the first sighting */
	__u32 ifindex;
	__u32 pid;		/* 0: not known */
	__u16 qtype;
	__u16 qclass;
	__u16 qflags;		/* header flags of the query */
	__u16 name_len;		/* wire length of the name, root label included */
	__u16 query_size;	/* DNS message bytes */
	__u8 dir;		/* enum dt_dir of the first sighting */
	__u8 nat;		/* enum dt_nat bits */
	/* Through NAT, the addresses the key does not carry: where the query
	 * was delivered (DNAT) and from (SNAT), or with
	 * DT_NAT_KEYED_DELIVERED what the client sent. */
	__u16 other_server_port;
	__u16 other_client_port;
	__u16 key_server_port;
	__u8 _pad[2];
	__u8 other_server[16];
	__u8 other_client[16];
	/* The server's end of its tuple, which its map key leaves out. */
	__u8 key_server[16];
	char comm[DT_COMM_LEN];
	char ifname[DT_IFNAMSIZ];
	__u8 name[DT_QBUF_LEN];	/* wire-format question name */
};

/* One finished transaction, sent to user space. */
struct dt_event {
	__u64 ts;		/* bpf_ktime_get_ns() of the query */
	__u64 latency_ns;	/* 0 for a timeout; an encrypted connection's duration */
	__u64 bytes_out;	/* encrypted connections: client to server */
	__u64 bytes_in;		/* and server to client */
	__u32 netns;
	__u32 ifindex;
	__u32 pid;
	__u8 kind;		/* enum dt_kind */
	__u8 proto;		/* enum dt_proto */
	__u8 family;		/* 4 or 6 */
	__u8 dir;		/* enum dt_dir where the query was first seen */
	__u8 client_addr[16];
	__u8 server_addr[16];
	__u16 client_port;
	__u16 server_port;
	__u16 id;
	__u16 qtype;
	__u16 qclass;
	__u16 qflags;
	__u16 rflags;		/* header flags of the response: QR..RCODE */
	__u16 ancount;
	__u16 nscount;
	__u16 arcount;
	__u16 query_size;
	__u16 resp_size;
	__u16 name_len;
	__u8 service;		/* enum dt_service */
	__u8 nat;		/* enum dt_nat bits */
	__u8 first_rcode;	/* DUPLICATE: rcode of the answer that completed it
				 * (DT_RCODE_UNREACHABLE_BIT: an ICMP error did) */
	__u8 icmp_type;		/* UNREACHABLE: the ICMP or ICMPv6 type and code */
	__u8 icmp_code;
	__u8 _pad;
	__u16 backend_port;	/* DNAT: where the query was delivered */
	__u16 nat_port;		/* SNAT: the translated source port */
	__u8 backend_addr[16];
	__u8 nat_addr[16];
	__u8 icmp_addr[16];	/* UNREACHABLE: who sent the ICMP error */
	__u64 backend_ns;	/* DNAT or SNAT: the leg beyond NAT; 0 when not seen */
	__u64 cgroup_id;	/* the sending socket's cgroup (v2), 0: not known */
	char comm[DT_COMM_LEN];
	char ifname[DT_IFNAMSIZ];
	__u8 name[DT_QBUF_LEN];
};

#endif /* DNSTRACE_H */
