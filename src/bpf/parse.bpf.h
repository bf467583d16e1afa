/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * From packet bytes to what the program keys and reports: the IP and UDP
 * or TCP headers (the ports say which service it is), then the DNS header
 * and the first question.
 */
#ifndef DNSTRACE_PARSE_BPF_H
#define DNSTRACE_PARSE_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "dnstrace.h"
#include "maps.bpf.h"
#include "reader.bpf.h"

struct dt_packet {
	__u64 nfct;		/* skb->_nfct: conntrack entry and direction, or 0 */
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
	/* An ICMP destination unreachable quoting a query (DT_PARSED_ICMP):
	 * the addresses, ports and DNS header above are the quoted query's. */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 icmp_from[16];	/* who sent the error */
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

/* What parse_l3l4() found. */
#define DT_PARSED_MESSAGE 0
#define DT_PARSED_ICMP 1

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
	if (l4->proto != IPPROTO_UDP && l4->proto != IPPROTO_TCP && l4->proto != IPPROTO_ICMP)
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
	if (next != IPPROTO_UDP && next != IPPROTO_TCP && next != IPPROTO_ICMPV6)
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

/*
 * The IP header an ICMP error quotes, when it carried UDP: its addresses
 * into p, and where its UDP header starts into *udp_off. No extension
 * headers: a DNS query has none.
 */
static __always_inline int quoted_ip(struct dt_reader *r, enum dt_reader_kind rk, __u32 off,
				     struct dt_packet *p, __u32 *udp_off)
{
	if (p->family == 4) {
		struct dt_ip4hdr buf, *ip;
		__u32 ihl;

		ip = rd_slice(r, rk, off, &buf, sizeof(buf));
		if (!ip || (ip->ver_ihl >> 4) != 4 || ip->protocol != IPPROTO_UDP)
			return -1;
		ihl = (ip->ver_ihl & 0xf) * 4;
		if (ihl < sizeof(*ip))
			return -1;
		__builtin_memset(p->saddr, 0, 32);
		__builtin_memcpy(p->saddr, &ip->saddr, 4);
		__builtin_memcpy(p->daddr, &ip->daddr, 4);
		*udp_off = off + ihl;
	} else {
		struct dt_ip6hdr buf, *ip6;

		ip6 = rd_slice(r, rk, off, &buf, sizeof(buf));
		if (!ip6 || ip6->nexthdr != IPPROTO_UDP)
			return -1;
		__builtin_memcpy(p->saddr, ip6->saddr, 16);
		__builtin_memcpy(p->daddr, ip6->daddr, 16);
		*udp_off = off + sizeof(*ip6);
	}
	return 0;
}

/*
 * An ICMP or ICMPv6 destination unreachable that quotes a UDP DNS query:
 * p then describes the quoted query (its addresses, ports and DNS header),
 * and p->icmp_from the error's sender. Fragmentation needed (a path MTU
 * signal) does not fail a query and is left alone; so is an error that
 * quotes less than a DNS header.
 */
static __always_inline int parse_icmp(struct dt_reader *r, enum dt_reader_kind rk,
				      const struct dt_l4 *l4, struct dt_packet *p)
{
	struct {
		__u8 type;
		__u8 code;
		__be16 check;
		__be32 unused;
	} ibuf, *ic;
	struct dt_udphdr ubuf, *udp;
	__u32 inner;
	__u32 end = l4->off + l4->len;

	ic = rd_slice(r, rk, l4->off, &ibuf, sizeof(ibuf));
	if (!ic)
		return -1;
	if (l4->proto == IPPROTO_ICMP ? ic->type != 3 || ic->code == 4 : ic->type != 1)
		return -1;
	p->icmp_type = ic->type;
	p->icmp_code = ic->code;
	__builtin_memcpy(p->icmp_from, p->saddr, 16);
	if (quoted_ip(r, rk, l4->off + sizeof(ibuf), p, &inner))
		return -1;
	udp = rd_slice(r, rk, inner, &ubuf, sizeof(ubuf));
	if (!udp)
		return -1;
	p->sport = bpf_ntohs(udp->source);
	p->dport = bpf_ntohs(udp->dest);
	if (!is_dns_port(p->dport))
		return -1;
	p->service = DT_SERVICE_DNS;
	p->proto = DT_PROTO_UDP;
	p->msg_size = 0;
	if (inner + sizeof(ubuf) + sizeof(struct dt_dnshdr) > end)
		return -1;
	if (set_payload(r, p, inner + sizeof(ubuf), end - inner - sizeof(ubuf)))
		return -1;
	return DT_PARSED_ICMP;
}

/* Walks the IP headers to the UDP or TCP payload. DT_PARSED_MESSAGE when
 * it is on one of our ports (DNS, mDNS, encrypted DNS), DT_PARSED_ICMP for
 * an ICMP error about a query, -1 otherwise. A return value, not a field
 * of p: the verifier follows a register exactly, and so walks each case
 * alone. */
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
	if (l4.proto == IPPROTO_UDP)
		return parse_udp(r, rk, &l4, p);
	return parse_icmp(r, rk, &l4, p);
}

/* A name's buffer, as a global function's argument must be typed: a
 * pointer to a byte would let it read one. */
struct dt_qbuf {
	__u8 b[DT_QBUF_LEN];
};

/* What follows the name in a question. */
struct dt_qtail {
	__u16 qtype;
	__u16 qclass;
};

/*
 * Walks the question's name in buf (avail bytes read, 5..259): its wire
 * length (root label included), qtype and qclass into *tail; or -1 after
 * counting why the question is unusable. At most 128 labels fit in 255
 * bytes.
 *
 * A global function: the verifier checks it once per program, with
 * nothing known of its arguments, instead of once per label at every
 * place a question is read and in every state that reaches it. The
 * callers bound what it returns again. (The numbers iterator instead of
 * the bounded loop made the programs take more to check, not less.)
 */
__noinline int dt_question_walk(const struct dt_qbuf *qb, __u32 avail, struct dt_qtail *tail)
{
	const __u8 *buf;
	__u32 pos = 0;

	if (!qb || !tail)
		return -1;
	buf = qb->b;
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
			tail->qtype = ((__u16)buf[end] << 8) | buf[end + 1];
			tail->qclass = ((__u16)buf[end + 2] << 8) | buf[end + 3];
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
 * Reads the first question into buf (DT_QBUF_LEN bytes: name then qtype,
 * qclass). Returns the name's wire length (root label included), or -1
 * after counting why the question is unusable.
 */
static __always_inline int read_question(struct dt_reader *r, enum dt_reader_kind rk,
					 struct dt_packet *p, __u8 *buf,
					 __u16 *qtype, __u16 *qclass)
{
	__u32 avail = p->dns_len - sizeof(struct dt_dnshdr);
	struct dt_qtail tail = {};
	int len;

	if (avail > DT_NAME_WIRE_MAX + 4)
		avail = DT_NAME_WIRE_MAX + 4;
	if (avail < 5) {
		stat_inc(DT_STAT_MAL_TRUNCATED);
		return -1;
	}
	if (rd_copy(r, rk, p->dns_off + sizeof(struct dt_dnshdr), buf, avail))
		return -1;
	len = dt_question_walk((const struct dt_qbuf *)buf, avail, &tail);
	if (len <= 0 || len > DT_NAME_WIRE_MAX)
		return -1;
	*qtype = tail.qtype;
	*qclass = tail.qclass;
	return len;
}

/*
 * Whether two wire names of len bytes are the same, byte for byte: servers
 * echo the question exactly (0x20 case randomisation relies on it), so an
 * answer naming anything else, even in another case, is not this query's.
 * Compared 8 bytes at a time; both buffers are 8-byte aligned and longer
 * than any name. A global function, checked once per program (as
 * dt_question_walk): 1 when the same.
 */
__noinline int dt_same_name(const struct dt_qbuf *qa, const struct dt_qbuf *qb, __u32 len)
{
	if (!qa || !qb)
		return 0;
	for (int i = 0; i < (DT_NAME_WIRE_MAX + 8) / 8; i++) {
		__u32 off = i * 8;
		__u64 x, y;

		if (off >= len)
			break;
		x = *(const __u64 *)(qa->b + off);
		y = *(const __u64 *)(qb->b + off);
		if (len - off < 8) {
			__u64 mask = (1ULL << ((len - off) * 8)) - 1;

			x &= mask;
			y &= mask;
		}
		if (x != y)
			return 0;
	}
	return 1;
}

static __always_inline bool same_name(const __u8 *a, const __u8 *b, __u32 len)
{
	return dt_same_name((const struct dt_qbuf *)a, (const struct dt_qbuf *)b, len) == 1;
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

#endif /* DNSTRACE_PARSE_BPF_H */
