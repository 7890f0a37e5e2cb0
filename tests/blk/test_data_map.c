/* The data file's read mapping: copies of what the file holds, a copy past
 * the end of a file cut short fails with -EIO (and the next one works),
 * the mapping grows over a file that grew, a SIGBUS outside a copy goes
 * where it went before (a handler, or the end of the process, also from a
 * thread under a seccomp filter and when sent with kill()); and through
 * the store, a data file cut short under an open store makes reads fail
 * with the block named. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "blk/data_map.h"
#include "blk/store_impl.h"
#include "hv/seccomp.h"
#include "tests/blk/blk_test.h"

static char path[64];
static int fd = -1;

static void setup(void)
{
	snprintf(path, sizeof(path), "/tmp/blk-map.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
}

static void teardown(void)
{
	close(fd);
	unlink(path);
}

TestSuite(data_map, .init = setup, .fini = teardown);

/* Writes 4 blocks of seed to the file, copies them to in, and maps it. */
static void four_blocks_mapped(uint8_t in[4 * BS], uint64_t seed, struct data_map *dm)
{
	for (int i = 0; i < 4; i++)
		pattern(in + i * BS, seed, i);
	cr_assert_eq(pwrite(fd, in, 4 * BS, 0), 4 * BS);
	data_map_init(dm, fd, 4 * BS);
}

Test(data_map, copies_what_the_file_holds)
{
	uint8_t in[4 * BS], out[4 * BS];
	struct data_map dm;

	four_blocks_mapped(in, 1, &dm);
	cr_assert(data_map_covers(&dm, 0, sizeof(in)));
	cr_assert_eq(data_map_copy(&dm, out, BS, 3 * BS), 0);
	cr_expect(!memcmp(out, in + BS, 3 * BS));
	pattern(in, 2, 0);	/* a later pwrite() shows through */
	cr_assert_eq(pwrite(fd, in, BS, 0), BS);
	cr_assert_eq(data_map_copy(&dm, out, 0, BS), 0);
	cr_expect(!memcmp(out, in, BS));
	data_map_free(&dm);
}

Test(data_map, a_copy_past_the_end_of_a_cut_file_fails_and_the_next_works)
{
	uint8_t in[4 * BS], out[4 * BS];
	struct data_map dm;

	four_blocks_mapped(in, 3, &dm);
	cr_assert_eq(ftruncate(fd, 2 * BS), 0);
	for (int round = 0; round < 3; round++) {	/* SIGBUS stays deliverable */
		cr_expect_eq(data_map_copy(&dm, out, BS, 3 * BS), -EIO);
		cr_expect_eq(data_map_copy(&dm, out, 0, 2 * BS), 0);
		cr_expect(!memcmp(out, in, 2 * BS));
	}
	data_map_free(&dm);
}

Test(data_map, grows_over_a_file_that_grew)
{
	uint8_t in[BS], out[BS];
	struct data_map dm;
	uint64_t far = 3ull << 30;	/* past the first mapping (at least 1 GiB) */

	data_map_init(&dm, fd, BS);
	cr_assert(!data_map_covers(&dm, far, BS));
	pattern(in, 4, 0);
	cr_assert_eq(pwrite(fd, in, BS, far), BS);	/* sparse */
	data_map_grow(&dm, far + BS);
	cr_assert(data_map_covers(&dm, far, BS));
	cr_assert_eq(data_map_copy(&dm, out, far, BS), 0);
	cr_expect(!memcmp(out, in, BS));
	data_map_free(&dm);
}

static void exit_42(int sig)
{
	(void)sig;
	_exit(42);
}

/* A child that installs `before` (if any) as its SIGBUS handler, maps the
 * data file, enters seccomp class `filter` (if >= 0), then touches a page
 * past the file's end outside any copy. */
static int touch_past_end(void (*before)(int), int filter)
{
	struct data_map dm;
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (!pid) {
		alarm(10);	/* a handler that swallowed it would spin */
		if (before)
			signal(SIGBUS, before);
		data_map_init(&dm, fd, BS);	/* installs its handler over it */
		cr_assert_eq(ftruncate(fd, 2 * BS), 0);
		volatile uint8_t *p = mmap(NULL, 4 * BS, PROT_READ, MAP_SHARED, fd, 0);
		if (filter >= 0)
			cr_assert_eq(seccomp_enter(filter), 0);
		(void)p[3 * BS];
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

Test(data_map, a_sigbus_elsewhere_goes_to_the_handler_before)
{
	int status = touch_past_end(exit_42, -1);

	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 42, "status %#x", status);
}

/* Under AddressSanitizer its own handler comes first, and reports. */
#ifndef __SANITIZE_ADDRESS__
Test(data_map, a_sigbus_elsewhere_still_ends_the_process)
{
	int status = touch_past_end(NULL, -1);

	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "status %#x", status);
}

/* One sent with kill() would not come again: the process ends at once. */
Test(data_map, a_sigbus_sent_ends_the_process)
{
	struct data_map dm;
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (!pid) {
		alarm(10);
		data_map_init(&dm, fd, BS);
		cr_assert_eq(seccomp_enter(SECCOMP_IO), 0);
		raise(SIGBUS);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGBUS, "status %#x", status);
}

/* An I/O thread may not change signal actions (its filter traps
 * rt_sigaction): its SIGBUS must not turn into a seccomp report. */
Test(data_map, a_sigbus_in_a_filtered_thread_ends_the_process_with_sigbus)
{
	int status = touch_past_end(NULL, SECCOMP_IO);

	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "status %#x", status);
}
#endif

/* Through the store: its data file cut short under it. */
Test(data_map, store_reads_past_a_cut_data_file_fail_with_the_block_named)
{
	char dir[64], p[128], msg[512] = "";
	struct blk_store *s = test_store_make(dir, "mapcut");
	struct blk_vol *v;
	uint8_t buf[8 * BS];

	cr_assert_eq(blk_vol_create(s, "v", sizeof(buf)), 0);
	cr_assert_eq(blk_vol_open(s, "v", &v), 0);
	for (int i = 0; i < 8; i++)
		pattern(buf + i * BS, 5, i);
	cr_assert_eq(blk_write(v, buf, 0, sizeof(buf), 0), 0);
	cr_assert_eq(blk_flush(s), 0);
	snprintf(p, sizeof(p), "%s/data", dir);
	cr_assert_eq(truncate(p, (off_t)v->map[4] << 12), 0);	/* blocks 4.. are gone */

	int err = read_saying(v, buf, 0, sizeof(buf), msg, sizeof(msg));
	cr_expect_eq(err, -EIO);
	cr_expect(strstr(msg, "short file") != NULL, "says why: %s", msg);
	cr_expect_eq(blk_read(v, buf, 0, 4 * BS), 0, "the blocks before the cut read");
	for (int i = 0; i < 4; i++)
		cr_expect(has_pattern(buf + i * BS, 5, i), "block %d", i);
	blk_vol_close(v);
	test_store_remove(dir, s);
}
