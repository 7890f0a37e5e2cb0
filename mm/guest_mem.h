/*
 * Host backing of guest RAM: one anonymous mapping per VM, with the host page
 * size chosen per VM (4 KiB, THP, hugetlbfs 2 MiB or 1 GiB).
 */
#ifndef BEYOND_GUEST_MEM_H
#define BEYOND_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>
#include "mm/backing.h"

struct guest_mem {
	uint8_t *base;           /* host address of guest-physical 0 */
	uint64_t size;
	enum host_pages host_pages;
	void *map;               /* the mapping as made (THP over-allocates to align) */
	size_t map_size;
	int pool_held;           /* mapped through the hugetlb pool (mm/hugetlb_pool.h) */
};

/* What the host has actually backed, read from /proc/self/smaps. */
struct guest_mem_usage {
	uint64_t resident;       /* bytes present */
	uint64_t huge;           /* of those, bytes on huge pages (THP or hugetlb) */
	uint64_t page_table;     /* host page-table bytes of the whole process (VmPTE) */
};

/*
 * Maps size bytes. With populate, faults every page in now (so benchmarks
 * time no page faults and huge pages are granted or not up front).
 * Returns 0, or -1 with a reason (and how to fix it) in err.
 */
int guest_mem_alloc(struct guest_mem *m, uint64_t size, enum host_pages p, int populate,
		    char *err, size_t errlen);
void guest_mem_free(struct guest_mem *m);

int guest_mem_usage(const struct guest_mem *m, struct guest_mem_usage *u);
/* Host page-table bytes of the whole process (VmPTE), from /proc/self/status. */
uint64_t guest_mem_host_pte(void);

/* Host pointer for [gpa, gpa + len), or NULL if any of it is outside RAM. */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

#endif
