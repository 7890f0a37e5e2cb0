#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "mm/range.h"
#include "mm/guest_mem.h"
#include "mm/hugetlb_pool.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int guest_mem_alloc(struct guest_mem *m, uint64_t size, enum host_pages p, int populate,
		    char *err, size_t errlen)
{
	const struct host_backing *b = host_backing(p);
	uint64_t page = b->page_size;
	memset(m, 0, sizeof(*m));
	m->host_pages = p;
	m->size = size;
	if (size == 0 || size % page != 0) {
		snprintf(err, errlen, "guest RAM size must be a non-zero multiple of %lu KiB for %s host pages",
			 (unsigned long)(page >> 10), b->name);
		return -1;
	}

	if (b->pool) {
		void *a = hugetlb_pool_map(p, size);
		if (a == MAP_FAILED) {
			long freep = hugetlb_pool_free(p);
			snprintf(err, errlen,
				 "cannot get %lu %s huge pages (%s; pool has %ld free)%s: as root, "
				 "echo N > %s/nr_hugepages",
				 (unsigned long)(size / page), p == HOST_HUGETLB1G ? "1G" : "2M",
				 strerror(errno), freep,
				 geteuid() == 0 ? " even after trying to grow the pool" : "", b->pool);
			return -1;
		}
		m->map = m->base = a;
		m->map_size = size;
		m->pool_held = 1;
	} else {
		/* THP needs 2 MiB-aligned virtual addresses: over-allocate and align. */
		size_t map_size = size + (page > 4096 ? page : 0);
		void *a = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | b->mmap_flags, -1, 0);
		if (a == MAP_FAILED) {
			snprintf(err, errlen, "cannot map %lu MiB of guest RAM: %s", (unsigned long)(size >> 20),
				 strerror(errno));
			return -1;
		}
		m->map = a;
		m->map_size = map_size;
		m->base = (uint8_t *)(((uintptr_t)a + page - 1) & ~(uintptr_t)(page - 1));
		if (b->advice >= 0 && madvise(m->base, size, b->advice) != 0) {
			snprintf(err, errlen, "madvise for %s host pages failed: %s", b->name, strerror(errno));
			guest_mem_free(m);
			return -1;
		}
	}
	if (populate && madvise(m->base, size, MADV_POPULATE_WRITE) != 0) {
		snprintf(err, errlen, "cannot populate %lu MiB of guest RAM: %s", (unsigned long)(size >> 20),
			 strerror(errno));
		guest_mem_free(m);
		return -1;
	}
	return 0;
}

void guest_mem_free(struct guest_mem *m)
{
	if (m->map)
		munmap(m->map, m->map_size);
	if (m->pool_held)
		hugetlb_pool_release();
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
