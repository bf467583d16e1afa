/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * How a program reads kernel fields and packet bytes. Three kinds of
 * program are built from the same code; each passes its kind down as a
 * constant through always-inline functions, so that clang keeps one branch
 * of every test below and no program pays for the others at run time.
 */
#ifndef DNSTRACE_READER_BPF_H
#define DNSTRACE_READER_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"

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

extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym __weak;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *ptr, __u32 offset,
			      void *buffer__opt, __u32 buffer__szk) __ksym __weak;

/* Packet bytes; offsets count from skb->data (the MAC header at egress,
 * the network header at ingress). */
struct dt_reader {
	struct bpf_dynptr *dp;
	unsigned char *data;	/* skb->data, for the linear reader */
	__u32 headlen;		/* linear bytes from skb->data */
	__u32 len;		/* all bytes from skb->data */
	/* Dynptr reader: read the head of a TCP message held from earlier
	 * segments (dt_tcp_scratch_map) instead of the packet, offsets from
	 * its length prefix. */
	__u32 held;
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
	r->held = 0;
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

/* Copy len bytes at off of a held TCP message head; 0 on success. */
static __always_inline long rd_held(__u32 off, void *buf, __u32 len)
{
	struct dt_tcp_scratch *w;
	__u32 zero = 0;

	w = bpf_map_lookup_elem(&dt_tcp_scratch_map, &zero);
	if (!w || off >= DT_TCP_HEAD || len > DT_TCP_HEAD - off)
		return -1;
	barrier_var(off);
	off &= DT_TCP_HEAD_MASK;
	return bpf_probe_read_kernel(buf, len, w->head.buf + off);
}

/*
 * size bytes at off copied into buf (a constant size); buf, or NULL when
 * the message is shorter. Unlike rd_slice, the result is buf whatever the
 * source, so that the verifier's paths for a packet and for a held head
 * meet again after the read.
 */
static __always_inline void *rd_fixed(struct dt_reader *r, enum dt_reader_kind rk, __u32 off,
				      void *buf, __u32 size)
{
	if (!reads_dynptr(rk))
		return rd_slice(r, rk, off, buf, size);
	if (r->held ? rd_held(off, buf, size) : bpf_dynptr_read(buf, size, r->dp, off, 0))
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
		return r->held ? rd_held(off, buf, len) : bpf_dynptr_read(buf, len, r->dp, off, 0);
	if (off > r->headlen || len > r->headlen - off) {
		stat_inc(DT_STAT_NONLINEAR);
		return -1;
	}
	return bpf_probe_read_kernel(buf, len, r->data + off);
}

#endif /* DNSTRACE_READER_BPF_H */
