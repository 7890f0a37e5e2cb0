/* What the batched data path brings: runs read in one call across holes,
 * zeros and shared blocks, a corrupt block inside a run, overwrites that
 * stay in sequence, and spare space punched over several commits. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/store_impl.h"
#include "tests/blk/blk_test.h"

static char dir[64];
static struct blk_store *st;

static void setup(void)
{
	st = test_store_make(dir, "batch");
}

static void teardown(void)
{
	test_store_remove(dir, st);
	st = NULL;
}

TestSuite(batch, .init = setup, .fini = teardown);

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

Test(batch, run_read_crosses_zeros_and_shared_blocks)
{
	struct blk_vol *v = mkvol("v", 64);
	uint8_t blk[BS], out[8 * BS];

	put(v, 1, 0, 8);
	cr_assert_eq(blk_trim(v, 2 * BS, BS, 0), 0);	/* a zero block inside the run */
	pattern(blk, 1, 40);
	cr_assert_eq(blk_write(v, blk, 40 * BS, BS, 0), 0);
	cr_assert_eq(blk_write(v, blk, 5 * BS, BS, 0), 0);	/* block 5 now shares block 40's slot */
	uint32_t s0 = v->map[0];
	cr_assert_eq(v->map[2], 0);
	cr_assert_eq(v->map[5], v->map[40]);
	cr_assert_neq(v->map[5], s0 + 5, "block 5 lies outside the run");
	for (int i = 0; i < 8; i++)
		if (i != 2 && i != 5)
			cr_assert_eq(v->map[i], s0 + i, "block %d in sequence", i);
	memset(out, 0xee, sizeof(out));
	cr_assert_eq(blk_read(v, out, 0, sizeof(out)), 0);
	for (int i = 0; i < 8; i++) {
		if (i == 2)
			cr_expect(!memcmp(out + i * BS, (uint8_t[BS]){ 0 }, BS), "block 2 reads zeros");
		else
			cr_expect(has_pattern(out + i * BS, 1, i == 5 ? 40 : i), "block %d", i);
	}
	blk_vol_close(v);
}

Test(batch, corrupt_block_in_the_middle_of_a_run_is_named)
{
	struct blk_vol *v = mkvol("v", 16);
	uint8_t out[8 * BS];
	char p[128], msg[512] = "";

	put(v, 2, 0, 8);
	cr_assert_eq(blk_flush(st), 0);
	snprintf(p, sizeof(p), "%s/data", dir);
	int fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "X", 1, ((off_t)v->map[4] << 12) + 100), 1);
	close(fd);

	FILE *log = tmpfile();
	int saved = dup(2);
	fflush(stderr);
	dup2(fileno(log), 2);
	int err = blk_read(v, out, 0, sizeof(out));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(log);
	size_t n = fread(msg, 1, sizeof(msg) - 1, log);
	msg[n] = 0;
	fclose(log);
	cr_expect_eq(err, -EIO);
	cr_expect(strstr(msg, "block 4 ") != NULL, "the message names block 4: %s", msg);
	cr_expect_eq(blk_read(v, out, 0, 4 * BS), 0, "the blocks before it read");
	cr_expect_eq(blk_read(v, out, 5 * BS, 3 * BS), 0, "the blocks after it read");
	blk_vol_close(v);
}

Test(batch, overwrites_stay_in_sequence)
{
	struct blk_vol *v = mkvol("v", 256);

	put(v, 3, 0, 256);
	cr_assert_eq(blk_flush(st), 0);
	for (uint64_t seed = 4; seed < 8; seed++) {
		put(v, seed, 0, 64);	/* a 256 KiB overwrite */
		put(v, seed, 100, 16);	/* and a 64 KiB one */
		if (seed & 1)
			cr_assert_eq(blk_flush(st), 0);
		for (int i = 1; i < 64; i++)
			cr_assert_eq(v->map[i], v->map[0] + i, "round %lu: block %d", (unsigned long)seed, i);
		for (int i = 101; i < 116; i++)
			cr_assert_eq(v->map[i], v->map[100] + i - 100, "round %lu: block %d", (unsigned long)seed, i);
		cr_assert_eq(v->map[0] % 64, 0, "a 64-block run starts aligned");
		cr_assert_eq(v->map[100] % 16, 0, "a 16-block run starts aligned");
	}
	blk_vol_close(v);
}

static uint64_t data_disk_bytes(void)
{
	return test_data_disk_bytes(dir);
}

Test(batch, scattered_frees_are_punched_over_commits)
{
	enum { N = 4096 };
	struct blk_vol *v = mkvol("v", N);
	struct blk_fsck r;

	put(v, 5, 0, N);
	cr_assert_eq(blk_flush(st), 0);
	uint64_t full = data_disk_bytes();
	/* Every other block trimmed: N/2 runs of one free slot, more than one commit punches. */
	for (uint64_t b = 0; b < N; b += 2)
		cr_assert_eq(blk_trim(v, b * BS, BS, 0), 0);
	cr_assert_eq(blk_flush(st), 0);
	cr_assert_eq(blk_fsck(st, false, &r), 0);
	cr_expect_eq(r.space_leaks, 0);
	uint64_t first = data_disk_bytes();
	cr_expect_lt(first, full, "the first commit punched some");
	cr_expect_gt(first, full / 2 + full / 8, "but not all at once");
	for (int i = 0; i < 16; i++)
		cr_assert_eq(blk_flush(st), 0);
	cr_assert_eq(blk_fsck(st, false, &r), 0);
	cr_expect_eq(r.space_leaks, 0);
	cr_expect_lt(data_disk_bytes(), full / 2 + full / 16, "later commits punched the rest");
	blk_vol_close(v);
}
