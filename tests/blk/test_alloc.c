/* Where rewrites land: in place while no commit names the block (J_REHASH,
 * replayed on reopen), never over a block something else shares, and
 * after a commit on spare slots before holes or new space. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string.h>
#include "blk/store_impl.h"
#include "tests/blk/blk_test.h"

static char dir[64];
static struct blk_store *st;

static void setup(void)
{
	st = test_store_make(dir, "alloc");
}

static void teardown(void)
{
	test_store_remove(dir, st);
	st = NULL;
}

TestSuite(alloc, .init = setup, .fini = teardown);

static struct blk_vol *mkvol(const char *name, uint64_t blocks)
{
	struct blk_vol *v;

	cr_assert_eq(blk_vol_create(st, name, blocks * BS), 0);
	cr_assert_eq(blk_vol_open(st, name, &v), 0);
	return v;
}

/* Writes blocks first .. first+n-1 of seed in one call. */
static void put(struct blk_vol *v, uint64_t seed, uint64_t first, size_t n)
{
	uint8_t *b = malloc(n * BS);

	for (size_t i = 0; i < n; i++)
		pattern(b + i * BS, seed, first + i);
	cr_assert_eq(blk_write(v, b, first * BS, n * BS, 0), 0);
	free(b);
}

static void expect(struct blk_vol *v, uint64_t seed, uint64_t lba, uint64_t as)
{
	uint8_t out[BS];

	cr_assert_eq(blk_read(v, out, lba * BS, BS), 0, "block %lu reads", (unsigned long)lba);
	cr_expect(has_pattern(out, seed, as), "block %lu holds seed %lu", (unsigned long)lba, (unsigned long)seed);
}

Test(alloc, rewrite_before_a_commit_stays_in_place)
{
	struct blk_vol *v = mkvol("v", 64);

	put(v, 1, 0, 16);
	uint32_t slot = v->map[3], high = st->m.nslots;
	put(v, 2, 3, 1);
	put(v, 3, 8, 4);
	cr_expect_eq(v->map[3], slot, "rewritten in its own slot");
	cr_expect_eq(st->m.nslots, high, "no new space");
	expect(v, 2, 3, 3);
	expect(v, 3, 9, 9);
	cr_assert_eq(blk_flush(st), 0);
	put(v, 4, 3, 1);
	cr_expect_neq(v->map[3], slot, "after a commit the block moves (I2)");
	expect(v, 4, 3, 3);
	blk_vol_close(v);
}

Test(alloc, rewritten_blocks_replay_from_the_journal)
{
	cr_assert_eq(blk_store_close(st), 0);
	st = NULL;
	pid_t pid = fork();
	if (!pid) {
		/* No close: the journal, not a checkpoint, carries the rewrites. */
		struct blk_store *s;
		struct blk_vol *v;
		if (blk_store_open(dir, &s) || blk_vol_create(s, "v", 64 * BS) || blk_vol_open(s, "v", &v))
			_exit(2);
		put(v, 1, 0, 16);
		put(v, 2, 3, 1);
		put(v, 3, 8, 4);
		_exit(blk_flush(s) ? 3 : 0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert_eq(status, 0);
	cr_assert_eq(blk_store_open(dir, &st), 0);
	struct blk_vol *v;
	struct blk_fsck r;
	cr_assert_eq(blk_vol_open(st, "v", &v), 0);
	expect(v, 1, 2, 2);
	expect(v, 2, 3, 3);
	expect(v, 3, 9, 9);
	expect(v, 1, 15, 15);
	cr_expect_eq(blk_fsck(st, false, &r), 0);
	blk_vol_close(v);
}

Test(alloc, a_shared_block_is_not_rewritten)
{
	struct blk_vol *v = mkvol("v", 64);
	uint8_t b[2 * BS];

	pattern(b, 1, 0);
	cr_assert_eq(blk_write(v, b, 0, BS, 0), 0);
	cr_assert_eq(blk_write(v, b, BS, BS, 0), 0);
	cr_assert_eq(v->map[0], v->map[1], "deduplicated");
	put(v, 2, 0, 1);
	expect(v, 2, 0, 0);
	expect(v, 1, 1, 0);

	/* In one batch: block 4 takes block 5's current bytes, block 5 new ones. */
	put(v, 1, 0, 8);
	pattern(b, 1, 5);
	pattern(b + BS, 9, 5);
	cr_assert_eq(blk_write(v, b, 4 * BS, 2 * BS, 0), 0);
	expect(v, 1, 4, 5);
	expect(v, 9, 5, 5);
	/* And the other way: block 4 rewritten, block 5 takes block 4's old bytes. */
	put(v, 1, 0, 8);
	pattern(b, 9, 4);
	pattern(b + BS, 1, 4);
	cr_assert_eq(blk_write(v, b, 4 * BS, 2 * BS, 0), 0);
	expect(v, 9, 4, 4);
	expect(v, 1, 5, 4);
	blk_vol_close(v);
}

Test(alloc, after_a_commit_rewrites_take_spare_slots_before_holes)
{
	struct blk_vol *w = mkvol("w", 128), *v = mkvol("v", 64);

	put(w, 9, 0, 128);
	put(v, 1, 0, 64);
	uint32_t first = v->map[0];
	cr_assert_eq(blk_flush(st), 0);
	cr_assert_eq(blk_trim(w, 0, 128 * BS, 0), 0);
	cr_assert_eq(blk_flush(st), 0);	/* nothing allocated since: w's blocks are punched */
	cr_assert_eq(st->m.nfree[SPARE], 0);
	cr_assert_geq(st->m.nfree[FREE], 128);
	put(v, 2, 0, 64);	/* into holes */
	cr_assert_eq(blk_flush(st), 0);	/* v's first blocks become spares */
	cr_assert_eq(st->m.nfree[SPARE], 64);
	uint32_t high = st->m.nslots;
	put(v, 3, 0, 64);
	cr_expect_eq(v->map[0], first, "the spare run, not the holes");
	cr_expect_eq(st->m.nslots, high);
	cr_assert_eq(blk_flush(st), 0);
	for (uint64_t i = 0; i < 64; i += 7) {	/* single blocks, scattered */
		uint32_t was = v->map[i];
		put(v, 4, i, 1);
		cr_expect(meta_is_spare(&st->m, was) || v->map[i] != was, "block %lu", (unsigned long)i);
	}
	cr_expect_eq(st->m.nslots, high);
	for (uint64_t i = 0; i < 64; i += 7)
		expect(v, 4, i, i);
	blk_vol_close(v);
	blk_vol_close(w);
}
