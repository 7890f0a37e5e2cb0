#include <string.h>
#include <sys/mman.h>
#include "mm/backing.h"

#ifndef MAP_HUGE_2MB /* glibc keeps these in <linux/mman.h> */
#define MAP_HUGE_2MB (21 << 26)
#define MAP_HUGE_1GB (30 << 26)
#endif

#define HUGEPAGES_SYSFS "/sys/kernel/mm/hugepages/"

/* 4k and thp reserve nothing up front: RAM is faulted in (or populated) as used. */
static const struct host_backing backings[] = {
	[HOST_4K] = { "4k", 4096, MAP_NORESERVE, MADV_NOHUGEPAGE, NULL },
	[HOST_THP] = { "thp", 2ull << 20, MAP_NORESERVE, MADV_HUGEPAGE, NULL },
	[HOST_HUGETLB2M] = { "hugetlb2m", 2ull << 20, MAP_HUGETLB | MAP_HUGE_2MB, -1,
			     HUGEPAGES_SYSFS "hugepages-2048kB" },
	[HOST_HUGETLB1G] = { "hugetlb1g", 1ull << 30, MAP_HUGETLB | MAP_HUGE_1GB, -1,
			     HUGEPAGES_SYSFS "hugepages-1048576kB" },
};
_Static_assert(sizeof(backings) / sizeof(backings[0]) == HOST_PAGES_COUNT,
	       "one backing row per enum host_pages");

const struct host_backing *host_backing(enum host_pages p) { return &backings[p]; }
const char *host_pages_name(enum host_pages p) { return backings[p].name; }
uint64_t host_page_size(enum host_pages p) { return backings[p].page_size; }

int host_pages_parse(const char *s, enum host_pages *out)
{
	for (int i = 0; i < HOST_PAGES_COUNT; i++)
		if (strcmp(s, backings[i].name) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}
