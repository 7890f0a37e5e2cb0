/*
 * Host backing of guest RAM: one anonymous mapping per VM, with the host page
 * size chosen per VM (4 KiB, THP, hugetlbfs 2 MiB or 1 GiB).
 */
#ifndef BEYOND_GUEST_MEM_H
#define BEYOND_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

enum host_pages { HOST_4K, HOST_THP, HOST_HUGETLB2M, HOST_HUGETLB1G, HOST_PAGES_COUNT };

struct guest_mem {
	uint8_t *base;           /* host address of guest-physical 0 */
	uint64_t size;
	enum host_pages host_pages;
	void *map;               /* the mapping as made (THP over-allocates to align) */
	size_t map_size;
	long pool_added;         /* hugetlb pages this VM added to the pool */
};

/* What the host has actually backed, read from /proc/self/smaps. */
struct guest_mem_usage {
	uint64_t resident;       /* bytes present */
	uint64_t huge;           /* of those, bytes on huge pages (THP or hugetlb) */
	uint64_t page_table;     /* host page-table bytes of the whole process (VmPTE) */
};

const char *host_pages_name(enum host_pages p);
int host_pages_parse(const char *s, enum host_pages *out);
uint64_t host_page_size(enum host_pages p);

/*
 * Maps size bytes. With populate, faults every page in now (so benchmarks
 * time no page faults and huge pages are granted or not up front).
 * Returns 0, or -1 with a reason (and how to fix it) in err.
 */
int guest_mem_alloc(struct guest_mem *m, uint64_t size, enum host_pages p, int populate,
		    char *err, size_t errlen);
void guest_mem_free(struct guest_mem *m);

/*
 * Makes sure the hugetlb pool of p's size has bytes' worth of free pages,
 * growing it (as root) if needed. Returns the pages added, to be given back
 * with guest_mem_pool_release(), or -1 if the pool could not be grown enough.
 */
long guest_mem_pool_reserve(enum host_pages p, uint64_t bytes);
void guest_mem_pool_release(enum host_pages p, long added);
/* Gives back every page this process still holds added; async-signal-safe. */
void guest_mem_pool_release_on_signal(void);
int guest_mem_usage(const struct guest_mem *m, struct guest_mem_usage *u);
/* Host page-table bytes of the whole process (VmPTE), from /proc/self/status. */
uint64_t guest_mem_host_pte(void);

/* Host pointer for [gpa, gpa + len), or NULL if any of it is outside RAM. */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

#endif
