/*
 * The dedup index against a brute-force model: every slot inserted is
 * found under its key, removed ones are not, equal keys give all their
 * slots, across growth and deletion; and the slot table plus the index
 * stay within 16 bytes of RAM per unique block as a store fills.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "blk/index.h"
#include "blk/store_impl.h"
#include "tests/blk/blk_test.h"

#define NSLOTS 60000u

static uint64_t words[NSLOTS];
static const uint64_t *words_p = words;

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return *x;
}

/* Counts the slots the index gives for key, and whether want is one. */
static size_t lookup(const struct blk_index *ix, uint64_t key, uint32_t want, bool *found)
{
	size_t pos = 0, n = 0;
	uint32_t s;

	*found = false;
	while ((s = blk_index_next(ix, key, &pos))) {
		cr_assert_eq(words[s] & SLOT_HASH, key, "slot %u returned for another key", s);
		*found |= s == want;
		n++;
	}
	return n;
}

Test(index, matches_a_brute_force_model)
{
	struct blk_index ix;
	bool in[NSLOTS] = { false }, found;
	uint64_t x = 88172645463325252ull;

	cr_assert_eq(blk_index_init(&ix, &words_p), 0);
	/* Every eighth slot shares its key with the slot before: collisions. */
	for (uint32_t s = 1; s < NSLOTS; s++)
		words[s] = s % 8 == 0 ? words[s - 1] : rnd(&x) & SLOT_HASH;
	for (int round = 0; round < 3; round++) {
		for (uint32_t s = 1; s < NSLOTS; s++) {
			bool want = rnd(&x) % 3 != 0;
			if (want && !in[s])
				cr_assert_eq(blk_index_insert(&ix, s), 0);
			else if (!want && in[s])
				blk_index_remove(&ix, s);
			in[s] = want;
		}
		size_t count = 0;
		for (uint32_t s = 1; s < NSLOTS; s++) {
			size_t n = lookup(&ix, words[s], s, &found);
			cr_assert_eq(found, in[s], "round %d slot %u", round, s);
			size_t expect = 0;	/* slots with this key: s and its neighbours */
			for (uint32_t t = s > 8 ? s - 8 : 1; t < NSLOTS && t <= s + 8; t++)
				expect += in[t] && words[t] == words[s];
			cr_assert_eq(n, expect, "round %d slot %u", round, s);
			count += in[s];
		}
		cr_expect_eq(ix.count, count);
		cr_expect_leq(ix.count * 20, ix.cap * 17, "load above 0.85");
	}
	lookup(&ix, 0x4242ull << 40, 0, &found);	/* a key never inserted: ends */
	blk_index_free(&ix);
}

/* Memory, not speed: bytes of slot table and index per unique block. */
Test(index, at_most_16_bytes_per_unique_block)
{
	char dir[64];
	struct blk_store *st = test_store_make(dir, "index");
	struct blk_vol *v;
	enum { N = 40000, STEP = 64 };
	static uint8_t buf[STEP * BS];
	double worst = 0;

	cr_assert_eq(blk_vol_create(st, "v", (uint64_t)N * BS), 0);
	cr_assert_eq(blk_vol_open(st, "v", &v), 0);
	for (uint64_t lba = 0; lba < N; lba += STEP) {
		for (int i = 0; i < STEP; i++)
			pattern(buf + (size_t)i * BS, 7, lba + i);
		cr_assert_eq(blk_write(v, buf, lba * BS, sizeof(buf), 0), 0);
		struct blk_stats s;
		cr_assert_eq(blk_stat(st, &s), 0);
		double per = (double)s.index_bytes / s.unique_blocks;
		if (s.unique_blocks >= 8192 && per > worst)	/* past the initial tables */
			worst = per;
	}
	cr_expect_leq(worst, 16.0, "%.2f bytes per unique block", worst);
	blk_vol_close(v);
	test_store_remove(dir, st);
}
