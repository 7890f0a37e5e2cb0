/* Ticket and paravirtual spinlocks, and a barrier (spinlock.h). */
#include "guest-runtime/beyond.h"
#include "guest-runtime/spinlock.h"

uint64_t pv_spin_cycles = 1u << 16;
uint64_t pv_waits[SPIN_MAX_VCPUS], pv_kicks[SPIN_MAX_VCPUS];

#define LOAD(p) __atomic_load_n(p, __ATOMIC_ACQUIRE)

uint64_t pv_wait(uint64_t timeout_ns)
{
	struct beyond_hc_wait a = { .timeout_ns = timeout_ns };
	hypercall(BEYOND_HC_WAIT, &a);
	return a.ret;
}

uint64_t pv_kick(uint64_t vcpus)
{
	struct beyond_hc_kick a = { .vcpus = vcpus };
	hypercall(BEYOND_HC_KICK, &a);
	return a.ret;
}

void pv_yield(uint64_t target)
{
	struct beyond_hc_yield a = { .target = target };
	hypercall(BEYOND_HC_YIELD, &a);
}

void ticket_lock(struct ticket_lock *l)
{
	uint32_t t = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	while (LOAD(&l->owner) != t)
		cpu_relax();
}

void ticket_unlock(struct ticket_lock *l)
{
	__atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

/* Spins up to pv_spin_cycles for *word == value; 1 if it got there. */
static int spin_for(const uint32_t *word, uint32_t value)
{
	uint64_t end = rdtsc() + pv_spin_cycles;
	while (LOAD(word) != value) {
		if (rdtsc() > end)
			return 0;
		cpu_relax();
	}
	return 1;
}

/*
 * Blocks until *word == value: publish the wait (waiters bit), check once
 * more, then WAIT. Whoever changes *word reads the bits after the change,
 * so either we see the change or it sees our bit and kicks (a kick that
 * comes before our WAIT makes it return at once).
 */
static void wait_for(const uint32_t *word, uint32_t value, uint64_t *waiters, unsigned self)
{
	while (!spin_for(word, value)) {
		__atomic_fetch_or(waiters, 1ull << self, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != value) {
			pv_waits[self]++;
			pv_wait(0);
		}
		__atomic_fetch_and(waiters, ~(1ull << self), __ATOMIC_SEQ_CST);
	}
}

void pv_lock(struct pv_lock *l, unsigned self)
{
	uint32_t t = __atomic_fetch_add(&l->t.next, 1, __ATOMIC_RELAXED);
	l->want[self] = t;
	wait_for(&l->t.owner, t, &l->waiters, self);
}

void pv_unlock(struct pv_lock *l, unsigned self)
{
	uint32_t next = l->t.owner + 1;
	__atomic_store_n(&l->t.owner, next, __ATOMIC_SEQ_CST);
	uint64_t w = __atomic_load_n(&l->waiters, __ATOMIC_SEQ_CST);
	/* Kick only the vCPU whose turn it is, and only if it may be blocked. */
	for (; w; w &= w - 1) {
		unsigned i = (unsigned)__builtin_ctzll(w);
		if (__atomic_load_n(&l->want[i], __ATOMIC_RELAXED) == next) {
			pv_kicks[self]++;
			pv_kick(1ull << i);
			break;
		}
	}
}

void barrier_init(struct barrier *b, unsigned n, int pv)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	b->pv = pv;
}

void barrier_wait(struct barrier *b, unsigned self)
{
	uint32_t sense = b->local_sense[self] ^= 1;
	if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->n) {
		b->count = 0;
		__atomic_store_n(&b->sense, sense, __ATOMIC_SEQ_CST);
		uint64_t w = __atomic_load_n(&b->waiters, __ATOMIC_SEQ_CST);
		if (w) {
			pv_kicks[self]++;
			pv_kick(w);
		}
		return;
	}
	if (b->pv)
		wait_for(&b->sense, sense, &b->waiters, self);
	else
		while (LOAD(&b->sense) != sense)
			cpu_relax();
}
