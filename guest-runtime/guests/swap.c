/* guest: swap workloads (swap WORKLOAD SIZE PASSES [prefetch]), cooperating with the pager; reports records */
#include "guest-runtime/beyond.h"
#include "guest-runtime/pager.h"
#include "guest-runtime/workloads/swap.h"

static uint64_t now(void) { return rdtsc(); }

static struct swap_ops ops = {
	.alloc = page_alloc, .free = page_free, .make_volatile = make_volatile, .make_stable = make_stable,
	.now = now,
};

int main(int argc, char **argv)
{
	const char *end;
	if (argc != 4 && !(argc == 5 && !strcmp(argv[4], "prefetch"))) {
		printf("usage: swap sweep|churn|cache|zero|hotcold SIZE PASSES [prefetch]\n");
		return 2;
	}
	if (argc == 5)
		ops.prefetch = prefetch;
	struct swap_plan plan = { .workload = swap_workload_parse(argv[1]), .ops = &ops };
	plan.bytes = strtou64(argv[2], &end) & ~4095ull;
	plan.passes = (unsigned)strtou64(argv[3], 0);
	if (plan.workload == SWAP_WORKLOADS || *end || plan.bytes < (8u << 20) || !plan.passes) {
		printf("swap: bad workload '%s', size '%s' (at least 8M) or passes '%s'\n", argv[1], argv[2], argv[3]);
		return 2;
	}
	mem_init();
	balloon_poll();
	if (plan.bytes > page_free_bytes()) {
		printf("swap: %lu MiB do not fit in the heap (%lu MiB free)\n", (unsigned long)(plan.bytes >> 20),
		       (unsigned long)(page_free_bytes() >> 20));
		return 3;
	}
	struct beyond_swap_result r;
	swap_run(&plan, &r);
	struct beyond_hc_result a = { .type = BEYOND_RESULT_SWAP, .len = sizeof(r), .buf = (uint64_t)(uintptr_t)&r };
	hypercall(BEYOND_HC_RESULT, &a);
	if (r.errors)
		printf("swap %s: %lu pages read back wrong\n", argv[1], (unsigned long)r.errors);
	return r.errors ? 1 : 0;
}
