/*
 * Crash consistency: a child process writes, trims, flushes and reopens a
 * store, and reports each acknowledged operation (a flush, a FUA write, a
 * reopen); it is killed with SIGKILL at a random point. Half of the points
 * are random moments; the other half are the k-th call (k random) of one of
 * the system calls the store makes its changes with, just before or just
 * after it: the interposed wrappers below count them, so points land inside
 * checkpoints (write, fsync, renameat of meta, ftruncate of the next
 * journal) and space reclaim (fallocate punching freed blocks) as well as
 * commits (pwrite or pwritev of data, pwrite and fdatasync of the journal).
 * Checkpoints are made frequent (every 8 KiB of journal).
 *
 * After each kill the store is opened read-only (it must show a valid state
 * and change no file) and then for writing: it must read without errors,
 * equal the result of some prefix of the child's operations that includes
 * every acknowledged one, and fsck clean.
 *
 * BLK_CRASH_POINTS sets the number of kills (default 40; `make stress`
 * runs 1200).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "blk/store_impl.h"
#include "tests/blk/blk_test.h"

#define NBLK     256
#define MAXEXTRA 1000000

/* --- crash points: the store's system calls, counted ------------------------ */

enum kind { K_WRITE, K_PWRITE, K_PWRITEV, K_FSYNC, K_FDATASYNC, K_RENAMEAT, K_FTRUNCATE, K_FALLOCATE, NKINDS };
static const char *kind_name[NKINDS] = { "write", "pwrite", "pwritev", "fsync", "fdatasync", "renameat",
					 "ftruncate", "fallocate" };

static struct shared {		/* MAP_SHARED: the parent reads the child's counts */
	uint64_t calls[NKINDS];
	int last;
} *sh;
static bool counting;		/* in the child only */
static int kill_kind = -1;
static uint64_t kill_at;
static bool kill_after;

static void point(enum kind k, bool after)
{
	if (!counting)
		return;
	if (!after) {
		sh->calls[k]++;
		sh->last = k;
	}
	if ((int)k == kill_kind && sh->calls[k] == kill_at && after == kill_after)
		raise(SIGKILL);
}

/* These take the place of the C library's for the store's code linked in
 * here; the system calls themselves are made directly. */
#define AROUND(k, call) ({ point(k, false); long r_ = (call); point(k, true); r_; })
ssize_t write(int fd, const void *b, size_t n) { return AROUND(K_WRITE, syscall(SYS_write, fd, b, n)); }
ssize_t pwrite(int fd, const void *b, size_t n, off_t off) { return AROUND(K_PWRITE, syscall(SYS_pwrite64, fd, b, n, off)); }
ssize_t pwritev(int fd, const struct iovec *v, int n, off_t off) { return AROUND(K_PWRITEV, syscall(SYS_pwritev, fd, v, n, off, 0)); }
int fsync(int fd) { return AROUND(K_FSYNC, syscall(SYS_fsync, fd)); }
int fdatasync(int fd) { return AROUND(K_FDATASYNC, syscall(SYS_fdatasync, fd)); }
int renameat(int a, const char *p, int b, const char *q) { return AROUND(K_RENAMEAT, syscall(SYS_renameat, a, p, b, q)); }
int ftruncate(int fd, off_t len) { return AROUND(K_FTRUNCATE, syscall(SYS_ftruncate, fd, len)); }
int fallocate(int fd, int mode, off_t off, off_t len) { return AROUND(K_FALLOCATE, syscall(SYS_fallocate, fd, mode, off, len)); }

/* --- the child's operations -------------------------------------------------- */

struct op {
	uint32_t lba;
	bool trim, fua, sync, reopen;
};

static struct op op_at(uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull;
	x ^= x >> 31, x *= 0xbf58476d1ce4e5b9ull, x ^= x >> 29;
	return (struct op){ .lba = x % NBLK, .trim = (x >> 20) % 10 == 0, .fua = (x >> 24) % 16 == 0,
			    .sync = (x >> 28) % 6 == 0, .reopen = seq % 500 == 0 };
}

static void ack(int fd, uint64_t seq)
{
	if (syscall(SYS_write, fd, &seq, sizeof(seq)) != sizeof(seq))	/* not a crash point */
		_exit(3);
}

static struct blk_vol *open_vol(const char *dir, struct blk_store **s)
{
	struct blk_vol *v;

	if (blk_store_open(dir, s) || blk_vol_open(*s, "v", &v))
		_exit(2);
	(*s)->ckpt_bytes = 8 << 10;	/* checkpoints often */
	return v;
}

static void writer(const char *dir, uint64_t base, int fd)
{
	struct blk_store *s;
	struct blk_vol *v = open_vol(dir, &s);
	uint8_t b[BS];

	for (uint64_t seq = 1;; seq++) {
		struct op o = op_at(base + seq);
		pattern(b, base + seq, o.lba);
		if (o.trim ? blk_trim(v, (uint64_t)o.lba * BS, BS, 0)
			   : blk_write(v, b, (uint64_t)o.lba * BS, BS, o.fua ? BLK_FUA : 0))
			_exit(2);
		if (o.sync && blk_flush(s))
			_exit(2);
		if (o.reopen) {
			blk_vol_close(v);
			if (blk_store_close(s))
				_exit(2);
			v = open_vol(dir, &s);
		}
		if (o.sync || o.reopen || (o.fua && !o.trim))
			ack(fd, seq);
	}
}

/* --- the parent ------------------------------------------------------------------ */

/* Reads volume v into got[] (the tag of each block, 0 for zeros). */
static void read_tags(struct blk_store *s, uint64_t *got, int round)
{
	struct blk_vol *v;
	uint8_t b[BS];

	cr_assert_eq(blk_vol_open(s, "v", &v), 0);
	for (uint32_t lba = 0; lba < NBLK; lba++) {
		cr_assert_eq(blk_read(v, b, (uint64_t)lba * BS, BS), 0, "round %d block %u", round, lba);
		memcpy(&got[lba], b, 8);
		cr_assert(got[lba] ? has_pattern(b, got[lba], lba) : b[8] == 0 && !memcmp(b + 8, b + 9, BS - 9),
			  "round %d block %u: content is no write of the test", round, lba);
	}
	blk_vol_close(v);
}

/* Kills a writer as told (kind < 0: after delay_us); returns the last
 * operation it acknowledged. */
static uint64_t run_child(const char *dir, uint64_t base, int kind, uint64_t at, bool after, long delay_us)
{
	uint64_t acked = 0, seq;
	int p[2], status;

	memset(sh, 0, sizeof(*sh));
	sh->last = -1;
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		kill_kind = kind;
		kill_at = at;
		kill_after = after;
		counting = true;
		writer(dir, base, p[1]);
	}
	close(p[1]);
	/* A crash point not reached in time becomes a timed kill. */
	struct timespec t = { delay_us / 1000000, delay_us % 1000000 * 1000 };
	for (int i = 0; i < 1000 && waitpid(pid, &status, WNOHANG) == 0; i++) {
		if (kind < 0 || i == 999) {
			nanosleep(&t, NULL);
			kill(pid, SIGKILL);
		} else {
			usleep(3000);
		}
	}
	waitpid(pid, &status, 0);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer failed by itself (status %d)", status);
	while (read(p[0], &seq, sizeof(seq)) == sizeof(seq))
		acked = seq;
	close(p[0]);
	return acked;
}

Test(crash, kill9_keeps_every_acknowledged_write, .timeout = 3600)
{
	char dir[64];
	uint64_t state[NBLK] = { 0 };	/* tag (op number) of each block's content; 0 = zeros */
	uint64_t cal[NKINDS], hits[NKINDS][2] = { { 0 } }, timed = 0, acked_total = 0, extra_total = 0;
	struct blk_store *s;
	struct blk_vol *v;
	const char *env = getenv("BLK_CRASH_POINTS");
	int points = env ? atoi(env) : 40;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(sh != MAP_FAILED);
	s = test_store_make(dir, "crash");
	cr_assert_eq(blk_vol_create(s, "v", NBLK * BS), 0);
	cr_assert_eq(blk_store_close(s), 0);
	srand(getpid());

	for (int round = 0; round <= points; round++) {
		uint64_t base = (uint64_t)(round + 1) << 40, seq;
		/* Round 0 measures how often each call comes in 200 ms; each
		 * later one picks a call and its k-th occurrence in that span,
		 * or (every other round) a moment up to 100 ms. */
		int kind = round && round % 2 ? rand() % NKINDS : -1;
		uint64_t at = kind >= 0 ? 1 + rand() % (cal[kind] ? cal[kind] : 1) : 0;
		bool after = rand() % 2;
		uint64_t acked = run_child(dir, base, kind, at, after, round ? 1000 + rand() % 100000 : 200000);
		if (!round)
			memcpy(cal, sh->calls, sizeof(cal));
		else if (kind >= 0 && sh->calls[kind] == at)
			hits[kind][after]++;
		else
			timed++;

		/* Read-only first: a valid state, and not a byte written. */
		size_t n1, n2;
		char *before = test_store_files(dir, &n1);
		uint64_t got[NBLK], got_ro[NBLK];
		struct blk_fsck r;
		cr_assert_eq(blk_store_open_mode(dir, BLK_OPEN_READ, &s), 0, "round %d: read-only recovery", round);
		read_tags(s, got_ro, round);
		cr_assert_eq(blk_fsck(s, false, &r), 0, "round %d: read-only fsck", round);
		cr_assert_eq(blk_store_close(s), 0);
		char *after_ro = test_store_files(dir, &n2);
		cr_assert(n1 == n2 && !memcmp(before, after_ro, n1), "round %d: a read-only open wrote", round);
		free(before);
		free(after_ro);

		cr_assert_eq(blk_store_open(dir, &s), 0, "round %d: recovery failed", round);
		read_tags(s, got, round);
		cr_assert(!memcmp(got, got_ro, sizeof(got)), "round %d: read-only and writable opens differ", round);
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
		cr_assert_eq(differ, 0, "round %d: recovered state is no prefix of the operations that includes "
			     "every acknowledged one (acknowledged %llu)", round, (unsigned long long)acked);
		cr_assert_eq(blk_fsck(s, false, &r), 0, "round %d: fsck", round);
		cr_assert_eq(blk_vol_open(s, "v", &v), 0);
		blk_vol_close(v);
		cr_assert_eq(blk_store_close(s), 0);
		acked_total += acked;
		extra_total += seq - 1 - acked;
	}
	char line[512];
	int n = snprintf(line, sizeof(line), "crash points: %d (%llu at a random moment", points,
			 (unsigned long long)timed);
	for (int k = 0; k < NKINDS; k++)
		n += snprintf(line + n, sizeof(line) - n, ", %s %llu+%llu", kind_name[k],
			      (unsigned long long)hits[k][0], (unsigned long long)hits[k][1]);
	fprintf(stderr, "%s before+after the call); 0 acknowledged operations lost (%llu acknowledged, "
		"%llu more recovered than acknowledged); read-only open wrote nothing and fsck was clean "
		"after every recovery\n", line, (unsigned long long)acked_total, (unsigned long long)extra_total);
	test_store_remove(dir, NULL);
}
