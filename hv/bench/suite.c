/* The benchmarks `beyond bench NAME` knows: one row each. */
#include <string.h>
#include "hv/bench/bench.h"
#include "hv/cli/cli.h"

static const struct bench_suite {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv);
} suites[] = {
	{ "tlb", "TLB cost of guest/host page sizes next to native code", bench_tlb_main },
	{ "blk", "the block store: space against raw and qcow2, speed against a raw file", bench_blk_main },
	{ "sched", "gang scheduling and PV spinlocks under overcommit; caps and reserves", bench_sched_main },
	{ "swap", "the pager: naive and cooperative paging, 4K and 2M units, under a memory limit", bench_swap_main },
	{ "io", "guest virtio-blk I/O against host pread/pwrite and the store API", bench_io_main },
};
#define N_SUITES (sizeof(suites) / sizeof(suites[0]))

/* The usage text, the benchmarks listed. */
static const char *usage(char *buf, size_t len)
{
	size_t n = snprintf(buf, len, "usage: beyond bench NAME [OPTIONS]   (beyond bench NAME --help)\n");
	for (size_t i = 0; i < N_SUITES && n < len; i++)
		n += snprintf(buf + n, len - n, "  %-6s %s\n", suites[i].name, suites[i].summary);
	return buf;
}

int bench_main(int argc, char **argv)
{
	char text[2048];
	if (argc < 2)
		return usage_error(usage(text, sizeof(text)), "bench: name a benchmark");
	if (strcmp(argv[1], "--help") == 0) {
		fputs(usage(text, sizeof(text)), stdout);
		return 0;
	}
	for (size_t i = 0; i < N_SUITES; i++)
		if (strcmp(argv[1], suites[i].name) == 0)
			return suites[i].main(argc - 1, argv + 1);
	return usage_error(usage(text, sizeof(text)), "bench: no benchmark '%s'", argv[1]);
}
