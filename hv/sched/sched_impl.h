/* What the scheduler's files share: per-VM and per-vCPU state (hv/sched/). */
#ifndef BEYOND_SCHED_IMPL_H
#define BEYOND_SCHED_IMPL_H

#include <pthread.h>
#include <time.h>
#include "hv/sched/sched.h"
#include "hv/vm.h"

struct sched_counters {
	uint64_t cpu_ns;             /* the vCPU thread's CPU time: in the guest and its exits */
	uint64_t steal_ns;           /* runnable but not running (descheduled, or Linux ran another) */
	uint64_t wait_ns;            /* blocked in WAIT (and gang YIELD) */
	uint64_t slices, kicks, waits, yields;
};

/* Everything below is guarded by the VM's lock (vm->lock), waited on with vm->changed. */
struct sched_vcpu {
	struct sched_vm *svm;
	struct vcpu *v;
	int allowed;                 /* the scheduler lets it run (written under the lock, read atomically too) */
	int in_run;                  /* atomic: from sched_gate()'s return until KVM_RUN returned */
	int waiting;                 /* blocked in WAIT or a gang YIELD */
	int parked;                  /* idle until the VM ends (the park hypercall): never runnable again */
	int kick_pending;
	int want_cpu, on_cpu;        /* owned-CPU index (gang), -1: all owned CPUs; -2: not pinned yet */
	int registered;
	pthread_t tid;
	clockid_t clock;
	uint64_t cpu_seen;           /* thread CPU time at the last sample */
	uint64_t wait_seen;          /* c.wait_ns at the last sample */
	uint64_t wait_mark;          /* while waiting: up to when c.wait_ns counts the wait */
	struct sched_counters c;
};

struct sched_vm {
	struct sched *s;             /* NULL: PV hypercalls only, no scheduler */
	struct vm *vm;
	int index;                   /* in s->state */
	int running;                 /* in the current plan */
	uint64_t held_since;         /* gang: when it last got its CPUs */
	uint64_t held_ns;            /* gang: CPU-ns held in slices it was stopped in since the last sample */
	uint64_t slice_end;
	unsigned demanding;          /* vCPUs neither waiting nor yielding */
	struct sched_vcpu *vcpus;
};

struct sched {
	struct sched_options o;
	struct sched_state state;
	struct sched_vm *vms[SCHED_MAX_VMS];
	char group_names[SCHED_MAX_GROUPS][64];
	int wake_fd;                 /* eventfd: a VM's demand changed or it ended */
	int left_fd;                 /* eventfd: a stopped vCPU left KVM_RUN (gang hand-off) */
	int stop;
	int seccomp;                 /* the scheduler and the run's own threads arm their filters */
	pthread_t thread;
	uint64_t late_handoffs;      /* gang: slices started before every stopped vCPU had left */
	struct sched_event *trace;   /* sched_trace_start(): events, first trace_cap of them kept */
	size_t trace_cap, trace_n;   /* trace_n: atomic, may pass trace_cap (what was dropped) */
};

/* Asks the scheduler thread to decide again now (gang: CPUs fell idle or are wanted). */
void sched_poke(struct sched *s);
/* Attaches a VM being set up (module.c); 0, or -1 with a reason. */
int sched_attach(struct sched *s, struct sched_vm *svm, const char *group, const struct sched_share *p,
		 char *err, size_t errlen);
/* One vCPU's demand changed by delta (under vm->lock); pokes a gang scheduler when the VM's flips. */
void sched_demand_change(struct sched_vm *svm, int delta);

#endif
