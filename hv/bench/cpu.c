/* Which CPU measuring threads run on. */
#include <sched.h>
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
