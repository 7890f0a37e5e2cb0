#include <stdio.h>
#include <time.h>
#include "blk/io_stats.h"
#include "hv/stats.h"

static const char *const kind_names[IOK_KINDS] = { "read", "write", "flush", "discard", "write_zeroes", "other" };

uint64_t io_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + t.tv_nsec;
}

/* Bucket of v: below IO_LAT_SUB exact, then IO_LAT_SUB linear steps per power of two. */
static unsigned bucket(uint64_t v)
{
	if (v < IO_LAT_SUB)
		return (unsigned)v;
	unsigned e = 63 - __builtin_clzll(v); /* >= log2(IO_LAT_SUB) */
	unsigned shift = e - __builtin_ctz(IO_LAT_SUB);
	return (e - __builtin_ctz(IO_LAT_SUB) + 1) * IO_LAT_SUB + (unsigned)((v >> shift) - IO_LAT_SUB);
}

/* The middle of bucket b's range, in the bucket's unit. */
static double bucket_value(unsigned b)
{
	if (b < IO_LAT_SUB)
		return b;
	unsigned octave = b / IO_LAT_SUB - 1, sub = b % IO_LAT_SUB;
	return (double)((uint64_t)(IO_LAT_SUB + sub) << octave) + ((1ull << octave) - 1) / 2.0;
}

/* One writer (the struct's I/O thread), readers anywhere: plain adds, each word written whole. */
static void add(uint64_t *p, uint64_t v) { __atomic_store_n(p, *p + v, __ATOMIC_RELAXED); }

void io_stats_start(struct io_stats *s, uint64_t depth)
{
	add(&s->started, 1);
	add(&s->depth_sum, depth);
	if (depth > s->depth_max)
		__atomic_store_n(&s->depth_max, depth, __ATOMIC_RELAXED);
}

uint64_t io_stats_done(struct io_stats *s, enum io_kind k, uint64_t bytes, int ok, uint64_t start_ns)
{
	add(&s->ops[k], 1);
	if (ok)
		add(&s->bytes[k], bytes);
	else
		add(&s->errors[k], 1);
	uint64_t now = io_now_ns();
	add(&s->lat[bucket(now > start_ns ? now - start_ns : 0)], 1);
	return now;
}

void io_stats_add(struct io_stats *sum, const struct io_stats *a)
{
	/* Every field is a sum but the peak depth. */
	uint64_t a_peak = __atomic_load_n(&a->depth_max, __ATOMIC_RELAXED);
	uint64_t peak = a_peak > sum->depth_max ? a_peak : sum->depth_max;
	const uint64_t *src = (const uint64_t *)a;
	uint64_t *dst = (uint64_t *)sum;
	for (size_t i = 0; i < sizeof(*a) / sizeof(uint64_t); i++)
		dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	sum->depth_max = peak;
}

/* The latency (µs) below which a share q of the requests finished. */
static double quantile_us(const struct io_stats *s, uint64_t n, double q)
{
	uint64_t want = (uint64_t)(q * (n - 1)) + 1, seen = 0;
	for (unsigned b = 0; b < IO_LAT_BUCKETS; b++)
		if ((seen += s->lat[b]) >= want)
			return bucket_value(b) / 1000.0;
	return 0;
}

void io_stats_report(const struct io_stats *s, struct stats_out *o)
{
	uint64_t n = 0;
	for (int k = 0; k < IOK_KINDS; k++) {
		char name[40];
		snprintf(name, sizeof(name), "%s_ops", kind_names[k]);
		stats_u64(o, name, s->ops[k]);
		if (k != IOK_FLUSH && k != IOK_OTHER) {
			snprintf(name, sizeof(name), "%s_bytes", kind_names[k]);
			stats_u64(o, name, s->bytes[k]);
		}
		snprintf(name, sizeof(name), "%s_errors", kind_names[k]);
		stats_u64(o, name, s->errors[k]);
		n += s->ops[k];
	}
	stats_num(o, "latency_median_us", n ? quantile_us(s, n, 0.5) : 0);
	stats_num(o, "latency_p99_us", n ? quantile_us(s, n, 0.99) : 0);
	stats_num(o, "queue_depth_mean", s->started ? (double)s->depth_sum / s->started : 0);
	stats_u64(o, "queue_depth_max", s->depth_max);
}
