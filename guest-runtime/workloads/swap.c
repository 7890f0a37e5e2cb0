#include <stddef.h>
#include "guest-runtime/workloads/swap.h"

#define PAGE 4096u
#define WORDS (PAGE / 8)
#define CHURN_BUF (8ull << 20)
#define CACHE_BLOCK (64u << 10)
#define AHEAD (2ull << 20)

static const char *const names[SWAP_WORKLOADS] = { "sweep", "churn", "cache", "zero", "hotcold" };

const char *swap_workload_name(unsigned w) { return w < SWAP_WORKLOADS ? names[w] : "?"; }

unsigned swap_workload_parse(const char *s)
{
	unsigned w = 0;
	for (; w < SWAP_WORKLOADS; w++) {
		const char *a = names[w], *b = s;
		while (*a && *a == *b)
			a++, b++;
		if (!*a && !*b)
			break;
	}
	return w;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* A page's pattern for (id, version); version 0 pages of every 8th id are zero. */
static void fill(uint64_t *w, uint64_t n_words, uint64_t id, uint64_t version, int zeros)
{
	uint64_t seed = mix(id * 0x9e3779b97f4a7c15ull + version);
	for (uint64_t i = 0; i < n_words; i++)
		w[i] = zeros ? 0 : seed + i;
}

/* 1 if the words hold fill()'s pattern; adds them to *sum. */
static int check(const uint64_t *w, uint64_t n_words, uint64_t id, uint64_t version, int zeros, uint64_t *sum)
{
	uint64_t seed = mix(id * 0x9e3779b97f4a7c15ull + version), bad = 0;
	for (uint64_t i = 0; i < n_words; i++) {
		bad |= w[i] ^ (zeros ? 0 : seed + i);
		*sum += w[i];
	}
	return bad == 0;
}

static void sweep(const struct swap_plan *p, uint8_t *base, struct beyond_swap_result *r)
{
	uint64_t pages = p->bytes / PAGE;
	for (unsigned pass = 0; pass <= p->passes; pass++)
		for (uint64_t i = 0; i < pages; i++) {
			uint64_t *w = (uint64_t *)(base + i * PAGE), next = (i * PAGE / AHEAD + 1) * AHEAD;
			if (p->ops->prefetch && pass > 0 && i * PAGE % AHEAD == 0 && next < p->bytes)
				p->ops->prefetch(base + next, p->bytes - next < AHEAD ? p->bytes - next : AHEAD);
			int zeros = i % 8 == 7;
			if (pass > 0 && !check(w, WORDS, i, pass - 1, zeros, &r->checksum))
				r->errors++;
			fill(w, WORDS, i, pass, zeros);
			r->ops++;
		}
}

static void churn(const struct swap_plan *p, struct beyond_swap_result *r)
{
	uint64_t rounds = p->passes * (p->bytes / CHURN_BUF);
	void *live[2] = { 0, 0 };
	for (uint64_t k = 0; k < rounds; k++) {
		void **slot = &live[k % 2];
		if (*slot)
			p->ops->free(*slot, CHURN_BUF);
		*slot = p->ops->alloc(CHURN_BUF);
		if (!*slot) {
			r->errors++;
			return;
		}
		for (uint64_t off = 0; off < CHURN_BUF; off += PAGE) {
			fill((uint64_t *)((uint8_t *)*slot + off), WORDS, k, off, 0);
			r->ops++;
		}
		for (uint64_t off = 0; off < CHURN_BUF; off += PAGE)
			if (!check((uint64_t *)((uint8_t *)*slot + off), WORDS, k, off, 0, &r->checksum))
				r->errors++;
	}
	for (int i = 0; i < 2; i++)
		if (live[i])
			p->ops->free(live[i], CHURN_BUF);
}

static void cache(const struct swap_plan *p, uint8_t *base, struct beyond_swap_result *r)
{
	uint64_t blocks = p->bytes / CACHE_BLOCK, x = 1;
	for (uint64_t b = 0; b < blocks; b++) {
		fill((uint64_t *)(base + b * CACHE_BLOCK), CACHE_BLOCK / 8, b, 0, 0);
		p->ops->make_volatile(base + b * CACHE_BLOCK, CACHE_BLOCK);
	}
	for (uint64_t k = 0; k < p->passes * blocks; k++) {
		x = mix(x + k);
		uint64_t b = x % blocks;
		uint64_t *w = (uint64_t *)(base + b * CACHE_BLOCK);
		if (p->ops->make_stable(w, CACHE_BLOCK)) {
			fill(w, CACHE_BLOCK / 8, b, 0, 0); /* lost: rebuild it */
			r->rebuilt++;
		} else if (!check(w, CACHE_BLOCK / 8, b, 0, 0, &r->checksum)) {
			r->errors++; /* kept by make_stable but wrong: the protocol failed */
		}
		p->ops->make_volatile(w, CACHE_BLOCK);
		r->ops++;
	}
}

static void zero(const struct swap_plan *p, uint8_t *base, struct beyond_swap_result *r)
{
	uint64_t *w = (uint64_t *)base, n = p->bytes / 8;
	for (uint64_t i = 0; i < n; i++)
		w[i] = 0;
	for (unsigned pass = 0; pass < p->passes; pass++)
		for (uint64_t i = 0; i < p->bytes / PAGE; i++) {
			if (!check(w + i * WORDS, WORDS, i, 0, 1, &r->checksum))
				r->errors++;
			r->ops++;
		}
}

static void hotcold(const struct swap_plan *p, uint8_t *base, struct beyond_swap_result *r)
{
	uint64_t pages = p->bytes / PAGE, hot = pages / 8, x = 7;
	for (uint64_t i = 0; i < pages; i++)
		fill((uint64_t *)(base + i * PAGE), WORDS, i, 0, 0);
	for (uint64_t k = 0; k < p->passes * pages; k++) {
		x = mix(x + k);
		uint64_t i = x % 10 ? (x >> 8) % hot : hot + (x >> 8) % (pages - hot);
		uint64_t *w = (uint64_t *)(base + i * PAGE) + (x >> 40) % WORDS;
		r->checksum += *w;
		*w += 1;
		r->ops++;
	}
}

void swap_run(const struct swap_plan *p, struct beyond_swap_result *r)
{
	*r = (struct beyond_swap_result){ .workload = p->workload, .bytes = p->bytes };
	uint8_t *base = p->workload == SWAP_CHURN ? NULL : p->ops->alloc(p->bytes);
	if (p->workload != SWAP_CHURN && !base) {
		r->errors = 1;
		return;
	}
	uint64_t t0 = p->ops->now();
	switch (p->workload) {
	case SWAP_SWEEP: sweep(p, base, r); break;
	case SWAP_CHURN: churn(p, r); break;
	case SWAP_CACHE: cache(p, base, r); break;
	case SWAP_ZERO: zero(p, base, r); break;
	case SWAP_HOTCOLD: hotcold(p, base, r); break;
	}
	r->cycles = p->ops->now() - t0;
	if (base)
		p->ops->free(base, p->bytes);
}
