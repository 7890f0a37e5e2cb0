/*
 * The host's hugetlb pools: grown (as root) when a VM needs more huge pages
 * than are free, and shrunk again by what this process added.
 */
#ifndef BEYOND_HUGETLB_POOL_H
#define BEYOND_HUGETLB_POOL_H

#include <stdint.h>
#include "mm/backing.h"

/*
 * Makes sure the hugetlb pool of p's size has bytes' worth of free pages,
 * growing it if needed. Returns the pages added, to be given back with
 * hugetlb_pool_release(), or -1 if the pool could not be grown enough.
 */
long hugetlb_pool_reserve(enum host_pages p, uint64_t bytes);
void hugetlb_pool_release(enum host_pages p, long added);
/* Gives back every page this process still holds added; async-signal-safe. */
void hugetlb_pool_release_on_signal(void);
/* Free pages in p's pool, or -1. */
long hugetlb_pool_free(enum host_pages p);

#endif
