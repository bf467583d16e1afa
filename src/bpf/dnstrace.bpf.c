// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dnstrace kernel side: sees every packet leaving (net_dev_queue) and
 * entering (netif_receive_skb) any interface in any network namespace,
 * keeps the DNS queries, pairs each with its response at the observation
 * point nearest the client, and sends only finished transactions to user
 * space. Unanswered queries are expired by dt_sweep, which user space runs
 * periodically.
 *
 * Three kinds of program are built from the same code (enum
 * dt_reader_kind): the dynptr reader (bpf_dynptr_from_skb, reads page
 * fragments too; recent kernels allow it in tp_btf programs), the linear
 * reader (bpf_probe_read_kernel of the skb's linear area, for older
 * kernels), and classic tracepoints (for kernels without BTF of their
 * own). User space loads one pair of them.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "dnstrace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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

/* Fixed, not settings: user space has no reason to change them. */
/* Unanswered mDNS queries expire after this (answers come at once or
 * not at all); an announcement seen again within it is the same one. */
#define DT_MDNS_WINDOW_NS 1000000000ULL
/* An encrypted connection is reported after this long idle. */
#define DT_CONN_IDLE_NS 30000000000ULL
/* Wake the reader only once this much is waiting: a wakeup costs more
 * than the rest of the program (an IPI; several microseconds in a VM),
 * and the reader polls on a short timer anyway. */
#define DT_WAKEUP_BYTES (1ULL << 20)

/* Entries seen by the last sweep: user space derives evictions from it. */
__u64 dt_last_occupancy = 0;
/* The last sweep stopped at its budget: more is waiting to expire, so user
 * space reads the ring buffer and sweeps again at once. */
__u32 dt_sweep_more = 0;
/* Set by user space before its last sweep: report every open encrypted
 * connection now. */
__u32 dt_sweep_flush = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dt_key);
	__type(value, struct dt_pending);
} dt_pending SEC(".maps");

/* Recently completed transactions: tells a later sighting of an answered
 * response (on lo it passes both hooks) from a response to no query. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct dt_key);
	__type(value, __u64);
} dt_recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} dt_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dt_stats SEC(".maps");

/* Per-CPU room for what does not fit on the 512-byte BPF stack. */
struct dt_scratch {
	struct dt_pending query;
	__u8 resp_name[DT_QBUF_LEN];	/* 8-byte aligned, compared in words */
	struct dt_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dt_scratch);
} dt_scratch_map SEC(".maps");

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
} dt_abi = {};

/* A record's room in the ring: an 8-byte header, rounded up to 8. */
#define DT_RECORD_BYTES ((sizeof(struct dt_event) + 8 + 7) / 8 * 8)

extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym __weak;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *ptr, __u32 offset,
			      void *buffer__opt, __u32 buffer__szk) __ksym __weak;

/*
 * Records go out without waking the reader, which reads every 50 ms: a
 * wakeup is an interrupt, costly in a VM. Only when another
 * DT_WAKEUP_BYTES have piled up since the last mark does a record wake it,
 * so a burst cannot fill the buffer before the timer. Once per mark, not
 * on every record past it: while the reader lags behind a backlog, that
 * was an interrupt per record.
 */
static __always_inline void submit_event(struct dt_event *e)
{
	/* This record is counted already: it was reserved. */
	__u64 waiting = bpf_ringbuf_query(&dt_events, BPF_RB_AVAIL_DATA);
	__u64 before = waiting > DT_RECORD_BYTES ? waiting - DT_RECORD_BYTES : 0;

	bpf_ringbuf_submit(e, waiting / DT_WAKEUP_BYTES != before / DT_WAKEUP_BYTES
				      ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&dt_stats, &idx);

	if (v)
		*v += 1;
}

/*
 * Whether a typed tracepoint runs in the task's own context, not in a
 * softirq, a hardirq or an NMI that interrupted it (there `current` is
 * whoever was interrupted, and a packet sent there must not be
 * attributed to it). The preempt count would tell, but its per-CPU
 * symbol cannot be resolved on kernels built without CONFIG_KALLSYMS_ALL.
 * What tells instead is the stack: the kernel serves softirqs, hardirqs
 * and NMIs on stacks of their own, and ctx (the tracepoint's arguments)
 * lives on the stack of whatever called the tracepoint. So the hook runs
 * in task context exactly when ctx lies inside the current task's stack.
 * 16 KiB is the smallest task stack of the 64-bit architectures with
 * BTF, so the test never says "task" wrongly; with larger stacks (KASAN
 * builds) a deep call may say "not the task", and the sender goes
 * unnamed rather than misnamed. PREEMPT_RT kernels serve softirqs on the
 * task's stack, but count them in the task itself.
 * This replaces hooks on softirq_entry/exit, which ran on every softirq
 * of the machine, networking or not.
 */
#define DT_MIN_THREAD_SIZE 16384
#define DT_SOFTIRQ_OFFSET 0x100

/*
 * How a program reads kernel fields and packet bytes. Each program passes
 * its kind down as a constant through always-inline functions, so that
 * clang keeps one branch of every test below and no program pays for the
 * others at run time.
 */
enum dt_reader_kind {
	/* Typed (tp_btf) program reading packets through
	 * bpf_dynptr_from_skb: page fragments too, so TCP and long replies.
	 * Recent kernels allow the kfunc in tp_btf programs. */
	DT_READ_DYNPTR,
	/* Typed program reading the skb's linear area with
	 * bpf_probe_read_kernel, for older kernels: plain UDP DNS only. */
	DT_READ_LINEAR,
	/* Classic tracepoint program, for kernels without BTF of their own
	 * (typed tracepoints need it): kernel fields through CO-RE probe
	 * reads relocated against the --btf file, packets as LINEAR. */
	DT_READ_CLASSIC,
};

static __always_inline bool reads_dynptr(enum dt_reader_kind rk)
{
	return rk == DT_READ_DYNPTR;
}

/* Typed programs load kernel fields directly. */
static __always_inline bool reads_typed(enum dt_reader_kind rk)
{
	return rk != DT_READ_CLASSIC;
}

/* A kernel field, read the way this kind of program can. */
#define RD(rk, ptr, field) (reads_typed(rk) ? (ptr)->field : BPF_CORE_READ(ptr, field))

static __always_inline struct task_struct *current_task(enum dt_reader_kind rk)
{
	return reads_typed(rk) ? bpf_get_current_task_btf()
			       : (struct task_struct *)bpf_get_current_task();
}

/* The same test in every kind of program. Typed: ctx, the arguments, is
 * on the caller's stack. Classic: the event's first word points to the
 * registers perf took at the tracepoint, the caller's stack pointer among
 * them. */
static __always_inline bool task_context(void *ctx, enum dt_reader_kind rk)
{
	struct task_struct *task = current_task(rk);
	struct pt_regs *regs = NULL;
	__u64 sp = (__u64)ctx;

	if (bpf_core_field_exists(task->softirq_disable_cnt))
		return !(BPF_CORE_READ(task, softirq_disable_cnt) & DT_SOFTIRQ_OFFSET);
	if (!reads_typed(rk)) {
		if (bpf_probe_read_kernel(&regs, sizeof(regs), ctx) || !regs)
			return false;
		sp = BPF_CORE_READ(regs, sp);
	}
	return sp - (__u64)RD(rk, task, stack) < DT_MIN_THREAD_SIZE;
}

/*
 * A 16-byte kernel string (an interface name, a task's comm): typed
 * programs load it directly, two words, instead of calling a helper;
 * the reader stops at the first NUL.
 */
static __always_inline void copy_kstr16(char *dst, const char *src, enum dt_reader_kind rk)
{
	if (reads_typed(rk)) {
		((__u64 *)dst)[0] = ((const __u64 *)src)[0];
		((__u64 *)dst)[1] = ((const __u64 *)src)[1];
	} else {
		bpf_probe_read_kernel_str(dst, 16, src);
	}
}

/*
 * The process that sent a packet, when the hook runs in its context: a
 * local egress on a socket, not in a softirq and not from a kernel thread
 * (threaded NAPI, workqueues relay packets for others). Fills comm with
 * the thread group leader's name (resolvers send from named worker
 * threads); returns 0 when the sender cannot be trusted.
 */
static __always_inline __u32 packet_sender(__u8 dir, bool task_ctx, char *comm,
					   enum dt_reader_kind rk)
{
	struct task_struct *task, *leader;

	comm[0] = 0;
	if (dir != DT_DIR_EGRESS || !task_ctx)
		return 0;
	task = current_task(rk);
	if (RD(rk, task, flags) & PF_KTHREAD)
		return 0;
	leader = RD(rk, task, group_leader);
	copy_kstr16(comm, leader->comm, rk);
	return bpf_get_current_pid_tgid() >> 32;
}

/* Packet bytes; offsets count from skb->data (the MAC header at egress,
 * the network header at ingress). */
struct dt_reader {
	struct bpf_dynptr *dp;
	unsigned char *data;	/* skb->data, for the linear reader */
	__u32 headlen;		/* linear bytes from skb->data */
	__u32 len;		/* all bytes from skb->data */
};

/*
 * A dynptr reader for a global subprogram: a pointer to a dynptr does not
 * survive the verifier's spills across a call boundary, so each
 * subprogram makes its own in its own frame (dp). 0 on success.
 */
static __always_inline int dynptr_reader(struct dt_reader *r, struct bpf_dynptr *dp,
					 struct sk_buff *skb)
{
	r->dp = dp;
	if (bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, dp))
		return -1;
	r->len = skb->len;
	r->headlen = r->len - skb->data_len;
	return 0;
}

/* Pointer to size bytes at off, copied into buf if needed; NULL when the
 * packet is shorter. size must be a constant. */
static __always_inline void *rd_slice(struct dt_reader *r, enum dt_reader_kind rk, __u32 off,
				      void *buf, __u32 size)
{
	if (reads_dynptr(rk))
		return bpf_dynptr_slice(r->dp, off, buf, size);
	if (off > r->headlen || size > r->headlen - off)
		return NULL;
	if (bpf_probe_read_kernel(buf, size, r->data + off))
		return NULL;
	return buf;
}

/* Copy len (<= DT_QBUF_LEN) bytes at off into buf; 0 on success. */
static __always_inline int rd_copy(struct dt_reader *r, enum dt_reader_kind rk, __u32 off,
				   void *buf, __u32 len)
{
	/* Bound the very register the helper gets, whatever clang did. */
	barrier_var(len);
	if (len > DT_QBUF_LEN)
		return -1;
	if (reads_dynptr(rk))
		return bpf_dynptr_read(buf, len, r->dp, off, 0);
	if (off > r->headlen || len > r->headlen - off) {
		stat_inc(DT_STAT_NONLINEAR);
		return -1;
	}
	return bpf_probe_read_kernel(buf, len, r->data + off);
}

struct dt_packet {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 dns_off;		/* from skb->data: the UDP or TCP payload */
	__u32 dns_len;		/* payload bytes in this packet */
	__u32 msg_size;		/* DNS message bytes the UDP header declares */
	__u32 seq;		/* TCP sequence number of the payload */
	__u8 tcp_flags;
	__u8 family;
	__u8 proto;
	__u8 service;		/* enum dt_service */
	__u8 task_ctx;		/* egress on a socket, in the sending task's context */
};

struct dt_dnshdr {
	__be16 id;
	__be16 flags;
	__be16 qdcount;
	__be16 ancount;
	__be16 nscount;
	__be16 arcount;
};

#define DT_DNS_QR 0x8000	/* in flags: a response */

struct dt_ip4hdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
};

struct dt_ip6hdr {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct dt_udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__be16 check;
};

struct dt_tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res;
	__u8 flags;
	__be16 window;
	__be16 check;
	__be16 urg_ptr;
};

#define DT_TH_FIN 0x01
#define DT_TH_SYN 0x02
#define DT_TH_RST 0x04

static __always_inline bool is_dns_port(__u16 port)
{
	for (int i = 0; i < DT_MAX_PORTS; i++) {
		if (i >= dt_nports)
			break;
		if (dt_ports[i] == port)
			return true;
	}
	return false;
}

/* What the packet is, by its ports; -1 when none of ours. mDNS and
 * encrypted DNS are always watched. */
static __always_inline int classify_ports(__u16 sport, __u16 dport, bool tcp)
{
	if (is_dns_port(dport) || is_dns_port(sport))
		return DT_SERVICE_DNS;
	if (!tcp && (dport == DT_MDNS_PORT || sport == DT_MDNS_PORT))
		return DT_SERVICE_MDNS;
	if (dport == DT_ENCRYPTED_PORT || sport == DT_ENCRYPTED_PORT)
		return tcp ? DT_SERVICE_DOT : DT_SERVICE_DOQ;
	return -1;
}

static __always_inline bool id_wanted(__u16 id)
{
	if (dt_nids == 0)
		return true;
	for (int i = 0; i < DT_MAX_IDS; i++) {
		if (i >= dt_nids)
			break;
		if (dt_ids[i] == id)
			return true;
	}
	return false;
}

/* Where the IP header says its payload is, how long, and what. */
struct dt_l4 {
	__u32 off;
	__u32 len;
	__u8 proto;		/* IPPROTO_UDP or IPPROTO_TCP */
};

/* IPv4: the addresses and the payload; 0 when it is UDP or TCP. */
static __always_inline int parse_ip4(struct dt_reader *r, enum dt_reader_kind rk, __u32 net_off,
				     struct dt_packet *p, struct dt_l4 *l4)
{
	struct dt_ip4hdr buf, *ip;
	__u32 ihl;

	ip = rd_slice(r, rk, net_off, &buf, sizeof(buf));
	if (!ip || (ip->ver_ihl >> 4) != 4)
		return -1;
	ihl = (ip->ver_ihl & 0xf) * 4;
	if (ihl < sizeof(*ip) || bpf_ntohs(ip->tot_len) < ihl)
		return -1;
	l4->proto = ip->protocol;
	if (l4->proto != IPPROTO_UDP && l4->proto != IPPROTO_TCP)
		return -1;
	if (bpf_ntohs(ip->frag_off) & 0x1fff) {
		stat_inc(DT_STAT_IP_FRAGMENT);
		return -1;
	}
	__builtin_memset(p->saddr, 0, 32);
	__builtin_memcpy(p->saddr, &ip->saddr, 4);
	__builtin_memcpy(p->daddr, &ip->daddr, 4);
	p->family = 4;
	l4->off = net_off + ihl;
	l4->len = bpf_ntohs(ip->tot_len) - ihl;
	return 0;
}

/* IPv6, past a bounded number of extension headers: as parse_ip4. */
static __always_inline int parse_ip6(struct dt_reader *r, enum dt_reader_kind rk, __u32 net_off,
				     struct dt_packet *p, struct dt_l4 *l4)
{
	struct dt_ip6hdr buf, *ip6;
	__u8 next;

	ip6 = rd_slice(r, rk, net_off, &buf, sizeof(buf));
	if (!ip6 || (bpf_ntohl(ip6->ver_tc_flow) >> 28) != 6)
		return -1;
	__builtin_memcpy(p->saddr, ip6->saddr, 16);
	__builtin_memcpy(p->daddr, ip6->daddr, 16);
	p->family = 6;
	next = ip6->nexthdr;
	l4->off = net_off + sizeof(*ip6);
	l4->len = bpf_ntohs(ip6->payload_len);

	for (int i = 0; i < 6; i++) {
		struct {
			__u8 next;
			__u8 len;
			__be16 frag_off;
		} ebuf, *ext;
		__u32 ext_len;

		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
		    next != IPPROTO_DSTOPTS && next != IPPROTO_FRAGMENT &&
		    next != IPPROTO_AH)
			break;
		ext = rd_slice(r, rk, l4->off, &ebuf, sizeof(ebuf));
		if (!ext)
			return -1;
		if (next == IPPROTO_FRAGMENT) {
			if (bpf_ntohs(ext->frag_off) & 0xfff8) {
				stat_inc(DT_STAT_IP_FRAGMENT);
				return -1;
			}
			ext_len = 8;
		} else if (next == IPPROTO_AH) {
			ext_len = ((__u32)ext->len + 2) * 4;
		} else {
			ext_len = ((__u32)ext->len + 1) * 8;
		}
		if (ext_len > l4->len)
			return -1;
		next = ext->next;
		l4->off += ext_len;
		l4->len -= ext_len;
	}
	if (next != IPPROTO_UDP && next != IPPROTO_TCP)
		return -1;
	l4->proto = next;
	return 0;
}

/* The payload's place in the packet, no further than the skb goes. */
static __always_inline int set_payload(struct dt_reader *r, struct dt_packet *p, __u32 off,
				       __u32 len)
{
	p->dns_off = off;
	p->dns_len = len;
	if (p->dns_off > r->len)
		return -1;
	if (p->dns_len > r->len - p->dns_off)
		p->dns_len = r->len - p->dns_off;
	return 0;
}

static __always_inline int parse_tcp(struct dt_reader *r, enum dt_reader_kind rk,
				     const struct dt_l4 *l4, struct dt_packet *p)
{
	struct dt_tcphdr buf, *tcp;
	__u32 doff;
	int svc;

	tcp = rd_slice(r, rk, l4->off, &buf, sizeof(buf));
	if (!tcp)
		return -1;
	p->sport = bpf_ntohs(tcp->source);
	p->dport = bpf_ntohs(tcp->dest);
	svc = classify_ports(p->sport, p->dport, true);
	if (svc < 0)
		return -1;
	p->service = svc;
	doff = (tcp->doff_res >> 4) * 4;
	if (doff < sizeof(*tcp) || doff > l4->len)
		return -1;
	p->proto = DT_PROTO_TCP;
	p->seq = bpf_ntohl(tcp->seq);
	p->tcp_flags = tcp->flags;
	p->msg_size = 0;
	return set_payload(r, p, l4->off + doff, l4->len - doff);
}

static __always_inline int parse_udp(struct dt_reader *r, enum dt_reader_kind rk,
				     const struct dt_l4 *l4, struct dt_packet *p)
{
	struct dt_udphdr buf, *udp;
	__u32 ulen;
	int svc;

	udp = rd_slice(r, rk, l4->off, &buf, sizeof(buf));
	if (!udp)
		return -1;
	p->sport = bpf_ntohs(udp->source);
	p->dport = bpf_ntohs(udp->dest);
	svc = classify_ports(p->sport, p->dport, false);
	if (svc < 0)
		return -1;
	p->service = svc;
	ulen = bpf_ntohs(udp->len);
	if (ulen < sizeof(*udp))
		return -1;
	/* The first fragment of a large reply declares the whole datagram. */
	p->msg_size = ulen - sizeof(*udp);
	/* Read no further than the smallest of the UDP length, the IP
	 * length and the skb. */
	if (ulen > l4->len)
		ulen = l4->len;
	if (ulen < sizeof(*udp))
		return -1;
	p->proto = DT_PROTO_UDP;
	return set_payload(r, p, l4->off + sizeof(*udp), ulen - sizeof(*udp));
}

/* Walks the IP headers to the UDP or TCP payload. 0 when it is on one of
 * our ports (DNS, mDNS, encrypted DNS). */
static __always_inline int parse_l3l4(struct dt_reader *r, enum dt_reader_kind rk, __u32 net_off,
				      __u16 l3proto, struct dt_packet *p)
{
	struct dt_l4 l4;

	if (l3proto == bpf_htons(ETH_P_IP)) {
		if (parse_ip4(r, rk, net_off, p, &l4))
			return -1;
	} else {
		if (parse_ip6(r, rk, net_off, p, &l4))
			return -1;
	}
	if (l4.proto == IPPROTO_TCP)
		return parse_tcp(r, rk, &l4, p);
	return parse_udp(r, rk, &l4, p);
}

/*
 * Reads the first question into buf (name then qtype, qclass). Returns the
 * name's wire length (root label included), or -1 after counting why the
 * question is unusable.
 */
static __always_inline int read_question(struct dt_reader *r, enum dt_reader_kind rk,
					 struct dt_packet *p, __u8 *buf,
					 __u16 *qtype, __u16 *qclass)
{
	__u32 avail = p->dns_len - sizeof(struct dt_dnshdr);
	__u32 pos = 0;

	if (avail > DT_NAME_WIRE_MAX + 4)
		avail = DT_NAME_WIRE_MAX + 4;
	if (avail < 5) {
		stat_inc(DT_STAT_MAL_TRUNCATED);
		return -1;
	}
	if (rd_copy(r, rk, p->dns_off + sizeof(struct dt_dnshdr), buf, avail))
		return -1;

	for (int i = 0; i < 128; i++) {
		__u8 label;

		/* Too long first: a name past 255 bytes is that, whether or
		 * not the packet (or the read window) holds all of it. */
		if (pos >= DT_NAME_WIRE_MAX) {
			stat_inc(DT_STAT_MAL_NAME_LONG);
			return -1;
		}
		if (pos >= avail) {
			stat_inc(DT_STAT_MAL_TRUNCATED);
			return -1;
		}
		/* Restated bounds for the verifier, which may see pos through
		 * a register the comparisons above did not narrow. */
		__u32 idx = pos;

		barrier_var(idx);
		label = buf[idx & 0xff];
		if (label == 0) {
			/* pos <= 254 here; the mask restates it for the
			 * verifier, and the barrier keeps clang from
			 * dropping the mask as redundant. */
			__u32 end = pos + 1;

			barrier_var(end);
			end &= 0xff;

			if (end + 4 > avail) {
				stat_inc(DT_STAT_MAL_TRUNCATED);
				return -1;
			}
			*qtype = ((__u16)buf[end] << 8) | buf[end + 1];
			*qclass = ((__u16)buf[end + 2] << 8) | buf[end + 3];
			return end;
		}
		if ((label & 0xc0) == 0xc0) {
			stat_inc(DT_STAT_MAL_POINTER);
			return -1;
		}
		if (label & 0xc0) {
			stat_inc(DT_STAT_MAL_LABEL);
			return -1;
		}
		pos += label + 1;
	}
	stat_inc(DT_STAT_MAL_NAME_LONG);
	return -1;
}

/*
 * Whether two wire names of len bytes are the same, byte for byte: servers
 * echo the question exactly (0x20 case randomisation relies on it), so an
 * answer naming anything else, even in another case, is not this query's.
 * Compared 8 bytes at a time; both buffers are 8-byte aligned and longer
 * than any name.
 */
static __always_inline bool same_name(const __u8 *a, const __u8 *b, __u32 len)
{
	for (int i = 0; i < (DT_NAME_WIRE_MAX + 8) / 8; i++) {
		__u32 off = i * 8;
		__u64 x, y;

		if (off >= len)
			break;
		x = *(const __u64 *)(a + off);
		y = *(const __u64 *)(b + off);
		if (len - off < 8) {
			__u64 mask = (1ULL << ((len - off) * 8)) - 1;

			x &= mask;
			y &= mask;
		}
		if (x != y)
			return false;
	}
	return true;
}

static __always_inline bool is_loopback(const __u8 *addr, __u8 family)
{
	if (family == 4)
		return addr[0] == 127;
	for (int i = 0; i < 15; i++)
		if (addr[i])
			return false;
	return addr[15] == 1;
}

/* An encrypted DNS connection (DoT, DoQ), keyed like a query without an
 * id, from its first packet to its end. */
struct dt_conn {
	__u64 first_ts;
	__u64 last_ts;
	__u64 bytes_out;
	__u64 bytes_in;
	__u32 netns;
	__u32 ifindex;
	__u32 pid;
	__u8 dir;
	__u8 service;
	__u8 _pad[2];
	char comm[DT_COMM_LEN];
	char ifname[DT_IFNAMSIZ];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct dt_key);
	__type(value, struct dt_conn);
} dt_conns SEC(".maps");

/*
 * What a record is made of: constants, and pointers to what the caller
 * holds already (fields are read only once a record is reserved, as a
 * transaction the filters drop needs none of them). emit() is inlined, so
 * the struct costs no copy, and kind, a constant at every call, leaves
 * one way of filling in each caller.
 */
struct dt_report {
	__u8 kind;			/* enum dt_kind */
	__u8 service;			/* enum dt_service; a connection has its own */
	const struct dt_pending *q;	/* the query: all kinds but ENCRYPTED */
	const struct dt_conn *conn;	/* ENCRYPTED */
	const struct dt_key *ends;	/* client and server, proto, family, id */
	const struct dt_packet *p;	/* ANSWERED, ANNOUNCEMENT: the response */
	const struct dt_dnshdr *resp;	/* and its header */
	__u64 latency_ns;		/* ANSWERED */
};

/* The part of a record that comes from the remembered query. */
static __always_inline void fill_query(struct dt_event *e, const struct dt_pending *q)
{
	e->ts = q->ts;
	e->netns = q->netns;
	e->ifindex = q->ifindex;
	e->pid = q->pid;
	e->dir = q->dir;
	e->qtype = q->qtype;
	e->qclass = q->qclass;
	e->qflags = q->qflags;
	e->query_size = q->query_size;
	e->name_len = q->name_len;
	__builtin_memcpy(e->comm, q->comm, sizeof(e->comm));
	__builtin_memcpy(e->ifname, q->ifname, sizeof(e->ifname));
	/* The name's own bytes only (user space reads name_len of them). */
	for (int i = 0; i < (int)(sizeof(e->name) / 8); i++) {
		if (i * 8 >= q->name_len)
			break;
		((__u64 *)e->name)[i] = ((const __u64 *)q->name)[i];
	}
}

/* An encrypted connection: no question, but its bytes and duration. */
static __always_inline void fill_conn(struct dt_event *e, const struct dt_conn *c)
{
	e->service = c->service;
	e->ts = c->first_ts;
	e->latency_ns = c->last_ts - c->first_ts;
	e->bytes_out = c->bytes_out;
	e->bytes_in = c->bytes_in;
	e->netns = c->netns;
	e->ifindex = c->ifindex;
	e->pid = c->pid;
	e->dir = c->dir;
	__builtin_memcpy(e->comm, c->comm, sizeof(e->comm));
	__builtin_memcpy(e->ifname, c->ifname, sizeof(e->ifname));
}

static __always_inline void fill_ends(struct dt_event *e, const struct dt_key *k)
{
	e->proto = k->proto;
	e->family = k->family;
	__builtin_memcpy(e->client_addr, k->client_addr, 16);
	__builtin_memcpy(e->server_addr, k->server_addr, 16);
	e->client_port = k->client_port;
	e->server_port = k->server_port;
	e->id = k->id;
}

/* What only a response has: its header, and its size. */
static __always_inline void fill_response(struct dt_event *e, const struct dt_dnshdr *h,
					  const struct dt_packet *p)
{
	e->rflags = bpf_ntohs(h->flags);
	e->ancount = bpf_ntohs(h->ancount);
	e->nscount = bpf_ntohs(h->nscount);
	e->arcount = bpf_ntohs(h->arcount);
	e->resp_size = p->msg_size;
}

static __always_inline void fill_record(struct dt_event *e, const struct dt_report *r)
{
	/* Everything before the strings is cleared first: ring-buffer memory
	 * is not zeroed, and each kind leaves some of it unset. */
	__builtin_memset(e, 0, __builtin_offsetof(struct dt_event, comm));
	e->kind = r->kind;
	if (r->kind == DT_KIND_ENCRYPTED) {
		fill_conn(e, r->conn);
	} else {
		e->service = r->service;
		fill_query(e, r->q);
	}
	fill_ends(e, r->ends);
	if (r->kind == DT_KIND_ANSWERED || r->kind == DT_KIND_ANNOUNCEMENT)
		fill_response(e, r->resp, r->p);
	if (r->kind == DT_KIND_ANSWERED)
		e->latency_ns = r->latency_ns;
}

/*
 * Reports a finished transaction: reserves a record when the filters want
 * it (wanted), fills it, then takes the transaction by deleting its entry
 * (key in map). Whoever deletes the entry owns the transaction, so exactly
 * one report goes out even when the sweep or another CPU races for it; the
 * loser discards its record. The owner counts stat (DT_STAT_MAX: nothing)
 * and submits. map NULL: there is no entry to take (an announcement).
 * Returns whether the transaction was ours, reported or filtered out.
 */
static __always_inline bool emit(const struct dt_report *r, bool wanted, void *map,
				 const void *key, enum dt_stat stat)
{
	struct dt_event *e = NULL;

	if (wanted) {
		e = bpf_ringbuf_reserve(&dt_events, sizeof(*e), 0);
		if (!e)
			stat_inc(DT_STAT_RINGBUF_DROPS);
	}
	if (e)
		fill_record(e, r);
	if (map && bpf_map_delete_elem(map, key)) {
		if (e)
			bpf_ringbuf_discard(e, 0);
		return false;
	}
	if (stat != DT_STAT_MAX)
		stat_inc(stat);
	if (e)
		submit_event(e);
	return true;
}

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

static __always_inline void handle_query(struct dt_reader *r, enum dt_reader_kind rk, __u8 dir,
					 struct dt_packet *p, struct dt_dnshdr *h, __u32 netns,
					 struct net_device *dev)
{
	struct dt_pending *q;
	struct dt_scratch *s;
	struct dt_key *key;
	__u32 zero = 0;
	int name_len;
	long err;

	if (!is_dns_port(p->dport))
		return;
	if (!h->qdcount) {
		stat_inc(DT_STAT_MAL_NO_QUESTION);
		return;
	}
	if (!id_wanted(bpf_ntohs(h->id)))
		return;

	s = bpf_map_lookup_elem(&dt_scratch_map, &zero);
	if (!s)
		return;
	key = &s->key;
	make_key(key, p, bpf_ntohs(h->id), netns, true);

	/* The common repeat (the same query on the next hop) stops here. */
	if (bpf_map_lookup_elem(&dt_pending, key)) {
		stat_inc(DT_STAT_QUERY_SEEN_AGAIN);
		return;
	}

	q = &s->query;
	name_len = read_question(r, rk, p, q->name, &q->qtype, &q->qclass);
	if (name_len < 0)
		return;

	q->ts = bpf_ktime_get_ns();
	q->netns = netns;
	q->ifindex = RD(rk, dev, ifindex);
	q->name_len = name_len;
	q->qflags = bpf_ntohs(h->flags);
	q->query_size = p->msg_size;
	q->dir = dir;
	copy_kstr16(q->ifname, dev->name, rk);
	q->pid = packet_sender(dir, p->task_ctx, q->comm, rk);

	err = bpf_map_update_elem(&dt_pending, key, q, BPF_NOEXIST);
	if (err == 0)
		stat_inc(DT_STAT_QUERIES);
	else if (err == -17 /* EEXIST: another CPU was first */)
		stat_inc(DT_STAT_QUERY_SEEN_AGAIN);
	else
		stat_inc(DT_STAT_INSERT_FAILED);
}

static __always_inline void handle_response(struct dt_reader *r, enum dt_reader_kind rk,
					    struct dt_packet *p, struct dt_dnshdr *h,
					    __u32 netns, struct net_device *dev)
{
	struct dt_pending *q;
	struct dt_scratch *s;
	struct dt_key *key;
	__u32 zero = 0;
	__u32 rcode = bpf_ntohs(h->flags) & 0xf;
	__u64 now, latency;

	if (!is_dns_port(p->sport))
		return;

	s = bpf_map_lookup_elem(&dt_scratch_map, &zero);
	if (!s)
		return;
	key = &s->key;
	make_key(key, p, bpf_ntohs(h->id), netns, false);

	q = bpf_map_lookup_elem(&dt_pending, key);
	if (!q) {
		if (bpf_map_lookup_elem(&dt_recent, key))
			stat_inc(DT_STAT_RESP_REPEAT);
		else if (id_wanted(key->id))
			stat_inc(DT_STAT_RESP_NO_QUERY);
		return;
	}
	/* Complete only where the query was first seen (nearest the client). */
	if (q->netns != netns || q->ifindex != RD(rk, dev, ifindex))
		return;

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
	struct dt_report rep = {
		.kind = DT_KIND_ANSWERED,
		.service = DT_SERVICE_DNS,
		.q = q,
		.ends = key,
		.p = p,
		.resp = h,
		.latency_ns = latency,
	};

	if (!emit(&rep, latency >= dt_min_latency_ns && (dt_rcode_mask & (1U << rcode)),
		  &dt_pending, key, DT_STAT_ANSWERED))
		return;
	/* Only a loopback device shows a response again after the point that
	 * completed it (lo passes it at egress, then at ingress): remember
	 * the transaction there only, and spare every other completion a map
	 * update. */
	if (RD(rk, dev, flags) & IFF_LOOPBACK)
		bpf_map_update_elem(&dt_recent, key, &now, BPF_ANY);
}

/* One DNS message at p->dns_off, p->dns_len bytes of it in this packet. */
static __always_inline void handle_message(struct sk_buff *skb, struct dt_reader *r,
					   enum dt_reader_kind rk, __u8 dir, struct dt_packet *p,
					   __u32 netns)
{
	struct net_device *dev = RD(rk, skb, dev);
	struct dt_dnshdr hbuf, *h;

	if (!dev)
		return;
	if (p->dns_len < sizeof(*h)) {
		stat_inc(DT_STAT_MAL_SHORT);
		return;
	}
	h = rd_slice(r, rk, p->dns_off, &hbuf, sizeof(hbuf));
	if (!h) {
		stat_inc(DT_STAT_MAL_SHORT);
		return;
	}
	if (bpf_ntohs(h->flags) & DT_DNS_QR)
		handle_response(r, rk, p, h, netns, dev);
	else
		handle_query(r, rk, dir, p, h, netns, dev);
}

/*
 * The same for the dynptr reader, as a global function: the verifier checks
 * it once, not once per message of every TCP segment, which would exceed
 * its budget.
 */
__noinline int dt_message(struct sk_buff *skb __arg_trusted, struct dt_packet *p,
			  __u32 netns, __u32 dir)
{
	struct bpf_dynptr dp;
	struct dt_reader r;

	if (!p || dynptr_reader(&r, &dp, skb))
		return 0;
	handle_message(skb, &r, DT_READ_DYNPTR,
		       dir == DT_DIR_INGRESS ? DT_DIR_INGRESS : DT_DIR_EGRESS, p, netns);
	return 0;
}

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
	__u32 body_seq;		/* a message body whose prefix came alone */
	__u16 body_len;
	__u8 body_pending;
	__u8 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct dt_tcp_key);
	__type(value, struct dt_tcp_state);
} dt_tcp_streams SEC(".maps");

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

/*
 * Multicast DNS. Queries (id 0, to the group) are keyed by name and type
 * rather than by addresses, since the answer comes from whoever has the
 * name and goes to the group; the first answer within the window pairs
 * with the query. mDNS answers usually carry no question: the first
 * record, answer or question, names what it is about.
 */
/* No namespace in the key: a multicast packet reaches every namespace on
 * the link, and is the same query (or answer) in all of them. */
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

/* FNV-1a over the wire name, case folded: mDNS names match regardless of
 * case. */
static __always_inline __u64 name_hash(const __u8 *name, __u32 len)
{
	__u64 h = 14695981039346656037ULL;

	for (int i = 0; i < DT_NAME_WIRE_MAX; i++) {
		__u8 c;

		if (i >= len)
			break;
		c = name[i & 0xff];
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
}

static __always_inline void mdns_query(struct dt_mdns_scratch *s, struct dt_packet *p,
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

	emit(&rep, dt_rcode_mask & (1U << (bpf_ntohs(h->flags) & 0xf)), &dt_mdns_pending,
	     &s->key, DT_STAT_ANSWERED);
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
	s->key.name_hash = name_hash(s->mq.q.name, name_len);
	s->key.qtype = qtype;
	s->key.name_len = name_len;

	if (flags & DT_DNS_QR)
		mdns_answer(s, p, h, dev, netns, dir, qclass);
	else
		mdns_query(s, p, dev, netns, dir, qclass, flags);
	return 0;
}

/*
 * Encrypted DNS (DoT on TCP 853, DoQ on UDP 853): nothing to decode, but
 * the operator should know that it happens, between whom, how much, and
 * for how long. Counted at the first observation point only.
 */
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

/* ctx: the program's context, for telling the task's own context apart
 * (typed: the arguments on the caller's stack; classic: the event). */
static __always_inline int handle_skb(void *ctx, struct sk_buff *skb, __u8 dir,
				      enum dt_reader_kind rk)
{
	struct dt_reader r;
	struct dt_packet p;
	struct net_device *dev;
	__u16 l3proto = RD(rk, skb, protocol);
	__u16 nh;
	long net_off;
	__u32 netns;
	struct bpf_dynptr dp;

	if (l3proto != bpf_htons(ETH_P_IP) && l3proto != bpf_htons(ETH_P_IPV6))
		return 0;
	nh = RD(rk, skb, network_header);
	if (nh == 0xffff)
		return 0;
	r.data = RD(rk, skb, data);
	net_off = (long)nh - (long)(r.data - RD(rk, skb, head));
	if (net_off < 0 || net_off > 1024)
		return 0;
	r.len = RD(rk, skb, len);
	r.headlen = r.len - RD(rk, skb, data_len);
	r.dp = &dp;
	if (reads_dynptr(rk)) {
		if (bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, &dp))
			return 0;
	}

	if (parse_l3l4(&r, rk, net_off, l3proto, &p))
		return 0;
	stat_inc(DT_STAT_DNS_PACKETS);
	/* Only a local egress on a socket can be attributed: the test is
	 * made for those only. */
	p.task_ctx = dir == DT_DIR_EGRESS && RD(rk, skb, sk) && task_context(ctx, rk);

	dev = RD(rk, skb, dev);
	if (!dev)
		return 0;
	netns = reads_typed(rk) ? dev->nd_net.net->ns.inum
				: BPF_CORE_READ(dev, nd_net.net, ns.inum);

	if (p.service == DT_SERVICE_DOT || p.service == DT_SERVICE_DOQ) {
		handle_encrypted(&p, rk, dir, netns, dev);
	} else if (!reads_dynptr(rk)) {
		/* TCP payloads sit in page fragments: plain UDP DNS only. */
		if (p.proto == DT_PROTO_TCP || p.service == DT_SERVICE_MDNS)
			stat_inc(DT_STAT_NONLINEAR);
		else
			handle_message(skb, &r, rk, dir, &p, netns);
	} else if (p.service == DT_SERVICE_MDNS) {
		dt_mdns(skb, &p, netns, dir);
	} else if (p.proto == DT_PROTO_TCP) {
		handle_tcp(skb, &r, dir, &p, netns, dev);
	} else {
		dt_message(skb, &p, netns, dir);
	}
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(dt_egress, struct sk_buff *skb)
{
	return handle_skb(ctx, skb, DT_DIR_EGRESS, DT_READ_DYNPTR);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(dt_ingress, struct sk_buff *skb)
{
	return handle_skb(ctx, skb, DT_DIR_INGRESS, DT_READ_DYNPTR);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(dt_egress_linear, struct sk_buff *skb)
{
	return handle_skb(ctx, skb, DT_DIR_EGRESS, DT_READ_LINEAR);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(dt_ingress_linear, struct sk_buff *skb)
{
	return handle_skb(ctx, skb, DT_DIR_INGRESS, DT_READ_LINEAR);
}

/*
 * Classic tracepoints, for kernels that expose no BTF of their own (typed
 * tracepoints need it): the skb comes as an address in the trace event,
 * every kernel field is read with CO-RE probe reads relocated against the
 * --btf file, and packets are read by the linear reader. Plain UDP DNS.
 */
SEC("tracepoint/net/net_dev_queue")
int dt_egress_classic(struct trace_event_raw_net_dev_template *ctx)
{
	return handle_skb(ctx, (struct sk_buff *)ctx->skbaddr, DT_DIR_EGRESS, DT_READ_CLASSIC);
}

SEC("tracepoint/net/netif_receive_skb")
int dt_ingress_classic(struct trace_event_raw_net_dev_template *ctx)
{
	return handle_skb(ctx, (struct sk_buff *)ctx->skbaddr, DT_DIR_INGRESS, DT_READ_CLASSIC);
}

struct dt_sweep_ctx {
	__u64 now;
	__u64 seen;
};

/* Expired so far in this sweep. A global, not a field of the callbacks'
 * context: the verifier would track a context counter compared against the
 * budget exactly, one state per value, and give up. */
__u64 dt_sweep_expired = 0;

/* Timeouts one sweep may report: about 6.5 MiB of the 8 MiB ring buffer,
 * so that a flood of unanswered queries cannot overflow it. User space
 * reads the records and sweeps again when a sweep used it all
 * (dt_sweep_more). */
#define DT_SWEEP_BUDGET 16384

/* A query unanswered for dt_timeout_ns: a TIMEOUT record. */
static long expire_query(void *map, struct dt_key *key, struct dt_pending *q,
			 struct dt_sweep_ctx *c)
{
	c->seen++;
	if ((__s64)(c->now - q->ts) < (__s64)dt_timeout_ns || dt_sweep_expired >= DT_SWEEP_BUDGET)
		return 0;
	dt_sweep_expired++;

	struct dt_report rep = {
		.kind = DT_KIND_TIMEOUT,
		.service = DT_SERVICE_DNS,
		.q = q,
		.ends = key,
	};

	emit(&rep, dt_rcode_mask & (1U << DT_RCODE_TIMEOUT_BIT), &dt_pending, key,
	     DT_STAT_TIMEOUTS);
	return 0;
}

/* An mDNS query no answer came to within DT_MDNS_WINDOW_NS. */
static long expire_mdns(void *map, struct dt_mdns_key *key, struct dt_mdns_pending *m,
			struct dt_sweep_ctx *c)
{
	struct dt_key ends;
	__u32 group_words[4] = {};
	__u8 *group = (__u8 *)group_words;

	if ((__s64)(c->now - m->q.ts) < (__s64)DT_MDNS_WINDOW_NS ||
	    dt_sweep_expired >= DT_SWEEP_BUDGET)
		return 0;
	dt_sweep_expired++;
	/* Asked of the group: no server answered. */
	if (m->family == 4) {
		group[0] = 224;
		group[3] = 251;
	} else {
		group[0] = 0xff;
		group[1] = 0x02;
		group[15] = 0xfb;
	}
	mdns_ends(&ends, m->client_addr, m->client_port, group, DT_MDNS_PORT, m->family);

	struct dt_report rep = {
		.kind = DT_KIND_TIMEOUT,
		.service = DT_SERVICE_MDNS,
		.q = &m->q,
		.ends = &ends,
	};

	emit(&rep, dt_rcode_mask & (1U << DT_RCODE_TIMEOUT_BIT), &dt_mdns_pending, key,
	     DT_STAT_TIMEOUTS);
	return 0;
}

/* An encrypted connection idle for DT_CONN_IDLE_NS, or every open one at
 * the last sweep (dt_sweep_flush). */
static long expire_conn(void *map, struct dt_key *key, struct dt_conn *conn,
			struct dt_sweep_ctx *c)
{
	if (dt_sweep_expired >= DT_SWEEP_BUDGET)
		return 0;
	if (dt_sweep_flush || (__s64)(c->now - conn->last_ts) >= (__s64)DT_CONN_IDLE_NS) {
		dt_sweep_expired++;
		emit_conn(key, conn);
	}
	return 0;
}

/* Run by user space (BPF_PROG_RUN) every few hundred milliseconds. */
SEC("syscall")
int dt_sweep(void *ctx)
{
	struct dt_sweep_ctx c = { .now = bpf_ktime_get_ns() };

	dt_sweep_expired = 0;
	bpf_for_each_map_elem(&dt_pending, expire_query, &c, 0);
	dt_last_occupancy = c.seen;
	bpf_for_each_map_elem(&dt_mdns_pending, expire_mdns, &c, 0);
	bpf_for_each_map_elem(&dt_conns, expire_conn, &c, 0);
	dt_sweep_more = dt_sweep_expired >= DT_SWEEP_BUDGET;
	return 0;
}
