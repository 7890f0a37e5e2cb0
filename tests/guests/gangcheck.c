/*
 * guest: gang invariant from inside (gangcheck MS MAX_PERCENT): every vCPU notes when it was off its CPU
 * (a TSC jump); exits 1 if siblings ran for more than MAX_PERCENT of the time a vCPU was off
 */
#include "guest-runtime/beyond.h"

#define MAX_GAPS 4096
#define MAX_VCPUS 8

struct gap { uint64_t from, to; };
static struct gap gaps[MAX_VCPUS][MAX_GAPS];
static uint32_t n_gaps[MAX_VCPUS], done;
static uint64_t start, end, jump;
static uint32_t go;

static void watch(unsigned self)
{
	uint64_t last = rdtsc(), now;
	while ((now = rdtsc()) < end) {
		if (now - last > jump && n_gaps[self] < MAX_GAPS)
			gaps[self][n_gaps[self]++] = (struct gap){ last, now };
		last = now;
	}
	__atomic_fetch_add(&done, 1, __ATOMIC_SEQ_CST);
}

void ap_main(unsigned id)
{
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		cpu_relax();
	if (id < MAX_VCPUS)
		watch(id);
}

/* How long vCPU b ran within [from, to): the span minus its own gaps there. */
static uint64_t ran_within(unsigned b, uint64_t from, uint64_t to)
{
	uint64_t off = 0;
	for (uint32_t k = 0; k < n_gaps[b]; k++) {
		uint64_t lo = gaps[b][k].from > from ? gaps[b][k].from : from;
		uint64_t hi = gaps[b][k].to < to ? gaps[b][k].to : to;
		if (hi > lo)
			off += hi - lo;
	}
	return to - from - off;
}

int main(int argc, char **argv)
{
	const char *e;
	uint64_t ms = argc == 3 ? strtou64(argv[1], &e) : 0, max_pct = argc == 3 ? strtou64(argv[2], &e) : 0;
	unsigned n = boot_info.vcpu_count < MAX_VCPUS ? boot_info.vcpu_count : MAX_VCPUS;
	if (!ms || !max_pct || !boot_info.tsc_hz || n < 2) {
		printf("usage: gangcheck MILLISECONDS MAX_PERCENT (2 or more vCPUs)\n");
		return 2;
	}
	uint64_t us = boot_info.tsc_hz / 1000000;
	jump = 200 * us; /* longer than any exit: the vCPU was descheduled */
	start = rdtsc();
	end = start + ms * 1000 * us;
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	watch(0);
	while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != n)
		cpu_relax();
	/* Off time of each vCPU, and how much of it each sibling spent running. */
	uint64_t off = 0, sibling_ran = 0, gaps_seen = 0;
	for (unsigned a = 0; a < n; a++)
		for (uint32_t k = 0; k < n_gaps[a]; k++, gaps_seen++)
			for (unsigned b = 0; b < n; b++)
				if (b != a) {
					off += gaps[a][k].to - gaps[a][k].from;
					sibling_ran += ran_within(b, gaps[a][k].from, gaps[a][k].to);
				}
	uint64_t pct = off ? sibling_ran * 100 / off : 0;
	printf("gangcheck: %lu gaps, %lu ms off; siblings ran %lu%% of it\n", (unsigned long)gaps_seen,
	       (unsigned long)(off / us / 1000), (unsigned long)pct);
	return pct > max_pct ? 1 : 0;
}
