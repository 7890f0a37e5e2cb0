#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mm/hugetlb_pool.h"

#define POOLS 2 /* the backings with a pool, in record order */
static const enum host_pages pools[POOLS] = { HOST_HUGETLB2M, HOST_HUGETLB1G };

/* Pages this process added to each pool and has not given back; what its record says. */
static long outstanding[HOST_PAGES_COUNT];

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

/*
 * Pages given back but still in the pool: the kernel does not lower a pool
 * below the pages other processes have reserved, so what a shrink could not
 * remove is owed (HUGETLB_STATE_DIR/debt) and paid by the next lock holder.
 */
static long debt[HOST_PAGES_COUNT];

/* Lowers p's pool by n; what the kernel keeps is added to the debt. Under the lock. */
static void shrink(enum host_pages p, long n)
{
	const char *dir = host_backing(p)->pool;
	long total = read_long(dir, "nr_hugepages");
	if (n <= 0 || total < 0)
		return;
	long target = total > n ? total - n : 0;
	write_long(dir, "nr_hugepages", target);
	long now = read_long(dir, "nr_hugepages");
	if (now > target)
		debt[p] += now - target;
}

static void pay_debt(void)
{
	FILE *f = fopen(HUGETLB_STATE_DIR "/debt", "r");
	long owed[POOLS] = { 0, 0 };
	if (f) {
		if (fscanf(f, "%ld %ld", &owed[0], &owed[1]) != 2)
			owed[0] = owed[1] = 0;
		fclose(f);
	}
	for (int i = 0; i < POOLS; i++) {
		debt[pools[i]] = 0;
		shrink(pools[i], owed[i]);
	}
}

static void write_debt(void)
{
	FILE *f = fopen(HUGETLB_STATE_DIR "/debt", "w");
	if (!f)
		return;
	fprintf(f, "%ld %ld\n", debt[pools[0]], debt[pools[1]]);
	fclose(f);
}

/* Field 22 of /proc/PID/stat: tells a live process from a later one with its pid. */
static unsigned long long start_time(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	unsigned long long t = 0;
	/* After ")": state is field 3, starttime field 22. */
	if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			 "%*d %*d %llu", &t) != 1)
		return 0;
	return t;
}

static void record_path(char *buf, size_t len, pid_t pid)
{
	snprintf(buf, len, HUGETLB_STATE_DIR "/%d", (int)pid);
}

/* Rewrites this process's record from `outstanding`; no record when nothing is added. */
static void write_record(void)
{
	char path[128];
	record_path(path, sizeof(path), getpid());
	if (outstanding[pools[0]] == 0 && outstanding[pools[1]] == 0) {
		unlink(path);
		return;
	}
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "%llu %ld %ld\n", start_time(getpid()), outstanding[pools[0]], outstanding[pools[1]]);
	fclose(f);
}

/* Gives back what processes that are gone had added (before pay_debt(), which adds to). Under the lock. */
static void reconcile(void)
{
	DIR *d = opendir(HUGETLB_STATE_DIR);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end, path[128];
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		record_path(path, sizeof(path), (pid_t)pid);
		unsigned long long started;
		long added[POOLS];
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		int ok = fscanf(f, "%llu %ld %ld", &started, &added[0], &added[1]) == 3;
		fclose(f);
		if (ok && start_time((pid_t)pid) == started)
			continue; /* still running */
		for (int i = 0; ok && i < POOLS; i++)
			shrink(pools[i], added[i]);
		unlink(path);
	}
	closedir(d);
}

/* Takes the host-wide lock and tidies up after dead processes; the fd, or -1 (not root). */
static int lock_pools(void)
{
	if (geteuid() != 0)
		return -1;
	mkdir(HUGETLB_STATE_DIR, 0700);
	int fd = open(HUGETLB_STATE_DIR "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	reconcile();
	pay_debt();
	return fd;
}

static void unlock_pools(int fd)
{
	write_record();
	write_debt();
	close(fd); /* releases the flock */
}

long hugetlb_pool_free(enum host_pages p)
{
	const char *dir = host_backing(p)->pool;
	return dir ? read_long(dir, "free_hugepages") : -1;
}

/* Grows p's pool by what bytes need beyond its free pages. Under the lock. */
static long grow(enum host_pages p, uint64_t size)
{
	const char *dir = host_backing(p)->pool;
	long need = (long)(size / host_page_size(p));
	long total = read_long(dir, "nr_hugepages"), free_ = read_long(dir, "free_hugepages");
	long resv = read_long(dir, "resv_hugepages");
	if (total < 0 || free_ < 0 || resv < 0)
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
	if (got < lack) { /* the kernel found fewer free huge pages than asked */
		shrink(p, got);
		return -1;
	}
	outstanding[p] += got;
	return got;
}

long hugetlb_pool_reserve(enum host_pages p, uint64_t size)
{
	if (!host_backing(p)->pool)
		return -1;
	int fd = lock_pools();
	if (fd < 0)
		return -1;
	long got = grow(p, size);
	unlock_pools(fd);
	return got;
}

void *hugetlb_pool_map(enum host_pages p, uint64_t size, int flags, long *added)
{
	const struct host_backing *b = host_backing(p);
	int mflags = MAP_PRIVATE | MAP_ANONYMOUS | b->mmap_flags | flags;
	*added = 0;
	int fd = lock_pools(); /* -1 when not root: map what is free, grow nothing */
	void *a = mmap(NULL, size, PROT_READ | PROT_WRITE, mflags, -1, 0);
	/* Again after growing, or when another monitor unmapped (no lock needed for that) meanwhile. */
	long got = a == MAP_FAILED && fd >= 0 ? grow(p, size) : -1;
	if (got >= 0)
		a = mmap(NULL, size, PROT_READ | PROT_WRITE, mflags, -1, 0);
	int saved = errno;
	if (a == MAP_FAILED && got > 0) {
		shrink(p, got);
		outstanding[p] -= got;
	} else if (got > 0) {
		*added = got;
	}
	if (fd >= 0)
		unlock_pools(fd);
	errno = saved;
	return a;
}

void hugetlb_pool_release(enum host_pages p, long added)
{
	if (added <= 0 || !host_backing(p)->pool)
		return;
	int fd = lock_pools();
	if (fd < 0)
		return;
	shrink(p, added);
	outstanding[p] -= added;
	unlock_pools(fd);
}

/* Lowers one pool's nr_hugepages by n with raw system calls only. */
static void shrink_raw(const char *dir, long n)
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

/*
 * A dying process gives its pages back only if it can take the lock at once
 * (it may hold the lock itself, on another descriptor). Otherwise its record
 * stays, and the next monitor to take the lock gives them back.
 */
void hugetlb_pool_release_on_signal(void)
{
	if (outstanding[pools[0]] == 0 && outstanding[pools[1]] == 0)
		return;
	int fd = open(HUGETLB_STATE_DIR "/lock", O_RDWR | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (int i = 0; i < POOLS; i++)
		if (outstanding[pools[i]] > 0)
			shrink_raw(host_backing(pools[i])->pool, outstanding[pools[i]]);
	char path[64] = HUGETLB_STATE_DIR "/";
	size_t n = strlen(path);
	char digits[16];
	int k = 0;
	for (pid_t pid = getpid(); pid > 0 && k < 15; pid /= 10)
		digits[k++] = (char)('0' + pid % 10);
	while (k > 0)
		path[n++] = digits[--k];
	path[n] = 0;
	unlink(path);
	close(fd);
}
