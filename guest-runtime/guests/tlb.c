/* guest: TLB benchmark workloads (tlb WORKLOADS PASSES SIZE...), reports records */
#include "guest-runtime/beyond.h"
#include "guest-runtime/workloads/tlb.h"

#define MAX_SIZES 16

static void report(void *opaque, const struct beyond_tlb_result *r)
{
	(void)opaque;
	struct beyond_hc_result a = { .type = BEYOND_RESULT_TLB, .len = sizeof(*r), .buf = (uint64_t)(uintptr_t)r };
	hypercall(BEYOND_HC_RESULT, &a);
}

static unsigned parse_workloads(const char *s)
{
	unsigned mask = 0;
	while (*s) {
		for (unsigned w = 0; w < TLB_WORKLOADS; w++) {
			size_t n = strlen(tlb_workload_name(w));
			if (memcmp(s, tlb_workload_name(w), n) == 0 && (s[n] == ',' || s[n] == 0)) {
				mask |= 1u << w;
				s += n;
				break;
			}
		}
		if (*s != ',' && *s != 0)
			return 0;
		if (*s == ',')
			s++;
	}
	return mask;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc - 3 > MAX_SIZES) {
		printf("usage: tlb WORKLOADS PASSES SIZE... (e.g. tlb chase,gups 2 16M 1G)\n");
		return 2;
	}
	uint64_t sizes[MAX_SIZES], max = 0;
	for (int i = 3; i < argc; i++) {
		const char *end;
		sizes[i - 3] = strtou64(argv[i], &end);
		if (*end || sizes[i - 3] < 4096 || (sizes[i - 3] & (sizes[i - 3] - 1))) {
			printf("tlb: bad size '%s' (a power of two, at least 4K)\n", argv[i]);
			return 2;
		}
		if (sizes[i - 3] > max)
			max = sizes[i - 3];
	}
	/* The working set starts on a 2 MiB boundary after the stacks. */
	uint64_t base = (boot_info.heap_start + (2u << 20) - 1) & ~((2ull << 20) - 1);
	if (base + max + TLB_SCRATCH_BYTES > boot_info.heap_end) {
		printf("tlb: working set of %lu MiB does not fit in the heap (%lu MiB free)\n",
		       (unsigned long)(max >> 20), (unsigned long)((boot_info.heap_end - base) >> 20));
		return 3;
	}
	struct tlb_plan plan = {
		.base = (uint8_t *)(uintptr_t)base, .sizes = sizes, .n_sizes = (unsigned)(argc - 3),
		.workloads = parse_workloads(argv[1]), .passes = (unsigned)strtou64(argv[2], 0),
		.report = report,
	};
	if (!plan.workloads || !plan.passes) {
		printf("tlb: bad workloads '%s' or passes '%s'\n", argv[1], argv[2]);
		return 2;
	}
	tlb_run(&plan);
	return 0;
}
