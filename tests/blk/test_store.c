/* Unit tests of the block store (blk/store.h), some with a look inside. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "blk/hash.h"
#include "blk/store_impl.h"
#include "tests/blk/blk_test.h"

static char dir[64];
static struct blk_store *st;

static void make_store(enum blk_dedup mode)
{
	strcpy(dir, "/tmp/blk-unit.XXXXXX");
	cr_assert(mkdtemp(dir));
	strcat(dir, "/s");
	cr_assert_eq(blk_store_create(dir, BS, mode), 0);
	cr_assert_eq(blk_store_open(dir, &st), 0);
}

static void setup(void)
{
	make_store(BLK_DEDUP_INLINE);
}

static void teardown(void)
{
	char cmd[96];

	if (st)
		blk_store_close(st);
	st = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strlen(dir) - 2), dir);
	system(cmd);
}

static void reopen(void)
{
	cr_assert_eq(blk_store_close(st), 0);
	st = NULL;
	cr_assert_eq(blk_store_open(dir, &st), 0);
}

static struct blk_vol *mkvol(const char *name, uint64_t size)
{
	struct blk_vol *v;

	cr_assert_eq(blk_vol_create(st, name, size), 0);
	cr_assert_eq(blk_vol_open(st, name, &v), 0);
	return v;
}

static struct blk_vol *vol(const char *name)
{
	struct blk_vol *v;

	cr_assert_eq(blk_vol_open(st, name, &v), 0, "open %s", name);
	return v;
}

static struct blk_stats stats(void)
{
	struct blk_stats s;

	blk_stat(st, &s);
	return s;
}

static uint64_t data_disk_bytes(void)
{
	return test_data_disk_bytes(dir);
}

/* Blocks 0 .. n-1 of volume name hold pattern(seed, block). */
static void expect_blocks(const char *name, uint64_t seed, int n)
{
	struct blk_vol *v = vol(name);
	uint8_t out[BS];

	for (int i = 0; i < n; i++) {
		cr_assert_eq(blk_read(v, out, (uint64_t)i * BS, BS), 0);
		cr_expect(has_pattern(out, seed, i), "%s block %d", name, i);
	}
	blk_vol_close(v);
}

static void expect_fsck_clean(void)
{
	struct blk_fsck r;

	cr_expect_eq(blk_fsck(st, false, &r), 0);
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, dedups_equal_blocks_across_volumes)
{
	struct blk_vol *a = mkvol("a", 1 << 20), *b = mkvol("b", 1 << 20);
	uint8_t blk[BS], out[BS];

	pattern(blk, 1, 0);
	cr_assert_eq(blk_write(a, blk, 0, BS, 0), 0);
	cr_assert_eq(blk_write(a, blk, 5 * BS, BS, 0), 0);
	cr_assert_eq(blk_write(b, blk, 7 * BS, BS, 0), 0);
	struct blk_stats s = stats();
	cr_expect_eq(s.unique_blocks, 1);
	cr_expect_eq(s.mapped_bytes, 3 * BS);
	cr_assert_eq(blk_read(b, out, 7 * BS, BS), 0);
	cr_expect(has_pattern(out, 1, 0));
	blk_vol_close(a);
	blk_vol_close(b);
}

Test(store, zero_blocks_are_never_stored)
{
	struct blk_vol *v = mkvol("v", 1 << 20);
	uint8_t zero[BS] = { 0 }, blk[BS], out[BS];

	cr_assert_eq(blk_write(v, zero, 0, BS, 0), 0);
	cr_expect_eq(stats().unique_blocks, 0);
	pattern(blk, 2, 3);
	cr_assert_eq(blk_write(v, blk, 3 * BS, BS, 0), 0);
	cr_expect_eq(stats().unique_blocks, 1);
	cr_assert_eq(blk_write(v, zero, 3 * BS, BS, 0), 0);	/* overwrite with zeros frees */
	cr_expect_eq(stats().unique_blocks, 0);
	cr_expect_eq(stats().mapped_bytes, 0);
	cr_assert_eq(blk_read(v, out, 3 * BS, BS), 0);
	cr_expect_eq(memcmp(out, zero, BS), 0);
	blk_vol_close(v);
}

Test(store, partial_writes_and_unaligned_reads)
{
	struct blk_vol *v = mkvol("v", 100000);	/* not a multiple of the block size */
	uint8_t *ref = calloc(1, 100000), *out = malloc(100000);

	for (int i = 0; i < 200; i++) {
		uint64_t off = (uint64_t)rand() % 99000, len = 1 + rand() % (100000 - off);
		memset(ref + off, i + 1, len);
		cr_assert_eq(blk_write(v, ref + off, off, len, 0), 0);
	}
	cr_assert_eq(blk_read(v, out, 0, 100000), 0);
	cr_expect_eq(memcmp(out, ref, 100000), 0);
	cr_expect_eq(blk_read(v, out, 99999, 2), -EINVAL);
	cr_expect_eq(blk_write(v, out, 100000, 1, 0), -EINVAL);
	reopen();
	v = vol("v");
	memset(out, 0, 100000);
	cr_assert_eq(blk_read(v, out, 0, 100000), 0);
	cr_expect_eq(memcmp(out, ref, 100000), 0);
	blk_vol_close(v);
	free(ref);
	free(out);
}

/* A hash match whose bytes differ must not be shared. XXH3-128 collisions
 * cannot be found, so give a stored block a false hash. */
Test(store, hash_collision_does_not_share)
{
	struct blk_vol *v = mkvol("v", 1 << 20);
	uint8_t a[BS], b[BS], out[BS];

	pattern(a, 10, 0);
	pattern(b, 11, 0);
	cr_assert_eq(blk_write(v, a, 0, BS, 0), 0);
	uint32_t slot = v->map[0];
	blk_index_remove(&st->m.ix, slot);
	struct blk_hash hb = blk_hash128(b, BS);
	slot_set_hash(&st->m, slot, &hb);
	blk_index_insert(&st->m.ix, slot);
	cr_assert_eq(blk_write(v, b, BS, BS, 0), 0);
	cr_expect_neq(v->map[1], slot);
	cr_assert_eq(blk_read(v, out, BS, BS), 0);
	cr_expect(has_pattern(out, 11, 0));
	blk_vol_close(v);
}

Test(store, snapshot_keeps_old_data_and_is_read_only)
{
	struct blk_vol *v = mkvol("v", 1 << 20), *s;
	uint8_t blk[BS], out[BS];

	pattern(blk, 1, 0);
	cr_assert_eq(blk_write(v, blk, 0, BS, 0), 0);
	cr_assert_eq(blk_vol_copy(st, "v", "snap", false), 0);
	pattern(blk, 2, 0);
	cr_assert_eq(blk_write(v, blk, 0, BS, 0), 0);
	s = vol("snap");
	cr_expect(blk_vol_readonly(s));
	cr_expect_eq(blk_write(s, blk, 0, BS, 0), -EROFS);
	cr_expect_eq(blk_trim(s, 0, BS, 0), -EROFS);
	cr_assert_eq(blk_read(s, out, 0, BS), 0);
	cr_expect(has_pattern(out, 1, 0));
	cr_assert_eq(blk_read(v, out, 0, BS), 0);
	cr_expect(has_pattern(out, 2, 0));
	cr_expect_eq(stats().unique_blocks, 2);
	blk_vol_close(s);
	blk_vol_close(v);
}

Test(store, clones_share_blocks_copy_on_write_and_refcounts)
{
	struct blk_vol *v = mkvol("v", 64 * BS);
	uint8_t blk[BS], out[BS];

	for (int i = 0; i < 64; i++) {
		pattern(blk, 1, i);
		cr_assert_eq(blk_write(v, blk, (uint64_t)i * BS, BS, 0), 0);
	}
	blk_vol_close(v);
	cr_assert_eq(blk_vol_copy(st, "v", "snap", false), 0);
	cr_assert_eq(blk_vol_copy(st, "snap", "clone", true), 0);
	cr_expect_eq(stats().unique_blocks, 64);
	struct blk_vol *c = vol("clone");
	pattern(blk, 2, 5);
	cr_assert_eq(blk_write(c, blk, 5 * BS, BS, 0), 0);
	cr_expect_eq(stats().unique_blocks, 65);
	cr_expect_eq(slot_refs(&st->m, c->map[0]), 3);
	cr_expect_eq(slot_refs(&st->m, c->map[5]), 1);
	struct blk_vol *s = vol("snap");
	cr_assert_eq(blk_read(s, out, 5 * BS, BS), 0);
	cr_expect(has_pattern(out, 1, 5));
	blk_vol_close(s);
	cr_expect_eq(blk_vol_remove(st, "clone"), -EBUSY);
	blk_vol_close(c);
	cr_assert_eq(blk_vol_remove(st, "clone"), 0);
	cr_expect_eq(stats().unique_blocks, 64);
	cr_assert_eq(blk_vol_remove(st, "v"), 0);
	cr_assert_eq(blk_vol_remove(st, "snap"), 0);
	cr_expect_eq(stats().unique_blocks, 0);
	expect_fsck_clean();
}

Test(store, deep_history_reads_the_same)
{
	struct blk_vol *v = mkvol("g0", 16 * BS);
	uint8_t blk[BS], out[BS];
	char prev[16] = "g0", snap[16], next[16];

	pattern(blk, 7, 0);
	cr_assert_eq(blk_write(v, blk, 0, BS, 0), 0);
	blk_vol_close(v);
	for (int i = 1; i <= 100; i++) {
		snprintf(snap, sizeof(snap), "s%d", i);
		snprintf(next, sizeof(next), "g%d", i);
		cr_assert_eq(blk_vol_copy(st, prev, snap, false), 0);
		cr_assert_eq(blk_vol_copy(st, snap, next, true), 0);
		v = vol(next);
		pattern(blk, 100 + i, i % 16);
		cr_assert_eq(blk_write(v, blk, (uint64_t)(i % 16) * BS, BS, 0), 0);
		blk_vol_close(v);
		strcpy(prev, next);
	}
	reopen();
	v = vol("g100");
	cr_assert_eq(blk_read(v, out, 0, BS), 0);
	cr_expect(has_pattern(out, 196, 0));	/* written at i = 96 */
	cr_assert_eq(blk_read(v, out, 4 * BS, BS), 0);
	cr_expect(has_pattern(out, 200, 4));
	blk_vol_close(v);
	v = vol("s1");
	cr_assert_eq(blk_read(v, out, 0, BS), 0);
	cr_expect(has_pattern(out, 7, 0));
	blk_vol_close(v);
}

Test(store, freed_space_is_reused_and_returned)
{
	struct blk_vol *v = mkvol("v", 1024 * BS);
	uint8_t blk[BS];

	for (int i = 0; i < 1024; i++) {
		pattern(blk, 1, i);
		cr_assert_eq(blk_write(v, blk, (uint64_t)i * BS, BS, 0), 0);
	}
	cr_assert_eq(blk_flush(st), 0);
	uint64_t full = data_disk_bytes();
	cr_expect_geq(full, 1024 * BS);
	cr_assert_eq(blk_trim(v, 0, 1024 * BS, 0), 0);
	cr_assert_eq(blk_flush(st), 0);
	cr_expect_lt(data_disk_bytes(), full / 8, "trim returned %lu of %lu bytes",
		     (unsigned long)(full - data_disk_bytes()), (unsigned long)full);
	uint32_t high = st->m.nslots;
	for (int i = 0; i < 1024; i++) {
		pattern(blk, 2, i);
		cr_assert_eq(blk_write(v, blk, (uint64_t)i * BS, BS, 0), 0);
	}
	cr_expect_eq(st->m.nslots, high, "new blocks reuse freed slots");
	/* Overwrites free the old blocks too. */
	for (int i = 0; i < 1024; i++) {
		pattern(blk, 3, i);
		cr_assert_eq(blk_write(v, blk, (uint64_t)i * BS, BS, 0), 0);
	}
	cr_assert_eq(blk_flush(st), 0);
	cr_expect_eq(stats().unique_blocks, 1024);
	cr_expect_lt(data_disk_bytes(), 2 * full + full / 4, "spare blocks: at most what was just written");
	cr_assert_eq(blk_flush(st), 0);	/* nothing written since: no spares kept */
	cr_expect_lt(data_disk_bytes(), full + full / 4);
	blk_vol_close(v);
	cr_assert_eq(blk_vol_remove(st, "v"), 0);
	cr_assert_eq(blk_flush(st), 0);
	cr_expect_lt(data_disk_bytes(), full / 8);
}

static void flip_byte(const char *file, off_t off)
{
	char p[96];
	uint8_t c;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	int fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

Test(store, corrupt_block_gives_io_error_and_fsck_finds_it)
{
	struct blk_vol *v = mkvol("v", 16 * BS);
	uint8_t blk[BS], out[2 * BS];

	pattern(blk, 1, 0);
	cr_assert_eq(blk_write(v, blk, 0, BS, 0), 0);
	pattern(blk, 1, 1);
	cr_assert_eq(blk_write(v, blk, BS, BS, 0), 0);
	uint32_t slot = v->map[1];
	blk_vol_close(v);
	cr_assert_eq(blk_store_close(st), 0);
	st = NULL;
	flip_byte("data", (off_t)slot * BS + 100);
	cr_assert_eq(blk_store_open(dir, &st), 0);
	v = vol("v");
	cr_expect_eq(blk_read(v, out, BS, BS), -EIO);
	cr_expect_eq(blk_read(v, out, 0, 2 * BS), -EIO);
	cr_expect_eq(blk_read(v, out, 0, BS), 0);
	blk_vol_close(v);
	struct blk_fsck r;
	cr_expect_eq(blk_fsck(st, true, &r), 1);
	cr_expect_eq(r.corrupt_blocks, 1);
}

/* Contents of a store file; *n gets its length. */
static char *slurp(const char *file, size_t *n)
{
	char p[96], *b = malloc(1 << 16);

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	FILE *f = fopen(p, "r");
	cr_assert(b && f);
	*n = fread(b, 1, 1 << 16, f);
	fclose(f);
	return b;
}

Test(store, corrupt_metadata_refuses_to_open_and_changes_nothing)
{
	struct blk_vol *v = mkvol("v", 16 * BS);
	blk_vol_close(v);
	cr_assert_eq(blk_store_close(st), 0);
	st = NULL;
	const char *files[] = { "meta0", "meta1" };
	char *before[2];
	size_t n1[2], n2;
	for (int i = 0; i < 2; i++) {
		flip_byte(files[i], 40);	/* both copies */
		before[i] = slurp(files[i], &n1[i]);
	}
	cr_expect_eq(blk_store_open(dir, &st), -EUCLEAN);
	st = NULL;
	for (int i = 0; i < 2; i++) {
		char *after = slurp(files[i], &n2);
		cr_expect(n1[i] == n2 && !memcmp(before[i], after, n2), "%s unchanged", files[i]);
		free(before[i]);
		free(after);
	}
}

Test(store, fsck_repairs_reference_leaks)
{
	struct blk_vol *v = mkvol("v", 16 * BS);
	uint8_t blk[BS];

	pattern(blk, 1, 0);
	cr_assert_eq(blk_write(v, blk, 0, BS, 0), 0);
	st->m.slots[v->map[0]] += 2;	/* as if two references had leaked */
	blk_vol_close(v);
	reopen();
	struct blk_fsck r;
	cr_expect_eq(blk_fsck(st, false, &r), 1);
	cr_expect_eq(r.refcount_leaks, 1);
	cr_expect_eq(blk_fsck(st, true, &r), 0);
	cr_expect_eq(r.repaired, 1);
	reopen();
	cr_expect_eq(blk_fsck(st, false, &r), 0);
	cr_assert_eq(blk_vol_remove(st, "v"), 0);
	cr_expect_eq(stats().unique_blocks, 0, "after repair the block is freed with its last user");
}

Test(store, names_and_sizes_are_checked)
{
	cr_expect_eq(blk_vol_create(st, "", 4096), -EINVAL);
	cr_expect_eq(blk_vol_create(st, "a/b", 4096), -EINVAL);
	cr_expect_eq(blk_vol_create(st, ".hidden", 4096), -EINVAL);
	cr_expect_eq(blk_vol_create(st, "ok", 0), -EINVAL);
	cr_expect_eq(blk_vol_create(st, "ok", 4096), 0);
	cr_expect_eq(blk_vol_create(st, "ok", 4096), -EEXIST);
	cr_expect_eq(blk_vol_copy(st, "missing", "x", false), -ENOENT);
	cr_expect_eq(blk_store_create("/tmp/blk-unit-bad", 3000, BLK_DEDUP_INLINE), -EINVAL);
	struct blk_store *other;
	cr_expect_eq(blk_store_open(dir, &other), -EBUSY, "a store is opened by one process at a time");
}

Test(store, background_dedup_merges_later)
{
	teardown();
	make_store(BLK_DEDUP_BACKGROUND);
	struct blk_vol *a = mkvol("a", 32 * BS), *b = mkvol("b", 32 * BS);
	uint8_t blk[BS];
	for (int i = 0; i < 32; i++) {
		pattern(blk, 1, i);
		cr_assert_eq(blk_write(a, blk, (uint64_t)i * BS, BS, 0), 0);
		cr_assert_eq(blk_write(b, blk, (uint64_t)i * BS, BS, 0), 0);
	}
	cr_expect_eq(stats().unique_blocks, 64);
	blk_vol_close(a);
	blk_vol_close(b);
	reopen();
	cr_expect_eq(blk_dedup(st), 32);
	cr_expect_eq(stats().unique_blocks, 32);
	cr_expect_eq(blk_dedup(st), 0);
	expect_blocks("b", 1, 32);
	expect_fsck_clean();
}

struct worker {
	int id;
	int errors;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];
	uint8_t blk[BS], out[BS];
	struct blk_vol *v;

	snprintf(name, sizeof(name), "t%d", w->id);
	blk_vol_open(st, name, &v);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 256; i++) {
			/* Half the blocks are shared between threads. */
			pattern(blk, i % 2 ? w->id : 99, i + round);
			w->errors += blk_write(v, blk, (uint64_t)i * BS, BS, 0) != 0;
		}
		for (int i = 0; i < 256; i++) {
			w->errors += blk_read(v, out, (uint64_t)i * BS, BS) != 0;
			w->errors += !has_pattern(out, i % 2 ? w->id : 99, i + round);
		}
		if (round == 2)
			w->errors += blk_flush(st) != 0;
	}
	blk_vol_close(v);
	return NULL;
}

Test(store, threads_share_the_store)
{
	pthread_t t[4];
	struct worker w[4];

	for (int i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "t%d", i);
		cr_assert_eq(blk_vol_create(st, name, 256 * BS), 0);
	}
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .id = i };
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(w[i].errors, 0, "thread %d", i);
	}
	cr_expect_eq(stats().unique_blocks, 4 * 128 + 128);
	expect_fsck_clean();
}

Test(store, checkpoints_when_the_journal_grows)
{
	struct blk_vol *v = mkvol("v", 64 * BS);
	uint8_t blk[BS];

	st->ckpt_bytes = 16 << 10;
	uint64_t gen = st->j.gen;
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 64; i++) {
			pattern(blk, round, i);
			cr_assert_eq(blk_write(v, blk, (uint64_t)i * BS, BS, 0), 0);
		}
		cr_assert_eq(blk_flush(st), 0);
		cr_assert_lt(st->j.end, 16 << 10);
	}
	cr_expect_geq(st->j.gen, gen + 4, "a checkpoint about every fourth flush");
	blk_vol_close(v);
	reopen();
	expect_blocks("v", 19, 64);
	expect_fsck_clean();
}
