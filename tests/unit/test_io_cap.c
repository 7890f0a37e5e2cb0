/* I/O caps taken over several levels (disk, VM, group) at once: the strictest governs, the others are charged. */
#include <criterion/criterion.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "blk/io_cap.h"
#include "blk/io_stats.h"

Test(io_cap, strictest_level_governs_and_null_levels_are_skipped)
{
	struct io_cap disk, vm;
	io_cap_init(&disk, 1e6, 0);
	io_cap_init(&vm, 100, 0);
	struct io_cap *caps[IO_CAP_LEVELS] = { &disk, &vm, NULL };
	uint64_t t0 = io_now_ns();
	for (int i = 0; i < 12; i++)
		io_cap_take(caps, IO_CAP_LEVELS, 4096, -1);
	double s = (io_now_ns() - t0) * 1e-9;
	/* A 50 ms burst lets 5 through at once; the other 7 follow at 100/s. */
	cr_expect_geq(s, 0.06, "12 requests at 100/s took %.3f s", s);
	cr_expect_geq(vm.waits, 6);
	cr_expect_eq(disk.waits, 0);
	cr_expect_gt(disk.tat_ops, 0, "the looser level is charged too");
	io_cap_destroy(&disk);
	io_cap_destroy(&vm);
}

Test(io_cap, bytes_dimension)
{
	struct io_cap c;
	io_cap_init(&c, 0, 1 << 20); /* 1 MiB/s */
	struct io_cap *caps[1] = { &c };
	uint64_t t0 = io_now_ns();
	for (int i = 0; i < 4; i++)
		io_cap_take(caps, 1, 64 << 10, -1);
	/* 256 KiB at 1 MiB/s, less the 50 ms burst: at least 0.13 s */
	cr_expect_geq((io_now_ns() - t0) * 1e-9, 0.13);
	io_cap_destroy(&c);
}

/* A cap pushed an hour ahead (say, a group cap by another VM's requests)
 * must not hold a reset or teardown: the wake fd ends the wait. */
Test(io_cap, wake_fd_ends_a_long_wait)
{
	struct io_cap c;
	io_cap_init(&c, 0, 4096);
	struct io_cap *caps[1] = { &c };
	int fd = eventfd(0, EFD_CLOEXEC);
	uint64_t one = 1;
	io_cap_take(caps, 1, 4096ull * 3600, fd);	/* within the burst: starts now, charges an hour */
	cr_assert_eq(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	uint64_t t0 = io_now_ns();
	io_cap_take(caps, 1, 4096, fd);
	cr_expect_lt((io_now_ns() - t0) * 1e-9, 5.0, "the wait ended at the wake fd");
	close(fd);
	io_cap_destroy(&c);
}

Test(io_cap, group_keys)
{
	char err[128];
	cr_expect_eq(io_cap_group_key("g1", "shares", "2", err, sizeof(err)), 1);
	cr_expect_null(io_cap_group("g1"));
	cr_expect_eq(io_cap_group_key("g1", "io-iops", "2K", err, sizeof(err)), 0);
	cr_expect_eq(io_cap_group_key("g1", "io-bps", "1", err, sizeof(err)), -1, "below 4096");
	cr_expect(strstr(err, "io-bps"));
	struct io_cap *g = io_cap_group("g1");
	cr_assert_not_null(g);
	cr_expect_eq(g->iops, 2048);
	cr_expect_eq(g->bps, 0);
}
