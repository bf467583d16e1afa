/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Who sent a packet: the process, when the hook runs in its own context,
 * and nobody otherwise. A wrong name is worse than none.
 */
#ifndef DNSTRACE_CONTEXT_BPF_H
#define DNSTRACE_CONTEXT_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "dnstrace.h"
#include "reader.bpf.h"

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

/* A task's comm, as a global function's argument must be typed. */
struct dt_comm {
	char c[DT_COMM_LEN];
};

/*
 * The current task's thread group: its leader's name into comm, and its
 * pid; 0 for a kernel thread (threaded NAPI, workqueues relay packets for
 * others).
 */
static __always_inline __u32 current_sender(char *comm, enum dt_reader_kind rk)
{
	struct task_struct *task, *leader;

	task = current_task(rk);
	if (RD(rk, task, flags) & PF_KTHREAD)
		return 0;
	leader = RD(rk, task, group_leader);
	copy_kstr16(comm, leader->comm, rk);
	return bpf_get_current_pid_tgid() >> 32;
}

/*
 * The same, as a global function for the dynptr programs: the verifier
 * checks it once per program. Each load of a pointer from a trusted
 * one (the task's group leader here, the skb's socket below) has the
 * verifier search the kernel's BTF by name, linearly, at every state
 * that reaches it.
 */
__noinline __u32 dt_current_sender(struct dt_comm *out)
{
	if (!out)
		return 0;
	return current_sender(out->c, DT_READ_DYNPTR);
}

/*
 * The process that sent a packet, when the hook runs in its context: a
 * local egress on a socket, not in a softirq and not from a kernel thread.
 * Fills comm with the thread group leader's name (resolvers send from
 * named worker threads); returns 0 when the sender cannot be trusted.
 */
static __always_inline __u32 packet_sender(__u8 dir, bool task_ctx, char *comm,
					   enum dt_reader_kind rk)
{
	comm[0] = 0;
	if (dir != DT_DIR_EGRESS || !task_ctx)
		return 0;
	if (reads_dynptr(rk))
		return dt_current_sender((struct dt_comm *)comm);
	return current_sender(comm, rk);
}

/*
 * The cgroup (v2) of the socket a packet leaves from, 0 when none: set
 * when the socket was made, so it names the sender's container even when
 * the packet is sent from softirq context, or by a process that has
 * exited by the time its answer comes. Read at a query's first sighting
 * (and at a sighting through NAT of one already known).
 */
static __always_inline __u64 skb_socket_cgroup(struct sk_buff *skb, enum dt_reader_kind rk)
{
	struct kernfs_node *kn;
	struct sock *sk;
	struct cgroup *cg;
	__u8 state;

	/* The cgroup pointer, not the older union of it with a v1 id. */
	if (!bpf_core_field_exists(struct sock, sk_cgrp_data) ||
	    !bpf_core_field_exists(struct sock_cgroup_data, cgroup))
		return 0;
	sk = RD(rk, skb, sk);
	if (!sk)
		return 0;
	state = RD(rk, sk, __sk_common.skc_state);
	if (state == DT_TCP_TIME_WAIT || state == DT_TCP_NEW_SYN_RECV)
		return 0;
	cg = RD(rk, sk, sk_cgrp_data.cgroup);
	if (!cg)
		return 0;
	kn = RD(rk, cg, kn);
	return kn ? RD(rk, kn, id) : 0;
}

/* As dt_current_sender, for the same reason. */
__noinline __u64 dt_socket_cgroup(struct sk_buff *skb __arg_trusted)
{
	return skb_socket_cgroup(skb, DT_READ_DYNPTR);
}

static __always_inline __u64 socket_cgroup(struct sk_buff *skb, __u8 dir,
					   enum dt_reader_kind rk)
{
	if (dir != DT_DIR_EGRESS)
		return 0;
	if (reads_dynptr(rk))
		return dt_socket_cgroup(skb);
	return skb_socket_cgroup(skb, rk);
}

#endif /* DNSTRACE_CONTEXT_BPF_H */
