/*
 * The failed state: once the store cannot make its changes durable, it
 * refuses every change, keeps reading, says so once on stderr, and a
 * reopen brings back its last commit. The failures are real ones: a file
 * descriptor of the store replaced by /dev/full or /dev/null, a directory
 * where the checkpoint file goes.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/store_impl.h"
#include "tests/blk/blk_test.h"

static char dir[64], path[96];
static struct blk_store *st;
static struct blk_vol *v;

static void setup(void)
{
	st = test_store_make(dir, "fail");
	cr_assert_eq(blk_vol_create(st, "v", 16 * BS), 0);
	cr_assert_eq(blk_vol_open(st, "v", &v), 0);
	/* Where the next checkpoint goes first: a directory there makes it fail. */
	snprintf(path, sizeof(path), "%s/meta%u.tmp", dir, (unsigned)((st->j.gen + 1) & 1));
	cr_redirect_stderr();
}

static void teardown(void)
{
	char cmd[96];

	if (v)
		blk_vol_close(v);
	if (st)
		blk_store_close(st);
	rmdir(path);
	snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strlen(dir) - 2), dir);
	system(cmd);
}

TestSuite(fail, .init = setup, .fini = teardown);

static void write_block(uint64_t seed, uint64_t lba, int want)
{
	uint8_t b[BS];

	pattern(b, seed, lba);
	cr_assert_eq(blk_write(v, b, lba * BS, BS, 0), want, "write of block %lu", (unsigned long)lba);
}

static void expect_block(uint64_t seed, uint64_t lba)
{
	uint8_t b[BS], zero[BS] = { 0 };

	cr_assert_eq(blk_read(v, b, lba * BS, BS), 0, "read of block %lu", (unsigned long)lba);
	cr_expect(seed ? has_pattern(b, seed, lba) : !memcmp(b, zero, BS), "block %lu", (unsigned long)lba);
}

/* Replaces the store's descriptor *fd by a device; returns the original. */
static int swap_fd(int *fd, const char *dev)
{
	int saved = dup(*fd), d = open(dev, O_RDWR);

	cr_assert(saved >= 0 && d >= 0 && dup2(d, *fd) == *fd);
	close(d);
	return saved;
}

/* Blocks 0 and 1 were written, 2 was not; the store has just failed. */
static void expect_failed(void)
{
	uint8_t b[BS] = { 0 };
	char line[512];

	cr_expect_eq(blk_write(v, b, 2 * BS, BS, 0), -EROFS);
	cr_expect_eq(blk_write(v, b, 3 * BS, 100, BLK_FUA), -EROFS);
	cr_expect_eq(blk_trim(v, 0, BS, 0), -EROFS);
	cr_expect_eq(blk_flush(st), -EROFS);
	cr_expect_eq(blk_vol_create(st, "w", BS), -EROFS);
	cr_expect_eq(blk_vol_copy(st, "v", "snap", false), -EROFS);
	cr_expect_eq(blk_dedup(st), -EROFS);
	expect_block(1, 0);
	expect_block(1, 1);
	expect_block(0, 2);
	blk_vol_close(v);
	v = NULL;
	cr_expect_eq(blk_vol_remove(st, "v"), -EROFS);
	cr_expect_eq(blk_store_close(st), -EROFS, "a failed store writes no checkpoint");
	st = NULL;

	FILE *err = cr_get_redirected_stderr();
	int failed = 0;
	while (fgets(line, sizeof(line), err))
		failed += strstr(line, "has failed") && strstr(line, "reopened") != NULL;
	cr_expect_eq(failed, 1, "one line says the store failed and must be reopened");
}

/* Reopens the store (after a failure: recovers) and checks blocks 0 .. 2. */
static void reopen_expect(uint64_t seed1)
{
	cr_assert_eq(blk_store_open(dir, &st), 0);
	cr_assert_eq(blk_vol_open(st, "v", &v), 0);
	expect_block(1, 0);
	expect_block(seed1, 1);
	expect_block(0, 2);
	write_block(2, 2, 0);
	cr_expect_eq(blk_flush(st), 0, "writable again");
	struct blk_fsck r;
	cr_expect_eq(blk_fsck(st, false, &r), 0);
}

Test(fail, journal_write_failure)
{
	write_block(1, 0, 0);
	cr_assert_eq(blk_flush(st), 0);
	write_block(1, 1, 0);
	int saved = swap_fd(&st->j.fd, "/dev/full");
	cr_expect_eq(blk_flush(st), -ENOSPC);
	close(saved);
	expect_failed();
	reopen_expect(0);	/* block 1 was never committed */
}

Test(fail, data_sync_failure)
{
	write_block(1, 0, 0);
	cr_assert_eq(blk_flush(st), 0);
	write_block(1, 1, 0);
	int saved = swap_fd(&st->datafd, "/dev/null");
	cr_expect_eq(blk_flush(st), -EINVAL);
	cr_assert_eq(dup2(saved, st->datafd), st->datafd, "reads need the data file back");
	close(saved);
	expect_failed();
	reopen_expect(0);
}

Test(fail, checkpoint_failure)
{
	write_block(1, 0, 0);
	write_block(1, 1, 0);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_expect_eq(blk_dedup(st), -EISDIR, "the commit before the checkpoint works");
	expect_failed();
	cr_assert_eq(rmdir(path), 0);
	reopen_expect(1);
}

/* A batch whose write fails before it reaches a block it rewrites in place
 * leaves that block as it was: readable, its old hash back in the slot
 * table and the index; nothing was written, so the store goes on. */
Test(fail, a_write_failing_before_a_rewrite_leaves_the_block_as_it_was)
{
	uint8_t two[2 * BS];

	write_block(1, 1, 0);	/* since the last commit, one reference: rewritten in place */
	uint32_t slot = v->map[1];
	pattern(two, 3, 0);	/* block 0 needs a new slot, written first */
	pattern(two + BS, 2, 1);
	int saved = swap_fd(&st->datafd, "/dev/full");
	cr_expect_eq(blk_write(v, two, 0, sizeof(two), 0), -ENOSPC);
	cr_assert_eq(dup2(saved, st->datafd), st->datafd);
	close(saved);
	cr_expect_eq(v->map[1], slot);
	expect_block(1, 1);
	expect_block(0, 0);
	pattern(two, 1, 1);	/* block 1's old content, at block 2: the store has not failed */
	cr_expect_eq(blk_write(v, two, 2 * BS, BS, 0), 0);
	cr_expect_eq(v->map[2], slot, "block 2 shares block 1's slot, found by its old hash");
	cr_expect_eq(blk_flush(st), 0);
	struct blk_fsck r;
	cr_expect_eq(blk_fsck(st, false, &r), 0);
}
