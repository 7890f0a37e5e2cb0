/* Samples to min / median / max and their spread. */
#include <stdlib.h>
#include <string.h>
#include "hv/bench/bench.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int bench_stats(const double *v, unsigned n, struct bench_stats *st)
{
	double s[BENCH_MAX_SAMPLES];
	memset(st, 0, sizeof(*st));
	if (n == 0 || n > BENCH_MAX_SAMPLES)
		return 0;
	/* Sorted on a copy: callers keep their samples in the order they were taken. */
	memcpy(s, v, n * sizeof(s[0]));
	qsort(s, n, sizeof(s[0]), cmp_double);
	st->n = n;
	st->min = s[0];
	st->max = s[n - 1];
	st->median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	st->spread = st->median != 0 ? (st->max - st->min) / st->median : 0;
	return 1;
}
