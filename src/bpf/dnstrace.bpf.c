// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dnstrace kernel side: sees every packet leaving (net_dev_queue) and
 * entering (netif_receive_skb) any interface in any network namespace,
 * keeps the DNS queries, pairs each with its response at the observation
 * point nearest the client, and sends only finished transactions to user
 * space. Unanswered queries are expired by dt_sweep, which user space runs
 * periodically.
 *
 * Every program is here; the headers hold the parts, by concern:
 *   maps.bpf.h       settings, state user space reads, every map
 *   reader.bpf.h     the three kinds of program, and reading packet bytes
 *   context.bpf.h    who sent a packet
 *   parse.bpf.h      IP, UDP and TCP headers; the DNS header and question
 *   emit.bpf.h       records for user space, one way for every kind
 *   nat.bpf.h        one query through NAT: conntrack and aliases
 *   query.bpf.h      unicast DNS: queries, responses, ICMP errors, pairing
 *   tcp.bpf.h        DNS messages in TCP streams
 *   mdns.bpf.h       multicast DNS
 *   encrypted.bpf.h  DoT and DoQ connections
 *   sweep.bpf.h      timeouts
 * User space loads one pair of packet programs (dynptr, linear or
 * classic; see reader.bpf.h) and dt_sweep.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "dnstrace.h"
#include "maps.bpf.h"
#include "reader.bpf.h"
#include "context.bpf.h"
#include "parse.bpf.h"
#include "emit.bpf.h"
#include "nat.bpf.h"
#include "query.bpf.h"
#include "tcp.bpf.h"
#include "mdns.bpf.h"
#include "encrypted.bpf.h"
#include "sweep.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ctx: the program's context, for telling the task's own context apart
 * (typed: the arguments on the caller's stack; classic: the event). */
static __always_inline int handle_skb(void *ctx, struct sk_buff *skb, __u8 dir,
				      enum dt_reader_kind rk)
{
	struct dt_reader r;
	struct dt_packet p;
	struct net_device *dev = NULL;
	struct sock *sk = NULL;
	__u16 l3proto = RD(rk, skb, protocol);
	__u16 nh;
	long net_off;
	__u32 netns;
	int parsed;
	struct bpf_dynptr dp;

	if (l3proto != bpf_htons(ETH_P_IP) && l3proto != bpf_htons(ETH_P_IPV6))
		return 0;
	/* Typed programs read the skb's pointers before the headers are
	 * parsed: for a pointer loaded from a trusted one, the verifier
	 * searches the kernel's BTF by name, linearly, at every state that
	 * reaches the load, and parsing leaves about twenty; here there is
	 * one. Classic programs read them through probes, which cost at run
	 * time: only for the packets that are DNS. */
	if (reads_typed(rk)) {
		dev = skb->dev;
		sk = dir == DT_DIR_EGRESS ? skb->sk : NULL;
		if (!dev)
			return 0;
	}
	nh = RD(rk, skb, network_header);
	if (nh == 0xffff)
		return 0;
	r.data = RD(rk, skb, data);
	net_off = (long)nh - (long)(r.data - RD(rk, skb, head));
	if (net_off < 0 || net_off > 1024)
		return 0;
	r.len = RD(rk, skb, len);
	r.held = 0;
	r.headlen = r.len - RD(rk, skb, data_len);
	r.dp = &dp;
	if (reads_dynptr(rk)) {
		if (bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, &dp))
			return 0;
	}

	parsed = parse_l3l4(&r, rk, net_off, l3proto, &p);
	if (parsed < 0)
		return 0;
	stat_inc(DT_STAT_DNS_PACKETS);
	p.nfct = packet_nfct(skb, rk);
	if (!reads_typed(rk)) {
		dev = BPF_CORE_READ(skb, dev);
		sk = dir == DT_DIR_EGRESS ? BPF_CORE_READ(skb, sk) : NULL;
		if (!dev)
			return 0;
	}
	/* Only a local egress on a socket can be attributed: the test is
	 * made for those only. */
	p.task_ctx = sk && task_context(ctx, rk);
	netns = reads_typed(rk) ? dev->nd_net.net->ns.inum
				: BPF_CORE_READ(dev, nd_net.net, ns.inum);

	if (parsed == DT_PARSED_ICMP) {
		handle_unreachable(&r, rk, &p, netns, dev);
	} else if (p.service == DT_SERVICE_DOT || p.service == DT_SERVICE_DOQ) {
		handle_encrypted(skb, &p, rk, dir, netns, dev);
	} else if (!reads_dynptr(rk)) {
		/* TCP payloads sit in page fragments: plain UDP DNS only. */
		if (p.proto == DT_PROTO_TCP || p.service == DT_SERVICE_MDNS)
			stat_inc(DT_STAT_NONLINEAR);
		else
			handle_message(skb, &r, rk, dir, &p, netns, dev);
	} else if (p.service == DT_SERVICE_MDNS) {
		dt_mdns(skb, &p, netns, dir);
	} else if (p.proto == DT_PROTO_TCP) {
		dt_tcp(skb, &p, netns, dir);
	} else {
		dt_message(skb, &p, netns, dir, 0);
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

/* Run by user space (BPF_PROG_RUN) every few hundred milliseconds. */
SEC("syscall")
int dt_sweep(void *ctx)
{
	struct dt_sweep_ctx c = { .now = bpf_ktime_get_ns() };

	dt_sweep_expired = 0;
	bpf_for_each_map_elem(&dt_pending, expire_query, &c, 0);
	dt_last_occupancy = c.seen;
	dt_last_queries_left = c.queries_left;
	dt_last_twins_left = c.twins_left;
	bpf_for_each_map_elem(&dt_mdns_pending, expire_mdns, &c, 0);
	bpf_for_each_map_elem(&dt_conns, expire_conn, &c, 0);
	dt_sweep_more = dt_sweep_expired >= DT_SWEEP_BUDGET;
	return 0;
}
