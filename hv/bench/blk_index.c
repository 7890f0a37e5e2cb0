/*
 * `bench blk` part: the dedup index alone (blk/index.h) over a synthetic
 * slot table, the way the store uses it: insert every key, then look up
 * present and absent keys one at a time and in write-sized batches with
 * blk_index_prefetch(). RAM per entry is the index plus the 8-byte slot
 * word the store keeps for each block.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "blk/index.h"
#include "hv/bench/blk.h"

#define BATCH 256	/* a write's batch of blocks (blk/volume.c) */

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return *x;
}

/* ns per lookup of q keys, present ones drawn from words or absent ones. */
static double lookups(const struct blk_index *ix, const uint64_t *words, size_t n, size_t q, bool present,
		      bool batched, uint64_t *x, volatile size_t *found)
{
	uint64_t keys[BATCH];
	double t0 = bench_now();

	for (size_t done = 0; done < q; done += BATCH) {
		for (size_t k = 0; k < BATCH; k++)
			keys[k] = present ? words[1 + xorshift(x) % n] : xorshift(x) & SLOT_HASH;
		if (batched)
			blk_index_prefetch(ix, keys, BATCH);
		for (size_t k = 0; k < BATCH; k++) {
			size_t pos = 0;
			*found += blk_index_next(ix, keys[k], &pos) != 0;
		}
	}
	return (bench_now() - t0) / q * 1e9;
}

int blk_bench_index(const struct blk_bench_cfg *c, struct index_result *r)
{
	size_t n = c->index_entries, q = 4u << 20;
	volatile size_t found = 0;	/* keeps the lookups */
	uint64_t *words = malloc((n + 1) * sizeof(*words)), x = 0x2545f4914f6cdd1dull;
	const uint64_t *wp = words;
	struct blk_index ix;

	if (!words || blk_index_init(&ix, &wp)) {
		free(words);
		return -ENOMEM;
	}
	for (size_t i = 1; i <= n; i++)
		words[i] = xorshift(&x) & SLOT_HASH;
	double t0 = bench_now();
	int err = 0;
	for (size_t i = 1; i <= n && !err; i++)
		err = blk_index_insert(&ix, i);
	r->entries = n;
	r->insert_ns = (bench_now() - t0) / n * 1e9;
	r->bytes_per_entry = (double)blk_index_bytes(&ix) / n + sizeof(*words);
	r->hit_ns = lookups(&ix, words, n, q, true, false, &x, &found);
	r->miss_ns = lookups(&ix, words, n, q, false, false, &x, &found);
	r->batch_hit_ns = lookups(&ix, words, n, q, true, true, &x, &found);
	r->batch_miss_ns = lookups(&ix, words, n, q, false, true, &x, &found);
	blk_index_free(&ix);
	free(words);
	return err;
}
