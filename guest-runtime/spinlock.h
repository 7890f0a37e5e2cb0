/*
 * Spinlocks and a barrier for any guest: a ticket lock, a paravirtual
 * ticket lock (spins for pv_spin_cycles, then blocks in the WAIT hypercall;
 * the unlocker KICKs the next ticket's holder only if it waits) and a
 * sense-reversing barrier with the same spin-then-wait choice.
 * `self` is the calling vCPU's id (main runs on 0, ap_main gets its id).
 */
#ifndef BEYOND_SPINLOCK_H
#define BEYOND_SPINLOCK_H

#include <stdint.h>

#define SPIN_MAX_VCPUS 64

struct ticket_lock {
	uint32_t next, owner;
};

struct pv_lock {
	struct ticket_lock t;
	uint64_t waiters;                    /* bit i: vCPU i may be blocked in WAIT */
	uint32_t want[SPIN_MAX_VCPUS];       /* the ticket vCPU i waits for */
};

struct barrier {
	uint32_t n;                          /* vCPUs that meet */
	uint32_t count, sense;
	int pv;                              /* block in WAIT after spinning */
	uint64_t waiters;
	uint8_t local_sense[SPIN_MAX_VCPUS];
};

/* How long a PV waiter spins before it blocks (TSC cycles); the default is about 20 us at 3 GHz. */
extern uint64_t pv_spin_cycles;
/* PV hypercalls made by vCPU i: WAITs and KICKs. */
extern uint64_t pv_waits[SPIN_MAX_VCPUS], pv_kicks[SPIN_MAX_VCPUS];

void ticket_lock(struct ticket_lock *l);
void ticket_unlock(struct ticket_lock *l);
void pv_lock(struct pv_lock *l, unsigned self);
void pv_unlock(struct pv_lock *l, unsigned self);

void barrier_init(struct barrier *b, unsigned n, int pv);
void barrier_wait(struct barrier *b, unsigned self);

/* The hypercalls themselves: WAIT returns enum beyond_wait_ret; KICK how many were waiting. */
uint64_t pv_wait(uint64_t timeout_ns);
uint64_t pv_kick(uint64_t vcpus);
void pv_yield(uint64_t target);

#endif
