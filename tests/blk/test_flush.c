/* A flush drops the store lock while it syncs: readers and writers go on
 * meanwhile, and what they write belongs to the next commit. A hook in the
 * commit path (struct blk_store.commit_hook) runs while the lock is
 * dropped, so the test is deterministic. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include "blk/store_impl.h"
#include "tests/blk/blk_test.h"

static char dir[64];
static struct blk_store *st;
static struct blk_vol *hv;

TestSuite(flush);

static void put(struct blk_vol *v, uint64_t seed, uint64_t first, size_t n)
{
	uint8_t b[BS];

	for (size_t i = 0; i < n; i++) {
		pattern(b, seed, first + i);
		if (blk_write(v, b, (first + i) * BS, BS, 0))
			_exit(10);
	}
}

/* Runs in the flushing thread, inside blk_flush(). */
static void during_flush(struct blk_store *s)
{
	uint8_t b[BS];

	s->commit_hook = NULL;
	if (pthread_rwlock_tryrdlock(&s->lock))
		_exit(4);	/* the flush holds the lock: readers would wait */
	pthread_rwlock_unlock(&s->lock);
	if (blk_read(hv, b, 0, BS) || !has_pattern(b, 2, 0))
		_exit(5);
	put(hv, 3, 4, 1);
}

Test(flush, readers_and_writers_go_on_and_later_writes_join_the_next_commit)
{
	st = test_store_make(dir, "flush");
	cr_assert_eq(blk_store_close(st), 0);
	pid_t pid = fork();
	if (!pid) {
		struct blk_store *s;
		if (blk_store_open(dir, &s) || blk_vol_create(s, "v", 64 * BS) || blk_vol_open(s, "v", &hv))
			_exit(2);
		put(hv, 1, 0, 8);
		if (blk_flush(s))
			_exit(3);
		put(hv, 2, 0, 4);
		s->commit_hook = during_flush;
		if (blk_flush(s) || s->commit_hook)
			_exit(6);
		if (!s->j.len || !(s->m.slots[hv->map[4]] & REF_NEW))
			_exit(7);	/* the hook's write waits for the next commit */
		_exit(0);	/* and never gets it */
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child failed at step %d", WEXITSTATUS(status));
	struct blk_vol *v;
	struct blk_fsck r;
	uint8_t b[BS];
	cr_assert_eq(blk_store_open(dir, &st), 0);
	cr_assert_eq(blk_vol_open(st, "v", &v), 0);
	for (uint64_t i = 0; i < 8; i++) {
		cr_assert_eq(blk_read(v, b, i * BS, BS), 0);
		cr_expect(has_pattern(b, i < 4 ? 2 : 1, i), "block %lu as of the flush", (unsigned long)i);
	}
	cr_expect_eq(blk_fsck(st, false, &r), 0);
	blk_vol_close(v);
	test_store_remove(dir, st);
}
