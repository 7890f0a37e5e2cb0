/* Command-line parsing every benchmark shares: the common options and value parsers. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "hv/bench/bench.h"
#include "hv/cli/cli.h"

void bench_args_init(struct bench_args *a, const char *usage)
{
	*a = (struct bench_args){ .usage = usage, .cpu = bench_default_cpu() };
	optind = 1;
}

int bench_getopt(struct bench_args *a, int argc, char **argv, const struct option *opts)
{
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case BENCH_OPT_QUICK:
			a->quick = 1;
			break;
		case BENCH_OPT_JSON:
			a->json = optarg;
			break;
		case BENCH_OPT_CPU: {
			unsigned cpu;
			if ((a->status = bench_parse_uint(a, "--cpu", optarg, 0, CPU_SETSIZE - 1, &cpu)))
				return -1;
			a->cpu = (int)cpu;
			break;
		}
		case BENCH_OPT_HELP:
			fputs(a->usage, stdout);
			a->status = 0;
			return -1;
		case '?':
			a->status = usage_error(a->usage, NULL);
			return -1;
		default:
			return c;
		}
	}
	if (optind < argc) {
		a->status = usage_error(a->usage, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

int bench_parse_uint(const struct bench_args *a, const char *opt, const char *arg, unsigned lo, unsigned hi,
		     unsigned *out)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || v < lo || v > hi)
		return usage_error(a->usage, "bad %s '%s' (%u..%u)", opt, arg, lo, hi);
	*out = (unsigned)v;
	return 0;
}

int bench_parse_list(const struct bench_args *a, const char *what, const char *arg,
		     int (*item)(const char *tok, void *ctx), void *ctx)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (item(t, ctx))
			return usage_error(a->usage, "bad %s '%s'", what, t);
	return 0;
}

struct size_list {
	uint64_t min, *sizes;
	int pow2;
	unsigned max, *n;
};

static int size_item(const char *tok, void *ctx)
{
	struct size_list *l = ctx;
	uint64_t v;
	if (parse_size(tok, &v) || v < l->min || (l->pow2 && (v & (v - 1))) || *l->n == l->max)
		return -1;
	l->sizes[(*l->n)++] = v;
	return 0;
}

int bench_parse_sizes(const struct bench_args *a, const char *arg, uint64_t min, int pow2, uint64_t *sizes,
		      unsigned max, unsigned *n)
{
	struct size_list l = { .min = min, .sizes = sizes, .pow2 = pow2, .max = max, .n = n };
	char what[64];
	snprintf(what, sizeof(what), "size (at least %lluK%s)", (unsigned long long)(min >> 10),
		 pow2 ? ", a power of two" : "");
	return bench_parse_list(a, what, arg, size_item, &l);
}
