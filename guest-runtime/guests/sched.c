/* guest: scheduler workloads on every vCPU (sched lock|barrier|independent ticket|pv MS), reports records */
#include "guest-runtime/beyond.h"
#include "guest-runtime/spinlock.h"
#include "guest-runtime/workloads/sched.h"

static struct ticket_lock tlock;
static struct pv_lock plock;
static struct barrier bar;
static uint64_t shared[SCHED_SHARED_WORDS];
static struct sched_plan_wl plan;
static struct sched_sync sync;
static uint32_t go, done;

static void t_lock(void *c, unsigned self) { (void)c, (void)self; ticket_lock(&tlock); }
static void t_unlock(void *c, unsigned self) { (void)c, (void)self; ticket_unlock(&tlock); }
static void p_lock(void *c, unsigned self) { (void)c; pv_lock(&plock, self); }
static void p_unlock(void *c, unsigned self) { (void)c; pv_unlock(&plock, self); }
static void b_wait(void *c, unsigned self) { (void)c; barrier_wait(&bar, self); }

static void run(unsigned self)
{
	struct beyond_sched_result r;
	sched_workload_run(&plan, self, &r);
	r.waits = pv_waits[self];
	r.kicks = pv_kicks[self];
	struct beyond_hc_result a = { .type = BEYOND_RESULT_SCHED, .len = sizeof(r), .buf = (uint64_t)(uintptr_t)&r };
	hypercall(BEYOND_HC_RESULT, &a);
	__atomic_fetch_add(&done, 1, __ATOMIC_SEQ_CST);
}

void ap_main(unsigned id)
{
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		cpu_relax();
	run(id);
}

static int find(const char *s, const char *(*name)(unsigned), unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(s, name(i)) == 0)
			return (int)i;
	return -1;
}

int main(int argc, char **argv)
{
	int w = argc == 4 ? find(argv[1], sched_workload_name, SCHED_WORKLOADS) : -1;
	int l = argc == 4 ? find(argv[2], sched_lock_name, SCHED_LOCKS) : -1;
	const char *end;
	uint64_t ms = argc == 4 ? strtou64(argv[3], &end) : 0;
	if (w < 0 || l < 0 || ms == 0 || *end || ms > 3600000 || !boot_info.tsc_hz) {
		printf("usage: sched lock|barrier|independent ticket|pv MILLISECONDS\n");
		return 2;
	}
	unsigned n = boot_info.vcpu_count;
	pv_spin_cycles = boot_info.tsc_hz / 50000; /* spin 20 us, then wait */
	barrier_init(&bar, n, l == SCHED_LOCK_PV);
	sync = (struct sched_sync){ .barrier = b_wait,
		.lock = l == SCHED_LOCK_PV ? p_lock : t_lock, .unlock = l == SCHED_LOCK_PV ? p_unlock : t_unlock };
	shared[SCHED_SHARED_STOP] = ~0ull;
	/* Everyone starts 1 ms from now: the other vCPUs are spinning on `go` already. */
	plan = (struct sched_plan_wl){ .workload = (unsigned)w, .lock = (unsigned)l, .sync = &sync,
		.shared = shared, .cycles = boot_info.tsc_hz / 1000 * ms, .start = rdtsc() + boot_info.tsc_hz / 1000 };
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	run(0);
	while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != n)
		cpu_relax();
	return 0;
}
