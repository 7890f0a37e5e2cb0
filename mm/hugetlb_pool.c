#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "mm/hugetlb_pool.h"

static long read_long(const char *dir, const char *file)
{
	char path[256], buf[64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = fgets(buf, sizeof(buf), f) ? strtol(buf, NULL, 10) : -1;
	fclose(f);
	return v;
}

static int write_long(const char *dir, const char *file, long v)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fprintf(f, "%ld\n", v) > 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Pages this process added to each pool and not yet gave back: what a fatal signal must return. */
static long pool_outstanding[HOST_PAGES_COUNT];

long hugetlb_pool_free(enum host_pages p)
{
	const char *dir = host_backing(p)->pool;
	return dir ? read_long(dir, "free_hugepages") : -1;
}

long hugetlb_pool_reserve(enum host_pages p, uint64_t size)
{
	const char *dir = host_backing(p)->pool;
	if (!dir)
		return -1;
	long need = (long)(size / host_page_size(p));
	long total = read_long(dir, "nr_hugepages"), free_ = read_long(dir, "free_hugepages");
	long resv = read_long(dir, "resv_hugepages");
	if (total < 0 || free_ < 0 || resv < 0 || geteuid() != 0)
		return -1;
	long lack = need - (free_ - resv);
	if (lack <= 0)
		return 0;
	if (write_long(dir, "nr_hugepages", total + lack) != 0)
		return -1;
	long got = read_long(dir, "nr_hugepages") - total;
	if (got < lack) {
		/* Too fragmented for contiguous huge pages: compact memory, ask again. */
		write_long("/proc/sys/vm", "compact_memory", 1);
		write_long(dir, "nr_hugepages", total + lack);
		got = read_long(dir, "nr_hugepages") - total;
	}
	if (got > 0)
		__atomic_add_fetch(&pool_outstanding[p], got, __ATOMIC_SEQ_CST);
	if (got < lack) { /* the kernel found fewer free huge pages than asked */
		hugetlb_pool_release(p, got);
		return -1;
	}
	return got;
}

void hugetlb_pool_release(enum host_pages p, long added)
{
	const char *dir = host_backing(p)->pool;
	if (added <= 0 || !dir)
		return;
	long total = read_long(dir, "nr_hugepages");
	__atomic_sub_fetch(&pool_outstanding[p], added, __ATOMIC_SEQ_CST);
	if (total >= added)
		write_long(dir, "nr_hugepages", total - added);
}

/* Lowers one pool's nr_hugepages by n with raw system calls only. */
static void pool_shrink_raw(const char *dir, long n)
{
	char buf[32];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = dfd < 0 ? -1 : openat(dfd, "nr_hugepages", O_RDWR | O_CLOEXEC);
	if (dfd >= 0)
		close(dfd);
	if (fd < 0)
		return;
	ssize_t r = read(fd, buf, sizeof(buf) - 1);
	long v = 0;
	for (ssize_t i = 0; i < r && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (buf[i] - '0');
	v = v > n ? v - n : 0;
	int i = sizeof(buf);
	buf[--i] = '\n';
	do
		buf[--i] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	if (r > 0 && lseek(fd, 0, SEEK_SET) == 0 && write(fd, buf + i, sizeof(buf) - i) < 0)
		r = -1; /* nothing more a dying process can do */
	close(fd);
}

void hugetlb_pool_release_on_signal(void)
{
	for (int p = 0; p < HOST_PAGES_COUNT; p++) {
		long n = __atomic_exchange_n(&pool_outstanding[p], 0, __ATOMIC_SEQ_CST);
		if (n > 0 && host_backing(p)->pool)
			pool_shrink_raw(host_backing(p)->pool, n);
	}
}
