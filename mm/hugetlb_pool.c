#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "mm/hugetlb_pool.h"

#define LOCK_PATH HUGETLB_STATE_DIR "/lock"
#define BASE_PATH HUGETLB_STATE_DIR "/base"
#define POOLS 2 /* the backings with a pool, in the base file's order */
static const enum host_pages pools[POOLS] = { HOST_HUGETLB2M, HOST_HUGETLB1G };

/* Maps, reservations and pool-backed runs of this process not yet released. */
static long holds;
/* This process's record, made while holds > 0 (async-signal-safe to unlink). */
static char record[64];

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
 * The pool's persistent pages: what nr_hugepages sets. Reading it in sysfs
 * also counts surplus pages (in use, freed when unmapped).
 */
static long persistent(const char *dir)
{
	long total = read_long(dir, "nr_hugepages"), surplus = read_long(dir, "surplus_hugepages");
	return total < 0 || surplus < 0 ? -1 : total - surplus;
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

/* Deletes the records of processes that are gone; returns how many other live ones hold the pools. */
static int other_holders(void)
{
	DIR *d = opendir(HUGETLB_STATE_DIR);
	int live = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end, path[128];
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), HUGETLB_STATE_DIR "/%ld", pid);
		unsigned long long started = 0;
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		int ok = fscanf(f, "%llu", &started) == 1;
		fclose(f);
		if (ok && started && start_time((pid_t)pid) == started)
			live++;
		else
			unlink(path);
	}
	closedir(d);
	return live;
}

/* The pools back at their base, when no process holds them any more. Under the lock. */
static void restore_base(void)
{
	FILE *f = fopen(BASE_PATH, "r");
	long base[POOLS];
	if (!f)
		return;
	int ok = fscanf(f, "%ld %ld", &base[0], &base[1]) == 2;
	fclose(f);
	for (int i = 0; ok && i < POOLS; i++)
		if (base[i] >= 0)
			write_long(host_backing(pools[i])->pool, "nr_hugepages", base[i]);
	unlink(BASE_PATH);
}

/* Remembers p's pool size before its first growth by any monitor. Under the lock. */
static void note_base(enum host_pages p)
{
	long base[POOLS] = { -1, -1 };
	FILE *f = fopen(BASE_PATH, "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &base[0], &base[1]) != 2)
			base[0] = base[1] = -1;
		fclose(f);
	}
	int i = p == pools[0] ? 0 : 1;
	if (base[i] >= 0)
		return;
	base[i] = persistent(host_backing(p)->pool);
	f = fopen(BASE_PATH, "w");
	if (f) {
		fprintf(f, "%ld %ld\n", base[0], base[1]);
		fclose(f);
	}
}

static sigset_t saved_mask;

/*
 * Takes the host-wide lock, with the fatal signals held off in this thread
 * (their handler needs the lock), and tidies up after dead processes: if
 * none holds the pools any more, they go back to their base. The fd, or -1
 * (not root: the pools are not ours to change).
 */
static int lock_pools(void)
{
	if (geteuid() != 0)
		return -1;
	sigset_t held;
	sigemptyset(&held);
	sigaddset(&held, SIGINT);
	sigaddset(&held, SIGTERM);
	sigaddset(&held, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &held, &saved_mask);
	mkdir(HUGETLB_STATE_DIR, 0700);
	int fd = open(LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	while (fd >= 0 && flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(fd);
			fd = -1;
		}
	if (fd < 0) {
		pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
		return -1;
	}
	if (other_holders() == 0 && holds == 0)
		restore_base();
	return fd;
}

static void unlock_pools(int fd)
{
	close(fd); /* releases the flock */
	pthread_sigmask(SIG_SETMASK, &saved_mask, NULL); /* a pending SIGTERM now finds the lock free */
}

/* One more hold; the first makes this process's record. Under the lock. */
static void hold(void)
{
	if (holds++ > 0)
		return;
	snprintf(record, sizeof(record), HUGETLB_STATE_DIR "/%d", (int)getpid());
	FILE *f = fopen(record, "w");
	if (f) {
		fprintf(f, "%llu\n", start_time(getpid()));
		fclose(f);
	}
}

long hugetlb_pool_free(enum host_pages p)
{
	const char *dir = host_backing(p)->pool;
	return dir ? read_long(dir, "free_hugepages") : -1;
}

/* Grows p's pool by what bytes need beyond its free, unreserved pages; 0 or -1. Under the lock. */
static int grow(enum host_pages p, uint64_t size)
{
	const char *dir = host_backing(p)->pool;
	long need = (long)(size / host_page_size(p));
	long all = read_long(dir, "nr_hugepages");
	long free_ = read_long(dir, "free_hugepages"), resv = read_long(dir, "resv_hugepages");
	if (all < 0 || free_ < 0 || resv < 0)
		return -1;
	long lack = need - (free_ - resv);
	if (lack <= 0)
		return 0;
	note_base(p);
	/* Surplus pages become persistent before new free ones come: ask for them all plus lack. */
	long want = all + lack;
	if (write_long(dir, "nr_hugepages", want) != 0)
		return -1;
	if (persistent(dir) < want) {
		/* Too fragmented for contiguous huge pages: compact memory, ask again. */
		write_long("/proc/sys/vm", "compact_memory", 1);
		write_long(dir, "nr_hugepages", want);
	}
	return persistent(dir) >= want ? 0 : -1;
}

int hugetlb_pool_reserve(enum host_pages p, uint64_t size)
{
	if (!host_backing(p)->pool)
		return -1;
	int fd = lock_pools();
	if (fd < 0)
		return -1;
	int r = grow(p, size);
	if (r == 0)
		hold();
	unlock_pools(fd);
	return r;
}

void *hugetlb_pool_map(enum host_pages p, uint64_t size)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | host_backing(p)->mmap_flags;
	int fd = lock_pools(); /* -1 when not root: map what is free, grow nothing */
	void *a = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	/*
	 * Again after growing, or when another monitor unmapped (no lock needed
	 * for that) meanwhile. The pool's counters can lag a monitor that is
	 * exiting (seen about once in 300 concurrent runs), so a few rounds.
	 */
	for (int round = 0; a == MAP_FAILED && fd >= 0 && round < 4; round++) {
		if (round > 0)
			usleep(10000);
		if (grow(p, size) == 0)
			a = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	}
	int saved = errno;
	if (a != MAP_FAILED && fd >= 0)
		hold();
	if (fd >= 0)
		unlock_pools(fd);
	errno = saved;
	return a;
}

void hugetlb_pool_release(void)
{
	int fd = lock_pools();
	if (fd < 0 || holds == 0) {
		if (fd >= 0)
			unlock_pools(fd);
		return;
	}
	if (--holds == 0) {
		unlink(record);
		if (other_holders() == 0)
			restore_base();
	}
	unlock_pools(fd);
}

/* Whether HUGETLB_STATE_DIR holds a record other than this process's, with raw system calls only. */
static int other_records_raw(void)
{
	char buf[1024];
	int dfd = open(HUGETLB_STATE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	const char *own = strrchr(record, '/') + 1;
	int found = 0;
	long n;
	while (!found && (n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < n;) {
			const char *name = buf + off + 19; /* struct linux_dirent64: d_name after 19 bytes */
			unsigned short reclen;
			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			if (name[0] >= '1' && name[0] <= '9' && strcmp(name, own) != 0)
				found = 1;
			off += reclen;
		}
	close(dfd);
	return found;
}

/* Writes v to PATH with raw system calls only. */
static void write_long_raw(const char *dir, long v)
{
	char buf[32];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = dfd < 0 ? -1 : openat(dfd, "nr_hugepages", O_WRONLY | O_CLOEXEC);
	if (dfd >= 0)
		close(dfd);
	if (fd < 0)
		return;
	int i = sizeof(buf);
	buf[--i] = '\n';
	do
		buf[--i] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	if (write(fd, buf + i, sizeof(buf) - i) < 0)
		i = 0; /* nothing more a dying process can do */
	close(fd);
}

/*
 * A dying process lets go only if it can take the lock at once. If it is
 * the last holder (its record the only one), it restores the base, read
 * raw; a live-looking record of a dead process just defers that to the
 * next monitor, which is also what happens when the lock is busy.
 */
void hugetlb_pool_release_on_signal(void)
{
	if (holds == 0)
		return;
	int fd = open(LOCK_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!other_records_raw()) {
		char buf[64];
		int bfd = open(BASE_PATH, O_RDONLY | O_CLOEXEC);
		long n = bfd < 0 ? -1 : read(bfd, buf, sizeof(buf) - 1);
		long base[POOLS] = { -1, -1 };
		for (long i = 0, k = 0, v = 0, neg = 0; i < n && k < POOLS; i++) {
			if (buf[i] == '-')
				neg = 1;
			else if (buf[i] >= '0' && buf[i] <= '9')
				v = v * 10 + (buf[i] - '0');
			else {
				base[k++] = neg ? -1 : v;
				v = neg = 0;
			}
		}
		if (bfd >= 0)
			close(bfd);
		for (int i = 0; i < POOLS; i++)
			if (base[i] >= 0)
				write_long_raw(host_backing(pools[i])->pool, base[i]);
		unlink(BASE_PATH);
	}
	unlink(record);
	close(fd);
}
