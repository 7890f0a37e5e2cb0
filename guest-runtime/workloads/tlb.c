#include "guest-runtime/workloads/tlb.h"

#define LINE 64
#define PAGE 4096
#define SEED 0x9e3779b97f4a7c15ull /* fixed: guest and native chase the same permutation */

static inline uint64_t tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Uniform in [0, n) without division. */
static inline uint64_t below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)xorshift(s) * n) >> 64);
}

const char *tlb_workload_name(unsigned w)
{
	static const char *const names[TLB_WORKLOADS] = { "chase", "gups", "stream" };
	return w < TLB_WORKLOADS ? names[w] : "?";
}

/*
 * Logical line i of the chase lives in page (i % pages) * stride, at slot
 * i / pages rotated by a per-page amount: distinct within a page, and spread
 * over every cache set even when only one line per page is used.
 */
struct chase_lines {
	uint8_t *base;
	uint64_t pages, stride, n;
};

static inline uint64_t *line(const struct chase_lines *c, uint64_t i)
{
	uint64_t page = i % c->pages, slot = (i / c->pages + page * 37) % (PAGE / LINE);
	return (uint64_t *)(c->base + page * c->stride * PAGE + slot * LINE);
}

/*
 * Links the lines into one random cycle: Sattolo's shuffle of line numbers in
 * the scratch array (a cyclic permutation), then each line gets the address
 * of its successor. Returns the first line.
 */
static uint64_t *chase_setup(uint8_t *base, uint64_t ws, uint32_t *perm, uint64_t *seed)
{
	struct chase_lines c = { base, ws / PAGE, 1, 0 };
	if (c.pages > TLB_CHASE_MAX_LINES) { /* past 4 GiB: every stride-th page */
		c.stride = c.pages / TLB_CHASE_MAX_LINES;
		c.pages = TLB_CHASE_MAX_LINES;
	}
	uint64_t slots = TLB_CHASE_MAX_LINES / c.pages;
	if (slots > PAGE / LINE)
		slots = PAGE / LINE;
	c.n = c.pages * slots;
	for (uint64_t i = 0; i < c.n; i++)
		perm[i] = (uint32_t)i;
	for (uint64_t i = c.n - 1; i > 0; i--) {
		uint64_t j = below(seed, i);
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (uint64_t i = 0; i < c.n; i++)
		*line(&c, i) = (uint64_t)(uintptr_t)line(&c, perm[i]);
	return line(&c, 0);
}

static uint64_t chase(uint64_t **cursor, uint64_t steps)
{
	uint64_t *p = *cursor;
	for (uint64_t i = 0; i < steps; i++)
		p = (uint64_t *)(uintptr_t)*p;
	*cursor = p;
	return (uint64_t)(uintptr_t)p;
}

static uint64_t gups(uint64_t *table, uint64_t words, uint64_t updates, uint64_t *seed)
{
	uint64_t mask = words - 1, s = *seed;
	for (uint64_t i = 0; i < updates; i++) {
		uint64_t r = xorshift(&s);
		table[r & mask] ^= r;
	}
	*seed = s;
	return s;
}

static uint64_t stream(const uint64_t *a, uint64_t words)
{
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	for (uint64_t i = 0; i < words; i += 4) {
		s0 += a[i];
		s1 += a[i + 1];
		s2 += a[i + 2];
		s3 += a[i + 3];
	}
	return s0 + s1 + s2 + s3;
}

/* Writes every page, so no first-touch fault (host or shadow) lands in a timed pass. */
static void touch(uint8_t *base, uint64_t ws)
{
	for (uint64_t off = 0; off < ws; off += PAGE)
		*(volatile uint64_t *)(base + off) = off;
}

void tlb_run(const struct tlb_plan *plan)
{
	uint64_t seed = SEED, max = 0;
	for (unsigned s = 0; s < plan->n_sizes; s++)
		max = plan->sizes[s] > max ? plan->sizes[s] : max;
	uint32_t *scratch = (uint32_t *)(plan->base + max);
	for (unsigned s = 0; s < plan->n_sizes; s++) {
		uint64_t ws = plan->sizes[s];
		touch(plan->base, ws);
		uint64_t *cursor = 0;
		if (plan->workloads & (1u << TLB_CHASE))
			cursor = chase_setup(plan->base, ws, scratch, &seed);
		for (unsigned w = 0; w < TLB_WORKLOADS; w++) {
			if (!(plan->workloads & (1u << w)))
				continue;
			for (unsigned pass = 0; pass < plan->passes; pass++) {
				struct beyond_tlb_result r = {
					.workload = w, .pass = pass, .working_set = ws,
					.base = (uint64_t)(uintptr_t)plan->base,
				};
				uint64_t t0 = tsc();
				switch (w) {
				case TLB_CHASE:
					r.checksum = chase(&cursor, TLB_CHASE_STEPS);
					r.accesses = TLB_CHASE_STEPS;
					break;
				case TLB_GUPS:
					r.checksum = gups((uint64_t *)plan->base, ws / 8, TLB_GUPS_UPDATES, &seed);
					r.accesses = TLB_GUPS_UPDATES;
					break;
				default:
					r.checksum = stream((const uint64_t *)plan->base, ws / 8);
					r.accesses = ws / 8;
				}
				r.cycles = tsc() - t0;
				plan->report(plan->opaque, &r);
			}
		}
	}
}
