/* guest: every vCPU checks in on its own stack; exits 0 when all did */
#include "guest-runtime/beyond.h"

#define WAIT_SECONDS 10

static uint64_t checked_in;   /* bit i: vCPU i arrived */
static uint64_t stack_of[64]; /* where each vCPU's stack is */

static void check_in(unsigned id)
{
	int local;
	stack_of[id] = (uint64_t)(uintptr_t)&local;
	__atomic_fetch_or(&checked_in, 1ull << id, __ATOMIC_SEQ_CST);
}

void ap_main(unsigned id)
{
	check_in(id);
}

int main(int argc, char **argv)
{
	(void)argc; (void)argv;
	unsigned n = boot_info.vcpu_count;
	uint64_t all = n == 64 ? ~0ull : (1ull << n) - 1;
	check_in(0);
	uint64_t deadline = rdtsc() + boot_info.tsc_hz * WAIT_SECONDS;
	while (__atomic_load_n(&checked_in, __ATOMIC_SEQ_CST) != all) {
		if (boot_info.tsc_hz && rdtsc() > deadline) {
			printf("smp: only vCPUs %lx of %lx checked in\n",
			       (unsigned long)checked_in, (unsigned long)all);
			return 1;
		}
		cpu_relax();
	}
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			if (stack_of[i] == stack_of[j]) {
				printf("smp: vCPUs %u and %u share a stack\n", i, j);
				return 2;
			}
	printf("smp: all %u vCPUs checked in\n", n);
	return 0;
}
