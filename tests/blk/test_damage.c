/*
 * Damaged store files and the store lock: a damaged journal record with
 * intact commits after it (refused for writing, served read-only up to the
 * damage, dropped by repair), a torn tail (normal), read-only commands that
 * write nothing, a damaged metadata copy (recovered from the other one and
 * the journals), and a lock that deleting a file does not bypass.
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
#include "blk/blk_cli.h"
#include "blk/store_impl.h"
#include "tests/blk/blk_test.h"

#define NCOMMITS 6

static char dir[64];
static struct blk_store *st;

static void setup(void)
{
	st = test_store_make(dir, "damage");
	cr_redirect_stderr();
	cr_redirect_stdout();
}

static void teardown(void)
{
	test_store_remove(dir, st);
}

TestSuite(damage, .init = setup, .fini = teardown, .timeout = 30);

/* Releases the store as a crash would: nothing more is written (I6). */
static void crash(void)
{
	st->failed = true;
	blk_store_close(st);
	st = NULL;
}

/* Volume v; commit c (1 .. n) writes block c with pattern(seed, c). */
static void commits(uint64_t seed, int n)
{
	struct blk_vol *v;
	uint8_t b[BS];

	if (blk_vol_open(st, "v", &v)) {
		cr_assert_eq(blk_vol_create(st, "v", 64 * BS), 0);
		cr_assert_eq(blk_vol_open(st, "v", &v), 0);
		cr_assert_eq(store_checkpoint(st), 0);	/* the journal holds equal commits only */
	}
	for (int c = 1; c <= n; c++) {
		pattern(b, seed, c);
		cr_assert_eq(blk_write(v, b, (uint64_t)c * BS, BS, 0), 0);
		cr_assert_eq(blk_flush(st), 0);
	}
	blk_vol_close(v);
}

/* Block c of v holds pattern(seed, c) (seed 0: zeros). */
static bool block_is(struct blk_store *s, uint64_t seed, int c)
{
	struct blk_vol *v;
	uint8_t b[BS], zero[BS] = { 0 };

	cr_assert_eq(blk_vol_open(s, "v", &v), 0);
	bool ok = !blk_read(v, b, (uint64_t)c * BS, BS) && (seed ? has_pattern(b, seed, c) : !memcmp(b, zero, BS));
	blk_vol_close(v);
	return ok;
}

static void path(char *p, size_t n, const char *file)
{
	snprintf(p, n, "%s/%s", dir, file);
}

static void poke(const char *file, off_t off, const void *bytes, size_t n)
{
	char p[96];
	int fd;

	path(p, sizeof(p), file);
	cr_assert_geq(fd = open(p, O_RDWR), 0);
	cr_assert_eq(pwrite(fd, bytes, n, off), (ssize_t)n);
	close(fd);
}

static void flip(const char *file, off_t off)
{
	char p[96];
	uint8_t c;
	int fd;

	path(p, sizeof(p), file);
	cr_assert_geq(fd = open(p, O_RDWR), 0);
	cr_assert_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x10;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static off_t file_size(const char *file)
{
	char p[96];
	struct stat sb;

	path(p, sizeof(p), file);
	return stat(p, &sb) ? -1 : sb.st_size;
}

static int cli(const char *cmd, const char *arg1, const char *arg2)
{
	char *argv[] = { "blk", (char *)cmd, dir, (char *)arg1, (char *)arg2, NULL };
	int argc = 3 + (arg1 != NULL) + (arg2 != NULL);

	return blk_cli_main(argc, argv);
}

static const char *active_journal(void)
{
	return st->j.gen & 1 ? "journal1" : "journal0";
}

Test(damage, read_only_commands_write_nothing)
{
	char out[96];

	commits(1, NCOMMITS);
	const char *jn = active_journal();
	off_t end = st->j.end;
	crash();
	poke(jn, end, "torn tail", 9);	/* also left alone */
	size_t n1, n2;
	char *before = test_store_files(dir, &n1);
	snprintf(out, sizeof(out), "%s.img", dir);
	cr_expect_eq(cli("list", NULL, NULL), 0);
	cr_expect_eq(cli("stat", "--json", NULL), 0);
	cr_expect_eq(cli("export", "v", out), 0);
	cr_expect_eq(cli("fsck", NULL, NULL), 0);
	char *after = test_store_files(dir, &n2);
	cr_expect(n1 == n2 && !memcmp(before, after, n1), "a read-only command changed the store's files");
	free(before);
	free(after);
	cr_assert_eq(blk_store_open(dir, &st), 0);
	for (int c = 1; c <= NCOMMITS; c++)
		cr_expect(block_is(st, 1, c), "commit %d survives", c);
}

Test(damage, torn_tail_after_the_last_commit_is_normal)
{
	commits(1, NCOMMITS);
	const char *jn = active_journal();
	off_t end = st->j.end;
	crash();
	/* Half of a record of a commit that never completed. */
	uint8_t half[40];
	memset(half, 0xa5, sizeof(half));
	poke(jn, end, half, sizeof(half));
	cr_assert_eq(blk_store_open(dir, &st), 0);
	cr_expect_eq(file_size(jn), end, "the torn tail is cut");
	for (int c = 1; c <= NCOMMITS; c++)
		cr_expect(block_is(st, 1, c), "commit %d survives", c);
	struct blk_fsck r;
	cr_expect_eq(blk_fsck(st, false, &r), 0);
	cr_expect_eq(r.journal_damage, 0);
}

/* The journal ends with zeros written ahead of its records: reopening
 * finds every commit, no damage, and keeps them for the next commits. */
Test(damage, zeros_written_ahead_are_no_damage)
{
	commits(1, NCOMMITS);
	const char *jn = active_journal();
	off_t end = st->j.end;
	cr_assert_gt(file_size(jn), end, "zeros are written ahead");
	crash();
	cr_assert_eq(blk_store_open(dir, &st), 0);
	cr_expect_eq(st->j.end, (uint64_t)end);
	cr_expect_gt(file_size(jn), end, "reopening keeps them");
	struct blk_fsck r;
	cr_expect_eq(blk_fsck(st, false, &r), 0);
	cr_expect_eq(r.journal_damage, 0);
	commits(2, NCOMMITS);
	crash();
	cr_assert_eq(blk_store_open(dir, &st), 0);
	for (int c = 1; c <= NCOMMITS; c++)
		cr_expect(block_is(st, 2, c), "commit %d after the reopen survives", c);
}

/* A bit flip or zeros in the second commit, four intact commits after it. */
static void damaged_journal(bool zeros)
{
	commits(1, NCOMMITS);
	const char *jn = active_journal();
	off_t rec = st->j.end / NCOMMITS;	/* each commit writes the same records */
	crash();
	if (zeros) {
		uint8_t z[16] = { 0 };
		poke(jn, rec + 20, z, sizeof(z));
	} else {
		flip(jn, rec + 20);
	}
	size_t n1, n2;
	char *before = test_store_files(dir, &n1);
	cr_expect_eq(blk_store_open(dir, &st), -EUCLEAN, "damage before intact commits refuses writing");
	st = NULL;
	char *after = test_store_files(dir, &n2);
	cr_expect(n1 == n2 && !memcmp(before, after, n1), "the refused open changed nothing");
	free(before);
	free(after);

	/* Read-only: the store before the damage, reported by fsck. */
	struct blk_fsck r;
	cr_assert_eq(blk_store_open_mode(dir, BLK_OPEN_READ, &st), 0);
	cr_expect(block_is(st, 1, 1) && block_is(st, 0, 2) && block_is(st, 0, NCOMMITS));
	cr_expect_gt(blk_fsck(st, false, &r), 0);
	cr_expect_eq(r.journal_damage, 1);
	cr_expect_eq(r.lost_commits, NCOMMITS - 2);
	blk_store_close(st);

	/* Repair drops the commits after the damage and says so. */
	cr_assert_eq(blk_store_open_mode(dir, BLK_OPEN_REPAIR, &st), 0);
	cr_expect_eq(blk_fsck(st, true, &r), 0);
	cr_expect_eq(r.repaired, 1);
	cr_assert_eq(blk_store_close(st), 0);
	cr_assert_eq(blk_store_open(dir, &st), 0);
	cr_expect(block_is(st, 1, 1) && block_is(st, 0, 3));
	cr_expect_eq(blk_fsck(st, false, &r), 0);

	fflush(stderr);
	FILE *err = cr_get_redirected_stderr();
	char line[1024];
	int refused = 0, dropped = 0;
	while (fgets(line, sizeof(line), err)) {
		refused += strstr(line, "is damaged at byte") && strstr(line, "refusing to open it for writing");
		dropped += strstr(line, "4 intact commit(s)") && strstr(line, "dropping them");
	}
	cr_expect_eq(refused, 1, "the refusal says why");
	cr_expect_eq(dropped, 1, "repair states what it drops");
}

Test(damage, bit_flip_before_intact_commits_is_corruption) { damaged_journal(false); }
Test(damage, zeros_before_intact_commits_are_corruption) { damaged_journal(true); }

/* Commits in journal g, a checkpoint, commits in journal g+1, then the
 * newest metadata copy is damaged: nothing is lost. */
Test(damage, damaged_newest_metadata_copy_recovers_everything)
{
	commits(1, 3);
	cr_assert_eq(store_checkpoint(st), 0);
	uint64_t gen = st->j.gen;
	commits(2, 2);		/* blocks 1, 2 again */
	crash();
	char newest[8];
	snprintf(newest, sizeof(newest), "meta%u", (unsigned)(gen & 1));
	flip(newest, 100);
	for (int mode = BLK_OPEN_READ; mode >= BLK_OPEN_WRITE; mode--) {
		cr_assert_eq(blk_store_open_mode(dir, mode, &st), 0, "mode %d", mode);
		cr_expect(block_is(st, 2, 1) && block_is(st, 2, 2) && block_is(st, 1, 3), "mode %d", mode);
		struct blk_fsck r;
		blk_fsck(st, false, &r);
		cr_expect_eq(r.damaged_meta, 1);
		cr_expect_eq(r.repaired, mode == BLK_OPEN_WRITE, "writing rewrites the copy");
		blk_store_close(st);
	}
	/* Both copies verify again: either one alone opens. */
	for (int copy = 0; copy < 2; copy++) {
		char name[8];
		snprintf(name, sizeof(name), "meta%d", !copy);
		flip(name, 100);
		cr_assert_eq(blk_store_open_mode(dir, BLK_OPEN_READ, &st), 0, "meta%d alone", copy);
		cr_expect(block_is(st, 2, 1) && block_is(st, 1, 3));
		blk_store_close(st);
		flip(name, 100);
	}
	st = NULL;
}

Test(damage, damaged_older_metadata_copy_loses_nothing)
{
	commits(1, 3);
	char older[8];
	snprintf(older, sizeof(older), "meta%u", (unsigned)((st->j.gen + 1) & 1));
	crash();
	flip(older, 44);	/* inside the slot table of the smallest checkpoint */
	cr_assert_eq(blk_store_open(dir, &st), 0);
	cr_expect(block_is(st, 1, 1) && block_is(st, 1, 3));
}

Test(damage, lock_survives_deleting_files)
{
	char p[96];
	struct blk_store *other;

	/* Whatever file a user deletes, a second writer stays out. */
	path(p, sizeof(p), "lock");
	unlink(p);
	cr_expect_eq(blk_store_open(dir, &other), -EBUSY);
	cr_expect_eq(blk_store_open_mode(dir, BLK_OPEN_READ, &other), -EBUSY, "no reader beside a writer");
	blk_store_close(st);
	struct blk_store *r1, *r2;
	cr_assert_eq(blk_store_open_mode(dir, BLK_OPEN_READ, &r1), 0);
	cr_assert_eq(blk_store_open_mode(dir, BLK_OPEN_READ, &r2), 0, "readers share");
	cr_expect_eq(blk_store_open(dir, &st), -EBUSY, "no writer beside readers");
	st = NULL;
	blk_store_close(r1);
	blk_store_close(r2);
}
