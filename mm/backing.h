/*
 * Host backings of guest RAM: how the host maps it and with which page size.
 * One table row per kind (mm/backing.c), as the KVM selftests' backing types.
 */
#ifndef BEYOND_BACKING_H
#define BEYOND_BACKING_H

#include <stdint.h>

enum host_pages { HOST_4K, HOST_THP, HOST_HUGETLB2M, HOST_HUGETLB1G, HOST_PAGES_COUNT };

struct host_backing {
	const char *name;        /* as on the command line */
	uint64_t page_size;      /* host page size the backing aims for */
	int mmap_flags;          /* besides MAP_PRIVATE | MAP_ANONYMOUS */
	int advice;              /* madvise() advice for the range, or -1 */
	const char *pool;        /* sysfs directory of the hugetlb pool, or NULL */
};

const struct host_backing *host_backing(enum host_pages p);
const char *host_pages_name(enum host_pages p);
int host_pages_parse(const char *s, enum host_pages *out);
uint64_t host_page_size(enum host_pages p);

#endif
