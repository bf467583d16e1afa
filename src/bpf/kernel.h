/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The few kernel types dnstrace reads, written by hand instead of a
 * generated vmlinux.h. Every struct carries preserve_access_index, so
 * libbpf relocates each field access against the running kernel's BTF at
 * load time: only the field names and types matter here, not their layout
 * or the other members of the kernel's structs.
 */
#ifndef DNSTRACE_KERNEL_H
#define DNSTRACE_KERNEL_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

/* From the UAPI header linux/bpf.h: stable numbers. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_RB_AVAIL_DATA = 0,
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

/* Only for the kfunc prototypes: the kernel checks them against its own. */
struct __sk_buff {
	__u32 len;
};

struct bpf_dynptr {
	__u64 __opaque[2];
} __attribute__((aligned(8)));

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ICMP 1
#define IPPROTO_ICMPV6 58
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;

#define IFF_LOOPBACK 0x8

struct net_device {
	char name[16];
	unsigned int flags;
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

/* A socket's cgroup (cgroup v2; the root where only v1 is mounted):
 * the kernfs node's id is the cgroup's id, the inode of its directory. */
struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct sock_cgroup_data {
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));

struct sock_common {
	volatile unsigned char skc_state;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	struct sock_cgroup_data sk_cgrp_data;
} __attribute__((preserve_access_index));

/* States whose socket is not a full struct sock. */
#define DT_TCP_TIME_WAIT 6
#define DT_TCP_NEW_SYN_RECV 12

struct sk_buff {
	unsigned int len;
	unsigned int data_len;
	__u16 network_header;
	__be16 protocol;
	struct net_device *dev;
	struct sock *sk;
	unsigned char *head;
	unsigned char *data;
	/* The conntrack entry and its direction: (struct nf_conn *) with
	 * enum ip_conntrack_info in the low 3 bits. Only with conntrack
	 * built in or loaded. */
	unsigned long _nfct;
} __attribute__((preserve_access_index));

/*
 * Conntrack, as far as NAT goes. An entry holds two tuples: what the
 * first packet carried (IP_CT_DIR_ORIGINAL: the client and the address it
 * asked) and what an answer must carry (IP_CT_DIR_REPLY: from the backend
 * after DNAT, to the translated source after SNAT).
 */
#define IP_CT_IS_REPLY 3	/* ctinfo from here on: the reply direction */
#define IP_CT_DIR_ORIGINAL 0
#define IP_CT_DIR_REPLY 1
#define IPS_SRC_NAT 0x10
#define IPS_DST_NAT 0x20

union nf_inet_addr {
	__u32 all[4];
};

union nf_conntrack_man_proto {
	__be16 all;
};

/* One end of a tuple: the address, then the port (for UDP and TCP). */
struct nf_conntrack_man {
	union nf_inet_addr u3;
	union nf_conntrack_man_proto u;
} __attribute__((preserve_access_index));

struct nf_conntrack_tuple {
	struct nf_conntrack_man src;
	struct {
		union nf_inet_addr u3;
		union {
			__be16 all;
		} u;
	} dst;
} __attribute__((preserve_access_index));

struct nf_conntrack_tuple_hash {
	struct nf_conntrack_tuple tuple;
} __attribute__((preserve_access_index));

struct nf_conn {
	struct nf_conntrack_tuple_hash tuplehash[2];
	unsigned long status;
} __attribute__((preserve_access_index));

#define PF_KTHREAD 0x00200000

struct task_struct {
	unsigned int flags;
	void *stack;
	struct task_struct *group_leader;
	char comm[16];
	/* PREEMPT_RT kernels only, which serve softirqs on task stacks. */
	int softirq_disable_cnt;
} __attribute__((preserve_access_index));

/* The registers perf takes at a tracepoint (the caller's stack pointer
 * among them); x86-64 and arm64 both name it sp. */
struct pt_regs {
	unsigned long sp;
} __attribute__((preserve_access_index));

/* The classic tracepoints' event records. For a BPF program the kernel
 * puts a pointer to those registers in place of the common fields (the
 * first 8 bytes), so the program may not read them as fields. */
struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

/* State of bpf_for's number iterator (the kernel's struct bpf_iter_num). */
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

struct trace_event_raw_net_dev_template {
	struct trace_entry ent;
	void *skbaddr;
	unsigned int len;
} __attribute__((preserve_access_index));

#endif /* DNSTRACE_KERNEL_H */
