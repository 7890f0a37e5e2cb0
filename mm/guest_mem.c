#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "hv/range.h"
#include "mm/guest_mem.h"

#ifndef MAP_HUGE_2MB /* glibc keeps these in <linux/mman.h> */
#define MAP_HUGE_2MB (21 << 26)
#define MAP_HUGE_1GB (30 << 26)
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static const char *const names[HOST_PAGES_COUNT] = { "4k", "thp", "hugetlb2m", "hugetlb1g" };

const char *host_pages_name(enum host_pages p) { return names[p]; }

int host_pages_parse(const char *s, enum host_pages *out)
{
	for (int i = 0; i < HOST_PAGES_COUNT; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

uint64_t host_page_size(enum host_pages p)
{
	switch (p) {
	case HOST_THP:
	case HOST_HUGETLB2M: return 2ull << 20;
	case HOST_HUGETLB1G: return 1ull << 30;
	default: return 4096;
	}
}

static const char *pool_dir(enum host_pages p)
{
	return p == HOST_HUGETLB1G ? "/sys/kernel/mm/hugepages/hugepages-1048576kB"
				   : "/sys/kernel/mm/hugepages/hugepages-2048kB";
}

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

long guest_mem_pool_reserve(enum host_pages p, uint64_t size)
{
	const char *dir = pool_dir(p);
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
		guest_mem_pool_release(p, got);
		return -1;
	}
	return got;
}

void guest_mem_pool_release(enum host_pages p, long added)
{
	const char *dir = pool_dir(p);
	if (added <= 0)
		return;
	long total = read_long(dir, "nr_hugepages");
	__atomic_sub_fetch(&pool_outstanding[p], added, __ATOMIC_SEQ_CST);
	if (total >= added)
		write_long(dir, "nr_hugepages", total - added);
}

/* Lowers one pool's nr_hugepages by n with raw system calls only. */
static void pool_shrink_raw(const char *path, long n)
{
	char buf[32];
	int fd = open(path, O_RDWR);
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

void guest_mem_pool_release_on_signal(void)
{
	static const char *const paths[HOST_PAGES_COUNT] = {
		[HOST_HUGETLB2M] = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
		[HOST_HUGETLB1G] = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
	};
	for (int p = 0; p < HOST_PAGES_COUNT; p++) {
		long n = __atomic_exchange_n(&pool_outstanding[p], 0, __ATOMIC_SEQ_CST);
		if (n > 0 && paths[p])
			pool_shrink_raw(paths[p], n);
	}
}

static void *map_hugetlb(uint64_t size, enum host_pages p, int populate)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
		    (p == HOST_HUGETLB1G ? MAP_HUGE_1GB : MAP_HUGE_2MB) | (populate ? MAP_POPULATE : 0);
	return mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
}

int guest_mem_alloc(struct guest_mem *m, uint64_t size, enum host_pages p, int populate,
		    char *err, size_t errlen)
{
	uint64_t page = host_page_size(p);
	memset(m, 0, sizeof(*m));
	m->host_pages = p;
	m->size = size;
	if (size == 0 || size % page != 0) {
		snprintf(err, errlen, "guest RAM size must be a non-zero multiple of %lu KiB for %s host pages",
			 (unsigned long)(page >> 10), names[p]);
		return -1;
	}

	if (p == HOST_HUGETLB2M || p == HOST_HUGETLB1G) {
		void *a = map_hugetlb(size, p, populate);
		if (a == MAP_FAILED) {
			m->pool_added = guest_mem_pool_reserve(p, size);
			if (m->pool_added > 0)
				a = map_hugetlb(size, p, populate);
		}
		if (a == MAP_FAILED) {
			long freep = read_long(pool_dir(p), "free_hugepages");
			snprintf(err, errlen,
				 "cannot get %lu %s huge pages (%s; pool has %ld free)%s: as root, "
				 "echo N > %s/nr_hugepages",
				 (unsigned long)(size / page), p == HOST_HUGETLB1G ? "1G" : "2M",
				 strerror(errno), freep,
				 m->pool_added > 0 ? " even after growing the pool" : "", pool_dir(p));
			if (m->pool_added > 0)
				guest_mem_pool_release(p, m->pool_added);
			return -1;
		}
		m->map = m->base = a;
		m->map_size = size;
		return 0;
	}

	/* THP needs 2 MiB-aligned virtual addresses: over-allocate and align. */
	size_t map_size = size + (p == HOST_THP ? page : 0);
	void *a = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (a == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %lu MiB of guest RAM: %s", (unsigned long)(size >> 20),
			 strerror(errno));
		return -1;
	}
	m->map = a;
	m->map_size = map_size;
	m->base = (uint8_t *)(((uintptr_t)a + page - 1) & ~(uintptr_t)(page - 1));
	if (madvise(m->base, size, p == HOST_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) {
		snprintf(err, errlen, "madvise(%s) failed: %s", p == HOST_THP ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE",
			 strerror(errno));
		munmap(a, map_size);
		return -1;
	}
	if (populate && madvise(m->base, size, MADV_POPULATE_WRITE) != 0) {
		snprintf(err, errlen, "cannot populate %lu MiB of guest RAM: %s", (unsigned long)(size >> 20),
			 strerror(errno));
		munmap(a, map_size);
		return -1;
	}
	return 0;
}

void guest_mem_free(struct guest_mem *m)
{
	if (m->map)
		munmap(m->map, m->map_size);
	if (m->pool_added > 0)
		guest_mem_pool_release(m->host_pages, m->pool_added);
	memset(m, 0, sizeof(*m));
}

void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	return range_inside(gpa, len, m->size) ? m->base + gpa : NULL;
}

static uint64_t kb_field(const char *line, const char *key)
{
	size_t n = strlen(key);
	return strncmp(line, key, n) == 0 ? strtoull(line + n, NULL, 10) << 10 : 0;
}

int guest_mem_usage(const struct guest_mem *m, struct guest_mem_usage *u)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	char line[512];
	int inside = 0;
	uintptr_t lo = (uintptr_t)m->base, hi = lo + m->size;
	memset(u, 0, sizeof(*u));
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			inside = a < hi && b > lo;
			continue;
		}
		if (!inside)
			continue;
		u->resident += kb_field(line, "Rss:");
		u->huge += kb_field(line, "AnonHugePages:");
		uint64_t h = kb_field(line, "Private_Hugetlb:") + kb_field(line, "Shared_Hugetlb:");
		u->huge += h;
		u->resident += h; /* hugetlb pages are not counted in Rss */
	}
	fclose(f);
	u->page_table = guest_mem_host_pte();
	return 0;
}

uint64_t guest_mem_host_pte(void)
{
	char line[256];
	uint64_t pte = 0;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		pte += kb_field(line, "VmPTE:");
	fclose(f);
	return pte;
}
