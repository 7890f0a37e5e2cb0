/*
 * Crash consistency: a child process writes, trims and flushes on a store
 * and reports each flush it saw succeed; it is killed with SIGKILL at a
 * random moment. The recovered store must read without errors and equal
 * the result of some prefix of the child's operations that includes every
 * acknowledged one.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "blk/store.h"
#include "tests/blk/blk_test.h"

#define NBLK     256
#define ROUNDS   16
#define MAXEXTRA 1000000

struct op {
	uint32_t lba;
	bool trim, sync, reopen;
};

static struct op op_at(uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull;
	x ^= x >> 31, x *= 0xbf58476d1ce4e5b9ull, x ^= x >> 29;
	return (struct op){ .lba = x % NBLK, .trim = (x >> 20) % 10 == 0,
			    .sync = (x >> 28) % 6 == 0, .reopen = seq % 500 == 0 };
}

static void ack(int fd, uint64_t seq)
{
	if (write(fd, &seq, sizeof(seq)) != sizeof(seq))
		_exit(3);
}

static void writer(const char *dir, uint64_t base, int fd)
{
	struct blk_store *s;
	struct blk_vol *v;
	uint8_t b[BS];

	if (blk_store_open(dir, &s) || blk_vol_open(s, "v", &v))
		_exit(2);
	for (uint64_t seq = 1;; seq++) {
		struct op o = op_at(base + seq);
		pattern(b, base + seq, o.lba);
		if (o.trim ? blk_trim(v, (uint64_t)o.lba * BS, BS, 0) : blk_write(v, b, (uint64_t)o.lba * BS, BS, 0))
			_exit(2);
		if (o.sync && blk_flush(s))
			_exit(2);
		if (o.reopen) {
			blk_vol_close(v);
			if (blk_store_close(s) || blk_store_open(dir, &s) || blk_vol_open(s, "v", &v))
				_exit(2);
		}
		if (o.sync || o.reopen)
			ack(fd, seq);
	}
}

Test(crash, kill9_keeps_every_acknowledged_write, .timeout = 120)
{
	char dir[64] = "/tmp/blk-crash.XXXXXX", cmd[96];
	uint64_t state[NBLK] = { 0 };	/* tag (op number) of each block's content; 0 = zeros */
	struct blk_store *s;
	struct blk_vol *v;
	uint8_t b[BS];

	cr_assert(mkdtemp(dir));
	strcat(dir, "/s");
	cr_assert_eq(blk_store_create(dir, BS, BLK_DEDUP_INLINE), 0);
	cr_assert_eq(blk_store_open(dir, &s), 0);
	cr_assert_eq(blk_vol_create(s, "v", NBLK * BS), 0);
	cr_assert_eq(blk_store_close(s), 0);
	srand(getpid());

	for (int round = 0; round < ROUNDS; round++) {
		uint64_t base = (uint64_t)(round + 1) << 40, acked = 0, seq;
		int p[2];
		cr_assert_eq(pipe(p), 0);
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			writer(dir, base, p[1]);
		}
		close(p[1]);
		usleep(1000 + rand() % 100000);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		cr_assert(WIFSIGNALED(status), "writer failed by itself (status %d)", status);
		while (read(p[0], &seq, sizeof(seq)) == sizeof(seq))
			acked = seq;
		close(p[0]);

		cr_assert_eq(blk_store_open(dir, &s), 0, "round %d: recovery failed", round);
		cr_assert_eq(blk_vol_open(s, "v", &v), 0);
		uint64_t got[NBLK];
		for (uint32_t lba = 0; lba < NBLK; lba++) {
			cr_assert_eq(blk_read(v, b, (uint64_t)lba * BS, BS), 0, "round %d block %u", round, lba);
			memcpy(&got[lba], b, 8);
			cr_assert(got[lba] ? has_pattern(b, got[lba], lba) : b[8] == 0 && !memcmp(b + 8, b + 9, BS - 9),
				  "round %d block %u: content is no write of the test", round, lba);
		}
		/* Replay the child's operations on the model until it matches. */
		uint32_t differ = 0;
		for (uint32_t lba = 0; lba < NBLK; lba++)
			differ += state[lba] != got[lba];
		for (seq = 1; seq <= acked || (differ && seq <= acked + MAXEXTRA); seq++) {
			struct op o = op_at(base + seq);
			uint64_t tag = o.trim ? 0 : base + seq;
			differ -= state[o.lba] != got[o.lba];
			state[o.lba] = tag;
			differ += state[o.lba] != got[o.lba];
		}
		cr_assert_eq(differ, 0, "round %d: recovered state is no prefix of the operations "
			     "(acknowledged %llu)", round, (unsigned long long)acked);
		struct blk_fsck r;
		cr_assert_eq(blk_fsck(s, false, &r), 0, "round %d: fsck", round);
		blk_vol_close(v);
		cr_assert_eq(blk_store_close(s), 0);
		cr_log_info("round %d: %llu operations acknowledged, %llu recovered", round,
			    (unsigned long long)acked, (unsigned long long)(seq - 1));
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strlen(dir) - 2), dir);
	system(cmd);
}
