/* The scheduler workloads (sched.h). */
#include "guest-runtime/workloads/sched.h"

static inline uint64_t tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* About 100 ns of private arithmetic the compiler cannot drop. */
static uint64_t work_unit(uint64_t x)
{
	for (int i = 0; i < 64; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

static void note_wait(struct beyond_sched_result *r, uint64_t w)
{
	unsigned b = w ? 63 - (unsigned)__builtin_clzll(w) : 0;
	r->wait_cycles += w;
	if (w > r->wait_max)
		r->wait_max = w;
	r->hist[b < BEYOND_SCHED_HIST ? b : BEYOND_SCHED_HIST - 1]++;
}

void sched_workload_run(const struct sched_plan_wl *p, unsigned self, struct beyond_sched_result *r)
{
	const struct sched_sync *s = p->sync;
	uint64_t x = 0x9e3779b97f4a7c15ull * (self + 1), now;
	*r = (struct beyond_sched_result){ .workload = p->workload, .lock = p->lock, .vcpu = self };
	while (tsc() < p->start)
		__asm__ volatile("pause");
	uint64_t end = p->start + p->cycles, round = 0;
	uint64_t *stop_round = &p->shared[SCHED_SHARED_STOP];
	for (;;) {
		now = tsc();
		if (p->workload != SCHED_WL_BARRIER && now >= end)
			break;
		switch (p->workload) {
		case SCHED_WL_LOCK:
			s->lock(s->ctx, self);
			note_wait(r, tsc() - now);
			for (int i = 0; i < 8; i++)
				p->shared[i] += x >> i; /* the short critical section */
			s->unlock(s->ctx, self);
			x = work_unit(x);
			break;
		case SCHED_WL_BARRIER:
			for (int i = 0; i < SCHED_BARRIER_UNITS; i++)
				x = work_unit(x);
			/*
			 * Every vCPU must meet every round: the first to see the
			 * time up names the round after which all stop.
			 */
			now = tsc();
			if (now >= end)
				__atomic_compare_exchange_n(stop_round, &(uint64_t){ ~0ull }, round, 0,
							    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
			s->barrier(s->ctx, self);
			note_wait(r, tsc() - now);
			if (__atomic_load_n(stop_round, __ATOMIC_SEQ_CST) <= round++) {
				r->ops++;
				goto done;
			}
			break;
		default:
			x = work_unit(x);
		}
		r->ops++;
	}
done:
	r->cycles = tsc() - p->start;
	p->shared[8 + (self & 7)] = x; /* keeps the private work observable */
}

const char *sched_workload_name(unsigned w)
{
	static const char *const names[SCHED_WORKLOADS] = { "lock", "barrier", "independent" };
	return w < SCHED_WORKLOADS ? names[w] : "?";
}

const char *sched_lock_name(unsigned l)
{
	static const char *const names[SCHED_LOCKS] = { "ticket", "pv" };
	return l < SCHED_LOCKS ? names[l] : "?";
}
