/* What the batched data path brings: runs read in one call across holes,
 * zeros and shared blocks, a corrupt block inside a run, overwrites that
 * stay in sequence, and spare space punched over several commits. Where
 * rewrites land: in place while no commit names the block (J_REHASH,
 * replayed on reopen; shared by a later block of its batch), never over a block something else shares, and after
 * a commit on spare slots before holes or new space. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

	int err = read_saying(v, out, 0, sizeof(out), msg, sizeof(msg));
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
		cr_assert_eq(v->map[0] % 16, 0, "a 64-block run starts on a 64 KiB boundary");
		cr_assert_eq(v->map[100] % 16, 0, "a 16-block run starts aligned");
	}
	blk_vol_close(v);
}

/* A write reserves a run for its non-zero blocks before dedup decides;
 * the slots dedup leaves unused go back, and at the end of the file the
 * table shrinks over them: no gaps in RAM or in the file. */
Test(batch, slots_dedup_leaves_unused_are_given_back)
{
	struct blk_vol *a = mkvol("a", 64), *b = mkvol("b", 64);
	uint8_t *buf = malloc(64 * BS);

	put(a, 1, 0, 64);
	uint32_t before = st->m.nslots;
	for (size_t i = 0; i < 64; i++)	/* a's blocks, but 4 new ones at the start */
		pattern(buf + i * BS, i < 4 ? 2 : 1, i);
	memset(buf + 10 * BS, 0, 6 * BS);	/* and zeros: no slot */
	cr_assert_eq(blk_write(b, buf, 0, 64 * BS, 0), 0);
	cr_expect_leq(st->m.nslots - before, 4 + 15, "grew by %u slots for 4 new blocks", st->m.nslots - before);
	for (size_t i = 1; i < 4; i++)
		cr_expect_eq(b->map[i], b->map[0] + i, "the new blocks in sequence");
	free(buf);
	blk_vol_close(a);
	blk_vol_close(b);
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

static void expect(struct blk_vol *v, uint64_t seed, uint64_t lba, uint64_t as)
{
	uint8_t out[BS];

	cr_assert_eq(blk_read(v, out, lba * BS, BS), 0, "block %lu reads", (unsigned long)lba);
	cr_expect(has_pattern(out, seed, as), "block %lu holds seed %lu", (unsigned long)lba, (unsigned long)seed);
}

Test(batch, rewrite_before_a_commit_stays_in_place)
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

/* Runs fn on a new volume "v" of 64 blocks in a child process that ends
 * with a flush and no close, so that the journal, not a checkpoint,
 * carries what fn did (a nonzero return is the child's exit status); then
 * reopens the store here and returns the volume. */
static struct blk_vol *in_journal(int (*fn)(struct blk_store *s, struct blk_vol *v))
{
	cr_assert_eq(blk_store_close(st), 0);
	st = NULL;
	pid_t pid = fork();
	if (!pid) {
		struct blk_store *s;
		struct blk_vol *v;
		if (blk_store_open(dir, &s) || blk_vol_create(s, "v", 64 * BS) || blk_vol_open(s, "v", &v))
			_exit(2);
		int status = fn(s, v);
		_exit(status ? status : blk_flush(s) ? 3 : 0);
	}
	int status;
	struct blk_vol *v;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert_eq(status, 0, "child: exit %d", WEXITSTATUS(status));
	cr_assert_eq(blk_store_open(dir, &st), 0);
	cr_assert_eq(blk_vol_open(st, "v", &v), 0);
	return v;
}

static int rewrite_some(struct blk_store *s, struct blk_vol *v)
{
	(void)s;
	put(v, 1, 0, 16);
	put(v, 2, 3, 1);
	put(v, 3, 8, 4);
	return 0;
}

Test(batch, rewritten_blocks_replay_from_the_journal)
{
	struct blk_vol *v = in_journal(rewrite_some);
	struct blk_fsck r;

	expect(v, 1, 2, 2);
	expect(v, 2, 3, 3);
	expect(v, 3, 9, 9);
	expect(v, 1, 15, 15);
	cr_expect_eq(blk_fsck(st, false, &r), 0);
	blk_vol_close(v);
}

/* Blocks 0 and 1 both take block 0's new bytes in one write. */
static int rewrite_twice_in_a_batch(struct blk_store *s, struct blk_vol *v)
{
	uint8_t b[2 * BS];

	put(v, 1, 0, 2);
	uint32_t slot = v->map[0];
	pattern(b, 2, 0);
	pattern(b + BS, 2, 0);
	if (blk_write(v, b, 0, 2 * BS, 0))
		return 4;
	return v->map[0] == slot && v->map[1] == slot && slot_refs(&s->m, slot) == 2 ? 0 : 5;
}

/* A block rewritten in place is indexed under its new bytes at once: a
 * later block of the same batch with those bytes shares it, live (the
 * child checks) and on replay. */
Test(batch, a_batch_shares_a_block_it_rewrites)
{
	struct blk_vol *v = in_journal(rewrite_twice_in_a_batch);
	struct blk_fsck r;

	cr_expect_eq(v->map[0], v->map[1], "shared after replay");
	expect(v, 2, 0, 0);
	expect(v, 2, 1, 0);
	cr_expect_eq(blk_fsck(st, false, &r), 0);
	blk_vol_close(v);
}

Test(batch, a_shared_block_is_not_rewritten)
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

	/* In one batch: block 4 takes block 5's current bytes, block 5 new ones;
	 * then block 4 new bytes, block 5 block 4's current ones. */
	static const uint64_t as[2][4] = { { 1, 5, 9, 5 }, { 9, 4, 1, 4 } };
	for (int k = 0; k < 2; k++) {
		put(v, 1, 0, 8);
		pattern(b, as[k][0], as[k][1]);
		pattern(b + BS, as[k][2], as[k][3]);
		cr_assert_eq(blk_write(v, b, 4 * BS, 2 * BS, 0), 0);
		expect(v, as[k][0], 4, as[k][1]);
		expect(v, as[k][2], 5, as[k][3]);
	}
	blk_vol_close(v);
}

Test(batch, after_a_commit_rewrites_take_spare_slots_before_holes)
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

/* Writers of 64-block runs whose data goes to new slots with the store lock
 * dropped, next to one another: they share blocks (so one frees what
 * another planned to share, and must start over), each reads back what it
 * wrote, and a flusher commits meanwhile. Every block ends as its last
 * write left it, and fsck finds nothing. */
struct runner {
	int id, errors;
};

static uint64_t run_seed(int id, int round, size_t i)
{
	return i % 3 ? 100 + (uint64_t)id * 10 + (uint64_t)(round % 4) : 99 + (uint64_t)(round % 2);	/* a third shared */
}

static void *runner_main(void *arg)
{
	struct runner *r = arg;
	struct blk_vol *v;
	char name[16];
	uint8_t *b = malloc(64 * BS);

	snprintf(name, sizeof(name), "r%d", r->id);
	r->errors += blk_vol_open(st, name, &v) != 0;
	for (int round = 0; round < 24; round++) {
		uint64_t first = (uint64_t)(round % 4) * 64;
		for (size_t i = 0; i < 64; i++)
			pattern(b + i * BS, run_seed(r->id, round, i), first + i);
		r->errors += blk_write(v, b, first * BS, 64 * BS, 0) != 0;
		r->errors += blk_read(v, b, first * BS, 64 * BS) != 0;
		for (size_t i = 0; i < 64; i++)
			r->errors += !has_pattern(b + i * BS, run_seed(r->id, round, i), first + i);
	}
	blk_vol_close(v);
	free(b);
	return NULL;
}

static volatile int flushing;

static void *flusher_main(void *arg)
{
	int *errors = arg;

	while (flushing)
		*errors += blk_flush(st) != 0;
	return NULL;
}

Test(batch, writers_in_parallel_keep_every_block)
{
	enum { N = 4 };
	pthread_t t[N], f;
	struct runner r[N];
	int flush_errors = 0;

	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "r%d", i);
		cr_assert_eq(blk_vol_create(st, name, 256 * BS), 0);
		r[i] = (struct runner){ .id = i };
	}
	flushing = 1;
	pthread_create(&f, NULL, flusher_main, &flush_errors);
	for (int i = 0; i < N; i++)
		pthread_create(&t[i], NULL, runner_main, &r[i]);
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(r[i].errors, 0, "writer %d", i);
	}
	flushing = 0;
	pthread_join(f, NULL);
	cr_expect_eq(flush_errors, 0);
	for (int i = 0; i < N; i++) {	/* rounds 20..23 wrote the four runs last */
		struct blk_vol *v;
		char name[16];
		uint8_t out[BS];
		snprintf(name, sizeof(name), "r%d", i);
		cr_assert_eq(blk_vol_open(st, name, &v), 0);
		for (uint64_t lba = 0; lba < 256; lba++) {
			cr_assert_eq(blk_read(v, out, lba * BS, BS), 0);
			cr_expect(has_pattern(out, run_seed(i, 20 + (int)(lba / 64), lba % 64), lba), "r%d block %lu", i,
				  (unsigned long)lba);
		}
		blk_vol_close(v);
	}
	struct blk_fsck fr;
	cr_expect_eq(blk_fsck(st, false, &fr), 0);
}
