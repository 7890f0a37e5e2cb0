/*
 * The scheduler workloads, run by every vCPU of the `sched` guest:
 *
 *   lock         a short critical section on shared data under one lock,
 *                then a little private work (lock-holder preemption hurts)
 *   barrier      a fixed piece of private work, then a barrier, in rounds
 *   independent  private work only: what co-scheduling costs when not needed
 *
 * The synchronisation comes in through sched_sync (ticket or PV locks from
 * guest-runtime/spinlock.h), so this file needs nothing of the runtime.
 * Each vCPU fills one struct beyond_sched_result.
 */
#ifndef BEYOND_WORKLOAD_SCHED_H
#define BEYOND_WORKLOAD_SCHED_H

#include <stdint.h>
#include "guest-runtime/abi.h"

struct sched_sync {
	void (*lock)(void *ctx, unsigned self);
	void (*unlock)(void *ctx, unsigned self);
	void (*barrier)(void *ctx, unsigned self);
	void *ctx;
};

struct sched_plan_wl {
	unsigned workload;          /* enum beyond_sched_workload */
	unsigned lock;              /* enum beyond_sched_lock, for the record */
	uint64_t cycles;            /* how long each vCPU runs (TSC) */
	uint64_t start;             /* TSC at which all begin */
	const struct sched_sync *sync;
	uint64_t *shared;           /* SCHED_SHARED_WORDS, zeroed */
};

/* shared[]: 8 words the critical section updates, 8 results, the barrier's stop round (~0 first). */
#define SCHED_SHARED_STOP 16
#define SCHED_SHARED_WORDS 17

/* Work units: the barrier workload computes this many per round, the lock workload one per section. */
#define SCHED_BARRIER_UNITS 64

void sched_workload_run(const struct sched_plan_wl *p, unsigned self, struct beyond_sched_result *r);
const char *sched_workload_name(unsigned w);
const char *sched_lock_name(unsigned l);

#endif
