/* Which CPU measuring threads run on; the TSC's rate. */
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include "hv/bench/bench.h"

int bench_default_cpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 1 ? (int)n - 1 : 0;
}

int bench_pin_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : -1;
}

/* Calibrates the TSC against CLOCK_MONOTONIC_RAW over 200 ms. */
double bench_tsc_hz(void)
{
	struct timespec a, b;
	uint32_t lo, hi;
	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	uint64_t t0 = ((uint64_t)hi << 32) | lo;
	struct timespec nap = { 0, 200000000 };
	nanosleep(&nap, NULL);
	clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	uint64_t t1 = ((uint64_t)hi << 32) | lo;
	return (t1 - t0) / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9);
}
